"""A second visit for the same patient on the same day.

It may be the same visit entered twice (a double submission, two staff members): the patient
would then have two measurements at one time point, which distorts the outcome analyses. So
it is refused on ``visit_date``, naming the earlier visit and who recorded it; nothing is
stored. A real second visit is recorded when the user confirms it is separate; the
confirmation stays in the visit's notes and history. A voided visit and another patient's
visit do not count. The same holds in the page (a checkbox offered after the refusal, also
when recording from an appointment) and the API (a boolean field).
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from anagen.monitoring import services
from anagen.monitoring.models import Measurement, Photo, ScheduledVisit, Visit

from .test_monitoring_django_timeline import png

DAY = date.today() - timedelta(days=1)
VOID_REASON = "entered on the wrong patient"


@pytest.fixture
def patient(clinic_a, nurse, make_patient):
    return make_patient(clinic_a, nurse, given_name="Dora", family_name="Double")


@pytest.fixture
def first(patient, nurse) -> Visit:
    return services.record_visit(patient, nurse, {"visit_date": DAY, "hair_count": 140})


@pytest.fixture
def sv(patient, nurse) -> ScheduledVisit:
    """The week-4 appointment of a course that started six weeks before DAY."""
    plan = services.create_follow_up_plan(
        patient, nurse, first_session_date=DAY - timedelta(weeks=6), sessions_planned=3,
        interval_weeks=4,
    )  # fmt: skip
    return plan.visits.get(week=4)


def record(patient, user, **data) -> Visit:
    return services.record_visit(patient, user, {"visit_date": DAY, "hair_count": 150, **data})


# --- the service -----------------------------------------------------------------------------


def test_a_second_visit_that_day_is_refused_naming_the_first_and_nothing_is_stored(
    patient, nurse, first
):
    with pytest.raises(services.MonitoringError) as exc:
        record(patient, nurse)
    (message,) = exc.value.errors["visit_date"]
    assert message.startswith(f"This patient already has a visit on {DAY.day} {DAY:%B %Y} (")
    assert f"(recorded by {nurse.username} at " in message and "#" not in message
    assert message.endswith(
        "If this is a separate visit, confirm that it is (the box “This is a separate visit on "
        "the same day”; in the API, confirm_same_day: true with same_day_seen: 1)."
    )
    assert Visit.objects.count() == 1 and Measurement.objects.count() == 1


def test_a_third_visit_that_day_counts_the_two_before_it(patient, nurse, first):
    record(patient, nurse, confirm_same_day=True)
    with pytest.raises(services.MonitoringError) as exc:
        record(patient, nurse)
    (message,) = exc.value.errors["visit_date"]
    assert message.startswith(f"This patient already has 2 visits on {DAY.day} {DAY:%B %Y} (")
    assert message.count("recorded by") == 1 and message.count(f"{nurse.username} at ") == 2


def test_a_confirmed_separate_visit_is_recorded_and_the_confirmation_kept(patient, nurse, first):
    second = record(patient, nurse, confirm_same_day=True, notes="Second area")
    assert second.pk != first.pk and Visit.objects.filter(patient=patient).count() == 2
    assert Measurement.objects.get(visit=second).hair_count == 150
    assert second.notes.startswith("Second area")
    assert "separate visit" in second.notes
    assert f"besides the one recorded by {nurse.username} at " in second.notes
    assert "visit #" not in second.notes  # an id the pages never show
    reason = second.history.first().history_change_reason
    assert reason.startswith("visit recorded; ") and "besides the one recorded by" in reason


@pytest.mark.parametrize("value", ["yes", 1, "on", False, None])
def test_only_a_literal_true_confirms(patient, nurse, first, value):
    with pytest.raises(services.MonitoringError) as exc:
        record(patient, nurse, confirm_same_day=value)
    assert "visit_date" in exc.value.errors
    assert Visit.objects.count() == 1


def test_a_voided_visit_that_day_does_not_count(patient, nurse, first):
    services.void_record(first, nurse, VOID_REASON)
    again = record(patient, nurse)
    assert "separate" not in again.notes
    assert again.history.first().history_change_reason == "visit recorded"


def test_another_patients_visit_that_day_does_not_count(
    clinic_a, patient, nurse, first, make_patient
):
    other = make_patient(clinic_a, nurse, given_name="Otto", family_name="Other")
    visit = record(other, nurse)
    assert visit.notes == "" and visit.patient == other


def test_another_day_needs_no_confirmation(patient, nurse, first):
    visit = record(patient, nurse, visit_date=DAY - timedelta(days=1))
    assert visit.notes == ""


def test_a_first_visit_needs_no_confirmation_and_says_nothing_about_one(patient, nurse):
    visit = record(patient, nurse, confirm_same_day=True)
    assert visit.notes == ""
    assert visit.history.first().history_change_reason == "visit recorded"


def test_the_day_is_looked_at_again_under_the_lock(patient, nurse, first, monkeypatch):
    """Two posts at once: the first look (before the transaction) may find the day empty;
    the second look, with the patient's row locked, refuses it."""
    real = services.same_day_visits
    calls = []

    def first_look_misses(p, on_date):
        calls.append(on_date)
        return [] if len(calls) == 1 else real(p, on_date)

    monkeypatch.setattr(services, "same_day_visits", first_look_misses)
    with pytest.raises(services.MonitoringError) as exc:
        record(patient, nurse)
    assert "recorded by" in exc.value.errors["visit_date"][0]
    assert len(calls) == 2 and Visit.objects.count() == 1 and Measurement.objects.count() == 1


