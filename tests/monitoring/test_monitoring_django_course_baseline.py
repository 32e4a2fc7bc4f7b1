"""A patient back for a new course gets a new baseline: each visit is compared with the
baseline of its course, and the proposal counts that course's sessions only. A second
baseline without a new course is refused; the progress page says which baseline it uses."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.monitoring import selectors, services
from anagen.monitoring.models import ScheduledVisit, Visit
from anagen.outcomes.selectors import patient_progress

from . import _course as course

TODAY = date.today()
START_1 = TODAY - timedelta(weeks=40)
START_2 = TODAY - timedelta(weeks=8)


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(clinic_a, clinician, given_name="Rita", family_name="Returning")


def _visit(patient, user, on, density, **extra):
    return services.record_visit(
        patient, user, {"visit_date": on, "density_per_cm2": density, **extra}
    )


@pytest.fixture
def first_course(patient, clinician):
    """Course 1: two exosome sessions from 40 weeks ago, baseline 150/cm², 165 at week 12;
    ended early, so its remaining visits are closed."""
    schedule = services.create_follow_up_plan(
        patient, clinician, first_session_date=START_1, sessions_planned=3, interval_weeks=4
    )
    plan, lot, _ = course.course(patient, clinician, first=START_1, sessions=2)
    base = _visit(patient, clinician, START_1, 150, is_baseline=True)
    week12 = _visit(patient, clinician, START_1 + timedelta(weeks=12), 165)
    services.end_course(schedule, clinician, "course stopped after two sessions")
    return plan, lot, base, week12


def test_a_second_baseline_needs_a_new_course(patient, clinician, first_course):
    with pytest.raises(services.MonitoringError) as refused:
        _visit(patient, clinician, START_2, 130, is_baseline=True)
    assert "already has a baseline visit" in " ".join(refused.value.errors["is_baseline"])
    assert Visit.objects.filter(patient=patient, is_baseline=True).count() == 1


def test_a_new_courses_baseline_comes_after_the_current_one(patient, clinician, first_course):
    services.create_follow_up_plan(
        patient, clinician, first_session_date=START_2, sessions_planned=2, interval_weeks=4
    )
    with pytest.raises(services.MonitoringError) as early:
        _visit(patient, clinician, START_1 - timedelta(days=1), 130, is_baseline=True)
    assert "comes after the current baseline" in " ".join(early.value.errors["visit_date"])


def test_each_visit_compares_with_its_courses_baseline_and_sessions(
    patient, clinician, first_course
):
    plan, lot, base_1, week12 = first_course
    schedule_2 = services.create_follow_up_plan(
        patient, clinician, first_session_date=START_2, sessions_planned=2, interval_weeks=4
    )
    # The new course's scheduled baseline appointment is recorded as its baseline.
    appointment = schedule_2.visits.get(kind=ScheduledVisit.Kind.BASELINE)
    base_2 = services.record_visit(
        patient,
        clinician,
        {"visit_date": START_2, "density_per_cm2": 130},
        scheduled_visit=appointment,
    )
    assert base_2.is_baseline
    course.record_sessions(plan, clinician, lot, [START_2])
    week6 = _visit(patient, clinician, START_2 + timedelta(weeks=6), 143)

    assert selectors.baseline_for(week6) == base_2
    assert selectors.baseline_for(week12) == base_1
    assert selectors.baseline_visit(patient) == base_1  # the patient-level first baseline
    now = selectors.change_from_baseline(week6)
    assert (now.baseline_date, now.density_change_pct) == (START_2, 10.0)
    then = selectors.change_from_baseline(week12)
    assert (then.baseline_date, then.density_change_pct) == (START_1, 10.0)

    proposal = selectors.proposal_for(week6)
    assert proposal.inputs["sessions_done"] == 1  # course 2's session, not course 1's two
    assert proposal.inputs["sessions_counted_from"] == START_2.isoformat()
    assert proposal.inputs["sessions_planned"] == 2  # course 2's schedule
    assert proposal.inputs["days_since_first_session"] == 42
    assert "since this course’s baseline on" in proposal.sessions_basis
    first = selectors.proposal_for(week12)
    assert first.inputs["sessions_done"] == 2 and first.inputs["sessions_counted_from"] is None
    assert first.inputs["sessions_planned"] == 3

    progress = patient_progress(patient, with_forecast=False)
    assert progress.baseline_visit_id == base_1.pk
    assert any("a baseline for each of 2 courses" in m for m in progress.messages)
    flagged = {r.visit_id: r.course_baseline for r in progress.rows}
    assert flagged[base_2.pk] and not flagged[base_1.pk] and not flagged[week6.pk]


def test_the_visit_page_shows_change_from_its_courses_baseline(
    client, patient, clinician, first_course
):
    services.create_follow_up_plan(
        patient, clinician, first_session_date=START_2, sessions_planned=2, interval_weeks=4
    )
    _visit(patient, clinician, START_2, 130, is_baseline=True)
    week6 = _visit(patient, clinician, START_2 + timedelta(weeks=6), 143)
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/visits/{week6.pk}/").content.decode()
    assert f"Change from baseline ({START_2.isoformat()})" in page


def test_a_course_booked_after_a_baseline_with_no_treatment_since_keeps_that_baseline(
    patient, clinician
):
    # The baseline was measured at the consultation; the course is booked afterwards. Its
    # scheduled baseline appointment would have been a second baseline of the same course.
    _visit(patient, clinician, TODAY - timedelta(days=10), 150, is_baseline=True)
    schedule = services.create_follow_up_plan(
        patient, clinician, first_session_date=TODAY, sessions_planned=2, interval_weeks=4
    )
    appointment = schedule.visits.get(kind=ScheduledVisit.Kind.BASELINE)
    with pytest.raises(services.MonitoringError) as refused:
        services.record_visit(
            patient, clinician, {"visit_date": TODAY, "density_per_cm2": 148},
            scheduled_visit=appointment,
        )  # fmt: skip
    assert "no treatment has been given since" in " ".join(refused.value.errors["is_baseline"])
    assert Visit.objects.filter(patient=patient, is_baseline=True).count() == 1


def test_a_late_entry_of_the_previous_course_is_not_the_new_courses_baseline(
    patient, clinician, first_course
):
    services.create_follow_up_plan(
        patient,
        clinician,
        first_session_date=TODAY + timedelta(days=7),
        sessions_planned=2,
        interval_weeks=4,
    )
    late = START_1 + timedelta(weeks=20)  # course 1's week-20 visit, entered late
    with pytest.raises(services.MonitoringError) as refused:
        _visit(patient, clinician, late, 160, is_baseline=True)
    assert "belongs to the previous course" in " ".join(refused.value.errors["visit_date"])
    # Shortly before the new course it is its baseline.
    assert _visit(patient, clinician, TODAY, 140, is_baseline=True).is_baseline


def test_the_timeline_gives_front_desk_a_decisions_date_and_kind_only(
    client, patient, clinician, first_course, clinic_a, make_user
):
    *_, week12 = first_course
    services.record_decision(
        week12, clinician, decided="stop_non_response", rationale="prefers minoxidil"
    )
    desk = make_user(Role.FRONT_DESK, clinic_a, username="desk")
    entries = selectors.timeline(patient, show_sessions=False, show_consultation=False)
    (entry,) = [e for e in entries if e.kind == "decision"]
    assert (entry.title, entry.detail, entry.restricted) == (
        "Decision on further sessions",
        "",
        True,
    )
    client.force_login(desk)
    page = client.get(f"/monitoring/{patient.pk}/").content.decode()
    assert "prefers minoxidil" not in page and "Stop (non-response)" not in page
    client.force_login(clinician)
    assert "Stop (non-response)" in client.get(f"/monitoring/{patient.pk}/").content.decode()
