"""Follow-up schedule from the protocol, agenda (list, calendar, overdue), audited
rescheduling, the reminder CSV, the further-treatment proposal and the stored decision,
and the patient timeline with its density chart."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.monitoring import selectors, services
from anagen.monitoring.models import AdverseEvent, ScheduledVisit, TreatmentDecision

from . import _course as course

TODAY = date.today()


@pytest.fixture
def front_desk(clinic_a, make_user):
    return make_user(Role.FRONT_DESK, clinic_a)


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    patient = make_patient(clinic_a, clinician, given_name="Sam", family_name="Schedule")
    # A phone stored before phone numbers were checked: exports must still guard it.
    type(patient).objects.filter(pk=patient.pk).update(phone="=cmd|' /C calc'!A0")
    patient.refresh_from_db()
    return patient


def test_front_desk_creates_the_schedule_from_the_protocol(client, front_desk, patient):
    client.force_login(front_desk)
    first = TODAY + timedelta(days=7)
    response = client.post(
        f"/monitoring/{patient.pk}/schedule/new/",
        {"first_session_date": first.isoformat(), "sessions_planned": "3", "interval_weeks": "4",
         "follow_up_weeks": "4,12,24,48"},
    )  # fmt: skip
    assert response.status_code == 302
    due = [sv.due_date for sv in selectors.schedule_of(patient)]
    assert due == [first + timedelta(weeks=w) for w in (0, 4, 8, 12, 24, 48)]
    assert ScheduledVisit.objects.filter(patient=patient, kind="baseline").count() == 1


def test_bad_schedule_input_is_a_field_error_and_creates_nothing(client, front_desk, patient):
    client.force_login(front_desk)
    response = client.post(
        f"/monitoring/{patient.pk}/schedule/new/",
        {"first_session_date": TODAY.isoformat(), "sessions_planned": "3", "interval_weeks": "4",
         "follow_up_weeks": "4, twelve"},
    )  # fmt: skip
    assert response.status_code == 400
    assert 'id="id_follow_up_weeks_error"' in response.content.decode()
    assert not ScheduledVisit.objects.exists()


def _plan(patient, user, first):
    return services.create_follow_up_plan(
        patient, user, first_session_date=first, sessions_planned=3, interval_weeks=4
    )


def test_overdue_visits_are_flagged_in_agenda_and_rescheduling_is_audited(
    client, front_desk, clinician, patient
):
    _plan(patient, clinician, TODAY - timedelta(weeks=13))  # week 0, 4, 8, 12 are past
    client.force_login(front_desk)
    overdue = list(selectors.overdue(patient.clinic))
    # Grace 7 days: weeks 0, 4, 8 and 12 (due 7 days ago, not more) → 3 overdue.
    assert [sv.week for sv in overdue] == [0, 4, 8]
    html = client.get("/monitoring/agenda/").content.decode()
    assert 'id="overdue"' in html and "Overdue (3)" in html
    target = overdue[-1]
    new_date = TODAY + timedelta(days=2)
    bad = client.post(
        f"/monitoring/{patient.pk}/schedule/{target.pk}/reschedule/",
        {"due_date": new_date.isoformat(), "reason": ""},
    )
    assert bad.status_code == 400
    ok = client.post(
        f"/monitoring/{patient.pk}/schedule/{target.pk}/reschedule/",
        {"due_date": new_date.isoformat(), "reason": "patient travelling"},
    )
    assert ok.status_code == 302
    target.refresh_from_db()
    assert target.due_date == new_date and target.original_due_date != new_date
    assert target.reschedule_count == 1
    latest = target.history.first()
    assert latest.history_user == front_desk
    assert "patient travelling" in latest.history_change_reason
    assert str(target.original_due_date) in latest.history_change_reason
    assert len(selectors.overdue(patient.clinic)) == 2
    calendar = client.get(f"/monitoring/agenda/?view=calendar&month={new_date:%Y-%m}")
    assert calendar.status_code == 200 and "Schedule" in calendar.content.decode()


def test_reminder_csv_lists_upcoming_and_overdue_with_contacts_and_no_formulas(
    client, front_desk, clinician, patient
):
    _plan(patient, clinician, TODAY - timedelta(weeks=4))
    client.force_login(front_desk)
    response = client.get("/monitoring/agenda/reminders.csv?days=30")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    # A byte-order mark, or Excel reads the names' accents as Latin-1 (review).
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    statuses = {(r["visit"], r["status"]) for r in rows}
    assert ("Baseline (before session 1)", "overdue") in statuses
    assert any(s == "upcoming" for _, s in statuses)
    assert all(r["family_name"] == "Schedule" for r in rows)
    # A phone "number" that is a spreadsheet formula is neutralised.
    assert all(r["phone"].startswith("'=") for r in rows)
    # Nurses may see the agenda but the reminder export is for schedule managers too;
    # researchers see neither.
    client.force_login(clinician)
    assert client.get("/monitoring/agenda/reminders.csv").status_code == 200


def test_the_reminder_csv_is_in_the_access_log_of_each_patient_it_lists(
    client, front_desk, clinician, patient, make_patient, clinic_a
):
    """The file gives names, phones and e-mails away, as the lot's patient list does: each
    listed patient's access log says who took it, and the sitting names the copy taken."""
    from anagen.accounts.models import AccessLog
    from anagen.patients.selectors import access_log_for

    _plan(patient, clinician, TODAY - timedelta(weeks=4))
    unlisted = make_patient(clinic_a, clinician, given_name="Una", family_name="Unbooked")
    client.force_login(front_desk)
    assert client.get("/monitoring/agenda/reminders.csv?days=30").status_code == 200
    rows = AccessLog.objects.filter(patient=patient, user=front_desk)
    assert [(r.channel, r.path) for r in rows] == [("web", "/monitoring/agenda/reminders.csv")]
    assert not AccessLog.objects.filter(patient=unlisted).exists()
    [sitting] = access_log_for(patient)
    assert sitting.copies == ["reminder list (CSV)"]
    # A refused export gave nothing away: nothing logged.
    assert client.get("/monitoring/agenda/reminders.csv?days=0").status_code == 400
    assert AccessLog.objects.filter(patient=patient).count() == 1


