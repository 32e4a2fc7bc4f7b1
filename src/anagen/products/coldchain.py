"""Cold-chain logic (pure; no Django): logger CSV parsing and excursion detection.

An excursion starts at the first reading outside the product's range and ends at the
first later reading back inside it. Readings are point samples, so the true excursion
may have begun after the last good reading; we report what was observed and keep
excursions that are still open (no reading back in range) open.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from anagen.products.importers import csv_problem

MAX_LOGGER_ROWS = 100_000
MAX_LOGGER_BYTES = 20 * 1024 * 1024  # 100,000 rows of a verbose logger fit several times
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


def signed(value: float) -> str:
    """A temperature as printed for people: a true minus sign (−80), no trailing ".0"."""
    return f"{value:g}".replace("-", "−")


def temperature_text(value: float | Decimal | str) -> str:
    """A temperature as it is printed everywhere (pages, messages, the API's words): one
    decimal, or two when the second is not 0, with a true minus sign: 5.0, 5.5, 8.05, −80.0.
    Stored readings have two decimals, so nothing is rounded away (8.05 stays 8.05)."""
    number = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    one = number.quantize(Decimal("0.1"))
    if one == number:
        number = one
    text = f"{number:f}"
    return ("0.0" if number.is_zero() and text.startswith("-") else text).replace("-", "−")


def range_text(low: float | Decimal, high: float | Decimal) -> str:
    """A temperature range as printed: ``2.0 to 8.0 °C``, ``−90.0 to −60.0 °C``."""
    return f"{temperature_text(low)} to {temperature_text(high)} °C"


def check_temperature(value: float) -> None:
    lo, hi = PLAUSIBLE_TEMPERATURE_C
    if not math.isfinite(value):
        # "1e400" reads as inf: name neither the typed text's reading nor Python's word.
        raise ValueError(
            f"Not a temperature: enter a number of °C between {signed(lo)} and {signed(hi)}."
        )
    if not lo <= value <= hi:
        raise ValueError(
            f"{signed(value)} °C is outside the possible {signed(lo)} to {signed(hi)} °C"
        )


TEMPERATURE_DECIMALS = 2  # as stored: 8.05 °C stays 8.05, and is outside 2–8 °C


def check_temperature_decimals(value: Decimal) -> None:
    """Refuse more decimal places than are stored, rather than round across a limit."""
    step = Decimal(1).scaleb(-TEMPERATURE_DECIMALS)
    if value != value.quantize(step):
        raise ValueError(
            f"give at most {TEMPERATURE_DECIMALS} decimal places (8.05, not 8.051), got {value}"
        )


def written_time(at: datetime) -> str:
    """A time as people write it, with its zone: ``2030-01-01 10:00 UTC``,
    ``2026-11-02 09:00 CET``, ``2026-11-02 09:00 UTC+01:00`` (a bare offset)."""
    text = f"{at.year:04d}-{at.month:02d}-{at.day:02d} {at.hour:02d}:{at.minute:02d}"
    if at.second or at.microsecond:
        text += f":{at.second:02d}"
    zone = at.tzname() if at.tzinfo is not None else None
    return f"{text} {zone}" if zone else text


def written_duration(minutes: int) -> str:
    """``45 min``, ``2 h 5 min``, ``3 d 2 h``: a duration as people say it."""
    if minutes < 60:
        return f"{minutes} min"
    hours, mins = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


UNKNOWN_DURATION = "duration not known until a reading back in range"


def excursion_duration(ended: bool, minutes: int) -> str:
    """The duration column of an excursion: an ongoing one has none yet (a single reading
    out of range is not "0 min"), only a lower bound once several readings are out."""
    if ended:
        return written_duration(minutes)
    if minutes:
        return f"at least {written_duration(minutes)} so far; the full {UNKNOWN_DURATION}"
    return UNKNOWN_DURATION


def excursion_summary(
    started: datetime, ended: datetime | None, minutes: int, extreme_c: float
) -> str:
    """One excursion in words; give the times in the zone people should read them in.
    ``from 2026-11-01 08:30 UTC to 09:30 UTC (1 h, extreme −40.0 °C)`` or
    ``ongoing since 2026-11-01 08:30 UTC, duration not known until a reading back in range;
    extreme −40.0 °C``."""
    if ended is not None:
        same_day = ended.date() == started.date() and ended.tzname() == started.tzname()
        end = f"{ended:%H:%M} {ended.tzname() or ''}".strip() if same_day else written_time(ended)
        return (
            f"from {written_time(started)} to {end} "
            f"({written_duration(minutes)}, extreme {temperature_text(extreme_c)} °C)"
        )
    return (
        f"ongoing since {written_time(started)}, {excursion_duration(False, minutes)}; "
        f"extreme {temperature_text(extreme_c)} °C"
    )


# The first bytes of files people upload by mistake instead of a logger's CSV export.
_NOT_CSV_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "it is a PNG image"),
    (b"\xff\xd8\xff", "it is a JPEG image"),
    (b"GIF8", "it is a GIF image"),
    (b"%PDF-", "it is a PDF document"),
    (b"PK\x03\x04", "it is a ZIP archive, e.g. an Excel .xlsx workbook: export it as CSV"),
    (
        b"\xd0\xcf\x11\xe0",
        "it is an old Office file, e.g. an Excel .xls workbook: export it as CSV",
    ),
    # Excel's "Unicode text" and some loggers write UTF-16, which reads as binary here.
    (b"\xff\xfe", "it is UTF-16 text (e.g. Excel's “Unicode text”): save it as CSV UTF-8"),
    (b"\xfe\xff", "it is UTF-16 text (e.g. Excel's “Unicode text”): save it as CSV UTF-8"),
)


def not_csv_reason(content: bytes) -> str | None:
    """Why ``content`` cannot be a logger CSV (``"it is a PNG image"``), or None if it may be."""
    for signature, reason in _NOT_CSV_SIGNATURES:
        if content.startswith(signature):
            return reason
    if b"\x00" in content[:4096]:
        return "it contains binary data, not text"
    return None


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
            f"{written_time(at)} is before {EARLIEST_READING:%Y-%m-%d}: "
            "a logger clock that was reset, not a real reading"
        )
    if now is not None and utc > now + CLOCK_SKEW:
        now_there = written_time(now.astimezone(at.tzinfo).replace(second=0, microsecond=0))
        raise ValueError(f"{written_time(at)} is in the future (it is now {now_there})")
    return utc


def parse_logger_csv(text: str) -> list[Reading]:
    """Columns ``recorded_at,temperature_c`` (others ignored); all rows or an error."""
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise LoggerFileError([LoggerIssue(0, "file", csv_problem(exc))]) from None
    reader.fieldnames = header
    missing = [c for c in ("recorded_at", "temperature_c") if c not in header]
    if missing:
        hint = ""
        if any(h.startswith("temperature_") and h != "temperature_c" for h in header):
            hint = " (temperatures must be in °C, column temperature_c)"
        split = {h.strip() for h in header[0].split(";")} if len(header) == 1 else set()
        if {"recorded_at", "temperature_c"} <= split:
            raise LoggerFileError(
                [
                    LoggerIssue(
                        0,
                        "file",
                        "the columns are separated by semicolons: export comma-separated "
                        "values (CSV with commas, decimal points)",
                    )
                ]
            )
        if len(missing) == 2 and not hint:
            found = ", ".join(repr(h[:40]) for h in header[:5] if h) or "nothing"
            raise LoggerFileError(
                [
                    LoggerIssue(
                        0,
                        "file",
                        "this is not a logger CSV: its first line must name the columns "
                        f"recorded_at and temperature_c (found {found})",
                    )
                ]
            )
        raise LoggerFileError(
            [LoggerIssue(0, c, f"required column missing{hint}") for c in missing]
        )
    issues: list[LoggerIssue] = []
    readings: list[Reading] = []
    seen: set[datetime] = set()
    try:
        records = list(itertools.islice(enumerate(reader, start=1), MAX_LOGGER_ROWS + 1))
    except csv.Error as exc:  # an unclosed quote, a cell over the csv module's limit
        raise LoggerFileError([LoggerIssue(reader.line_num, "file", csv_problem(exc))]) from None
    for i, rec in records:
        if i > MAX_LOGGER_ROWS:
            raise LoggerFileError([LoggerIssue(0, "file", f"at most {MAX_LOGGER_ROWS} rows")])
        if None in rec:  # csv.DictReader's key for cells beyond the header's columns
            issues.append(LoggerIssue(i, "csv", "more cells than columns in the header"))
            continue
        # Both cells are checked: a bad time does not hide a bad temperature in the same row.
        at: datetime | None = None
        try:
            at = parse_timestamp(rec.get("recorded_at") or "")
        except ValueError as exc:
            issues.append(LoggerIssue(i, "recorded_at", str(exc)))
        raw = (rec.get("temperature_c") or "").strip()
        try:
            number = Decimal(raw)
        except (InvalidOperation, ValueError):
            number = Decimal("NaN")
        if not number.is_finite():
            issues.append(LoggerIssue(i, "temperature_c", f"expected a number, got {raw!r}"))
            continue
        try:
            # Checked before rounding: 1e308 overflowed the rounding and read "not a number".
            if abs(number) > 1_000_000:  # a float would read it as inf
                lo, hi = PLAUSIBLE_TEMPERATURE_C
                raise ValueError(
                    f"{raw} °C is outside the possible {signed(lo)} to {signed(hi)} °C"
                )
            check_temperature(float(number))
        except (ValueError, InvalidOperation) as exc:
            issues.append(LoggerIssue(i, "temperature_c", str(exc)))
            continue
        if at is None:
            continue
        # A logger writes what its sensor gives (4.125, or 8.050000000000001 from Excel):
        # kept to the stored 0.01 °C, half up, far finer than any logger's accuracy
        # (±0.5 °C is typical), rather than refusing a whole file for a third decimal.
        value = float(number.quantize(Decimal(1).scaleb(-TEMPERATURE_DECIMALS),
                                      rounding=ROUND_HALF_UP))  # fmt: skip
        if at in seen:
            issues.append(LoggerIssue(i, "recorded_at", f"{written_time(at)} appears twice"))
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
