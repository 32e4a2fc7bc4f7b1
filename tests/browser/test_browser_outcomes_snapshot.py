"""The stale analysis snapshot in a real browser: after a write, while the worker has not yet
rebuilt the snapshot, the cohort page shows the previous numbers under a visible notice."""

from datetime import date

import pytest

from anagen.accounts.models import Clinic, User
from anagen.accounts.roles import Role
from anagen.accounts.services import set_membership
from anagen.outcomes.demo import load_simulated_cohort
from anagen.outcomes.services import rebuild_analysis_snapshot
from anagen.patients.services import create_patient

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "snapshot-browser-2026"


def test_stale_snapshot_notice_is_visible_until_the_rebuild(page, settings, screenshot):
    # Tasks queued for a worker that does not run here (as with ANAGEN_TASKS=database).
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    clinic = Clinic.objects.create(name="Snapshot clinic", slug="snapshot")
    user = User.objects.create_user(username="snap-clinician", password=PASSWORD)
    set_membership(user, clinic, Role.CLINICIAN)
    load_simulated_cohort(clinic, user, 40, seed=3)
    rebuild_analysis_snapshot(clinic)

    sign_in(page, "snap-clinician", PASSWORD)
    page.goto("/outcomes/cohort/")
    assert "40 patients match" in page.locator("#summary").inner_text()
    assert page.locator("#stale-notice").count() == 0

    create_patient(
        clinic,
        user,
        {
            "medical_record_number": "SNAP-1",
            "given_name": "Ada",
            "family_name": "Stale",
            "date_of_birth": date(1980, 5, 17),
            "sex_at_birth": "female",
        },
    )
    page.goto("/outcomes/cohort/")
    notice = page.locator("#stale-notice")
    assert notice.is_visible()
    assert notice.inner_text().startswith("Data as of ")
    assert "newer changes are being included — refresh in a minute" in notice.inner_text()
    assert "40 patients match" in page.locator("#summary").inner_text()
    screenshot(page, "cohort-stale-notice")

    rebuild_analysis_snapshot(clinic)  # what the worker does
    page.reload()
    assert page.locator("#stale-notice").count() == 0
    assert "41 patients match" in page.locator("#summary").inner_text()
