"""anagen.core.dates: calendar years, not multiples of 365 days."""

from datetime import date

import pytest

from anagen.core.dates import add_years


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (date(2026, 3, 1), 10, date(2036, 3, 1)),  # 3,652 days: two leap days crossed
        (date(2028, 2, 29), 1, date(2029, 2, 28)),  # no 29 February in 2029
        (date(2028, 2, 29), 4, date(2032, 2, 29)),
        (date(2028, 2, 29), -130, date(1898, 2, 28)),
        (date(2026, 12, 31), -1, date(2025, 12, 31)),
    ],
)
def test_the_same_day_years_later_or_earlier(day, years, expected):
    assert add_years(day, years) == expected
