"""Ending a follow-up course early in one step: its planned visits are cancelled (missed when
already past), each with the reason in its history, and a new course can then be booked.
Cancelling a treatment plan can end the course in the same step: both happen or neither."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.assessment.models import TreatmentPlan
from anagen.monitoring import selectors, services
from anagen.monitoring.models import ScheduledVisit
from anagen.patients import services as patient_services

from ..builders import accepted_plan, exosome_plan

TODAY = date.today()
PLANNED, MISSED, CANCELLED = (
    ScheduledVisit.Status.PLANNED,
    ScheduledVisit.Status.MISSED,
    ScheduledVisit.Status.CANCELLED,
)


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(clinic_a, clinician, given_name="Cora", family_name="Course")


@pytest.fixture
def course(patient, clinician):
    """Three sessions four weeks apart from six weeks ago: some visits past, some to come."""
    return services.create_follow_up_plan(
        patient,
        clinician,
        first_session_date=TODAY - timedelta(weeks=6),
        sessions_planned=3,
        interval_weeks=4,
    )


def _statuses(plan) -> dict[int, str]:
    return dict(plan.visits.values_list("pk", "status"))


def test_ending_a_course_cancels_coming_visits_and_marks_past_ones_missed(course, clinician):
    already_cancelled = course.visits.filter(due_date__gt=TODAY).first()
    services.set_visit_status(already_cancelled, clinician, CANCELLED, "patient away")
    before = {sv.pk: sv for sv in course.visits.all()}

    ended = services.end_course(course, clinician, "patient stopped treatment")

    after = _statuses(course)
    for pk, sv in before.items():
        if sv.status != PLANNED:
            assert after[pk] == sv.status  # visits already closed are left as they were
        elif sv.due_date < TODAY:
            assert after[pk] == MISSED
        else:
            assert after[pk] == CANCELLED
    past = sum(1 for sv in before.values() if sv.status == PLANNED and sv.due_date < TODAY)
    coming = sum(1 for sv in before.values() if sv.status == PLANNED and sv.due_date >= TODAY)
    assert past and coming  # the fixture has both kinds
    assert (ended.missed, ended.cancelled) == (past, coming)
    assert ended.summary() == (
        f"{coming} planned visit(s) cancelled and {past} past visit(s) marked missed"
    )
    course.refresh_from_db()
    assert (course.ended_on, course.ended_by, course.end_reason) == (
        TODAY,
        clinician,
        "patient stopped treatment",
    )
    entries = selectors.timeline(course.patient, show_sessions=True)
    assert not [e for e in entries if e.kind == "planned_session"]
    (ended_entry,) = [e for e in entries if e.kind == "course_ended"]
    assert ended_entry.when == TODAY
    assert ended_entry.detail.endswith(": patient stopped treatment")
    latest = course.visits.get(pk=max(before)).history.first()
    assert latest.history_user == clinician
    assert latest.history_change_reason == "cancelled (course ended): patient stopped treatment"
    assert already_cancelled.history.count() == 2  # created, cancelled: not touched again
    assert selectors.open_course(course.patient) is None


def test_after_ending_a_course_a_new_one_can_be_booked(course, patient, clinician):
    with pytest.raises(services.MonitoringError) as refused:
        services.create_follow_up_plan(
            patient, clinician, first_session_date=TODAY, sessions_planned=1, interval_weeks=""
        )
    assert "End that course first" in str(refused.value)
    services.end_course(course, clinician, "new protocol chosen")
    new = services.create_follow_up_plan(
        patient, clinician, first_session_date=TODAY, sessions_planned=1, interval_weeks=""
    )
    assert selectors.open_course(patient).plan == new


def test_ending_needs_a_reason_and_planned_visits_and_a_live_record(course, patient, clinician):
    with pytest.raises(services.MonitoringError) as short:
        services.end_course(course, clinician, " no ")
    assert "reason" in short.value.errors
    assert set(_statuses(course).values()) == {PLANNED}  # nothing changed

    services.end_course(course, clinician, "patient stopped")
    with pytest.raises(services.MonitoringError) as again:
        services.end_course(course, clinician, "patient stopped")
    assert "no planned visits left" in str(again.value)

    patient_services.void_patient(patient, clinician, "registered twice by mistake")
    patient.refresh_from_db()
    course.refresh_from_db()
    with pytest.raises(services.MonitoringError, match="voided"):
        services.end_course(course, clinician, "patient stopped")


# --- the schedule page -----------------------------------------------------------------------


def test_schedule_page_shows_the_open_course_and_ends_it(client, course, patient, clinician):
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/schedule/new/").content.decode()
    assert 'id="open-course"' in page
    assert f'action="/monitoring/{patient.pk}/courses/{course.pk}/end/"' in page

    bad = client.post(f"/monitoring/{patient.pk}/courses/{course.pk}/end/", {"reason": "x"})
    assert bad.status_code == 400
    assert "Give the reason for ending the course" in bad.content.decode()
    assert set(_statuses(course).values()) == {PLANNED}

    done = client.post(
        f"/monitoring/{patient.pk}/courses/{course.pk}/end/",
        {"reason": "patient moved away"},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == f"/monitoring/{patient.pk}/"
    assert "Course ended:" in done.content.decode()
    assert PLANNED not in set(_statuses(course).values())
    page = client.get(f"/monitoring/{patient.pk}/schedule/new/").content.decode()
    assert 'id="open-course"' not in page


def test_a_visit_of_an_ended_course_is_not_planned_again(
    client, course, patient, clinician, clinic_a, make_user
):
    """Ending a course is plan.edit's; the front desk planned its cancelled visits again one
    by one (schedule.manage), restarting the treatment behind the clinician (a review)."""
    services.end_course(course, clinician, "patient stopped treatment")
    cancelled = course.visits.filter(status=CANCELLED).order_by("due_date").first()
    with pytest.raises(services.MonitoringError) as refused:
        services.set_visit_status(cancelled, clinician, PLANNED, "patient wants to go on")
    assert "Its course was ended on" in refused.value.errors["status"][0]
    client.force_login(make_user(Role.FRONT_DESK, clinic_a, username="desk-a"))
    url = f"/monitoring/{patient.pk}/schedule/{cancelled.pk}/status/"
    page = client.post(url, {"status": "planned", "reason": "rebooking the patient"})
    assert page.status_code == 400
    assert "the visit is not planned again" in page.content.decode()
    cancelled.refresh_from_db()
    assert cancelled.status == CANCELLED
    assert selectors.open_course(patient) is None
    # An appointment outside any course is planned again as before.
    booked = services.add_scheduled_visit(
        patient, clinician, due_date=TODAY + timedelta(days=3), label="Consultation"
    )
    booked = services.set_visit_status(booked, clinician, CANCELLED, "patient away")
    assert services.set_visit_status(booked, clinician, PLANNED, "back after all").status == PLANNED


def test_ending_a_course_checks_role_and_clinic(
    client, course, patient, clinic_a, clinic_b, make_user
):
    url = f"/monitoring/{patient.pk}/courses/{course.pk}/end/"
    # Ending a course stops treatment: a clinician's call. The front desk and nurses book and
    # cancel single appointments; they see the open course but not the form.
    for role in (Role.RESEARCHER, Role.NURSE, Role.FRONT_DESK):
        client.force_login(make_user(role, clinic_a, username=f"{role}-a"))
        assert client.post(url, {"reason": "patient stopped"}).status_code == 403
    page = client.get(f"/monitoring/{patient.pk}/schedule/new/").content.decode()
    assert 'id="open-course"' in page and "End the course" not in page
    client.force_login(make_user(Role.CLINICIAN, clinic_b, username="doc-b"))
    assert client.post(url, {"reason": "patient stopped"}).status_code == 404
    assert set(_statuses(course).values()) == {PLANNED}


def test_api_ends_a_course_and_refuses_bad_input(
    client, course, patient, clinician, clinic_a, clinic_b, make_user, make_patient, api_token
):
    def post(path, body, user=clinician, clinic=clinic_a):
        return client.post(
            f"/api/v1/monitoring{path}",
            data=json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(user, clinic)}"},
        )

    path = f"/patients/{patient.pk}/courses/{course.pk}/end"
    short = post(path, {"reason": "no"})
    assert short.status_code == 400
    assert short.json()["detail"].startswith("reason: Give the reason for ending the course")
    other_user = make_user(Role.CLINICIAN, clinic_b, username="doc-b")
    assert post(path, {"reason": "patient stopped"}, other_user, clinic_b).status_code == 404
    someone_else = make_patient(clinic_a, clinician, given_name="Otto", family_name="Other")
    wrong_patient = f"/patients/{someone_else.pk}/courses/{course.pk}/end"
    assert post(wrong_patient, {"reason": "patient stopped"}).status_code == 404
    assert set(_statuses(course).values()) == {PLANNED}

    ok = post(path, {"reason": "patient stopped"})
    assert ok.status_code == 200
    body = ok.json()
    assert body["missed"] + body["cancelled"] == len(body["plan"]["visits"])
    assert {v["status"] for v in body["plan"]["visits"]} == {MISSED, CANCELLED}


# --- cancelling the treatment plan ends the course in the same step -------------------------


@pytest.fixture
def plan(patient, clinician):
    return exosome_plan(patient, clinician)


def _cancel(client, patient, plan, **data):
    return client.post(f"/consultation/{patient.pk}/plans/{plan.pk}/cancel/", data)


def test_cancelling_a_plan_offers_to_end_the_course(client, plan, course, patient, clinician):
    client.force_login(clinician)
    page = client.get(f"/consultation/{patient.pk}/").content.decode()
    assert f'id="id_cancel_{plan.pk}_end_course"' in page
    assert "visit(s) still planned" in page

    response = _cancel(
        client, patient, plan, reason="patient declined further care", end_course="on"
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.status == "cancelled"
    assert PLANNED not in set(_statuses(course).values())
    page = client.get(f"/consultation/{patient.pk}/").content.decode()
    assert "cancelled; follow-up course ended:" in page
    last = course.visits.filter(status=CANCELLED).first().history.first()
    assert last.history_change_reason.endswith("plan cancelled: patient declined further care")


def test_cancelling_a_plan_unticked_leaves_the_visits_booked(
    client, plan, course, patient, clinician
):
    client.force_login(clinician)
    assert _cancel(client, patient, plan, reason="patient declined").status_code == 302
    plan.refresh_from_db()
    assert plan.status == "cancelled"
    assert set(_statuses(course).values()) == {PLANNED}


def test_plan_stays_active_when_there_is_no_course_to_end(client, plan, patient, clinician):
    client.force_login(clinician)
    response = _cancel(client, patient, plan, reason="patient declined", end_course="on")
    assert response.status_code == 400
    assert "no follow-up course with visits planned" in response.content.decode()
    plan.refresh_from_db()
    assert plan.status != "cancelled"  # both or neither


def test_api_cancels_a_plan_and_ends_the_course(
    client, plan, course, patient, clinician, api_token
):
    response = client.post(
        f"/api/v1/consultation/{patient.pk}/plans/{plan.pk}/cancel",
        data=json.dumps({"reason": "patient declined", "end_course": True}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(clinician, patient.clinic)}"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert PLANNED not in set(_statuses(course).values())
    assert TreatmentPlan.objects.get(pk=plan.pk).status == "cancelled"


# --- a visit recorded without its appointment closes the one due that day ------------------


def test_a_visit_on_an_appointments_day_closes_that_appointment(course, patient, clinician):
    # The next planned visit (a later one moved before it would break the course's order).
    coming = course.visits.filter(due_date__gt=TODAY).exclude(kind=ScheduledVisit.Kind.BASELINE)
    target = coming.order_by("due_date").first()
    services.reschedule_visit(target, clinician, new_date=TODAY, reason="patient came early")
    visit = services.record_visit(patient, clinician, {"visit_date": TODAY})
    target.refresh_from_db()
    assert visit.scheduled_visit == target and target.status == ScheduledVisit.Status.DONE
    # Ending the course later leaves it done, not missed.
    services.end_course(course, clinician, "patient stopped treatment")
    target.refresh_from_db()
    assert target.status == ScheduledVisit.Status.DONE


def test_a_baseline_appointment_is_closed_only_by_a_baseline_visit(patient, clinician):
    first = TODAY + timedelta(days=1)
    course = services.create_follow_up_plan(
        patient, clinician, first_session_date=first, sessions_planned=1, interval_weeks=""
    )
    baseline = course.visits.get(kind=ScheduledVisit.Kind.BASELINE)
    services.reschedule_visit(baseline, clinician, new_date=TODAY, reason="seen a day early")
    services.record_visit(patient, clinician, {"visit_date": TODAY, "notes": "phone triage"})
    baseline.refresh_from_db()
    assert baseline.status == PLANNED  # a visit not marked baseline leaves it open
    done = services.record_visit(
        patient,
        clinician,
        {"visit_date": TODAY, "is_baseline": True, "confirm_same_day": True},
    )
    baseline.refresh_from_db()
    assert done.scheduled_visit == baseline and baseline.status == ScheduledVisit.Status.DONE


# --- review mends: the course of another treatment; long reasons; voided appointments -------


def test_cancelling_another_treatments_plan_does_not_end_the_course(client, patient, clinician):
    exosome = exosome_plan(patient, clinician)
    minoxidil = accepted_plan(patient, clinician, "minoxidil")
    course = services.create_follow_up_plan(
        patient,
        clinician,
        first_session_date=TODAY,
        sessions_planned=3,
        interval_weeks=4,
        protocol_key="exosome_standard",
    )
    client.force_login(clinician)
    page = client.get(f"/consultation/{patient.pk}/").content.decode()
    assert f'id="id_cancel_{exosome.pk}_end_course"' in page
    assert f'id="id_cancel_{minoxidil.pk}_end_course"' not in page
    assert "follows another treatment; it stays booked" in page
    with pytest.raises(services.MonitoringError) as refused:
        services.cancel_plan_and_end_course(minoxidil, clinician, "patient stopped minoxidil")
    assert "follows another treatment" in " ".join(refused.value.errors["end_course"])
    minoxidil.refresh_from_db()
    assert minoxidil.status == "active"  # both or neither
    assert set(_statuses(course).values()) == {PLANNED}
    services.cancel_plan_and_end_course(exosome, clinician, "patient stopped injections")
    assert PLANNED not in set(_statuses(course).values())


def test_a_long_cancellation_reason_also_ends_the_course(plan, course, clinician):
    reason = "patient moved abroad; " * 90  # 1,980 characters: the plan form allows 2,000
    services.cancel_plan_and_end_course(plan, clinician, reason)
    course.refresh_from_db()
    assert course.end_reason == f"plan cancelled: {reason.strip()}"


def test_the_end_reply_leaves_out_appointments_voided_as_booked_in_error(
    client, course, patient, clinician, api_token
):
    duplicate = course.visits.filter(due_date__gt=TODAY).first()
    services.void_record(duplicate, clinician, "duplicate booking")
    response = client.post(
        f"/api/v1/monitoring/patients/{patient.pk}/courses/{course.pk}/end",
        data=json.dumps({"reason": "patient stopped"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(clinician, patient.clinic)}"},
    )
    assert response.status_code == 200, response.content
    visits = response.json()["plan"]["visits"]
    assert duplicate.pk not in {v["id"] for v in visits}
    assert {v["status"] for v in visits} == {MISSED, CANCELLED}


def test_voiding_a_visit_reopens_its_appointment_for_the_corrected_visit(
    course, patient, clinician
):
    target = course.visits.filter(due_date__gt=TODAY).order_by("due_date").first()
    services.reschedule_visit(target, clinician, new_date=TODAY, reason="came early")
    wrong = services.record_visit(patient, clinician, {"visit_date": TODAY, "notes": "typo"})
    target.refresh_from_db()
    assert target.status == ScheduledVisit.Status.DONE
    services.void_record(wrong, clinician, "entered at the wrong patient")
    target.refresh_from_db()
    wrong.refresh_from_db()
    assert target.status == PLANNED and wrong.scheduled_visit is None
    assert wrong.history.filter(scheduled_visit_id=target.pk).exists()  # the link stays told
    corrected = services.record_visit(patient, clinician, {"visit_date": TODAY})
    target.refresh_from_db()
    assert corrected.scheduled_visit == target and target.status == ScheduledVisit.Status.DONE


def test_schedule_page_offers_no_new_course_while_one_is_open(
    client, course, patient, clinician, clinic_a, make_user
):
    """A second course is refused while one is open: the page offered 'Create schedule'
    anyway, filled in with the open course's dates, a button that could only fail (the front
    desk, who cannot end the course, had no way past it)."""
    for user in (clinician, make_user(Role.FRONT_DESK, clinic_a, username="desk-open")):
        client.force_login(user)
        page = client.get(f"/monitoring/{patient.pk}/schedule/new/").content.decode()
        assert 'id="open-course"' in page
        assert "Create schedule" not in page
        assert page.index("<h1>") < page.index('id="open-course"')
    services.end_course(course, clinician, "patient stopped treatment")
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/schedule/new/").content.decode()
    assert "Create schedule" in page


def test_voiding_a_visit_of_an_ended_course_closes_its_appointment_not_plans_it(
    course, patient, clinician
):
    week4 = course.visits.get(week=4)  # due two weeks ago
    wrong = services.record_visit(
        patient, clinician, {"visit_date": week4.due_date, "notes": "typo"}, scheduled_visit=week4
    )
    services.end_course(course, clinician, "patient stopped treatment")
    services.void_record(wrong, clinician, "entered at the wrong patient")
    week4.refresh_from_db()
    # Ending the course stopped the treatment: the appointment is not asked for again.
    assert week4.status == MISSED
    assert "course ended" in week4.history.first().history_change_reason
    assert selectors.open_course(patient) is None
    assert week4 not in selectors.overdue(patient.clinic)