def test_an_appointment_stays_open_when_refused_and_is_done_when_confirmed(
    patient, nurse, first, sv
):
    with pytest.raises(services.MonitoringError):
        services.record_visit(patient, nurse, {"visit_date": DAY}, scheduled_visit=sv)
    sv.refresh_from_db()
    assert sv.status == ScheduledVisit.Status.PLANNED
    visit = services.record_visit(
        patient, nurse, {"visit_date": DAY, "confirm_same_day": True}, scheduled_visit=sv
    )
    sv.refresh_from_db()
    assert sv.status == ScheduledVisit.Status.DONE and visit.scheduled_visit == sv


# --- the page --------------------------------------------------------------------------------


def form_data(**overrides) -> dict:
    return {"visit_date": DAY.isoformat(), "hair_count": "150", "pull_test": "not_done",
            **overrides}  # fmt: skip


def test_the_page_refuses_it_beside_the_date_and_then_offers_the_checkbox(
    client, nurse, patient, first
):
    client.force_login(nurse)
    url = f"/monitoring/{patient.pk}/visits/new/"
    assert 'name="confirm_same_day"' not in client.get(url).content.decode()
    response = client.post(url, form_data())
    assert response.status_code == 400
    errors = response.context["form"].errors["visit_date"]
    assert any(f"recorded by {nurse.username}" in e for e in errors)
    assert not any("in the API" in e for e in errors)  # the API field is the API's business
    page = response.content.decode()
    assert 'id="id_visit_date_error"' in page
    assert 'name="confirm_same_day"' in page
    assert "This is a separate visit on the same day" in page
    assert Visit.objects.count() == 1


def test_another_error_alone_does_not_offer_the_checkbox(client, nurse, patient, first):
    client.force_login(nurse)
    response = client.post(
        f"/monitoring/{patient.pk}/visits/new/",
        form_data(visit_date=(DAY - timedelta(days=3)).isoformat(), hair_count="-1"),
    )
    assert response.status_code == 400
    assert 'name="confirm_same_day"' not in response.content.decode()


def test_the_page_records_it_when_the_box_is_ticked(client, nurse, patient, first):
    client.force_login(nurse)
    response = client.post(
        f"/monitoring/{patient.pk}/visits/new/", form_data(confirm_same_day="on")
    )
    assert response.status_code == 302
    second = Visit.objects.exclude(pk=first.pk).get()
    assert f"besides the one recorded by {nurse.username} at " in second.notes


def test_the_confirmed_form_sent_again_is_asked_again_not_recorded_twice(
    client, nurse, patient, first
):
    """A review re-sent the confirmed post (and sent three at once): each recorded one more
    visit. The confirmation holds for the visits the refusal named."""
    client.force_login(nurse)
    url = f"/monitoring/{patient.pk}/visits/new/"
    refused = client.post(url, form_data())
    assert 'name="same_day_seen" value="1"' in refused.content.decode()
    confirmed = form_data(confirm_same_day="on", same_day_seen="1")
    assert client.post(url, confirmed).status_code == 302
    again = client.post(url, confirmed)
    assert again.status_code == 400 and Visit.objects.count() == 2
    errors = again.context["form"].errors["visit_date"]
    assert any("This patient already has 2 visits on" in e for e in errors), errors
    assert 'name="same_day_seen" value="2"' in again.content.decode()


