"""A session outside the plan's course is held back until confirmed (clinical safety).

Sessions of one kind closer together than the protocol's shortest interval (exosome: 2 weeks),
or more of them than the plan plans (the plan's number when it has one session-based
protocol, else the protocol's most), were saved without a word: a review recorded three
exosome sessions on three days in a row, six against three planned. Now the service refuses
such a session on ``confirm_schedule`` naming the problem; confirmed, it is saved with the
warning kept (``limit_warnings``, code ``course``). Voided sessions do not count.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from anagen.treatments import services
from anagen.treatments.models import TreatmentSession

from ..monitoring import _course as course

START = date.today() - timedelta(weeks=10)


@pytest.fixture
def treated(clinic_a, clinician, make_patient):
    """One exosome session ten weeks ago (plan: 4 sessions, protocol: 2-4 weeks apart)."""
    patient = make_patient(clinic_a, clinician, sex_at_birth="male", family_name="Course")
    plan, lot, _ = course.course(patient, clinician, first=START, sessions=1)
    return plan, lot


def test_a_session_sooner_than_the_protocols_interval_is_held_back(treated, clinician):
    plan, lot = treated
    with pytest.raises(services.SessionError) as err:
        course.record_sessions(plan, clinician, lot, [START + timedelta(days=9)])
    [problem, advice] = err.value.errors["confirm_schedule"]
    assert "is 9 days before this one" in problem
    assert "asks for at least 2 weeks between sessions" in problem
    assert "tick the confirmation" in advice
    assert TreatmentSession.objects.filter(plan=plan).count() == 1
    lot.refresh_from_db()
    assert lot.quantity_on_hand == lot.quantity_received - 1  # no vial drawn


def test_a_session_recorded_afterwards_between_two_is_measured_to_the_nearest(treated, clinician):
    plan, lot = treated
    course.record_sessions(plan, clinician, lot, [START + timedelta(weeks=4)])
    with pytest.raises(services.SessionError) as err:
        course.record_sessions(plan, clinician, lot, [START + timedelta(weeks=4, days=-3)])
    assert "is 3 days after this one" in err.value.errors["confirm_schedule"][0]


def test_confirmed_it_is_saved_with_the_warning_kept(treated, clinician):
    plan, lot = treated
    [session] = course.record_sessions(
        plan, clinician, lot, [START + timedelta(days=9)], confirm_schedule=True
    )
    assert [w["code"] for w in session.limit_warnings] == ["course"]
    assert "at least 2 weeks" in session.limit_warnings[0]["message"]


def test_sessions_on_the_course_need_no_confirmation(treated, clinician):
    plan, lot = treated
    sessions = course.record_sessions(
        plan, clinician, lot, [START + timedelta(weeks=2), START + timedelta(weeks=6)]
    )
    assert [s.limit_warnings for s in sessions] == [[], []]


def test_a_session_beyond_the_planned_number_is_held_back(treated, clinician):
    plan, lot = treated
    assert plan.sessions_planned == 4
    days = [START + timedelta(weeks=w) for w in (2, 4, 6)]
    course.record_sessions(plan, clinician, lot, days)
    with pytest.raises(services.SessionError) as err:
        course.record_sessions(plan, clinician, lot, [START + timedelta(weeks=9)])
    assert err.value.errors["confirm_schedule"][0] == (
        "This would be session 5 of exosome / EV injections on this plan; the plan has 4 planned."
    )


def test_a_second_record_on_a_session_day_is_not_one_more_session(treated, clinician):
    """A separate session on the same day (confirmed as such) is the same treatment day: the
    timeline calls it "Session 4 (record 2 of 2 that day)" and the proposal counts 4
    sessions, but the course check said "This would be session 5 … the plan has 4 planned"
    and held it back on confirm_schedule."""
    plan, lot = treated
    days = [START + timedelta(weeks=w) for w in (2, 4, 6)]
    course.record_sessions(plan, clinician, lot, days)
    [second] = course.record_sessions(
        plan, clinician, lot, [days[-1]], confirm_same_day=True, same_day_seen=1
    )
    assert second.limit_warnings == []
    # A fifth day is still one more than planned, and says so in the same count.
    with pytest.raises(services.SessionError) as err:
        course.record_sessions(plan, clinician, lot, [START + timedelta(weeks=9)])
    assert err.value.errors["confirm_schedule"][0].startswith("This would be session 5 of")


def test_a_voided_session_does_not_count(treated, clinician):
    plan, lot = treated
    [early] = course.record_sessions(
        plan, clinician, lot, [START + timedelta(days=9)], confirm_schedule=True
    )
    services.void_session(early, clinician, "entered on the wrong day", vials_returned=True)
    [again] = course.record_sessions(plan, clinician, lot, [START + timedelta(weeks=2)])
    assert again.limit_warnings == []


def test_the_page_offers_the_confirmation_and_the_api_names_it(
    client, treated, clinician, clinic_a, api_token
):
    plan, lot = treated
    day = (START + timedelta(days=9)).isoformat()
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    body = {"plan_id": plan.pk, "modality": "exosome", "performed_on": day, "needle_gauge": 30,
            "depth_mm": "1.5", "map": course.MAP,
            "vials": [{"lot_id": lot.pk, "quantity": 1}]}  # fmt: skip
    url = f"/api/v1/sessions/{plan.patient_id}"
    held = client.post(url, json.dumps(body), content_type="application/json", headers=headers)
    assert held.status_code == 400, held.content
    assert held.json()["detail"].startswith("confirm_schedule: The exosome / EV injections")
    done = client.post(
        url, json.dumps({**body, "confirm_schedule": True}), content_type="application/json",
        headers=headers,
    )  # fmt: skip
    assert done.status_code == 201, done.content
    assert [w["code"] for w in done.json()["limit_warnings"]] == ["course"]


def test_the_form_shows_the_confirmation_once_the_warning_was_given(client, treated, clinician):
    plan, lot = treated
    client.force_login(clinician)
    page = client.post(
        f"/sessions/{plan.patient_id}/new/",
        {"plan": plan.pk, "modality": "exosome",
         "performed_on": (START + timedelta(days=9)).isoformat(), "needle_gauge": 30,
         "depth_mm": "1.5", "vial_0_lot": lot.pk, "vial_0_quantity": 1,
         "map-frontal-points": 40, "map-frontal-volume_ml": "1.0"},
    )  # fmt: skip
    assert page.status_code == 400
    html = page.content.decode()
    assert 'name="confirm_schedule"' in html and "at least 2 weeks between sessions" in html


def _ended_course(patient, clinician, first):
    from anagen.monitoring import services as monitoring

    follow_up = monitoring.create_follow_up_plan(
        patient, clinician, first_session_date=first, sessions_planned=4, interval_weeks=4
    )
    monitoring.end_course(follow_up, clinician, "patient stopped: moving abroad")
    follow_up.refresh_from_db()
    return follow_up


def test_a_session_after_the_course_was_ended_early_is_held_back(treated, clinician):
    """Ending a course stops the treatment (docs/monitoring.md); a session recorded after it
    was saved without a word (review)."""
    plan, lot = treated
    _ended_course(plan.patient, clinician, START)
    today = date.today()
    with pytest.raises(services.SessionError) as err:
        course.record_sessions(plan, clinician, lot, [today])
    [problem, advice] = err.value.errors["confirm_schedule"]
    assert problem.startswith(f"The course begun {START.day} {START:%B %Y} was ended early on ")
    assert "(patient stopped: moving abroad); a session after that resumes a stopped" in problem
    assert "tick the confirmation" in advice
    [session] = course.record_sessions(plan, clinician, lot, [today], confirm_schedule=True)
    assert "was ended early" in session.limit_warnings[0]["message"]


def test_a_session_before_the_course_ended_or_under_a_new_course_is_not(treated, clinician):
    plan, lot = treated
    _ended_course(plan.patient, clinician, START)
    # Recorded afterwards for a day before the end: part of the course as it was.
    [earlier] = course.record_sessions(plan, clinician, lot, [START + timedelta(weeks=4)])
    assert earlier.limit_warnings == []
    from anagen.monitoring import services as monitoring

    today = date.today()
    monitoring.create_follow_up_plan(
        plan.patient, clinician, first_session_date=today, sessions_planned=2, interval_weeks=4
    )
    [resumed] = course.record_sessions(plan, clinician, lot, [today])
    assert resumed.limit_warnings == []
