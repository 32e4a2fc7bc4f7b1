"""The test run's clock: one day for the whole run (tests/conftest.py pytest_configure)."""

import os
from datetime import date

from django.utils import timezone
from tests.conftest import TEST_DAY_VARIABLE


def test_the_run_takes_one_day_as_today_from_noon_utc():
    day = date.fromisoformat(os.environ[TEST_DAY_VARIABLE])
    now = timezone.now()
    assert now.date() == day == date.today() == timezone.localdate()
    assert now.hour >= 12  # the clock started at noon and ticks on, hours before midnight