def test_visit_recorded_from_an_appointment_closes_it(clinician, patient):
    plan = _plan(patient, clinician, TODAY - timedelta(weeks=4))
    baseline = plan.visits.get(kind="baseline")
    visit = services.record_visit(
        patient, clinician, {"visit_date": baseline.due_date}, scheduled_visit=baseline
    )
    baseline.refresh_from_db()
    assert baseline.status == "done" and visit.is_baseline and visit.scheduled_visit == baseline
    with pytest.raises(services.MonitoringError) as err:
        services.record_visit(patient, clinician, {"visit_date": TODAY}, scheduled_visit=baseline)
    assert "scheduled_visit" in err.value.errors


def test_a_baseline_recorded_before_the_schedule_is_its_baseline_appointment(clinician, patient):
    """The baseline measured first, the schedule made after: the schedule's baseline stayed
    "planned" beside the recorded visit on the timeline and in the agenda."""
    day = TODAY  # the first session's day, when the schedule books the baseline
    recorded = services.record_visit(
        patient, clinician, {"visit_date": day, "is_baseline": True, "density_per_cm2": 150}
    )
    plan = _plan(patient, clinician, day)
    baseline = plan.visits.get(kind="baseline")
    recorded.refresh_from_db()
    assert baseline.status == "done" and recorded.scheduled_visit == baseline
    assert baseline.history.first().history_change_reason == (
        "done: the visit was recorded before the schedule was made"
    )
    assert not selectors.agenda(patient.clinic, day, day).filter(status="planned").exists()


