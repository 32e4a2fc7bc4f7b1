"""In a real browser, the course checks a review asked for: a session two weeks too soon is
held back until confirmed; a session entered twice is voided with its vials back in stock; a
visit months before its appointment is recorded on its own, the appointment left planned."""

from datetime import date, timedelta

import pytest

from anagen.monitoring import services as monitoring
from anagen.monitoring.models import ScheduledVisit, Visit
from anagen.treatments.models import TreatmentSession

from ..conftest import PASSWORD
from ..monitoring import _course as course
from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

START = date.today() - timedelta(weeks=10)


def save_new_session(page, patient, lot, day: date, depth: str = "1.5") -> None:
    """Fill the new-session form with one frontal zone and one vial of ``lot``, and save."""
    page.goto(f"/sessions/{patient.pk}/new/")
    page.get_by_label("Session date").fill(day.isoformat())
    page.get_by_label("Needle gauge (G)").fill("30")
    page.get_by_label("Depth (mm)").fill(depth)  # "1,5": a decimal comma is accepted
    page.locator('[name="map-frontal-points"]').fill("40")
    page.locator('[name="map-frontal-volume_ml"]').fill("1.0")
    page.locator('[name="vial_0_lot"]').select_option(str(lot.pk))
    page.locator('[name="vial_0_quantity"]').fill("1")
    page.get_by_role("button", name="Save session").click()


def test_session_too_soon_void_with_vials_back_and_an_early_visit(
    page, screenshot, clinic_a, make_user, make_patient
):
    clinician = make_user("clinician", clinic_a)
    patient = make_patient(clinic_a, clinician, sex_at_birth="male", family_name="Course")
    plan, lot, [first] = course.course(patient, clinician, first=START, sessions=1)
    schedule = monitoring.create_follow_up_plan(
        patient, clinician, first_session_date=START, sessions_planned=3, interval_weeks=4
    )
    sign_in(page, clinician.username, PASSWORD)

    # A second session nine days after the first: held back, the confirmation offered.
    save_new_session(page, patient, lot, START + timedelta(days=9), depth="1,5")
    error = page.locator("#id_confirm_schedule_error")
    assert "at least 2 weeks between sessions" in error.inner_text()
    screenshot(page, "session-too-soon")
    assert TreatmentSession.objects.filter(patient=patient).count() == 1
    page.get_by_label("The session is right although it is outside the plan's course").check()
    page.get_by_role("button", name="Save session").click()
    page.get_by_text("Session recorded.").wait_for()
    second = TreatmentSession.objects.filter(patient=patient).latest("id")
    lot.refresh_from_db()
    on_hand = lot.quantity_on_hand

    # It was entered in error: voided, its vial returned unused.
    page.get_by_text("Void…").click()
    page.get_by_label("Reason for voiding this session").fill("entered twice by mistake")
    page.get_by_label("The vials were not used: return them to stock").check()
    screenshot(page, "session-void-vials-returned")
    page.get_by_role("button", name="Void this session").click()
    page.get_by_text("its vials are back in stock").wait_for()
    assert page.get_by_text("returned to stock unused").first.is_visible()
    lot.refresh_from_db()
    second.refresh_from_db()
    assert second.is_voided and lot.quantity_on_hand == on_hand + 1

    # A visit today for the week-24 appointment, ten weeks early: recorded on its own.
    week24 = schedule.visits.get(week=24)
    page.goto(f"/monitoring/{patient.pk}/visits/new/?scheduled={week24.pk}")
    assert not page.get_by_label("Baseline visit").is_checked()  # a follow-up's visit
    page.get_by_label("Visit date").fill(date.today().isoformat())
    page.get_by_label("Density (hairs/cm²)").fill("150")
    page.get_by_role("button", name="Save visit").click()
    assert "days before “Week 24" in page.locator("#id_confirm_early_error").inner_text()
    screenshot(page, "visit-early-for-appointment")
    page.get_by_label("Record this visit without the appointment").check()
    page.get_by_role("button", name="Save visit").click()
    page.get_by_text("Visit recorded.").wait_for()
    visit = Visit.objects.get(patient=patient, visit_date=date.today())
    week24.refresh_from_db()
    assert visit.scheduled_visit is None and week24.status == ScheduledVisit.Status.PLANNED
    assert not visit.is_baseline
    assert page.console_errors == []


def test_the_same_day_confirmation_spans_the_form_like_the_other_confirmations(
    page, screenshot, clinic_a, make_user, make_patient
):
    """It sat in the grid as one more field, squeezed beside the anaesthesia (a review)."""
    clinician = make_user("clinician", clinic_a)
    patient = make_patient(clinic_a, clinician, sex_at_birth="male", family_name="Twice")
    plan, lot, [first] = course.course(patient, clinician, first=START, sessions=1)
    sign_in(page, clinician.username, PASSWORD)
    save_new_session(page, patient, lot, START)
    box = page.get_by_label("This is a separate session on the same day")
    box.wait_for()
    screenshot(page, "session-same-day-confirmation")
    assert (
        page.locator("#session-confirmations")
        .get_by_label("This is a separate session on the same day")
        .count()
        == 1
    )
    card = page.locator("#session-confirmations").bounding_box()
    grid = (
        page.locator("#session-confirmations").locator("xpath=..").locator(".grid").bounding_box()
    )
    assert card["width"] > grid["width"] * 0.5  # full width under the fields, not a grid cell
    assert card["y"] >= grid["y"] + grid["height"]  # below the grid of fields
    assert TreatmentSession.objects.filter(patient=patient).count() == 1
