"""In a real browser: a clinic's administrator finds the time zone under Settings, chooses the
clinic's city from the grouped list, and the pages then show dates and times there."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from anagen.accounts.models import Clinic

from ..conftest import PASSWORD
from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_sets_the_clinics_time_zone(page, screenshot, clinic_a, make_user):
    admin = make_user("admin", clinic_a)
    sign_in(page, admin.username, PASSWORD)
    page.goto("/settings/")
    page.get_by_role("link", name="Time zone").click()
    page.get_by_role("heading", name="Time zone of Clinic A").wait_for()
    page.get_by_label("Time zone").select_option("Pacific/Auckland")
    before = datetime.now(ZoneInfo("Pacific/Auckland"))
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Time zone saved: Pacific/Auckland.").wait_for()
    after = datetime.now(ZoneInfo("Pacific/Auckland"))
    assert "Dates and times: Pacific/Auckland." in page.locator("footer").inner_text()
    # The page's "now" is the clinic's date (Auckland is 11-13 hours ahead of UTC).
    shown = page.get_by_text("Now in the clinic:").inner_text()
    assert any(f"{t.day} {t:%B} {t.year}" in shown for t in (before, after))
    screenshot(page, "clinic-time-zone")
    assert Clinic.objects.get(pk=clinic_a.pk).time_zone == "Pacific/Auckland"
    assert page.console_errors == []