def _course(patient, user, *, start, density_after, global_after=None, ae_grade=None, sessions=3):
    """Baseline at the first session, ``sessions`` recorded sessions every 4 weeks (the
    proposal counts recorded sessions, not the plan's dates), follow-up at week 12."""
    _plan(patient, user, start)
    course.course(patient, user, first=start, sessions=sessions)
    services.record_visit(
        patient, user, {"visit_date": start, "is_baseline": True, "density_per_cm2": 150,
                        "mean_diameter_um": 55},
    )  # fmt: skip
    if ae_grade:
        services.record_adverse_event(
            patient,
            user,
            {
                "term_key": "skin_infection",
                "grade": ae_grade,
                "onset_date": start + timedelta(days=3),
                "relatedness": "probable",
            },
        )
    return services.record_visit(
        patient, user,
        {"visit_date": start + timedelta(weeks=12), "density_per_cm2": density_after,
         "mean_diameter_um": 57, "global_assessment": global_after},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("density_after", "ae_grade", "expected"),
    [
        (170, None, "maintenance"),  # +13.3 % ≥ 10 % response threshold
        (159, None, "add_sessions"),  # +6 %: partial
        (150, None, "switch_or_combine"),  # no change after the planned course
        (170, 3, "stop_adverse_event"),  # related grade-3 event stops whatever the response
    ],
)
def test_proposal_follows_change_from_baseline_and_clinic_thresholds(
    clinician, patient, density_after, ae_grade, expected
):
    visit = _course(
        patient, clinician, start=TODAY - timedelta(weeks=13), density_after=density_after,
        ae_grade=ae_grade,
    )  # fmt: skip
    proposal = selectors.proposal_for(visit)
    assert proposal.inputs["sessions_done"] == 3 and proposal.inputs["sessions_planned"] == 3
    assert proposal.decision.proposal.value == expected


def _ae(patient, user, visit, term_key, grade, relatedness):
    services.record_adverse_event(
        patient, user,
        {"term_key": term_key, "grade": grade, "relatedness": relatedness,
         "onset_date": visit.visit_date - timedelta(days=10)},
    )  # fmt: skip


@pytest.mark.parametrize("related_first", [True, False])
def test_an_unrelated_higher_grade_event_does_not_hide_a_related_grade_3_one(
    clinician, patient, related_first
):
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=150)
    assert selectors.proposal_for(visit).decision.proposal.value == "switch_or_combine"
    related = ("pain", 3, "probable")
    unrelated = ("fever", 4, "unrelated")
    for event in (related, unrelated) if related_first else (unrelated, related):
        _ae(patient, clinician, visit, *event)
    proposal = selectors.proposal_for(visit)
    assert proposal.decision.proposal.value == "stop_adverse_event"
    assert proposal.decision.reasons[0].startswith("Grade 3 adverse event related")
    assert proposal.inputs["max_ae_grade"] == 3 and proposal.inputs["ae_related"] is True
    assert proposal.inputs["max_unrelated_ae_grade"] == 4


def test_a_related_serious_event_below_the_stop_grade_stops_treatment(clinician, patient):
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=170)
    services.record_adverse_event(
        patient, clinician,
        {"term_key": "allergic_reaction", "grade": 2, "relatedness": "possible",
         "seriousness": ["important_medical_event"],
         "onset_date": visit.visit_date - timedelta(days=10)},
    )  # fmt: skip
    proposal = selectors.proposal_for(visit)
    assert proposal.decision.proposal.value == "stop_adverse_event"
    assert proposal.inputs["ae_serious"] == ["important_medical_event"]


def test_seriousness_added_after_a_decision_is_weighed_again(clinician, patient):
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=170)
    _ae(patient, clinician, visit, "allergic_reaction", 2, "possible")
    services.record_decision(visit, clinician, decided="maintenance")
    event = AdverseEvent.objects.get()
    later = services.record_visit(
        patient, clinician, {"visit_date": visit.visit_date + timedelta(days=7),
                             "density_per_cm2": 170, "mean_diameter_um": 57},
    )  # fmt: skip
    assert selectors.proposal_for(later).decision.proposal.value != "stop_adverse_event"
    services.update_adverse_event(
        event, clinician, {"seriousness": ["disability"]}, change_reason="turned out disabling"
    )
    proposal = selectors.proposal_for(later)
    assert proposal.decision.proposal.value == "stop_adverse_event"