def test_a_same_day_count_that_is_not_a_count_is_refused(patient, nurse, first):
    with pytest.raises(services.MonitoringError) as exc:
        services.record_visit(
            patient, nurse, {"visit_date": DAY, "hair_count": 150, "confirm_same_day": True,
                             "same_day_seen": -1},
        )  # fmt: skip
    assert "same_day_seen" in exc.value.errors and Visit.objects.count() == 1


def test_the_page_from_an_appointment_offers_the_checkbox_and_records_it(
    client, nurse, patient, first, sv
):
    client.force_login(nurse)
    url = f"/monitoring/{patient.pk}/visits/new/?scheduled={sv.pk}"
    refused = client.post(url, form_data(scheduled=sv.pk))
    assert refused.status_code == 400
    page = refused.content.decode()
    assert 'name="confirm_same_day"' in page and f'name="scheduled" value="{sv.pk}"' in page
    response = client.post(url, form_data(scheduled=sv.pk, confirm_same_day="on"))
    assert response.status_code == 302
    sv.refresh_from_db()
    assert sv.status == ScheduledVisit.Status.DONE
    assert sv.visit.pk != first.pk and "separate visit" in sv.visit.notes


# --- the API ---------------------------------------------------------------------------------


def test_the_api_refuses_it_on_visit_date_and_records_it_with_confirm_same_day(
    client, nurse, patient, first, api_token, clinic_a
):
    body = {"visit_date": DAY.isoformat(), "hair_count": 150}

    def post(payload: dict):
        return client.post(
            f"/api/v1/monitoring/patients/{patient.pk}/visits",
            data=json.dumps(payload),
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(nurse, clinic_a)}"},
        )

    refused = post(body)
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert detail.startswith("visit_date: This patient already has a visit on")
    assert "already has a visit on" in detail and "recorded by" in detail
    assert Visit.objects.count() == 1 and Measurement.objects.count() == 1
    created = post({**body, "confirm_same_day": True})
    assert created.status_code == 201, created.json()
    assert Visit.objects.count() == 2 and Measurement.objects.count() == 2
    assert "separate visit" in Visit.objects.get(pk=created.json()["id"]).notes


def test_the_api_confirmation_with_the_count_seen_is_not_replayed(
    client, nurse, patient, first, api_token, clinic_a
):
    body = {"visit_date": DAY.isoformat(), "hair_count": 150, "confirm_same_day": True,
            "same_day_seen": 1}  # fmt: skip
    headers = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    url = f"/api/v1/monitoring/patients/{patient.pk}/visits"

    def post():
        return client.post(url, json.dumps(body), "application/json", headers=headers)

    assert post().status_code == 201
    retried = post()
    assert retried.status_code == 400 and Visit.objects.count() == 2
    assert "same_day_seen: 2" in retried.json()["detail"]


def test_the_api_documents_the_field(client):
    schema = client.get("/api/v1/openapi.json").json()
    field = schema["components"]["schemas"]["VisitIn"]["properties"]["confirm_same_day"]
    assert field["default"] is False and "visit_date" in field["description"]


def test_a_refused_page_keeps_the_chosen_photo_for_the_confirmed_try(client, nurse, patient, first):
    """A browser cannot refill a file input: the refused page keeps the photo (named, with
    its ticket) so that ticking the box records the visit with it."""
    client.force_login(nurse)
    url = f"/monitoring/{patient.pk}/visits/new/"
    response = client.post(url, {**form_data(), "photo_frontal": png("frontal-dora.png")})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Kept from your last try" in page and "frontal-dora.png" in page
    assert not Photo.objects.exists()
    ticket = response.context["held_photos"][0][0].ticket
    saved = client.post(
        url, form_data(confirm_same_day="on", held_photo_frontal=ticket), follow=True
    )
    assert saved.status_code == 200
    second = Visit.objects.exclude(pk=first.pk).get()
    assert [(p.kind, p.view) for p in second.photos.all()] == [("global", "frontal")]


def test_a_first_page_has_no_photo_notice(client, nurse, patient):
    client.force_login(nurse)
    assert (
        "were not kept" not in client.get(f"/monitoring/{patient.pk}/visits/new/").content.decode()
    )
