"""After a clinician decides at a visit to stop treatment (an adverse event, no response),
the pre-session checklist blocks the plan's next session and says who decided what and when:
a nurse could record one with every item ticked. A later decision at a visit, or a new plan,
lifts it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from anagen.monitoring import services as monitoring
from anagen.treatments import services
from anagen.treatments.models import TreatmentSession

from ..builders import exosome_plan
from ..monitoring import _course as course

TODAY = date.today()
START = TODAY - timedelta(weeks=13)


@pytest.fixture
def stopped(clinic_a, clinician, make_patient):
    """Three sessions, a related grade-3 event, and at week 12 the decision to stop."""
    patient = make_patient(clinic_a, clinician)
    plan, lot, _ = course.course(patient, clinician, first=START, sessions=3)
    monitoring.record_visit(
        patient, clinician, {"visit_date": START, "is_baseline": True, "density_per_cm2": 150}
    )
    monitoring.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 3, "onset_date": START + timedelta(days=3),
         "relatedness": "probable"},
    )  # fmt: skip
    visit = monitoring.record_visit(
        patient, clinician,
        {"visit_date": START + timedelta(weeks=12), "density_per_cm2": 170},
    )  # fmt: skip
    monitoring.record_decision(
        visit, clinician, decided="stop_adverse_event", sessions_done=3, sessions_planned=3
    )
    return patient, plan, lot


def test_the_next_session_is_blocked_naming_the_decision(stopped, clinician):
    patient, plan, lot = stopped
    checklist = services.pre_session_checklist(plan, "exosome", TODAY)
    assert checklist.blocked
    (item,) = [i for i in checklist.items if i.key == "decision"]
    assert "decided “Stop (adverse event)”" in item.message
    assert "no further session on this plan" in item.message
    with pytest.raises(services.SessionError) as refused:
        course.record_sessions(plan, clinician, lot, [TODAY])
    assert "Stop (adverse event)" in refused.value.errors["checklist"][-1]
    assert TreatmentSession.objects.filter(patient=patient).count() == 3


def test_a_session_before_the_stop_visit_is_not_blocked_by_it(stopped):
    _, plan, _ = stopped
    before = START + timedelta(weeks=12) - timedelta(days=1)
    assert not any(i.key == "decision" for i in services.pre_session_checklist(
        plan, "exosome", before).items)  # fmt: skip


def test_a_later_decision_to_go_on_lifts_the_block(stopped, clinician):
    patient, plan, lot = stopped
    later = monitoring.record_visit(
        patient, clinician, {"visit_date": TODAY - timedelta(days=1), "density_per_cm2": 171}
    )
    monitoring.record_decision(
        later, clinician, decided="continue_as_planned", sessions_done=3, sessions_planned=4,
        rationale="Infection resolved; the patient asks to complete the course.",
    )  # fmt: skip
    assert not services.pre_session_checklist(plan, "exosome", TODAY).blocked
    course.record_sessions(plan, clinician, lot, [TODAY])
    assert TreatmentSession.objects.filter(patient=patient).count() == 4


def test_a_voided_stop_decision_no_longer_blocks(stopped, clinician):
    from anagen.monitoring.models import TreatmentDecision

    _, plan, _ = stopped
    decision = TreatmentDecision.objects.get(patient=plan.patient)
    monitoring.void_record(decision, clinician, "recorded at the wrong patient")
    assert not services.pre_session_checklist(plan, "exosome", TODAY).blocked


def test_a_new_plan_after_the_stop_is_a_new_course(stopped, clinician):
    from anagen.assessment.services import cancel_plan

    patient, old_plan, _ = stopped
    cancel_plan(old_plan, clinician, "Stopped for a grade 3 infection.")
    new_plan = exosome_plan(patient, clinician, on=TODAY, exam=True)
    items = services.pre_session_checklist(new_plan, "exosome", TODAY).items
    assert not any(i.key == "decision" for i in items)
