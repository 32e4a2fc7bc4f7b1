"""Calendar arithmetic the standard library leaves out (pure: no Django)."""

from __future__ import annotations

from datetime import date


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later (or earlier, when negative); 29 February becomes
    28 February in a year without one. ``timedelta(days=365 * years)`` fell a day short for
    every leap day crossed."""
    target = day.year + years
    try:
        return day.replace(year=target)
    except ValueError:  # 29 February of a common year
        return day.replace(year=target, day=28)
