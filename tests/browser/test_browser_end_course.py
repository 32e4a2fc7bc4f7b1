"""In a real browser: a clinician cancels a treatment plan and ends its follow-up course in
the same step, so the patient is no longer called in for sessions that will not be given.
A refused reason first: nothing changes."""

import pytest

from anagen.assessment.models import TreatmentPlan
from anagen.core.demo import load_demo
from anagen.monitoring import selectors
from anagen.monitoring.models import ScheduledVisit
from anagen.patients.models import Patient

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _patient_with_open_course() -> tuple[Patient, TreatmentPlan]:
    for patient in Patient.objects.filter(clinic__slug="demo").order_by("pk"):
        plans = list(TreatmentPlan.objects.filter(patient=patient, status="active"))
        if len(plans) == 1 and selectors.open_course(patient) is not None:
            return patient, plans[0]
    raise AssertionError("the demo has no patient with one active plan and visits planned")


def test_cancel_plan_and_end_its_course(page, screenshot):
    load_demo()
    patient, plan = _patient_with_open_course()
    course = selectors.open_course(patient)
    planned = {sv.pk for sv in course.planned}
    sign_in(page, "clinician", "clinician-demo-2026")
    page.get_by_role("heading", name="Anagen Demo Clinic").wait_for()

    page.goto(f"/consultation/{patient.pk}/")
    card = page.locator(f"#plan-{plan.pk}")
    card.get_by_text("Cancel the plan").click()
    card.get_by_label("Reason").fill("short")
    card.get_by_label("Also end the follow-up course").check()
    card.get_by_role("button", name="Cancel plan").click()
    page.get_by_text("Give the reason").wait_for()
    assert TreatmentPlan.objects.get(pk=plan.pk).status == "active"
    assert ScheduledVisit.objects.filter(pk__in=planned, status="planned").count() == len(planned)

    card = page.locator(f"#plan-{plan.pk}")
    card.get_by_label("Reason").fill("patient decided to stop treatment")
    assert card.get_by_label("Also end the follow-up course").is_checked()
    card.get_by_role("button", name="Cancel plan").click()
    page.locator(f"#plan-{plan.pk}").wait_for(state="detached")
    page.get_by_text("follow-up course ended").wait_for()  # said on the page, not later
    screenshot(page, "plan-cancelled-course-ended")
    assert TreatmentPlan.objects.get(pk=plan.pk).status == "cancelled"
    assert not ScheduledVisit.objects.filter(pk__in=planned, status="planned").exists()

    page.goto(f"/monitoring/{patient.pk}/schedule/new/")
    page.get_by_role("heading", name="Follow-up schedule for").wait_for()
    assert page.locator("#open-course").count() == 0