def test_an_unrelated_grade_4_event_alone_is_noted_for_review(clinician, patient):
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=150)
    _ae(patient, clinician, visit, "fever", 4, "unrelated")
    proposal = selectors.proposal_for(visit)
    assert proposal.decision.proposal.value == "switch_or_combine"
    assert any("Grade 4 adverse event judged unrelated" in r for r in proposal.decision.reasons)


def test_clinic_thresholds_change_the_proposal(clinician, patient, clinic_a):
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=159)
    assert selectors.proposal_for(visit).decision.proposal.value == "add_sessions"
    saved = services.save_settings(
        clinic_a, clinician, {"min_density_pct": 2, "response_density_pct": 5}
    )
    assert selectors.proposal_for(visit).decision.proposal.value == "maintenance"
    versions = saved.history.count()
    services.save_settings(clinic_a, clinician, {"min_density_pct": 2})  # unchanged
    assert saved.history.count() == versions
    with pytest.raises(services.MonitoringError) as err:
        services.save_settings(
            clinic_a, clinician, {"min_density_pct": 20, "response_density_pct": 5}
        )
    assert "response_density_pct" in err.value.errors


def test_clinician_decides_and_both_proposal_and_decision_are_stored(client, clinician, patient):
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=159)
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/visits/{visit.pk}/decision/"
    page = client.get(url).content.decode()
    assert "Proposal: Add sessions" in page
    # Deviating from the proposal needs a reason.
    no_reason = client.post(
        url, {"sessions_done": "3", "sessions_planned": "3", "decision": "switch_or_combine"}
    )
    assert no_reason.status_code == 400 and 'id="id_rationale_error"' in no_reason.content.decode()
    assert not TreatmentDecision.objects.exists()
    ok = client.post(
        url,
        {"sessions_done": "3", "sessions_planned": "3", "decision": "switch_or_combine",
         "rationale": "patient prefers to add minoxidil"},
    )  # fmt: skip
    assert ok.status_code == 302
    row = TreatmentDecision.objects.get()
    assert (row.proposal, row.decision, row.response) == (
        "add_sessions",
        "switch_or_combine",
        "partial",
    )
    assert row.inputs["density_change_pct"] == 6.0 and not row.follows_proposal
    assert row.proposal_reasons and row.decided_by == clinician
    detail = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert "Decided: Switch or combine modality" in detail


def test_a_second_decision_at_the_same_visit_is_refused_naming_the_first(
    client, clinician, patient
):
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=159)
    services.record_decision(visit, clinician, decided="add_sessions")
    with pytest.raises(services.MonitoringError) as err:
        services.record_decision(visit, clinician, decided="add_sessions")
    message = " ".join(err.value.errors["decision"])
    assert "already recorded at this visit" in message and "“Add sessions”" in message
    assert clinician.username in message or clinician.get_full_name() in message
    # A double submit of the page is refused under the decision field.
    client.force_login(clinician)
    response = client.post(
        f"/monitoring/{patient.pk}/visits/{visit.pk}/decision/",
        {"sessions_done": "3", "sessions_planned": "3", "decision": "add_sessions"},
    )
    assert response.status_code == 400
    assert "already recorded at this visit" in response.content.decode()
    assert TreatmentDecision.objects.filter(visit=visit).count() == 1


class TestTheProposalsOwnKindWithOtherNumbers:
    """ "Add sessions" with more than the proposal's "up to 2", or maintenance at another
    interval, contradicts the proposal as much as another kind of decision: it was stored
    without a word (follows_proposal even said it agreed)."""

    def test_more_extra_sessions_than_proposed_need_a_reason(self, clinician, patient):
        visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=159)
        with pytest.raises(services.MonitoringError) as err:
            services.record_decision(visit, clinician, decided="add_sessions", extra_sessions=6)
        message = " ".join(err.value.errors["rationale"])
        assert "6 extra sessions were entered; the proposal is up to 2" in message
        assert not TreatmentDecision.objects.exists()
        row = services.record_decision(
            visit, clinician, decided="add_sessions", extra_sessions=6,
            rationale="Slow responder; agreed a longer course with the patient.",
        )  # fmt: skip
        assert row.extra_sessions == 6

    def test_the_proposed_number_or_fewer_needs_none(self, clinician, patient):
        visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=159)
        row = services.record_decision(visit, clinician, decided="add_sessions", extra_sessions=1)
        assert row.extra_sessions == 1 and row.follows_proposal

    def test_another_maintenance_interval_needs_a_reason(self, clinician, patient):
        visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=170)
        with pytest.raises(services.MonitoringError) as err:
            services.record_decision(
                visit, clinician, decided="maintenance", maintenance_interval_months=24
            )
        assert "the proposal is every 6 months" in " ".join(err.value.errors["rationale"])
        assert not TreatmentDecision.objects.exists()
        row = services.record_decision(visit, clinician, decided="maintenance")
        assert row.maintenance_interval_months == 6


