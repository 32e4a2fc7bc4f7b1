"""A second session of the same modality for the same patient on the same day.

It may be the same session entered twice: a double dose of an investigational product,
one more vial drawn. So it is refused, naming the earlier session (date, modality, who
recorded it) and saying how to go on; nothing is stored and no vial is drawn. A real
second session (a second treatment area) is recorded when the user confirms it is
separate; the confirmation stays in the session's notes and history. A voided session
does not count. The same holds in the page (a checkbox) and the API (a boolean field).
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from anagen.core.text import long_date
from anagen.products.models import VialDraw
from anagen.treatments import services
from anagen.treatments.models import TreatmentSession

from .test_treatments_views_api import form_data

MAP = [{"zone": "frontal", "points": 40, "volume_ml": 1.0}]


def record(clinic, user, plan, lot, **data) -> TreatmentSession:
    return services.record_session(
        clinic,
        user,
        plan,
        {"modality": "exosome", "performed_on": date.today(), "needle_gauge": 30, **data},
        map_entries=MAP,
        vials=[services.VialRequest(lot, 1)],
    )


@pytest.fixture
def first(clinic_a, clinician, ready, lot) -> TreatmentSession:
    _, plan = ready
    return record(clinic_a, clinician, plan, lot)


# --- the service -----------------------------------------------------------------------------


def test_a_second_session_of_the_same_modality_that_day_is_refused_naming_the_first(
    clinic_a, clinician, ready, lot, first
):
    _, plan = ready
    with pytest.raises(services.SessionError) as exc:
        record(clinic_a, clinician, plan, lot)
    (message,) = exc.value.errors["performed_on"]
    assert long_date(date.today()) in message
    assert "a session of exosome injection" in message
    assert f"recorded by {clinician.username} at " in message and "session #" not in message
    assert "double the dose" in message and "confirm_same_day: true" in message


def test_nothing_is_stored_and_no_vial_is_drawn_when_it_is_refused(
    clinic_a, clinician, ready, lot, first
):
    _, plan = ready
    with pytest.raises(services.SessionError):
        record(clinic_a, clinician, plan, lot)
    lot.refresh_from_db()
    assert TreatmentSession.objects.count() == 1 and VialDraw.objects.count() == 1
    assert lot.quantity_on_hand == 4


def test_a_confirmed_separate_session_is_recorded_and_the_confirmation_kept(
    clinic_a, clinician, ready, lot, first
):
    _, plan = ready
    second = record(clinic_a, clinician, plan, lot, confirm_same_day=True, notes="Vertex")
    assert second.pk != first.pk and VialDraw.objects.count() == 2
    assert second.notes.startswith("Vertex")
    assert "separate exosome session" in second.notes
    assert f"besides the one recorded by {clinician.username} at " in second.notes
    assert "separate exosome session" in second.history.first().history_change_reason


def test_only_a_literal_true_confirms(clinic_a, clinician, ready, lot, first):
    _, plan = ready
    with pytest.raises(services.SessionError):
        record(clinic_a, clinician, plan, lot, confirm_same_day="yes")


def test_a_voided_session_does_not_count(clinic_a, clinician, ready, lot, first):
    _, plan = ready
    services.void_session(first, clinician, "entered on the wrong patient")
    again = record(clinic_a, clinician, plan, lot)
    assert "separate" not in again.notes


def test_a_first_session_needs_no_confirmation_and_says_nothing_about_one(
    clinic_a, clinician, ready, lot
):
    _, plan = ready
    session = record(clinic_a, clinician, plan, lot, confirm_same_day=True)
    assert session.notes == ""
    assert session.history.first().history_change_reason == "session recorded"


# --- the page --------------------------------------------------------------------------------


def test_the_page_refuses_it_beside_the_date_and_offers_the_checkbox(
    client, clinician, ready, lot, first
):
    patient, plan = ready
    client.force_login(clinician)
    response = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot))
    assert response.status_code == 400
    errors = response.context["form"].errors["performed_on"]
    assert any("already has a session of exosome injection" in e for e in errors)
    assert not any("in the API" in e for e in errors)  # the API field is the API's business
    page = response.content.decode()
    assert 'name="confirm_same_day"' in page
    assert "This is a separate session on the same day" in page
    assert TreatmentSession.objects.count() == 1 and VialDraw.objects.count() == 1


def test_the_page_records_it_when_the_box_is_ticked(client, clinician, ready, lot, first):
    patient, plan = ready
    client.force_login(clinician)
    response = client.post(
        f"/sessions/{patient.pk}/new/",
        form_data(plan, lot, confirm_same_day="on", same_day_seen="1"),
    )
    assert response.status_code == 302
    assert TreatmentSession.objects.count() == 2 and VialDraw.objects.count() == 2


def test_the_blank_form_has_no_same_day_box(client, clinician, ready, lot):
    """It was on every blank form: ticked there, the browser's Back then Save recorded the
    session again and drew its vials twice (nurse review)."""
    patient, plan = ready
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/").content.decode()
    assert 'name="confirm_same_day"' not in page
    assert client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot)).status_code == 302
    again = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot))
    assert again.status_code == 400
    assert 'name="confirm_same_day"' in again.content.decode()
    assert TreatmentSession.objects.count() == 1 and VialDraw.objects.count() == 1


def test_a_confirmation_holds_only_for_the_sessions_its_refusal_named(
    client, clinician, ready, lot, first
):
    """Back after a confirmed second session brings the page back ticked: saving it again
    is a third session, asked again, not recorded."""
    patient, plan = ready
    client.force_login(clinician)
    refused = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot))
    assert 'name="same_day_seen" value="1"' in refused.content.decode()
    confirmed = form_data(plan, lot, confirm_same_day="on", same_day_seen="1")
    assert client.post(f"/sessions/{patient.pk}/new/", confirmed).status_code == 302
    again = client.post(f"/sessions/{patient.pk}/new/", confirmed)
    assert again.status_code == 400
    assert "already has 2 sessions of exosome injection" in again.content.decode()
    assert 'name="same_day_seen" value="2"' in again.content.decode()
    assert TreatmentSession.objects.count() == 2 and VialDraw.objects.count() == 2


# --- the API ---------------------------------------------------------------------------------


def test_the_api_refuses_it_on_performed_on_and_records_it_with_confirm_same_day(
    client, clinician, ready, lot, first, api_token, clinic_a
):
    patient, plan = ready
    body = {
        "plan_id": plan.pk,
        "modality": "exosome",
        "performed_on": date.today().isoformat(),
        "map": MAP,
        "vials": [{"lot_id": lot.pk, "quantity": 1}],
    }

    def post(payload: dict):
        return client.post(
            f"/api/v1/sessions/{patient.pk}",
            data=json.dumps(payload),
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(clinician, clinic_a)}"},
        )

    refused = post(body)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("performed_on:")
    assert "already has a session of exosome injection" in refused.json()["detail"]
    assert TreatmentSession.objects.count() == 1 and VialDraw.objects.count() == 1
    created = post({**body, "confirm_same_day": True})
    assert created.status_code == 201, created.json()
    assert TreatmentSession.objects.count() == 2 and VialDraw.objects.count() == 2


def test_the_api_confirmation_holds_only_for_the_sessions_its_refusal_named(
    client, clinician, ready, lot, first, api_token, clinic_a
):
    """A client that retries a confirmed request (a timeout, a second tap) recorded the
    session, and drew its vials, twice: with same_day_seen it is asked again instead, as
    the page and the visits API do."""
    patient, plan = ready
    token = api_token(clinician, clinic_a)
    body = {
        "plan_id": plan.pk,
        "modality": "exosome",
        "performed_on": date.today().isoformat(),
        "map": MAP,
        "vials": [{"lot_id": lot.pk, "quantity": 1}],
        "confirm_same_day": True,
        "same_day_seen": 1,
    }

    def post():
        return client.post(
            f"/api/v1/sessions/{patient.pk}",
            data=json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )

    assert post().status_code == 201
    again = post()
    assert again.status_code == 400, again.json()
    assert "already has 2 sessions of exosome injection" in again.json()["detail"]
    assert TreatmentSession.objects.count() == 2 and VialDraw.objects.count() == 2


def test_the_checkbox_spans_the_form_under_its_fields_with_the_other_confirmations(
    client, clinician, ready, lot, first
):
    """It sat in the fields' grid, squeezed beside the anaesthesia (a review)."""
    patient, plan = ready
    client.force_login(clinician)
    page = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot)).content.decode()
    confirmations = page.split('id="session-confirmations"')[1].split("</div>\n")[0]
    assert 'name="confirm_same_day"' in confirmations
    fields = page.split("<h2>Session</h2>")[1].split('id="session-confirmations"')[0]
    assert 'name="confirm_same_day"' not in fields
