"""An adverse event recorded with the action “Treatment stopped” holds the next session
back: the checklist passed every item and the session was recorded as if nothing had
happened. A clinician's later decision at a visit, or a new plan, lifts it; so does
another action on the event, or voiding it."""

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
def stopped(clinic_a, clinician, nurse, make_patient):
    """Two sessions, then a grade-2 injection-site reaction recorded by a nurse with the
    action “Treatment stopped”."""
    patient = make_patient(clinic_a, clinician)
    plan, lot, _ = course.course(patient, clinician, first=START, sessions=2)
    event = monitoring.record_adverse_event(
        patient, nurse,
        {"term_key": "injection_site_reaction", "grade": 2, "relatedness": "probable",
         "onset_date": START + timedelta(weeks=4, days=2), "action_taken": "treatment_stopped"},
    )  # fmt: skip
    return patient, plan, lot, event


def _item(plan, on=TODAY):
    items = services.pre_session_checklist(plan, "exosome", on).items
    return next((i for i in items if i.key == "adverse_event"), None)


def test_the_next_session_is_blocked_naming_the_event(stopped, clinician):
    patient, plan, lot, _ = stopped
    item = _item(plan)
    assert item is not None and item.blocking and not item.ok
    assert "Injection site reaction grade 2" in item.message
    assert "“Treatment stopped”" in item.message
    with pytest.raises(services.SessionError) as refused:
        course.record_sessions(plan, clinician, lot, [TODAY])
    assert any("Treatment stopped" in m for m in refused.value.errors["checklist"])
    assert TreatmentSession.objects.filter(patient=patient).count() == 2


def test_a_session_before_the_onset_is_not_blocked(stopped):
    _, plan, _, event = stopped
    assert _item(plan, event.onset_date - timedelta(days=1)) is None


def test_a_later_decision_at_a_visit_lifts_it(stopped, clinician):
    patient, plan, lot, _ = stopped
    monitoring.record_visit(
        patient, clinician, {"visit_date": START, "is_baseline": True, "density_per_cm2": 150}
    )
    visit = monitoring.record_visit(
        patient, clinician, {"visit_date": TODAY - timedelta(days=1), "density_per_cm2": 160}
    )
    monitoring.record_decision(
        visit, clinician, decided="continue_as_planned", sessions_done=2, sessions_planned=3,
        rationale="Reaction resolved; the course goes on.",
    )  # fmt: skip
    assert _item(plan) is None
    course.record_sessions(plan, clinician, lot, [TODAY], confirm_schedule=True)


def test_another_action_or_voiding_the_event_lifts_it(stopped, clinician):
    _, plan, _, event = stopped
    monitoring.update_adverse_event(event, clinician, {"action_taken": "session_postponed"})
    assert _item(plan) is None
    monitoring.update_adverse_event(event, clinician, {"action_taken": "treatment_stopped"})
    assert _item(plan) is not None
    monitoring.void_record(event, clinician, "entered for the wrong patient")
    assert _item(plan) is None


def test_a_new_plan_after_the_event_is_a_new_course(stopped, clinician):
    from anagen.assessment.services import cancel_plan

    patient, old_plan, _, _ = stopped
    cancel_plan(old_plan, clinician, "Stopped after an injection-site reaction.")
    new_plan = exosome_plan(patient, clinician, on=TODAY, exam=True)
    assert _item(new_plan) is None