def test_nurses_may_not_record_the_decision(client, clinic_a, make_user, clinician, patient):
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=159)
    client.force_login(make_user(Role.NURSE, clinic_a))
    assert client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/decision/").status_code == 403


def test_timeline_lists_everything_in_order_with_an_accessible_density_chart(
    client, clinician, patient
):
    visit = _course(
        patient, clinician, start=TODAY - timedelta(weeks=13), density_after=170, ae_grade=3
    )
    services.record_decision(visit, clinician, decided="stop_adverse_event", sessions_done=3,
                             sessions_planned=3)  # fmt: skip
    client.force_login(clinician)
    html = client.get(f"/monitoring/{patient.pk}/").content.decode()
    kinds = [e.kind for e in selectors.timeline(patient)]
    for kind in ("registered", "consultation", "session", "visit", "measurement",
                 "adverse_event", "decision"):  # fmt: skip
        assert kind in kinds
    dates = [e.when for e in selectors.timeline(patient)]
    assert dates == sorted(dates)
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in html
    assert 'role="img"' in html and '<title id="density-chart-title">' in html
    assert html.count("<circle") == 2
    assert 'id="density-table"' in html and "170.0" in html
    assert "serious / grade ≥3" in html
    assert "<script>" not in html and ' style="' not in html


def test_visit_page_shows_the_stored_proposal_and_says_when_the_data_changed_since(
    client, clinician, patient
):
    """A grade-3 related event reported after the decision, with an onset before the visit:
    the decision keeps the proposal it was made on; the page says what it would be now."""
    start = TODAY - timedelta(weeks=13)
    visit = _course(patient, clinician, start=start, density_after=170)
    services.record_decision(visit, clinician, decided="maintenance", rationale="Agreed.")
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/visits/{visit.pk}/"
    page = client.get(url).content.decode()
    assert "Proposal: Maintenance" in page and "The data changed" not in page
    services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 3, "onset_date": start + timedelta(days=3),
         "relatedness": "probable"},
    )  # fmt: skip
    page = client.get(url).content.decode()
    assert "Proposal: Maintenance" in page and "Proposal: Stop" not in page
    assert (
        "The data changed since the decision: the proposal now would be Stop (adverse event)"
        in page
    )
    assert TreatmentDecision.objects.get().proposal == "maintenance"


class TestADecisionWithoutAFollowUpSchedule:
    """With no follow-up schedule the sessions are entered on the form. The page said "No
    proposal", then that the decision differed from the proposal without naming it, and after
    the save the visit page warned that the data had changed when nothing had."""

    @pytest.fixture
    def visit(self, clinician, patient):
        start = TODAY - timedelta(weeks=13)
        course.course(patient, clinician, first=start, sessions=3)  # no follow-up schedule
        services.record_visit(
            patient, clinician, {"visit_date": start, "is_baseline": True, "density_per_cm2": 150}
        )
        services.record_adverse_event(
            patient, clinician,
            {"term_key": "skin_infection", "grade": 3, "onset_date": start + timedelta(days=3),
             "relatedness": "probable"},
        )  # fmt: skip
        return services.record_visit(
            patient, clinician, {"visit_date": start + timedelta(weeks=12), "density_per_cm2": 170}
        )

    def test_the_form_shows_the_proposal_on_the_entered_sessions_and_the_refusal_names_it(
        self, client, clinician, patient, visit
    ):
        client.force_login(clinician)
        url = f"/monitoring/{patient.pk}/visits/{visit.pk}/decision/"
        assert "no follow-up schedule yet" in client.get(url).content.decode()
        refused = client.post(
            url, {"sessions_done": "3", "sessions_planned": "4", "decision": "continue_as_planned"}
        )
        page = refused.content.decode()
        assert refused.status_code == 400
        assert "Stop (adverse event)" in page.split('id="id_decision"')[0]  # shown above
        assert "The decision differs from the proposal, “Stop (adverse event)”" in page
        assert not TreatmentDecision.objects.exists()

    def test_after_the_decision_the_visit_page_does_not_report_a_change_that_is_none(
        self, client, clinician, patient, visit
    ):
        services.record_decision(
            visit, clinician, decided="stop_adverse_event", sessions_done=3, sessions_planned=4
        )
        client.force_login(clinician)
        page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
        assert "Decided: Stop (adverse event)" in page
        assert "The data changed" not in page


