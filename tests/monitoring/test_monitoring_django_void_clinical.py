"""An administrator voids what was entered in error (record.void), but not what only a
clinician may undo: a serious or grade ≥ 3 adverse event (lowering one needs
adverse_event.lower: voiding takes it off the reportable list just the same) or a decision
on further sessions, or a visit that carries one (decision.record: voiding a stop lets
sessions go on). Page and API refuse alike and change nothing; a clinician voids them."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from anagen.monitoring import selectors, services
from anagen.monitoring.models import AdverseEvent, TreatmentDecision, Visit

from . import _course as course

REASON = "recorded for the wrong patient"
TODAY = date.today()
START = TODAY - timedelta(weeks=13)


@pytest.fixture
def stopped(clinic_a, clinician, make_patient):
    """Three sessions, a related grade-3 event, a grade-1 one, and a decision to stop."""
    patient = make_patient(clinic_a, clinician)
    course.course(patient, clinician, first=START, sessions=3)
    services.record_visit(
        patient, clinician, {"visit_date": START, "is_baseline": True, "density_per_cm2": 150}
    )
    severe = services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 3, "onset_date": START + timedelta(days=3),
         "relatedness": "probable"},
    )  # fmt: skip
    mild = services.record_adverse_event(
        patient, clinician,
        {"term_key": "pain", "grade": 1, "onset_date": START + timedelta(days=3)},
    )  # fmt: skip
    visit = services.record_visit(
        patient, clinician, {"visit_date": START + timedelta(weeks=12), "density_per_cm2": 170}
    )
    stop = services.record_decision(
        visit, clinician, decided="stop_adverse_event", sessions_done=3, sessions_planned=3
    )
    return patient, severe, mild, visit, stop


def _page(client, user, kind, obj):
    client.force_login(user)
    return client.post(f"/monitoring/{obj.patient_id}/{kind}/{obj.pk}/void/", {"reason": REASON})


def _api(client, user, clinic, api_token, kind, obj):
    return client.post(
        f"/api/v1/monitoring/patients/{obj.patient_id}/{kind}/{obj.pk}/void",
        data=json.dumps({"reason": REASON}), content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(user, clinic)}"},
    )  # fmt: skip


def test_an_admin_may_not_void_a_serious_event_on_the_page_or_the_api(
    client, clinic_a, admin, api_token, stopped
):
    patient, severe, _, _, _ = stopped
    page = _page(client, admin, "adverse-events", severe)
    assert page.status_code == 400
    assert "a clinician voids it" in page.content.decode()
    api = _api(client, admin, clinic_a, api_token, "adverse-events", severe)
    assert api.status_code == 400 and "a clinician voids it" in api.json()["detail"]
    severe.refresh_from_db()
    assert not severe.is_voided
    assert selectors.reportable_events(clinic_a).filter(pk=severe.pk).exists()


def test_an_admin_still_voids_a_mild_event(client, admin, stopped):
    _, _, mild, _, _ = stopped
    assert _page(client, admin, "adverse-events", mild).status_code == 302
    mild.refresh_from_db()
    assert mild.is_voided


def test_an_admin_may_not_void_a_stop_decision_nor_its_visit(
    client, clinic_a, admin, api_token, stopped
):
    patient, _, _, visit, stop = stopped
    assert _page(client, admin, "decisions", stop).status_code == 400
    api = _api(client, admin, clinic_a, api_token, "decisions", stop)
    assert api.status_code == 400 and "a clinician voids it" in api.json()["detail"]
    assert _page(client, admin, "visits", visit).status_code == 400
    stop.refresh_from_db()
    visit.refresh_from_db()
    assert not stop.is_voided and not visit.is_voided
    assert selectors.stop_in_force(patient) == stop


def test_a_clinician_voids_them(client, clinician, stopped):
    patient, severe, _, visit, stop = stopped
    assert _page(client, clinician, "adverse-events", severe).status_code == 302
    assert _page(client, clinician, "decisions", stop).status_code == 302
    assert _page(client, clinician, "visits", visit).status_code == 302
    assert AdverseEvent.objects.get(pk=severe.pk).is_voided
    assert TreatmentDecision.objects.get(pk=stop.pk).is_voided
    assert Visit.objects.get(pk=visit.pk).is_voided
    assert selectors.stop_in_force(patient) is None


def test_the_pages_show_an_admin_who_voids_them_instead_of_a_void_control_that_would_fail(
    client, admin, clinician, stopped
):
    patient, _, _, visit, stop = stopped
    at_visit = [
        services.record_adverse_event(
            patient,
            clinician,
            {"term_key": key, "grade": grade, "onset_date": visit.visit_date, "visit_id": visit.pk},
        )  # fmt: skip
        for key, grade in (("skin_infection", 3), ("pain", 1))
    ]
    severe, mild = at_visit
    client.force_login(admin)
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert "This visit carries a decision on further sessions" in page
    assert "This decision on further sessions" in page
    assert f"{severe.term_name} grade 3 is a serious or grade ≥ 3 event" in page
    assert f'action="/monitoring/{patient.pk}/adverse-events/{severe.pk}/void/"' not in page
    assert f'action="/monitoring/{patient.pk}/adverse-events/{mild.pk}/void/"' in page
    assert f'action="/monitoring/{patient.pk}/visits/{visit.pk}/void/"' not in page
    assert f'action="/monitoring/{patient.pk}/decisions/{stop.pk}/void/"' not in page

    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert 'data-testid="clinician-voids"' not in page
    assert f'action="/monitoring/{patient.pk}/decisions/{stop.pk}/void/"' in page
    assert f'action="/monitoring/{patient.pk}/adverse-events/{severe.pk}/void/"' in page


def test_the_services_take_the_users_own_role_when_no_rights_are_passed(
    clinic_a, admin, clinician, stopped
):
    """A caller that leaves the rights out (a command, a task, new code) gets the user's
    role in the record's clinic, not a grant: an admin's void or lowering is refused."""
    _, severe, _, visit, stop = stopped
    for record in (severe, stop, visit):
        with pytest.raises(services.MonitoringError) as refused:
            services.void_record(record, admin, REASON)
        assert "a clinician voids it" in refused.value.errors["__all__"][0]
    with pytest.raises(services.MonitoringError):
        services.update_adverse_event(severe, admin, {"grade": 2}, change_reason=REASON)
    severe.refresh_from_db()
    assert severe.grade == 3 and not severe.is_voided
    services.update_adverse_event(severe, clinician, {"grade": 2}, change_reason=REASON)
    services.void_record(stop, clinician, REASON)
    severe.refresh_from_db()
    stop.refresh_from_db()
    assert severe.grade == 2 and stop.is_voided
