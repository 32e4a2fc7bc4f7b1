"""POST/PATCH .../adverse-events (monitoring API): the session and lot an event names.

The API passes the fields to the same service as the form: a session date that is not a
non-voided session of the patient, or a lot not used in the patient's sessions, is a 400
{"detail": ...} naming the field in words; a lot typed in another case is stored as the
lot spells it; an event whose session was voided later still takes other changes.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from anagen.monitoring import session_link
from anagen.monitoring.models import AdverseEvent
from anagen.treatments import services as treatments

from ..builders import released_lot
from ..monitoring._course import session_with_vials

SESSION_DAY = date.today() - timedelta(days=20)


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(clinic_a, clinician)


@pytest.fixture
def session(patient, clinician, clinic_a):
    lot = released_lot(clinic_a, clinician, number="EXO-123", vials=10)
    return session_with_vials(patient, clinician, SESSION_DAY, lot)


@pytest.fixture
def call(client, clinician, clinic_a, api_token):
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}

    def do(method: str, url: str, data: dict):
        return getattr(client, method)(
            f"/api/v1/monitoring/patients/{url}",
            data=data,
            content_type="application/json",
            headers=headers,
        )

    return do


def event(**overrides) -> dict:
    return {"term_key": "injection_site_reaction", "grade": 1,
            "onset_date": (SESSION_DAY + timedelta(days=1)).isoformat(), **overrides}  # fmt: skip


def test_an_unknown_session_date_is_a_400_naming_the_field_and_the_sessions(call, patient, session):
    day = SESSION_DAY - timedelta(days=1)
    response = call("post", f"{patient.pk}/adverse-events",
                    event(related_session_date=day.isoformat()))  # fmt: skip
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"related_session_date: No treatment session of this patient on "
        f"{session_link.long_date(day)}; the patient's sessions: "
        f"{session_link.long_date(SESSION_DAY)}."
    }
    assert not AdverseEvent.objects.exists()


def test_a_lot_not_used_in_the_session_is_a_400_naming_the_lots_used_then(call, patient, session):
    response = call(
        "post", f"{patient.pk}/adverse-events",
        event(related_session_date=SESSION_DAY.isoformat(), product_lot_number="EXO-999"),
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"product_lot_number: Lot EXO-999 was not used in the session of "
        f"{session_link.long_date(SESSION_DAY)}; lots used then: EXO-123."
    )


def test_a_real_session_and_lot_are_stored_in_the_lots_spelling_and_survive_a_voiding(
    call, patient, session, clinician
):
    response = call(
        "post", f"{patient.pk}/adverse-events",
        event(related_session_date=SESSION_DAY.isoformat(), product_lot_number=" exo-123"),
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["related_session_date"] == SESSION_DAY.isoformat()
    assert body["product_lot_number"] == "EXO-123"
    treatments.void_session(session, clinician, "entered for the wrong patient")
    changed = call("patch", f"{patient.pk}/adverse-events/{body['id']}", {"grade": 2})
    assert changed.status_code == 200, changed.json()
    assert changed.json()["grade"] == 2
    assert changed.json()["product_lot_number"] == "EXO-123"


def test_a_text_sent_as_null_in_a_patch_is_refused_and_kept(call, patient, session):
    """{"description": null} blanked the clinical narrative with a 200."""
    made = call("post", f"{patient.pk}/adverse-events", event(description="Erythema 2 cm"))
    assert made.status_code == 201, made.content
    url = f"{patient.pk}/adverse-events/{made.json()['id']}"
    for field in ("description", "seriousness", "grade", "relatedness"):
        answer = call("patch", url, {field: None})
        assert answer.status_code == 400
        assert answer.json()["detail"].startswith(f"{field}: cannot be null")
    stored = AdverseEvent.objects.get(pk=made.json()["id"])
    assert stored.description == "Erythema 2 cm" and stored.grade == 1
    # A resolution date taken back is a null that means "none".
    resolved = call(
        "patch", url, {"resolution_date": date.today().isoformat(), "outcome": "recovered"}
    )
    assert resolved.status_code == 200, resolved.content
    reopened = call("patch", url, {"resolution_date": None, "outcome": "not_recovered"})
    assert reopened.status_code == 200, reopened.content
    assert reopened.json()["resolution_date"] is None


def test_a_grade_4_event_stored_without_seriousness_reads_life_threatening_in_the_api(
    client, call, patient, session, clinician, clinic_a, api_token
):
    """Grade 4 is "life-threatening consequences" (ICH E2A serious); an event stored
    before the services added the criterion came back as seriousness [] while the FHIR
    export, the PDF and the reportable page called it serious."""
    made = call("post", f"{patient.pk}/adverse-events", event())
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    AdverseEvent.objects.filter(pk=pk).update(
        grade=4, seriousness=[], serious_or_high_grade=True, action_taken="hospitalised"
    )
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    listed = client.get(f"/api/v1/monitoring/patients/{patient.pk}/adverse-events",
                        headers=headers).json()  # fmt: skip
    assert [e["seriousness"] for e in listed] == [["hospitalization", "life_threatening"]]
    reportable = client.get("/api/v1/monitoring/adverse-events/reportable", headers=headers)
    assert [e["seriousness"] for e in reportable.json()["items"]] == [
        ["hospitalization", "life_threatening"]
    ]