def test_no_response_is_judged_at_a_visit_on_the_day_of_the_first_session(
    client, clinician, patient
):
    start = TODAY - timedelta(weeks=13)
    _course(patient, clinician, start=start, density_after=159)
    # A second visit on the baseline day (confirmed as separate), rated +1: too early for
    # any response class.
    same_day = services.record_visit(
        patient, clinician, {"visit_date": start, "global_assessment": 1, "confirm_same_day": True}
    )
    proposal = selectors.proposal_for(same_day)
    assert proposal.inputs["days_since_first_session"] == 0
    assert proposal.decision.response.value == "too_early"
    assert proposal.decision.proposal.value == "continue_as_planned"
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/visits/{same_day.pk}/").content.decode()
    assert "response: Too early to judge" in page
    assert "response is judged from 12 weeks after the first session" in page
    assert "too_early" not in page and "partial" not in page


def test_response_is_shown_in_words_in_the_proposal_and_the_stored_decision(
    client, clinician, patient
):
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=159)
    assert selectors.proposal_for(visit).inputs["days_since_first_session"] == 12 * 7
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/visits/{visit.pk}/"
    page = client.get(url).content.decode()
    assert "response: Partial response" in page and "response: partial" not in page
    client.post(
        f"{url}decision/",
        {"sessions_done": "3", "sessions_planned": "3", "decision": "add_sessions"},
    )
    assert TreatmentDecision.objects.get().response == "partial"  # the code is stored
    page = client.get(url).content.decode()
    assert "response: Partial response" in page and "response: partial" not in page


def test_agenda_calendar_names_each_patient_with_full_name_and_record_number(
    client, clinic_a, front_desk, clinician, make_patient
):
    first = TODAY + timedelta(days=3)
    names = []
    for given, mrn in (("Nina", "DEMO-0051"), ("Noel", "DEMO-0052")):
        p = make_patient(
            clinic_a, clinician, given_name=given, family_name="Moreau", medical_record_number=mrn
        )
        _plan(p, clinician, first)
        names.append(f'{given} Moreau</a> <span class="muted">({mrn})</span>')
    client.force_login(front_desk)
    listed = client.get(f"/monitoring/agenda/?start={first}").content.decode()
    calendar = client.get(f"/monitoring/agenda/?view=calendar&month={first:%Y-%m}")
    html = calendar.content.decode()
    for name in names:
        assert name in html  # the same name and record number as the list view shows
    assert "Nina Moreau" in listed and "DEMO-0051" in listed


def test_the_thresholds_page_reads_in_words_and_lists_its_changes(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a)
    client.force_login(admin)
    page = client.get("/monitoring/settings/").content.decode()
    assert "Stop at a related adverse event of CTCAE grade (1–5)" in page
    assert "Stop ae grade" not in page and "The defaults have not been changed." in page
    services.save_settings(clinic_a, admin, {"stop_ae_grade": 3})  # creates the row
    services.save_settings(clinic_a, admin, {"stop_ae_grade": 2})
    page = client.get("/monitoring/settings/").content.decode()
    changes = page[page.index('id="changes"') :]
    assert "Stop at a related adverse event of CTCAE grade (1–5) 3 → 2" in changes
    bad = client.post(
        "/monitoring/settings/",
        {**{f: getattr(services.clinic_settings(clinic_a), f)
            for f in ("min_density_pct", "min_diameter_um", "min_global", "response_global",
                      "stop_ae_grade", "max_extra_sessions", "maintenance_interval_months",
                      "overdue_grace_days")},
         "response_density_pct": 1},
    )  # fmt: skip
    assert bad.status_code == 400
    assert "must not be below the least gain that counts" in bad.content.decode()


