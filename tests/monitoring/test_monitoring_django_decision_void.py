"""A decision recorded in error is voided with a reason: it leaves the visit page, the
timeline and the proposal's inputs, stays in the history, and the visit can be decided again.
Decisions at a voided visit count for nothing either."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.monitoring import selectors, services
from anagen.monitoring.models import TreatmentDecision

from . import _course as course

TODAY = date.today()


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(clinic_a, clinician, given_name="Dana", family_name="Decided")


@pytest.fixture
def visit(patient, clinician):
    """Three sessions planned four weeks apart from two weeks ago, one given; a baseline and
    a visit a week in, where a related grade-3 event makes the proposal "stop"."""
    start = TODAY - timedelta(weeks=2)
    services.create_follow_up_plan(
        patient, clinician, first_session_date=start, sessions_planned=3, interval_weeks=4
    )
    course.course(patient, clinician, first=start, sessions=1)
    services.record_visit(
        patient, clinician, {"visit_date": start, "is_baseline": True, "density_per_cm2": 150}
    )
    services.record_adverse_event(
        patient,
        clinician,
        {"term_key": "skin_infection", "grade": 3, "onset_date": start + timedelta(days=2),
         "relatedness": "probable"},
    )  # fmt: skip
    return services.record_visit(
        patient, clinician, {"visit_date": start + timedelta(weeks=1), "density_per_cm2": 151}
    )


def _planned_sessions(patient) -> list[str]:
    entries = selectors.timeline(patient, show_sessions=True, show_consultation=True)
    return [e.title for e in entries if e.kind == "planned_session"]


def test_a_voided_stop_no_longer_hides_the_planned_sessions(patient, clinician, visit):
    assert len(_planned_sessions(patient)) == 2
    stop = services.record_decision(visit, clinician, decided="stop_adverse_event")
    assert _planned_sessions(patient) == []

    services.void_record(stop, clinician, "recorded at the wrong patient")

    assert len(_planned_sessions(patient)) == 2
    assert selectors.decisions_of(visit) == []
    titles = [e.title for e in selectors.timeline(patient, show_sessions=True)]
    assert not any(t.startswith("Decision:") for t in titles)
    (entry,) = selectors.voided_at_visit(visit)
    assert entry.title == "Decision: Stop (adverse event) (proposed: Stop (adverse event))"
    assert entry.reason == "recorded at the wrong patient"
    # The visit can be decided again, and the history keeps both.
    again = services.record_decision(visit, clinician, decided="stop_adverse_event")
    assert selectors.decisions_of(visit) == [again]
    assert TreatmentDecision.objects.filter(visit=visit).count() == 2


def test_a_decision_at_a_voided_visit_counts_for_nothing(patient, clinician, visit):
    services.record_decision(visit, clinician, decided="stop_adverse_event")
    services.void_record(visit, clinician, "visit entered twice")
    assert len(_planned_sessions(patient)) == 2
    assert not selectors.live_decisions(patient).exists()


def test_the_visit_page_voids_a_decision_and_offers_to_decide_again(
    client, patient, clinician, visit
):
    decided = services.record_decision(visit, clinician, decided="stop_adverse_event")
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    url = f"/monitoring/{patient.pk}/decisions/{decided.pk}/void/"
    assert f'action="{url}"' in page and "Decided: Stop (adverse event)" in page
    assert "Decide on further sessions" not in page  # one decision per visit
    form_page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/decision/")
    assert 'id="decision-exists"' in form_page.content.decode()
    assert "Record decision" not in form_page.content.decode()

    short = client.post(url, {"reason": "oops"})
    assert short.status_code == 400
    assert not TreatmentDecision.objects.get(pk=decided.pk).is_voided

    done = client.post(url, {"reason": "decided at the wrong visit"}, follow=True)
    assert done.redirect_chain[-1][0] == f"/monitoring/{patient.pk}/visits/{visit.pk}/"
    page = done.content.decode()
    assert "Decision voided." in page
    assert "Decided: Stop (adverse event)" not in page
    assert 'id="voided-entries"' in page and "decided at the wrong visit" in page
    row = TreatmentDecision.objects.get(pk=decided.pk)
    assert (row.voided_by, row.history.first().history_change_reason) == (
        clinician,
        "voided: decided at the wrong visit",
    )
    assert "Decide on further sessions" in page
    # A stale tab opening the void page again is sent back, told so (it was a server error).
    stale = client.get(url, follow=True)
    assert stale.redirect_chain[-1][0] == f"/monitoring/{patient.pk}/visits/{visit.pk}/"
    assert "This decision is already voided." in stale.content.decode()
    refused = client.post(url, {"reason": "decided at the wrong visit"})
    assert refused.status_code == 400 and "already voided" in refused.content.decode()
    form = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/decision/")
    assert form.status_code == 200 and "Record decision" in form.content.decode()
    assert 'id="decision-exists"' not in form.content.decode()


def test_voiding_a_decision_checks_role_clinic_and_patient(
    client, patient, clinician, visit, clinic_a, clinic_b, make_user, make_patient
):
    decided = services.record_decision(visit, clinician, decided="stop_adverse_event")
    url = f"/monitoring/{patient.pk}/decisions/{decided.pk}/void/"
    client.force_login(make_user(Role.NURSE, clinic_a, username="nurse"))
    assert client.post(url, {"reason": "decided in error"}).status_code == 403
    client.force_login(make_user(Role.CLINICIAN, clinic_b, username="doc-b"))
    assert client.post(url, {"reason": "decided in error"}).status_code == 404
    other = make_patient(clinic_a, clinician, given_name="Olga", family_name="Other")
    client.force_login(clinician)
    wrong = f"/monitoring/{other.pk}/decisions/{decided.pk}/void/"
    assert client.post(wrong, {"reason": "decided in error"}).status_code == 404
    assert not TreatmentDecision.objects.get(pk=decided.pk).is_voided


def test_api_voids_a_decision(client, patient, clinician, visit, api_token):
    decided = services.record_decision(visit, clinician, decided="stop_adverse_event")
    headers = {"Authorization": f"Bearer {api_token(clinician, patient.clinic)}"}
    url = f"/api/v1/monitoring/patients/{patient.pk}/decisions/{decided.pk}/void"

    def post(body):
        return client.post(
            url, data=json.dumps(body), content_type="application/json", headers=headers
        )

    assert post({"reason": "no"}).status_code == 400
    response = post({"reason": "decided at the wrong visit"})
    assert response.status_code == 200, response.content
    assert (response.json()["kind"], response.json()["voided"]) == ("decision", True)
    again = post({"reason": "decided at the wrong visit"})
    assert again.status_code == 400 and "already voided" in again.json()["detail"]


def test_front_desk_sees_the_visit_but_not_the_proposal_or_decision(
    client, patient, clinician, visit, clinic_a, make_user, api_token
):
    decided = services.record_decision(
        visit, clinician, decided="stop_adverse_event", rationale="wishes to stop"
    )
    services.void_record(decided, clinician, "decided at the wrong visit")
    services.record_decision(
        visit, clinician, decided="stop_adverse_event", rationale="wishes to stop"
    )
    desk = make_user(Role.FRONT_DESK, clinic_a, username="desk")
    client.force_login(desk)
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert 'id="proposal-restricted"' in page
    assert "wishes to stop" not in page and "Decided:" not in page
    assert "decided at the wrong visit" not in page  # nor a voided decision's reason
    api = client.get(
        f"/api/v1/monitoring/patients/{patient.pk}/visits/{visit.pk}/proposal",
        headers={"Authorization": f"Bearer {api_token(desk, clinic_a)}"},
    )
    assert api.status_code == 403
    client.force_login(make_user(Role.NURSE, clinic_a, username="nurse"))
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert "wishes to stop" in page and 'id="proposal-restricted"' not in page
