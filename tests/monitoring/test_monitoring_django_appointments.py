"""Booking one appointment (a consultation, a review) outside a treatment course, and the
follow-up schedule form that starts from the accepted plan and says when there is none."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.assessment.models import TreatmentPlan
from anagen.monitoring import services
from anagen.monitoring.models import ScheduledVisit

from ..builders import exosome_plan

TODAY = date.today()


@pytest.fixture
def front_desk(clinic_a, make_user):
    return make_user(Role.FRONT_DESK, clinic_a)


@pytest.fixture
def patient(clinic_a, front_desk, make_patient):
    return make_patient(clinic_a, front_desk, given_name="Nora", family_name="Newcomer")


def _book(client, patient, **data):
    return client.post(f"/monitoring/{patient.pk}/appointments/new/", data)


def test_front_desk_books_a_consultation_that_shows_on_the_agenda(client, front_desk, patient):
    client.force_login(front_desk)
    when = TODAY + timedelta(days=3)
    response = _book(
        client, patient, due_date=when.isoformat(), purpose="Consultation", details="first visit"
    )
    assert response.status_code == 302
    (booked,) = ScheduledVisit.objects.filter(patient=patient)
    assert (booked.due_date, booked.label, booked.kind) == (
        when,
        "Consultation: first visit",
        ScheduledVisit.Kind.EXTRA,
    )
    assert booked.plan is None  # no treatment course was created
    assert booked.history.first().history_user == front_desk
    agenda = client.get("/monitoring/agenda/").content.decode()
    assert "Consultation: first visit" in agenda and "Newcomer" in agenda


def test_the_agenda_today_view_lists_only_todays_appointments(client, front_desk, patient):
    client.force_login(front_desk)
    today = timezone.localdate()
    _book(client, patient, due_date=today.isoformat(), purpose="Consultation", details="today one")
    _book(client, patient, due_date=(today + timedelta(days=1)).isoformat(),
          purpose="Consultation", details="tomorrow one")  # fmt: skip
    agenda = client.get("/monitoring/agenda/").content.decode()
    day = today.isoformat()
    assert f'href="?view=list&amp;start={day}&amp;end={day}">Today</a>' in agenda
    page = client.get(f"/monitoring/agenda/?view=list&start={day}&end={day}").content.decode()
    assert f"Today, {today:%A} {today.day} {today:%B %Y}" in page
    assert "Consultation: today one" in page and "tomorrow one" not in page
    tomorrow = (today + timedelta(days=1)).isoformat()
    ScheduledVisit.objects.filter(due_date=today).delete()
    empty = client.get(f"/monitoring/agenda/?view=list&start={day}&end={day}").content.decode()
    assert f"No appointments on {day} (today)." in empty
    other = client.get(f"/monitoring/agenda/?start={tomorrow}&end={tomorrow}").content.decode()
    assert 'id="agenda-today"' not in other and "tomorrow one" in other


def test_bad_booking_input_is_a_field_error_and_books_nothing(client, front_desk, patient):
    client.force_login(front_desk)
    no_date = _book(client, patient, due_date="", purpose="Consultation")
    assert no_date.status_code == 400 and 'id="id_due_date_error"' in no_date.content.decode()
    other = _book(client, patient, due_date=TODAY.isoformat(), purpose="Other", details=" ")
    assert other.status_code == 400
    assert "Say what the appointment is for." in other.content.decode()
    far = _book(client, patient, due_date="9999-12-31", purpose="Review visit")
    assert far.status_code == 400
    assert not ScheduledVisit.objects.filter(patient=patient).exists()


def test_booking_needs_the_schedule_permission_and_the_patients_clinic(
    client, clinic_b, make_user, make_patient, patient
):
    researcher = make_user(Role.RESEARCHER, patient.clinic, username="res")
    client.force_login(researcher)
    assert client.get(f"/monitoring/{patient.pk}/appointments/new/").status_code == 403
    other_desk = make_user(Role.FRONT_DESK, clinic_b, username="desk-b")
    client.force_login(other_desk)
    response = _book(client, patient, due_date=TODAY.isoformat(), purpose="Consultation")
    assert response.status_code == 404
    assert not ScheduledVisit.objects.exists()


def test_the_schedule_form_says_when_there_is_no_accepted_plan(client, front_desk, patient):
    client.force_login(front_desk)
    page = client.get(f"/monitoring/{patient.pk}/schedule/new/").content.decode()
    assert 'id="schedule-no-plan"' in page
    assert f"/monitoring/{patient.pk}/appointments/new/" in page  # book a consultation instead


def test_the_schedule_form_starts_from_the_accepted_plan(
    client, clinic_a, front_desk, make_user, make_patient
):
    clinician = make_user(Role.CLINICIAN, clinic_a, username="doc")
    treated = make_patient(clinic_a, clinician, sex_at_birth="male")
    plan = exosome_plan(treated, clinician)
    client.force_login(front_desk)
    page = client.get(f"/monitoring/{treated.pk}/schedule/new/").content.decode()
    assert 'id="schedule-from-plan"' in page and 'id="schedule-no-plan"' not in page
    protocol = next(p["key"] for p in plan.protocols if p.get("sessions_min") is not None)
    assert f'<option value="{protocol}" selected>' in page
    assert plan.sessions_planned  # the accepted plan holds the number of sessions
    assert f'name="sessions_planned" value="{plan.sessions_planned}"' in page


def _booked(client, patient, when=None):
    when = when or TODAY + timedelta(days=2)
    _book(client, patient, due_date=when.isoformat(), purpose="Review visit")
    return ScheduledVisit.objects.get(patient=patient)


def test_front_desk_marks_an_appointment_missed_with_a_reason_kept_in_its_history(
    client, front_desk, patient
):
    client.force_login(front_desk)
    booked = _booked(client, patient, when=TODAY)
    page = client.get(f"/monitoring/{patient.pk}/schedule/{booked.pk}/reschedule/")
    assert 'id="visit-status"' in page.content.decode()
    response = client.post(
        f"/monitoring/{patient.pk}/schedule/{booked.pk}/status/",
        {"status": "missed", "reason": "patient did not come, no call"},
    )
    assert response.status_code == 302
    booked.refresh_from_db()
    assert booked.status == ScheduledVisit.Status.MISSED
    latest = booked.history.first()
    assert latest.history_user == front_desk
    assert latest.history_change_reason == "missed: patient did not come, no call"
    # Cancelled, then planned again: each change is its own history row.
    for status in ("cancelled", "planned"):
        client.post(
            f"/monitoring/{patient.pk}/schedule/{booked.pk}/status/",
            {"status": status, "reason": f"{status} at the patient's request"},
        )
    booked.refresh_from_db()
    assert booked.status == ScheduledVisit.Status.PLANNED
    assert booked.history.count() == 4  # booked, missed, cancelled, planned again


def test_a_status_change_without_a_reason_or_on_a_visit_that_took_place_is_refused(
    client, front_desk, patient
):
    client.force_login(front_desk)
    booked = _booked(client, patient)
    url = f"/monitoring/{patient.pk}/schedule/{booked.pk}/status/"
    no_reason = client.post(url, {"status": "cancelled", "reason": "no"})
    assert no_reason.status_code == 400
    assert "at least 5 characters" in no_reason.content.decode()
    unknown = client.post(url, {"status": "done", "reason": "it happened"})
    assert unknown.status_code == 400
    booked.refresh_from_db()
    assert booked.status == ScheduledVisit.Status.PLANNED
    ScheduledVisit.objects.filter(pk=booked.pk).update(status=ScheduledVisit.Status.DONE)
    took_place = client.post(url, {"status": "cancelled", "reason": "entered by mistake"})
    assert took_place.status_code == 400
    assert "This visit took place; void the visit instead." in took_place.content.decode()
    booked.refresh_from_db()
    assert booked.status == ScheduledVisit.Status.DONE


def test_status_changes_need_the_schedule_permission_and_the_patients_clinic(
    client, clinic_b, make_user, front_desk, patient
):
    client.force_login(front_desk)
    booked = _booked(client, patient)
    url = f"/monitoring/{patient.pk}/schedule/{booked.pk}/status/"
    data = {"status": "cancelled", "reason": "patient moved away"}
    client.force_login(make_user(Role.RESEARCHER, patient.clinic, username="res2"))
    assert client.post(url, data).status_code == 403
    client.force_login(make_user(Role.FRONT_DESK, clinic_b, username="desk-b2"))
    assert client.post(url, data).status_code == 404
    booked.refresh_from_db()
    assert booked.status == ScheduledVisit.Status.PLANNED


def test_the_api_books_an_appointment_and_changes_its_status(
    client, clinic_a, front_desk, patient, api_token
):
    headers = {"Authorization": f"Bearer {api_token(front_desk, clinic_a)}"}

    def post(path, body):
        return client.post(
            f"/api/v1/monitoring/patients/{patient.pk}{path}",
            data=json.dumps(body),
            content_type="application/json",
            headers=headers,
        )

    when = (TODAY + timedelta(days=5)).isoformat()
    booked = post("/appointments", {"due_date": when, "label": "Consultation"})
    assert booked.status_code == 201
    assert (booked.json()["label"], booked.json()["status"]) == ("Consultation", "planned")
    bad = post("/appointments", {"label": "Consultation"})
    assert bad.status_code == 400 and "due_date" in bad.json()["detail"]
    sv_id = booked.json()["id"]
    refused = post(f"/schedule/{sv_id}/status", {"status": "done", "reason": "it happened"})
    assert refused.status_code == 400 and "status" in refused.json()["detail"]
    early = post(f"/schedule/{sv_id}/status", {"status": "missed", "reason": "no show, no call"})
    assert early.status_code == 400 and "cannot be missed yet" in early.json()["detail"]
    ScheduledVisit.objects.filter(pk=sv_id).update(due_date=TODAY)  # the day has come
    missed = post(f"/schedule/{sv_id}/status", {"status": "missed", "reason": "no show, no call"})
    assert missed.status_code == 200 and missed.json()["status"] == "missed"
    assert ScheduledVisit.objects.get(pk=sv_id).history.first().history_user == front_desk


def test_an_appointment_cannot_be_booked_or_moved_into_the_past(client, front_desk, patient):
    yesterday = TODAY - timedelta(days=1)
    with pytest.raises(services.MonitoringError) as exc:
        services.add_scheduled_visit(patient, front_desk, due_date=yesterday)
    assert "is in the past: book today or later" in exc.value.errors["due_date"][0]
    booked = services.add_scheduled_visit(patient, front_desk, due_date=TODAY)
    with pytest.raises(services.MonitoringError) as exc:
        services.reschedule_visit(booked, front_desk, new_date=yesterday, reason="patient asked")
    assert "is in the past: move the visit to today or later" in exc.value.errors["due_date"][0]
    booked.refresh_from_db()
    assert booked.due_date == TODAY and booked.reschedule_count == 0


def test_a_planned_visit_is_not_planned_again(front_desk, patient):
    booked = services.add_scheduled_visit(patient, front_desk, due_date=TODAY)
    versions = booked.history.count()
    with pytest.raises(services.MonitoringError) as exc:
        services.set_visit_status(booked, front_desk, "planned", "planned once more")
    assert exc.value.errors["status"] == ["The visit is already planned."]
    assert booked.history.count() == versions


def test_the_api_answers_whether_the_changed_visit_is_overdue(
    client, clinic_a, front_desk, patient, api_token
):
    booked = services.add_scheduled_visit(patient, front_desk, due_date=TODAY)
    services.set_visit_status(booked, front_desk, "cancelled", "patient was unwell")
    ScheduledVisit.objects.filter(pk=booked.pk).update(due_date=TODAY - timedelta(days=30))
    response = client.post(
        f"/api/v1/monitoring/patients/{patient.pk}/schedule/{booked.pk}/status",
        data=json.dumps({"status": "planned", "reason": "she will come after all"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(front_desk, clinic_a)}"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "planned" and response.json()["overdue"] is True


def test_the_schedule_form_starts_from_the_plan_with_sessions_not_a_newer_prescription(
    client, clinic_a, front_desk, make_user, make_patient
):
    """With an exosome course and a newer minoxidil plan, the form took the minoxidil plan:
    no sessions, no protocol, and a 3-session course was booked from it (a review found it)."""
    from anagen.assessment import services as assessment

    clinician = make_user(Role.CLINICIAN, clinic_a, username="doc")
    treated = make_patient(clinic_a, clinician, sex_at_birth="male")
    course = exosome_plan(treated, clinician)
    assessment.accept_plan(treated, clinician, {"proposal_key": "minoxidil"})
    client.force_login(front_desk)
    page = client.get(f"/monitoring/{treated.pk}/schedule/new/").content.decode()
    assert f"accepted treatment plan “{course.title}”" in page
    assert f'name="sessions_planned" value="{course.sessions_planned}"' in page


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("view=calendar&month=2026-13", "month: 2026-13 is not a month"),
        ("view=calendar&month=abc", "month:"),
        ("start=2026-02-30", "start:"),
    ],
)
def test_an_agenda_filter_that_cannot_be_read_is_named_not_dropped(client, front_desk, query, says):
    client.force_login(front_desk)
    page = client.get(f"/monitoring/agenda/?{query}").content.decode()
    assert 'id="agenda-refused"' in page and says in page


def test_the_dashboard_counts_only_the_visits_still_to_come_today(client, front_desk, patient):
    waiting = services.add_scheduled_visit(patient, front_desk, due_date=TODAY, label="Review")
    done = services.add_scheduled_visit(patient, front_desk, due_date=TODAY, label="Check")
    ScheduledVisit.objects.filter(pk=done.pk).update(status=ScheduledVisit.Status.DONE)
    client.force_login(front_desk)
    card = client.get("/").content.decode().split('id="monitoring-alerts"')[1]
    assert "1 still to come today" in card
    assert waiting.status == ScheduledVisit.Status.PLANNED


def test_a_status_change_of_a_visit_changed_meanwhile_is_refused(front_desk, patient):
    booked = services.add_scheduled_visit(patient, front_desk, due_date=TODAY)
    ScheduledVisit.objects.filter(pk=booked.pk).update(status=ScheduledVisit.Status.DONE)
    with pytest.raises(services.MonitoringError) as exc:  # ``booked`` still reads planned
        services.set_visit_status(booked, front_desk, "cancelled", "patient was unwell")
    assert "changed meanwhile (now done" in exc.value.errors["__all__"][0]
    assert ScheduledVisit.objects.get(pk=booked.pk).status == ScheduledVisit.Status.DONE


# --- an appointment booked in error is voided ------------------------------------------------


def test_an_appointment_booked_in_error_is_voided_and_leaves_the_agenda(
    client, clinician, front_desk, patient
):
    when = TODAY + timedelta(days=5)
    client.force_login(front_desk)
    _book(client, patient, due_date=when.isoformat(), purpose="Consultation")
    (booked,) = ScheduledVisit.objects.filter(patient=patient)
    url = f"/monitoring/{patient.pk}/appointments/{booked.pk}/void/"
    # Front desk cancels appointments; voiding is for records entered in error (record.void).
    page = client.get(f"/monitoring/{patient.pk}/schedule/{booked.pk}/reschedule/")
    assert 'id="void-appointment"' not in page.content.decode()
    assert client.post(url, {"reason": "booked for the wrong patient"}).status_code == 403

    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/schedule/{booked.pk}/reschedule/")
    assert f'action="{url}"' in page.content.decode()
    assert client.post(url, {"reason": "no"}).status_code == 400
    done = client.post(url, {"reason": "booked for the wrong patient"})
    assert done.status_code == 302 and done["Location"] == f"/monitoring/{patient.pk}/"
    booked.refresh_from_db()
    assert booked.is_voided and booked.void_reason == "booked for the wrong patient"
    assert "Consultation" not in client.get("/monitoring/agenda/").content.decode()
    again = client.get(f"/monitoring/{patient.pk}/schedule/{booked.pk}/reschedule/")
    assert "void-banner" in again.content.decode()
    assert "Move visit" not in again.content.decode()


def test_an_appointment_whose_visit_took_place_is_not_voided(client, clinician, patient, api_token):
    booked = services.add_scheduled_visit(patient, clinician, due_date=TODAY, label="Review")
    services.record_visit(
        patient, clinician, {"visit_date": TODAY, "density_per_cm2": 150}, scheduled_visit=booked
    )
    response = client.post(
        f"/api/v1/monitoring/patients/{patient.pk}/schedule/{booked.pk}/void",
        data=json.dumps({"reason": "booked in error"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(clinician, patient.clinic)}"},
    )
    assert response.status_code == 400
    assert "void the visit instead" in response.json()["detail"]
    booked.refresh_from_db()
    assert not booked.is_voided


def test_api_voids_an_appointment(client, clinician, patient, api_token):
    booked = services.add_scheduled_visit(patient, clinician, due_date=TODAY, label="Review")
    response = client.post(
        f"/api/v1/monitoring/patients/{patient.pk}/schedule/{booked.pk}/void",
        data=json.dumps({"reason": "duplicate booking"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(clinician, patient.clinic)}"},
    )
    assert response.status_code == 200, response.content
    assert (response.json()["kind"], response.json()["voided"]) == ("appointment", True)


def test_a_course_cannot_start_before_the_plan_it_follows(clinician, patient):
    plan = exosome_plan(patient, clinician)
    TreatmentPlan.objects.filter(pk=plan.pk).update(start_on=TODAY + timedelta(days=14))
    plan.refresh_from_db()
    with pytest.raises(services.MonitoringError) as early:
        services.create_follow_up_plan(
            patient,
            clinician,
            first_session_date=plan.start_on - timedelta(days=7),
            sessions_planned=3,
            interval_weeks=4,
        )
    message = " ".join(early.value.errors["first_session_date"])
    assert f"starts on {plan.start_on:%Y-%m-%d}" in message
    assert not ScheduledVisit.objects.filter(patient=patient).exists()
    services.create_follow_up_plan(
        patient, clinician, first_session_date=plan.start_on, sessions_planned=3, interval_weeks=4
    )


def test_the_same_appointment_booked_twice_is_refused(client, front_desk, patient):
    # Two bookings (and two reminders) came from one form sent twice.
    client.force_login(front_desk)
    when = (TODAY + timedelta(days=3)).isoformat()
    assert _book(client, patient, due_date=when, purpose="Consultation").status_code == 302
    again = _book(client, patient, due_date=when, purpose="Consultation")
    assert again.status_code == 400
    assert "is already booked for this patient" in again.content.decode()
    assert ScheduledVisit.objects.filter(patient=patient).count() == 1
    # Another purpose that day, or the same one another day, is another appointment.
    assert _book(client, patient, due_date=when, purpose="Review visit").status_code == 302
    later = (TODAY + timedelta(days=4)).isoformat()
    assert _book(client, patient, due_date=later, purpose="Consultation").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_a_follow_up_schedule_sent_four_times_at_once_is_booked_once(clinician, patient):
    """Each request passed the "already has a schedule" check before any had written."""
    from anagen.monitoring.models import FollowUpPlan

    from ..races import at_once

    exosome_plan(patient, clinician)
    book = lambda: services.create_follow_up_plan(  # noqa: E731
        patient, clinician, first_session_date=TODAY, sessions_planned=3, interval_weeks=4
    )
    assert at_once([book] * 4, services.MonitoringError) == ["ok"] + ["refused"] * 3
    assert FollowUpPlan.objects.filter(patient=patient).count() == 1


def test_a_moved_appointment_says_so_on_a_phone_too(client, front_desk, patient):
    """On a narrow screen the visit column is hidden and its name shows under the patient;
    the "(moved)" note went with the hidden column."""
    client.force_login(front_desk)
    when = TODAY + timedelta(days=3)
    _book(client, patient, due_date=when.isoformat(), purpose="Consultation", details="first")
    booked = ScheduledVisit.objects.get(patient=patient)
    services.reschedule_visit(
        booked, front_desk, new_date=when + timedelta(days=1), reason="patient asked"
    )
    agenda = client.get("/monitoring/agenda/?view=list").content.decode()
    narrow = agenda.split('<span class="show-narrow">Consultation: first')[1].split("</td>")[0]
    assert "(moved)" in narrow


def test_a_visit_recorded_meanwhile_is_not_moved(front_desk, nurse, patient):
    # The front desk opened "Reschedule" before the nurse recorded the visit that kept it.
    booked = services.add_scheduled_visit(patient, front_desk, due_date=TODAY)
    services.record_visit(
        patient, nurse, {"visit_date": TODAY, "notes": "Review"}, scheduled_visit=booked
    )
    with pytest.raises(services.MonitoringError) as exc:  # ``booked`` still reads planned
        services.reschedule_visit(
            booked, front_desk, new_date=TODAY + timedelta(days=7), reason="patient asked"
        )
    assert "changed meanwhile (now done" in exc.value.errors["__all__"][0]
    kept = ScheduledVisit.objects.get(pk=booked.pk)
    assert (kept.status, kept.due_date, kept.reschedule_count) == ("done", TODAY, 0)