class TestACourseKeepsItsOrder:
    """Week 4's visit (before session 2) moved past week 12's was saved without a word; the
    timeline then listed it after week 12, and session 2 before its own pre-session visit."""

    @pytest.fixture
    def visits(self, patient, clinician):
        _plan(patient, clinician, TODAY + timedelta(days=7))
        return {sv.week: sv for sv in selectors.schedule_of(patient)}

    def test_a_visit_moved_past_the_next_one_is_refused_naming_it(self, front_desk, visits):
        week4, week8 = visits[4], visits[8]
        with pytest.raises(services.MonitoringError) as refused:
            services.reschedule_visit(
                week4, front_desk, new_date=week8.due_date + timedelta(days=1),
                reason="patient asked",
            )  # fmt: skip
        (message,) = refused.value.errors["due_date"]
        assert f"is after “{week8.label}” of the same course" in message
        assert "move the later visits of the course too" in message
        week4.refresh_from_db()
        assert week4.reschedule_count == 0

    def test_the_later_visits_can_be_moved_with_it(self, front_desk, visits):
        delay = timedelta(weeks=5)
        before = {w: sv.due_date for w, sv in visits.items()}
        services.reschedule_visit(
            visits[4], front_desk, new_date=before[4] + delay, reason="patient abroad",
            move_later=True,
        )  # fmt: skip
        after = {w: sv.due_date for w, sv in ((w, ScheduledVisit.objects.get(pk=v.pk))
                                              for w, v in visits.items())}  # fmt: skip
        assert after[0] == before[0]  # earlier visits stay
        assert all(after[w] == before[w] + delay for w in before if w >= 4)
        moved = ScheduledVisit.objects.get(pk=visits[12].pk)
        assert "with “" in moved.history.first().history_change_reason
        assert "patient abroad" in moved.history.first().history_change_reason

    def test_a_visit_moved_before_the_previous_one_is_refused(self, front_desk, visits):
        week4, week8 = visits[4], visits[8]
        with pytest.raises(services.MonitoringError) as refused:
            services.reschedule_visit(
                week8,
                front_desk,
                new_date=week4.due_date - timedelta(days=1),
                reason="clinic closed",
            )
        assert (
            f"is before “{week4.label}” of the same course" in refused.value.errors["due_date"][0]
        )

    def test_the_page_offers_moving_the_later_visits_for_course_visits_only(
        self, client, front_desk, patient, visits
    ):
        client.force_login(front_desk)
        url = f"/monitoring/{patient.pk}/schedule/{visits[4].pk}/reschedule/"
        assert 'name="move_later"' in client.get(url).content.decode()
        extra = services.add_scheduled_visit(patient, front_desk, due_date=TODAY, label="Check")
        other = f"/monitoring/{patient.pk}/schedule/{extra.pk}/reschedule/"
        assert 'name="move_later"' not in client.get(other).content.decode()
        response = client.post(
            url,
            {"due_date": (visits[8].due_date + timedelta(days=2)).isoformat(),
             "reason": "patient asked", "move_later": "on"},
        )  # fmt: skip
        assert response.status_code == 302


def test_the_agenda_marks_a_visit_past_its_date_within_the_grace_days(
    client, front_desk, clinician, patient
):
    """It read "Planned" while the reminder list said "past due" (a review)."""
    _plan(patient, clinician, TODAY - timedelta(days=2))  # the baseline is 2 days past
    client.force_login(front_desk)
    start = (TODAY - timedelta(days=3)).isoformat()
    html = client.get(f"/monitoring/agenda/?view=list&start={start}").content.decode()
    row = html[html.index("Baseline") :]
    row = row[: row.index("</tr>")]
    assert '<span class="badge warn"' in row and "past due" in row
    assert 'badge danger">overdue' not in row


