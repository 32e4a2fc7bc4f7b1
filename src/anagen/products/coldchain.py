"""Cold-chain logic (pure; no Django): logger CSV parsing and excursion detection.

An excursion starts at the first reading outside the product's range and ends at the
first later reading back inside it. Readings are point samples, so the true excursion
may have begun after the last good reading; we report what was observed and keep
excursions that are still open (no reading back in range) open.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_LOGGER_ROWS = 100_000
PLAUSIBLE_TEMPERATURE_C = (-200.0, 100.0)
# Readings are accepted from 2000-01-01 UTC up to a few minutes ahead of the server clock.
# Not "since the location was created": a freezer and its logger usually predate the
# location's entry here, and loggers export their history. Before 2000 is a logger whose
# clock was reset (0001-01-01, 1970-01-01), never a real reading of a product on hand.
EARLIEST_READING = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Reading:
    at: datetime
    temperature_c: float


@dataclass(frozen=True)
class ExcursionSpan:
    started_at: datetime
    ended_at: datetime | None  # None: still outside the range at the last reading
    duration_minutes: int
    extreme_c: float  # the reading furthest outside the range


@dataclass(frozen=True)
class LoggerIssue:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"row {self.row}, {self.field}: {self.message}"
            if self.row
            else (f"{self.field}: {self.message}")
        )


class LoggerFileError(ValueError):
    def __init__(self, issues: list[LoggerIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))


def check_temperature(value: float) -> None:
    lo, hi = PLAUSIBLE_TEMPERATURE_C
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{value:g} °C is outside the possible {lo:g} to {hi:g} °C")


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 with an offset (``2026-11-02T08:00:00Z``); naive times are refused."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 time such as 2026-11-02T08:00:00Z, got {text!r}"
        ) from None
    if at.tzinfo is None:
        raise ValueError("the time needs a UTC offset (e.g. Z or +01:00): loggers differ")
    return check_reading_time(at)


def check_reading_time(at: datetime, now: datetime | None = None) -> datetime:
    """``at`` in UTC if it is a possible reading time: not before 2000-01-01 UTC and, when
    ``now`` is given, not more than a few minutes (clock skew) after it; ValueError if not."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the time needs a UTC offset (e.g. Z or +01:00)")
    try:
        utc = at.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
        utc = None
    if utc is None or utc < EARLIEST_READING:
        raise ValueError(
            f"{at.isoformat()} is before {EARLIEST_READING:%Y-%m-%d}: "
            "a logger clock that was reset, not a real reading"
        )
    if now is not None and utc > now + CLOCK_SKEW:
        raise ValueError(f"{at.isoformat()} is in the future")
    return utc


def parse_logger_csv(text: str) -> list[Reading]:
    """Columns ``recorded_at,temperature_c`` (others ignored); all rows or an error."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in ("recorded_at", "temperature_c") if c not in header]
    if missing:
        hint = ""
        if any(h.startswith("temperature_") and h != "temperature_c" for h in header):
            hint = " (temperatures must be in °C, column temperature_c)"
        raise LoggerFileError(
            [LoggerIssue(0, c, f"required column missing{hint}") for c in missing]
        )
    issues: list[LoggerIssue] = []
    readings: list[Reading] = []
    seen: set[datetime] = set()
    for i, rec in enumerate(reader, start=1):
        if i > MAX_LOGGER_ROWS:
            raise LoggerFileError([LoggerIssue(0, "file", f"at most {MAX_LOGGER_ROWS} rows")])
        try:
            at = parse_timestamp(rec.get("recorded_at") or "")
        except ValueError as exc:
            issues.append(LoggerIssue(i, "recorded_at", str(exc)))
            continue
        raw = (rec.get("temperature_c") or "").strip()
        try:
            value = float(raw)
        except ValueError:
            issues.append(LoggerIssue(i, "temperature_c", f"expected a number, got {raw!r}"))
            continue
        try:
            check_temperature(value)
        except ValueError as exc:
            issues.append(LoggerIssue(i, "temperature_c", str(exc)))
            continue
        if at in seen:
            issues.append(LoggerIssue(i, "recorded_at", f"{at.isoformat()} appears twice"))
            continue
        seen.add(at)
        readings.append(Reading(at, value))
    if issues:
        raise LoggerFileError(issues)
    if not readings:
        raise LoggerFileError([LoggerIssue(0, "file", "no readings")])
    return readings


def find_excursions(readings: Iterable[Reading], low: float, high: float) -> list[ExcursionSpan]:
    """Spans of consecutive readings outside ``[low, high]`` (inclusive limits are good)."""
    if low > high:
        raise ValueError("low must not be above high")
    spans: list[ExcursionSpan] = []
    start: Reading | None = None
    extreme = 0.0
    last: Reading | None = None

    def distance(t: float) -> float:
        return low - t if t < low else t - high

    for r in sorted(readings, key=lambda r: r.at):
        outside = r.temperature_c < low or r.temperature_c > high
        if outside:
            if start is None:
                start, extreme = r, r.temperature_c
            elif distance(r.temperature_c) > distance(extreme):
                extreme = r.temperature_c
        elif start is not None:
            minutes = int((r.at - start.at).total_seconds() // 60)
            spans.append(ExcursionSpan(start.at, r.at, minutes, extreme))
            start = None
        last = r
    if start is not None and last is not None:
        minutes = int((last.at - start.at).total_seconds() // 60)
        spans.append(ExcursionSpan(start.at, None, minutes, extreme))
    return spans
