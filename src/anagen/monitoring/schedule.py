"""Follow-up schedule from a treatment protocol (pure; no Django).

A course is anchored on the first session. Follow-up visits fall at fixed weeks after it
(default weeks 4, 12, 24 and 48: the exosome trial time points plus the 48-week minoxidil
end point, REFERENCE.md A.2), and a short visit falls on the day of each planned session
so that measurements and photos are taken *before* the injection. A baseline visit on the
first-session day is the first of those pre-session visits (week 0).

When a follow-up week coincides with a planned session (e.g. week 4 with monthly sessions)
the two are merged into one visit: one set of measurements serves both purposes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from anagen.assessment.protocols import COURSE_INTERVAL_WEEKS, COURSE_MAX_SESSIONS
from anagen.core.text import ascii_digits

DEFAULT_FOLLOW_UP_WEEKS: tuple[int, ...] = (4, 12, 24, 48)
MAX_SESSIONS = COURSE_MAX_SESSIONS  # far above any published regimen (REFERENCE.md A.3)
MIN_INTERVAL_WEEKS, MAX_INTERVAL_WEEKS = COURSE_INTERVAL_WEEKS
MAX_FOLLOW_UP_WEEK = 260  # five years
# Appointment dates (first session, rescheduled or extra visits) from 1 Jan 2000 to the end
# of the fifth year after this one: a date outside is a typing slip (0001, 9999, 2206), and
# it would break date arithmetic near date.min / date.max.
EARLIEST_YEAR = 2000
YEARS_AHEAD = 5
# A course entered after it started (records moved into the app) may begin at most two
# years back: the default follow-up ends at week 48, so an older first session gives a
# schedule whose every visit is long past ("overdue by 25 years" for a 2001 typing slip).
MAX_FIRST_SESSION_AGE_DAYS = 2 * 365


class ScheduleError(ValueError):
    """Invalid schedule input; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


BASELINE = "baseline"
PRE_SESSION = "pre_session"
FOLLOW_UP = "follow_up"


@dataclass(frozen=True)
class PlannedVisit:
    due_date: date
    kind: str  # baseline | pre_session | follow_up
    label: str
    week: int | None  # weeks after the first session, when the visit is on a whole week
    session_number: int | None  # the planned session this visit precedes (1-based)


def visit_window_days(week: float) -> float:
    """Half-width in days of the window round a nominal study week: 14 days, or a quarter of
    the time since the first session when that is longer. Outcome analyses place a visit at
    the nearest nominal week whose window holds it (outcomes.cohort.analysis_week)."""
    return max(14.0, 0.25 * 7.0 * week)


def early_window_days(course_start: date | None, due: date) -> int:
    """How many days before ``due`` a visit may be and still stand for the appointment: as
    far as the analysis window of the appointment's week reaches (week 4: 14 days, week 12:
    21, week 24: 42, week 48: 84). Earlier, the appointment's time point would be marked done
    by a visit that does not measure it, and the agenda would stop asking for it."""
    span = max((due - course_start).days, 0) if course_start is not None else 0
    return math.floor(visit_window_days(span / 7.0))


def check_date_window(field: str, value: date, today: date) -> None:
    """Refuse an appointment date outside EARLIEST_YEAR … today's year + YEARS_AHEAD."""
    if not EARLIEST_YEAR <= value.year <= today.year + YEARS_AHEAD:
        raise ScheduleError(
            field,
            f"Check the year: dates from {EARLIEST_YEAR} to {today.year + YEARS_AHEAD} only.",
        )


def check_first_session(value: date, today: date) -> None:
    """The first session of a course: in the date window, and at most two years back."""
    check_date_window("first_session_date", value, today)
    earliest = today - timedelta(days=MAX_FIRST_SESSION_AGE_DAYS)
    if value < earliest:
        raise ScheduleError(
            "first_session_date",
            f"The first session cannot be more than two years ago (before {earliest:%Y-%m-%d}):"
            " every visit of such a schedule would already be overdue.",
        )


def parse_weeks(text: str) -> tuple[int, ...]:
    """'4, 12, 24,48' → (4, 12, 24, 48); sorted and without duplicates."""
    weeks: set[int] = set()
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not ascii_digits(part):
            raise ScheduleError("follow_up_weeks", f"{part!r} is not a whole number of weeks")
        weeks.add(int(part))
    return _check_weeks(weeks)


def _check_weeks(weeks: Iterable[int]) -> tuple[int, ...]:
    out = sorted(set(weeks))
    if not out:
        raise ScheduleError("follow_up_weeks", "give at least one follow-up week")
    for w in out:
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= MAX_FOLLOW_UP_WEEK:
            raise ScheduleError(
                "follow_up_weeks", f"weeks must be whole numbers 1–{MAX_FOLLOW_UP_WEEK}, got {w!r}"
            )
    return tuple(out)


def build_schedule(
    first_session: date,
    sessions_planned: int,
    interval_weeks: float,
    follow_up_weeks: Iterable[int] = DEFAULT_FOLLOW_UP_WEEKS,
) -> list[PlannedVisit]:
    """Visits of one course in date order: baseline, one before each session, follow-ups.

    ``interval_weeks`` may be fractional (e.g. 2.5); session days are rounded to whole days.
    """
    if not isinstance(first_session, date):
        raise ScheduleError("first_session_date", "must be a date")
    if (
        isinstance(sessions_planned, bool)
        or not isinstance(sessions_planned, int)
        or not 1 <= sessions_planned <= MAX_SESSIONS
    ):
        raise ScheduleError(
            "sessions_planned", f"must be a whole number 1–{MAX_SESSIONS}, got {sessions_planned!r}"
        )
    try:
        interval = float(interval_weeks)
    except (TypeError, ValueError):
        raise ScheduleError("interval_weeks", "must be a number of weeks") from None
    if not math.isfinite(interval) or (
        sessions_planned > 1 and not MIN_INTERVAL_WEEKS <= interval <= MAX_INTERVAL_WEEKS
    ):
        raise ScheduleError(
            "interval_weeks",
            f"must be between {MIN_INTERVAL_WEEKS:g} and {MAX_INTERVAL_WEEKS:g} weeks",
        )
    weeks = _check_weeks(follow_up_weeks)

    by_day: dict[int, PlannedVisit] = {}
    for n in range(1, sessions_planned + 1):
        day = round((n - 1) * interval * 7)
        week = day // 7 if day % 7 == 0 else None
        if n == 1:
            visit = PlannedVisit(first_session, BASELINE, "Baseline (before session 1)", 0, 1)
        else:
            visit = PlannedVisit(
                first_session + timedelta(days=day),
                PRE_SESSION,
                f"Before session {n}" + (f" (week {week})" if week is not None else ""),
                week,
                n,
            )
        by_day.setdefault(day, visit)
    for w in weeks:
        day = 7 * w
        if day in by_day:
            # A session on a follow-up week: one visit, labelled with both purposes.
            v = by_day[day]
            by_day[day] = PlannedVisit(
                v.due_date, v.kind, f"Week {w} follow-up, before session {v.session_number}",
                w, v.session_number,
            )  # fmt: skip
            continue
        by_day[day] = PlannedVisit(
            first_session + timedelta(days=day), FOLLOW_UP, f"Week {w} follow-up", w, None
        )
    return [by_day[d] for d in sorted(by_day)]


def is_overdue(due_date: date, today: date, *, done: bool, grace_days: int = 0) -> bool:
    """A visit not yet done whose due date (plus grace) has passed.

    Computed as a difference of dates, which never overflows (due date + grace would near
    date.max)."""
    return not done and (today - due_date).days > grace_days