class TestEventsTheLastDecisionDidNotSee:
    """An event reported after a decision (onset before that decision's visit) or raised in
    grade since: the next proposal counts it; one the decision weighed is not counted again."""

    def _decided(self, patient, clinician):
        visit = _course(patient, clinician, start=TODAY - timedelta(weeks=25), density_after=159)
        services.record_decision(visit, clinician, decided="add_sessions")
        later = services.record_visit(
            patient, clinician,
            {"visit_date": visit.visit_date + timedelta(weeks=8), "density_per_cm2": 159,
             "mean_diameter_um": 57},
        )  # fmt: skip
        return visit, later

    def _event(self, patient, clinician, visit, grade):
        return services.record_adverse_event(
            patient, clinician,
            {"term_key": "skin_infection", "grade": grade, "relatedness": "probable",
             "onset_date": visit.visit_date - timedelta(days=5)},
        )  # fmt: skip

    def test_an_event_reported_after_the_decision_counts_at_the_next_visit(
        self, clinician, patient
    ):
        visit, later = self._decided(patient, clinician)
        self._event(patient, clinician, visit, 3)  # reported late: onset before the decision
        proposal = selectors.proposal_for(later)
        assert proposal.inputs["max_ae_grade"] == 3
        assert proposal.decision.proposal.value == "stop_adverse_event"

    def test_a_grade_raised_after_the_decision_counts_at_the_next_visit(self, clinician, patient):
        visit = _course(patient, clinician, start=TODAY - timedelta(weeks=25), density_after=159)
        event = self._event(patient, clinician, visit, 2)
        services.record_decision(visit, clinician, decided="add_sessions")
        later = services.record_visit(
            patient, clinician,
            {"visit_date": visit.visit_date + timedelta(weeks=8), "density_per_cm2": 159,
             "mean_diameter_um": 57},
        )  # fmt: skip
        assert selectors.proposal_for(later).inputs["max_ae_grade"] == 0  # weighed already
        services.update_adverse_event(event, clinician, {"grade": 3})
        proposal = selectors.proposal_for(later)
        assert proposal.inputs["max_ae_grade"] == 3
        assert proposal.decision.proposal.value == "stop_adverse_event"


def test_an_edit_that_stores_an_implied_criterion_is_not_news_since_the_decision(
    clinician, patient
):
    """A related grade-2 event 'Hospitalised' stored before that made it serious had no
    criterion; the decision weighed it as serious all the same (implied criteria). Adding
    to its description stores the criterion: that read as seriousness added since the
    decision, and the next proposal was Stop again for an event already decided on."""
    visit = _course(patient, clinician, start=TODAY - timedelta(weeks=13), density_after=170)
    services.record_adverse_event(
        patient, clinician,
        {"term_key": "allergic_reaction", "grade": 2, "relatedness": "possible",
         "action_taken": "hospitalised", "onset_date": visit.visit_date - timedelta(days=10)},
    )  # fmt: skip
    event = AdverseEvent.objects.get()
    AdverseEvent.objects.filter(pk=event.pk).update(seriousness=[], serious_or_high_grade=False)
    event.history.update(seriousness=[], serious_or_high_grade=False)
    event.refresh_from_db()
    assert selectors.proposal_for(visit).decision.proposal.value == "stop_adverse_event"
    services.record_decision(
        visit, clinician, decided="maintenance", rationale="Admission was for an unrelated fall."
    )
    later = services.record_visit(
        patient, clinician, {"visit_date": visit.visit_date + timedelta(days=7),
                             "density_per_cm2": 170, "mean_diameter_um": 57},
    )  # fmt: skip
    assert selectors.proposal_for(later).decision.proposal.value != "stop_adverse_event"
    services.update_adverse_event(event, clinician, {"description": "Discharged day 2."})
    assert AdverseEvent.objects.get().seriousness == ["hospitalization"]
    assert selectors.proposal_for(later).decision.proposal.value != "stop_adverse_event"
