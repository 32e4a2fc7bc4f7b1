"""Issue 5 bad input: a follow-up visit dated before the first session is a field error and
stores nothing (page, service and API); a baseline visit before the first session is fine. A
visit well before its appointment's due date stands for it only when confirmed."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from anagen.monitoring import services
from anagen.monitoring.models import Measurement, ScheduledVisit, Visit

TODAY = date.today()
FIRST = TODAY - timedelta(weeks=6)


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(clinic_a, clinician, given_name="Fiona", family_name="Followup")


@pytest.fixture
def course(patient, clinician):
    return services.create_follow_up_plan(
        patient, clinician, first_session_date=FIRST, sessions_planned=3, interval_weeks=4
    )


def test_service_refuses_a_follow_up_visit_before_the_first_session(clinician, patient, course):
    week4 = course.visits.get(week=4)
    with pytest.raises(services.MonitoringError) as err:
        services.record_visit(
            patient, clinician,
            {"visit_date": FIRST - timedelta(days=1), "density_per_cm2": 140},
            scheduled_visit=week4,
        )  # fmt: skip
    assert "first session" in " ".join(err.value.errors["visit_date"])
    assert not Visit.objects.filter(patient=patient).exists()
    assert not Measurement.objects.exists()
    week4.refresh_from_db()
    assert week4.status == ScheduledVisit.Status.PLANNED
    # On or after the first session it is accepted; the baseline may be before it.
    baseline = course.visits.get(kind="baseline")
    services.record_visit(
        patient, clinician, {"visit_date": FIRST - timedelta(days=2)}, scheduled_visit=baseline
    )
    # (Four weeks before its due date: it stands for it only when confirmed, see below.)
    services.record_visit(
        patient, clinician, {"visit_date": FIRST, "confirm_early": True}, scheduled_visit=week4
    )
    assert Visit.objects.filter(patient=patient).count() == 2


# --- a visit well before its appointment's due date ---------------------------------------


@pytest.fixture
def older_course(patient, clinician):
    """A course begun 16 weeks ago: its week-12 visit was due four weeks ago."""
    return services.create_follow_up_plan(
        patient, clinician, first_session_date=TODAY - timedelta(weeks=16), sessions_planned=3,
        interval_weeks=4,
    )  # fmt: skip


def test_a_visit_weeks_before_its_appointment_is_held_back_and_the_appointment_stays(
    clinician, patient, older_course
):
    week12 = older_course.visits.get(week=12)  # window: 21 days (a quarter of 12 weeks)
    on = week12.due_date - timedelta(days=22)
    with pytest.raises(services.MonitoringError) as err:
        services.record_visit(
            patient, clinician, {"visit_date": on, "density_per_cm2": 140}, scheduled_visit=week12
        )
    message = " ".join(err.value.errors["confirm_early"])
    assert "22 days before “Week 12 follow-up”" in message
    assert "Record the visit without the appointment" in message
    assert not Visit.objects.filter(patient=patient).exists()
    week12.refresh_from_db()
    assert week12.status == ScheduledVisit.Status.PLANNED


def test_a_visit_within_the_window_stands_for_its_appointment_without_a_question(
    clinician, patient, older_course
):
    week12 = older_course.visits.get(week=12)
    on = week12.due_date - timedelta(days=21)
    visit = services.record_visit(
        patient, clinician, {"visit_date": on, "density_per_cm2": 140}, scheduled_visit=week12
    )
    week12.refresh_from_db()
    assert visit.scheduled_visit == week12 and week12.status == ScheduledVisit.Status.DONE
    assert "early" not in visit.notes


def test_a_confirmed_early_visit_stands_for_it_and_says_so_in_its_notes_and_history(
    clinician, patient, older_course
):
    week12 = older_course.visits.get(week=12)
    on = week12.due_date - timedelta(days=30)
    visit = services.record_visit(
        patient, clinician,
        {"visit_date": on, "density_per_cm2": 140, "confirm_early": True,
         "notes": "Brought forward"},
        scheduled_visit=week12,
    )  # fmt: skip
    week12.refresh_from_db()
    assert week12.status == ScheduledVisit.Status.DONE
    assert visit.notes.startswith("Brought forward\n\nConfirmed by ")
    assert "stands for “Week 12 follow-up”" in visit.notes and "30 days early" in visit.notes
    assert "30 days early" in visit.history.first().history_change_reason


def test_the_window_widens_with_the_time_since_the_first_session():
    from anagen.monitoring import schedule

    start = date(2026, 1, 5)
    # As far as the outcome analysis window of the appointment's week reaches.
    assert schedule.early_window_days(start, start + timedelta(weeks=4)) == 14
    assert schedule.early_window_days(start, start + timedelta(weeks=12)) == 21
    assert schedule.early_window_days(start, start + timedelta(weeks=24)) == 42
    assert schedule.early_window_days(start, start + timedelta(weeks=48)) == 84
    assert schedule.early_window_days(None, start) == 14


def test_page_offers_both_ways_out_and_records_the_visit_on_its_own(
    client, clinician, patient, course
):
    week24 = course.visits.get(week=24)  # due in the future: FIRST is six weeks ago
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/visits/new/?scheduled={week24.pk}"
    data = {"scheduled": week24.pk, "visit_date": TODAY.isoformat(), "density_per_cm2": "150",
            "pull_test": "not_done"}  # fmt: skip
    held = client.post(url, data)
    assert held.status_code == 400
    page = held.content.decode()
    assert 'id="id_confirm_early_error"' in page and 'name="without_appointment"' in page
    both = client.post(url, {**data, "confirm_early": "on", "without_appointment": "on"})
    assert both.status_code == 400 and b"tick one of the two" in both.content
    assert not Visit.objects.filter(patient=patient).exists()
    saved = client.post(url, {**data, "without_appointment": "on"})
    assert saved.status_code == 302
    visit = Visit.objects.get(patient=patient)
    week24.refresh_from_db()
    assert visit.scheduled_visit is None and week24.status == ScheduledVisit.Status.PLANNED


def test_api_refuses_an_early_visit_on_confirm_early_and_takes_it_when_confirmed(
    client, clinician, patient, course, clinic_a, api_token
):
    week24 = course.visits.get(week=24)
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    body = {"visit_date": TODAY.isoformat(), "scheduled_visit_id": week24.pk,
            "density_per_cm2": 150}  # fmt: skip
    url = f"/api/v1/monitoring/patients/{patient.pk}/visits"
    held = client.post(url, data=json.dumps(body), content_type="application/json",
                       headers=headers)  # fmt: skip
    assert held.status_code == 400 and held.json()["detail"].startswith("confirm_early: ")
    assert not Visit.objects.filter(patient=patient).exists()
    taken = client.post(url, data=json.dumps({**body, "confirm_early": True}),
                        content_type="application/json", headers=headers)  # fmt: skip
    assert taken.status_code == 201, taken.content
    week24.refresh_from_db()
    assert week24.status == ScheduledVisit.Status.DONE


def test_page_shows_the_field_error_and_stores_nothing(client, clinician, patient, course):
    week12 = course.visits.get(week=12)
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/visits/new/?scheduled={week12.pk}"
    response = client.post(
        url,
        {"scheduled": week12.pk, "visit_date": (FIRST - timedelta(days=7)).isoformat(),
         "density_per_cm2": "150", "pull_test": "not_done"},
    )  # fmt: skip
    assert response.status_code in (200, 400)
    assert b'id="id_visit_date_error"' in response.content
    assert b"first session" in response.content
    assert not Visit.objects.filter(patient=patient).exists()


def test_api_names_the_field(client, clinician, patient, course, clinic_a, api_token):
    week4 = course.visits.get(week=4)
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    response = client.post(
        f"/api/v1/monitoring/patients/{patient.pk}/visits",
        data=json.dumps(
            {"visit_date": (FIRST - timedelta(days=3)).isoformat(),
             "scheduled_visit_id": week4.pk, "density_per_cm2": 150}
        ),
        content_type="application/json",
        headers=headers,
    )  # fmt: skip
    assert response.status_code in (400, 422), response.content
    assert "visit_date" in json.dumps(response.json())
    assert not Visit.objects.filter(patient=patient).exists()


def test_api_an_unknown_appointment_is_a_400_naming_the_field(
    client, clinician, patient, course, clinic_a, api_token
):
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    response = client.post(
        f"/api/v1/monitoring/patients/{patient.pk}/visits",
        data=json.dumps({"visit_date": FIRST.isoformat(), "scheduled_visit_id": 987_654,
                         "density_per_cm2": 150}),
        content_type="application/json",
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("scheduled_visit_id: No such appointment")
    assert not Visit.objects.filter(patient=patient).exists()


def test_a_visit_before_2000_is_a_typing_slip(clinician, patient):
    with pytest.raises(services.MonitoringError) as err:
        services.record_visit(
            patient, clinician, {"visit_date": date(1999, 1, 1), "density_per_cm2": 140}
        )
    assert err.value.errors["visit_date"] == ["Check the year: visits from 2000 on."]
    assert not Visit.objects.filter(patient=patient).exists()


# --- a visit recorded late, from an earlier appointment ------------------------------------


def test_a_late_visit_stands_for_the_planned_appointment_nearest_its_date(
    clinician, patient, older_course
):
    # Week 4 was missed; the patient came at week 12 and the visit was recorded from the
    # overdue week-4 appointment (the agenda lists it first).
    week4 = older_course.visits.get(week=4)
    week12 = older_course.visits.get(week=12)
    visit = services.record_visit(
        patient, clinician, {"visit_date": week12.due_date, "density_per_cm2": 140},
        scheduled_visit=week4,
    )  # fmt: skip
    week4.refresh_from_db()
    week12.refresh_from_db()
    assert visit.scheduled_visit == week12 and week12.status == ScheduledVisit.Status.DONE
    assert week4.status == ScheduledVisit.Status.PLANNED  # not measured: still to be closed
    reason = visit.history.first().history_change_reason
    assert "stands for “Week 12 follow-up”" in reason and "Week 4 follow-up, before" in reason


def test_a_visit_a_little_late_still_stands_for_its_own_appointment(
    clinician, patient, older_course
):
    week4 = older_course.visits.get(week=4)
    visit = services.record_visit(
        patient, clinician,
        {"visit_date": week4.due_date + timedelta(days=8), "density_per_cm2": 140},
        scheduled_visit=week4,
    )  # fmt: skip
    week4.refresh_from_db()
    assert visit.scheduled_visit == week4 and week4.status == ScheduledVisit.Status.DONE
    assert "stands for" not in visit.history.first().history_change_reason


def test_page_says_which_appointment_a_late_visit_stands_for(
    client, clinician, patient, older_course
):
    week4 = older_course.visits.get(week=4)
    week12 = older_course.visits.get(week=12)
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/visits/new/?scheduled={week4.pk}"
    data = {"scheduled": week4.pk, "visit_date": week12.due_date.isoformat(),
            "density_per_cm2": "150", "pull_test": "not_done"}  # fmt: skip
    saved = client.post(url, data, follow=True)
    page = saved.content.decode()
    assert "It stands for “Week 12 follow-up”" in page
    assert "“Week 4 follow-up, before session 2” stays planned" in page


def test_a_visit_days_late_keeps_its_appointment_when_the_next_is_still_to_come(clinician, patient):
    # Weekly sessions: week 12 (before session 13) was due 5 days ago, the visit before
    # session 14 is due in 2 days, and a consultation is booked for tomorrow.
    plan = services.create_follow_up_plan(
        patient, clinician, first_session_date=TODAY - timedelta(weeks=12, days=5),
        sessions_planned=14, interval_weeks=1, follow_up_weeks=[12],
    )  # fmt: skip
    week12 = plan.visits.get(week=12)
    assert plan.visits.get(session_number=14).due_date == TODAY + timedelta(days=2)
    services.add_scheduled_visit(
        patient, clinician, due_date=TODAY + timedelta(days=1), label="Consultation"
    )
    visit = services.record_visit(
        patient, clinician, {"visit_date": TODAY, "density_per_cm2": 140}, scheduled_visit=week12
    )
    assert visit.scheduled_visit == week12
