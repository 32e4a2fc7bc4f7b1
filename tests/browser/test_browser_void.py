"""Voiding in a real browser: a clinician opens a visit, voids a measurement typed in error
with a reason (a too-short reason first: the error, nothing changed), and sees it gone
from the visit and listed under "Voided entries" with who and why."""

from datetime import timedelta

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.monitoring import services
from anagen.monitoring.models import Measurement

from ..conftest import PASSWORD
from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "Density typed for the wrong patient"


def test_clinician_voids_a_measurement_on_the_visit_page(
    page, screenshot, clinic_a, make_user, make_patient
):
    clinician = make_user(Role.CLINICIAN, clinic_a, username="dr-void")
    patient = make_patient(clinic_a, clinician, given_name="Vera", family_name="Voidable")
    visit = services.record_visit(
        patient,
        clinician,
        {
            "visit_date": timezone.localdate() - timedelta(days=1),
            "is_baseline": True,
            "density_per_cm2": 187,
            "mean_diameter_um": 61,
        },
    )
    measurement = Measurement.objects.get(visit=visit)

    sign_in(page, clinician.username, PASSWORD)
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"/monitoring/{patient.pk}/visits/{visit.pk}/")
    assert "187.0 /cm²" in page.locator("#measurements").inner_text()

    row = page.locator("#void-entries tr", has_text="Measurement (manual")
    row.get_by_text("Void…").click()
    row.get_by_label("Reason for voiding this measurement").fill("oops")
    row.get_by_role("button", name="Void this measurement").click()
    assert "at least 5 characters" in page.locator(".field .error").inner_text()
    measurement.refresh_from_db()
    assert not measurement.is_voided

    page.go_back()
    row = page.locator("#void-entries tr", has_text="Measurement (manual")
    row.get_by_text("Void…").click()
    row.get_by_label("Reason for voiding this measurement").fill(REASON)
    row.get_by_role("button", name="Void this measurement").click()
    page.get_by_text("Measurement voided. It stays in the history.").wait_for()
    assert page.url.endswith(f"/monitoring/{patient.pk}/visits/{visit.pk}/")
    assert "No measurements at this visit." in page.locator("#measurements").inner_text()
    voided = page.locator("#voided-entries").inner_text()
    assert "Measurement (manual, 187.0 /cm²)" in voided
    assert f"by {clinician.username}: {REASON}" in voided
    measurement.refresh_from_db()
    assert measurement.is_voided
    history = measurement.history.first()
    assert history.history_user == clinician
    assert history.history_change_reason == f"voided: {REASON}"
    screenshot(page, "visit-measurement-voided")
    assert page.console_errors == []


def test_nurse_corrects_a_pull_test_without_voiding_the_visit(
    page, screenshot, clinic_a, make_user, make_patient
):
    nurse = make_user(Role.NURSE, clinic_a, username="nurse-fix")
    patient = make_patient(clinic_a, nurse, given_name="Cora", family_name="Correct")
    visit = services.record_visit(
        patient,
        nurse,
        {
            "visit_date": timezone.localdate() - timedelta(days=1),
            "pull_test": "negative",
            "pull_test_hairs": 2,
            "notes": "Scalp calm.",
        },
    )
    sign_in(page, nurse.username, PASSWORD)
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"/monitoring/{patient.pk}/visits/{visit.pk}/")
    with page.expect_navigation():
        page.get_by_role("link", name="Correct assessments or notes").click()
    # The result changed but not the count: refused, naming the rule; nothing stored.
    page.locator("select[name=pull_test]").select_option("positive")
    page.get_by_label("Reason for the correction").fill("result entered wrongly")
    with page.expect_navigation():
        page.get_by_role("button", name="Save correction").click()
    assert "is a negative pull test" in page.locator(".field .error").inner_text()
    page.get_by_label("Pull test: hairs extracted").fill("8")
    with page.expect_navigation():
        page.get_by_role("button", name="Save correction").click()
    page.get_by_text("Visit corrected; the values before are in its history.").wait_for()
    assert page.url.endswith(f"/monitoring/{patient.pk}/visits/{visit.pk}/")
    visit.refresh_from_db()
    assert (visit.pull_test, visit.pull_test_hairs, visit.notes) == ("positive", 8, "Scalp calm.")
    assert visit.history.first().history_change_reason == "corrected: result entered wrongly"
    screenshot(page, "visit-corrected")
    assert page.console_errors == []
