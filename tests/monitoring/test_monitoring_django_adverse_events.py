"""Adverse events: CTCAE term and version stored with the grade, impossible gradings refused,
serious or grade ≥3 events highlighted on the dashboard and listed for reporting."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.monitoring import ctcae, services
from anagen.monitoring.models import AdverseEvent

TODAY = date.today()


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(clinic_a, clinician, given_name="Ada", family_name="Event")


def form(**overrides):
    data = {
        "term_key": "injection_site_reaction",
        "grade": "1",
        "onset_date": (TODAY - timedelta(days=3)).isoformat(),
        "resolution_date": "",
        "relatedness": "probable",
        "action_taken": "none",
        "outcome": "recovering",
    }
    data.update(overrides)
    return data


def test_clinician_records_an_event_with_ctcae_version_and_grade_text(client, clinician, patient):
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/adverse-events/new/").content.decode()
    # Grade definitions are shown next to the form.
    assert "Tenderness with or without warmth, erythema, itching" in page
    # Each term's source and notes are shown; generic rows are marked.
    assert "Source: NCI CTCAE v5.0 [C]" in page
    assert "Hair loss of &lt;50% of normal for that individual" in page
    assert "CTCAE v5.0 Alopecia has grades 1–2 only." in page
    assert "Term-specific text from memory [M]" in page
    assert page.count('<span class="badge generic">generic</span>') == sum(
        len(t.generic_text) for t in ctcae.TERMS.values()
    )
    assert "the term-specific Folliculitis grade text is not included here" in page
    response = client.post(f"/monitoring/{patient.pk}/adverse-events/new/", form())
    assert response.status_code == 302
    event = AdverseEvent.objects.get()
    assert event.term_name == "Injection site reaction"
    assert event.ctcae_version == ctcae.CTCAE_VERSION
    assert event.grade_text.startswith("Tenderness")
    assert event.is_related is True and not event.serious_or_high_grade
    assert event.history.first().history_user == clinician


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"grade": "7"}, "grade", "valid choice"),
        ({"term_key": "headache", "grade": "4"}, "grade", "no grade 4"),
        ({"term_key": "anaphylaxis", "grade": "1"}, "grade", "no grade 1"),
        ({"term_key": "alopecia", "grade": "3"}, "grade", "it is graded 1–2 only"),
        (
            {
                "onset_date": TODAY.isoformat(),
                "resolution_date": (TODAY - timedelta(days=2)).isoformat(),
            },
            "resolution_date",
            "The resolution date is before the onset date.",
        ),
        ({"onset_date": (TODAY + timedelta(days=2)).isoformat()}, "onset_date", "future"),
        ({"meddra_code": "10022086"}, "meddra_version", "MedDRA version"),
        ({"meddra_code": "abc", "meddra_version": "27.1"}, "meddra_code", "8 digits"),
        ({"outcome": "recovered"}, "resolution_date", "resolution date"),
        ({"outcome": "fatal"}, "grade", "grade 5"),
    ],
)
def test_impossible_events_give_field_errors_and_store_nothing(
    client, clinician, patient, overrides, field, message
):
    client.force_login(clinician)
    response = client.post(f"/monitoring/{patient.pk}/adverse-events/new/", form(**overrides))
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html, html[html.find("form-errors") - 200 :][:1500]
    assert message in html
    assert not AdverseEvent.objects.exists()


def test_grade_3_or_serious_events_are_flagged_listed_and_on_the_dashboard(
    client, clinician, patient, clinic_a, make_user
):
    mild = services.record_adverse_event(
        patient, clinician, {"term_key": "pruritus", "grade": 1, "onset_date": TODAY}
    )
    severe = services.record_adverse_event(
        patient, clinician, {"term_key": "skin_infection", "grade": 3, "onset_date": TODAY}
    )
    serious = services.record_adverse_event(
        patient,
        clinician,
        {
            "term_key": "headache",
            "grade": 2,
            "onset_date": TODAY,
            "seriousness": ["hospitalization"],
        },
    )
    assert [
        mild.serious_or_high_grade,
        severe.serious_or_high_grade,
        serious.serious_or_high_grade,
    ] == [
        False,
        True,
        True,
    ]
    client.force_login(make_user(Role.NURSE, clinic_a))
    dashboard = client.get("/").content.decode()
    assert 'id="monitoring-alerts"' in dashboard
    assert "Skin infection" in dashboard and "Headache" in dashboard
    assert "Pruritus" not in dashboard
    # Front desk books and reminds: the follow-up card without the events, and no list.
    client.force_login(make_user(Role.FRONT_DESK, clinic_a, username="desk"))
    desk = client.get("/").content.decode()
    assert 'id="monitoring-alerts"' in desk and "overdue visit" in desk
    # What "overdue" counts, beside the agenda's "past due" (review).
    assert "(more than 7 days past due; the agenda lists those within it as past due)" in desk
    assert "Skin infection" not in desk and "adverse event" not in desk
    assert client.get("/monitoring/adverse-events/reportable/").status_code == 403
    client.force_login(clinician)
    listing = client.get("/monitoring/adverse-events/reportable/").content.decode()
    # The seriousness criterion in the form's words, not its code ("hospitalization").
    assert "Skin infection" in listing and "Requires or prolongs hospitalisation" in listing
    assert "hospitalization" not in listing
    assert "Pruritus" not in listing


def test_update_rechecks_every_rule_and_keeps_history(clinician, patient):
    event = services.record_adverse_event(
        patient,
        clinician,
        {"term_key": "edema_face", "grade": 2, "onset_date": TODAY - timedelta(days=5)},
    )
    with pytest.raises(services.MonitoringError) as err:
        services.update_adverse_event(
            event, clinician, {"resolution_date": TODAY - timedelta(days=9)}
        )
    assert "resolution_date" in err.value.errors
    updated = services.update_adverse_event(
        event, clinician, {"resolution_date": TODAY, "outcome": "recovered"}
    )
    assert updated.resolution_date == TODAY and updated.outcome == "recovered"
    reasons = [h.history_change_reason for h in updated.history.all()]
    assert reasons[0] == "updated: resolution date, outcome"  # the form's words, not columns
    grade = services.update_adverse_event(updated, clinician, {"grade": 3})
    # The grade's text and the serious flag change with it and are not named.
    assert grade.history.first().history_change_reason == "updated: grade"
    reasons = [h.history_change_reason for h in grade.history.all()]
    updated = grade
    # The same values again: nothing to record.
    services.update_adverse_event(updated, clinician, {"resolution_date": TODAY, "grade": 3})
    assert updated.history.count() == len(reasons)


def test_grade_5_is_recorded_as_death_and_serious(clinician, patient):
    event = services.record_adverse_event(
        patient,
        clinician,
        {"term_key": "anaphylaxis", "grade": 5, "onset_date": TODAY, "resolution_date": TODAY,
         "outcome": "fatal"},
    )  # fmt: skip
    assert event.seriousness == ["death"] and event.serious_or_high_grade


def test_grade_4_is_life_threatening_and_so_serious(clinician, patient):
    """CTCAE grade 4 is "life-threatening consequences", the ICH E2A criterion: with no
    criterion ticked, a grade-4 anaphylaxis was exported to FHIR as non-serious."""
    event = services.record_adverse_event(
        patient, clinician, {"term_key": "anaphylaxis", "grade": 4, "onset_date": TODAY},
    )  # fmt: skip
    assert event.seriousness == ["life_threatening"] and event.serious_or_high_grade
    raised = services.record_adverse_event(
        patient, clinician,
        {"term_key": "allergic_reaction", "grade": 3, "onset_date": TODAY,
         "seriousness": ["important_medical_event"]},
    )  # fmt: skip
    services.update_adverse_event(raised, clinician, {"grade": 4})
    raised.refresh_from_db()
    assert raised.seriousness == ["important_medical_event", "life_threatening"]


def test_event_of_another_patient_is_not_found_under_this_patient(
    client, clinician, patient, make_patient, clinic_a
):
    event = services.record_adverse_event(
        patient, clinician, {"term_key": "pain", "grade": 1, "onset_date": TODAY}
    )
    other = make_patient(clinic_a, clinician)
    client.force_login(clinician)
    assert client.get(f"/monitoring/{other.pk}/adverse-events/{event.pk}/edit/").status_code == 404
    assert (
        client.get(f"/monitoring/{patient.pk}/adverse-events/{event.pk}/edit/").status_code == 200
    )


def test_timeline_links_an_event_to_its_form_only_for_roles_that_may_update_it(
    client, clinician, patient, make_user, clinic_a, api_token
):
    event = services.record_adverse_event(
        patient, clinician, {"term_key": "pain", "grade": 1, "onset_date": TODAY}
    )
    edit = f"/monitoring/{patient.pk}/adverse-events/{event.pk}/edit/"
    client.force_login(clinician)
    assert f'href="{edit}"' in client.get(f"/monitoring/{patient.pk}/").content.decode()
    assert "Pain G1" in client.get(f"/patients/{patient.pk}/").content.decode()
    front_desk = make_user(Role.FRONT_DESK, clinic_a)
    client.force_login(front_desk)
    page = client.get(f"/monitoring/{patient.pk}/").content.decode()
    # Front desk sees that an event was recorded that day, not what it was, and no link.
    assert "Adverse event" in page and "Adverse event: " not in page and "Pain" not in page
    assert edit not in page
    assert client.get(edit).status_code == 403
    record = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Next appointments" in record and "Pain G1" not in record

    def api_urls(user):
        rows = client.get(
            f"/api/v1/monitoring/patients/{patient.pk}/timeline",
            HTTP_AUTHORIZATION=f"Bearer {api_token(user, clinic_a)}",
        ).json()
        return [r["url"] for r in rows if r["kind"] == "adverse_event"]

    assert api_urls(front_desk) == [""]
    assert api_urls(clinician) == [edit]
    desk = {"HTTP_AUTHORIZATION": f"Bearer {api_token(front_desk, clinic_a)}"}
    events_url = f"/api/v1/monitoring/patients/{patient.pk}/adverse-events"
    assert client.get(events_url, **desk).status_code == 403
    assert client.get("/api/v1/monitoring/adverse-events/reportable", **desk).status_code == 403
    rows = client.get(f"/api/v1/monitoring/patients/{patient.pk}/timeline", **desk).json()
    assert [r["title"] for r in rows if r["kind"] == "adverse_event"] == ["Adverse event"]


def test_the_visit_page_lists_the_visits_events_only_for_roles_that_see_adverse_events(
    client, clinician, patient, make_user, clinic_a
):
    visit = services.record_visit(
        patient, clinician, {"visit_date": TODAY, "is_baseline": True, "density_per_cm2": 150}
    )
    services.record_adverse_event(
        patient, clinician,
        {"term_key": "pain", "grade": 1, "onset_date": TODAY, "visit_id": visit.pk},
    )  # fmt: skip
    url = f"/monitoring/{patient.pk}/visits/{visit.pk}/"
    client.force_login(clinician)
    assert "Adverse events reported at this visit" in client.get(url).content.decode()
    client.force_login(make_user(Role.FRONT_DESK, clinic_a))
    page = client.get(url).content.decode()
    assert client.get(url).status_code == 200
    assert "Adverse events reported at this visit" not in page and "Pain" not in page


def test_saving_the_form_unchanged_says_nothing_changed(client, clinician, patient):
    client.force_login(clinician)
    client.post(f"/monitoring/{patient.pk}/adverse-events/new/", form())
    event = AdverseEvent.objects.get(patient=patient)
    edit = f"/monitoring/{patient.pk}/adverse-events/{event.pk}/edit/"
    page = client.post(edit, form(), follow=True).content.decode()
    assert "Nothing changed." in page and event.history.count() == 1
    page = client.post(edit, form(grade="2"), follow=True).content.decode()
    assert "Adverse event updated" in page and event.history.count() == 2


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        # "Results in death" is CTCAE grade 5 with the outcome Fatal.
        ({"seriousness": ["death"], "grade": 1, "outcome": "recovered",
          "resolution_date": TODAY}, {"grade", "outcome"}),
        ({"seriousness": ["death"], "grade": 3, "outcome": "fatal"}, {"grade"}),
        ({"seriousness": ["death", "hospitalization"], "grade": 5, "outcome": "recovering"},
         {"outcome"}),
        # A resolution date is the end of the event: not with an event still going on.
        ({"outcome": "not_recovered", "resolution_date": TODAY}, {"resolution_date"}),
        ({"outcome": "recovering", "resolution_date": TODAY}, {"resolution_date"}),
        ({"outcome": "unknown", "resolution_date": TODAY}, {"resolution_date"}),
    ],
)  # fmt: skip
def test_death_and_resolution_must_agree_with_grade_and_outcome(
    clinician, patient, overrides, fields
):
    data = {"term_key": "skin_infection", "grade": 2, "onset_date": TODAY - timedelta(days=5),
            "relatedness": "possible", "outcome": "recovering", **overrides}  # fmt: skip
    with pytest.raises(services.MonitoringError) as err:
        services.record_adverse_event(patient, clinician, data)
    assert set(err.value.errors) == fields
    assert not AdverseEvent.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"seriousness": ["death"], "grade": 5, "outcome": "fatal", "resolution_date": TODAY},
        {"seriousness": ["death"], "grade": 5, "outcome": "fatal"},
        {"outcome": "recovered", "resolution_date": TODAY},
        {"outcome": "recovered_sequelae", "resolution_date": TODAY},
        {"outcome": "not_recovered"},
        {"outcome": "unknown"},
    ],
)
def test_consistent_death_and_resolution_are_accepted(clinician, patient, overrides):
    data = {"term_key": "skin_infection", "grade": 2, "onset_date": TODAY - timedelta(days=5),
            "relatedness": "possible", **overrides}  # fmt: skip
    event = services.record_adverse_event(patient, clinician, data)
    assert event.outcome == overrides["outcome"]


def test_api_update_to_not_recovered_keeping_the_resolution_date_is_refused(
    client, clinician, patient, clinic_a, api_token
):
    event = services.record_adverse_event(
        patient, clinician,
        {"term_key": "pain", "grade": 1, "onset_date": TODAY - timedelta(days=5),
         "outcome": "recovered", "resolution_date": TODAY},
    )  # fmt: skip
    response = client.patch(
        f"/api/v1/monitoring/patients/{patient.pk}/adverse-events/{event.pk}",
        data={"outcome": "not_recovered"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(clinician, clinic_a)}"},
    )
    assert response.status_code == 400
    assert "resolution_date" in response.json()["detail"]
    event.refresh_from_db()
    assert event.outcome == "recovered"


def test_visits_on_the_same_day_read_differently_in_the_reported_at_visit_list(
    client, clinician, patient
):
    day = date.today() - timedelta(days=10)
    plan = services.create_follow_up_plan(
        patient, clinician, first_session_date=day, sessions_planned=3, interval_weeks=4
    )
    week0 = plan.visits.get(kind="baseline")
    baseline = services.record_visit(patient, clinician, {"visit_date": day}, scheduled_visit=week0)
    week4 = plan.visits.get(week=4)
    # Four visits on one day, each confirmed as separate (else the second is refused).
    same_day = {"visit_date": day, "confirm_same_day": True}
    follow_up = services.record_visit(
        patient, clinician, {**same_day, "confirm_early": True}, scheduled_visit=week4
    )
    extra = [services.record_visit(patient, clinician, same_day) for _ in range(2)]
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/adverse-events/new/").content.decode()
    # Visits of an appointment read as the appointment ("Baseline (before session 1)").
    assert f'<option value="{baseline.pk}">{day:%Y-%m-%d} · {week0.label}</option>' in page
    assert f'<option value="{follow_up.pk}">{day:%Y-%m-%d} · {week4.label}</option>' in page
    for v in extra:  # two unscheduled visits on one day: told apart by their number
        assert f'<option value="{v.pk}">{day:%Y-%m-%d} · Unscheduled visit (visit #{v.pk})' in page


def test_a_visit_without_an_appointment_reads_as_baseline_or_unscheduled(clinician, patient):
    from anagen.monitoring import selectors

    day = date.today() - timedelta(days=3)
    base = services.record_visit(patient, clinician, {"visit_date": day, "is_baseline": True})
    later = services.record_visit(patient, clinician, {"visit_date": day + timedelta(days=1)})
    assert selectors.visit_choices(patient) == [
        (later.pk, f"{day + timedelta(days=1):%Y-%m-%d} · Unscheduled visit"),
        (base.pk, f"{day:%Y-%m-%d} · Baseline"),
    ]


def test_the_grade_definitions_do_not_cite_the_internal_reference_file(client, clinician, patient):
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/adverse-events/new/").content.decode()
    section = page[page.index('id="grade-definitions"') :]
    assert "REFERENCE" not in section


def _event_at_a_visit_voided_since(patient, clinician):
    visit = services.record_visit(patient, clinician, {"visit_date": TODAY - timedelta(days=4)})
    event = services.record_adverse_event(
        patient, clinician,
        {"term_key": "pain", "grade": 1, "onset_date": TODAY - timedelta(days=4),
         "visit_id": visit.pk},
    )  # fmt: skip
    services.void_record(visit, clinician, "entered for the wrong patient")
    return visit, event


def test_an_event_whose_visit_was_voided_later_can_still_be_updated_by_the_api(
    client, clinician, patient, clinic_a, api_token
):
    visit, event = _event_at_a_visit_voided_since(patient, clinician)
    response = client.patch(
        f"/api/v1/monitoring/patients/{patient.pk}/adverse-events/{event.pk}",
        data={"outcome": "recovered", "resolution_date": TODAY.isoformat()},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(clinician, clinic_a)}"},
    )
    assert response.status_code == 200, response.json()
    event.refresh_from_db()
    assert (event.outcome, event.resolution_date, event.visit_id) == ("recovered", TODAY, visit.pk)


def test_an_event_whose_visit_was_voided_later_can_still_be_updated_in_the_page(
    client, clinician, patient
):
    _, event = _event_at_a_visit_voided_since(patient, clinician)
    client.force_login(clinician)
    response = client.post(
        f"/monitoring/{patient.pk}/adverse-events/{event.pk}/edit/",
        form(term_key="pain", onset_date=(TODAY - timedelta(days=4)).isoformat(),
             outcome="recovered", resolution_date=TODAY.isoformat()),
    )  # fmt: skip
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.outcome == "recovered"


def test_linking_an_event_to_a_voided_visit_anew_is_refused_in_words(clinician, patient, client):
    visit, event = _event_at_a_visit_voided_since(patient, clinician)
    other = services.record_adverse_event(
        patient, clinician, {"term_key": "pruritus", "grade": 1, "onset_date": TODAY}
    )
    with pytest.raises(services.MonitoringError) as err:
        services.update_adverse_event(other, clinician, {"visit_id": visit.pk})
    assert "visit_id" in err.value.errors
    client.force_login(clinician)
    page = client.post(
        f"/monitoring/{patient.pk}/adverse-events/new/", form(visit_id=str(visit.pk))
    ).content.decode()
    assert "Visit: No such visit of this patient." in page and "visit_id:" not in page


def test_the_reportable_table_keeps_dates_and_lot_numbers_on_one_line(client, clinician, patient):
    services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 3, "onset_date": TODAY - timedelta(days=2),
         "outcome": "recovered", "resolution_date": TODAY},
    )  # fmt: skip
    client.force_login(clinician)
    page = client.get("/monitoring/adverse-events/reportable/").content.decode()
    onset, resolved = (TODAY - timedelta(days=2)).isoformat(), TODAY.isoformat()
    assert f'<span class="nowrap">{onset}</span> → <span class="nowrap">{resolved}</span>' in page
    assert '<td class="nowrap">—</td>' in page  # the lot cell
    css = client.get("/static/anagen/app.css")  # every page's style sheet
    body = b"".join(css.streaming_content) if css.streaming else css.content
    assert b".nowrap { white-space:nowrap; }" in body


# --- lowering an event needs a reason; lowering a serious or grade ≥ 3 one, a clinician ------


@pytest.fixture
def grade_3(clinician, patient):
    return services.record_adverse_event(
        patient,
        clinician,
        {"term_key": "injection_site_reaction", "grade": 3, "relatedness": "probable",
         "onset_date": TODAY - timedelta(days=3)},
    )  # fmt: skip


def test_a_nurse_cannot_lower_a_grade_3_event_off_the_reportable_list(
    client, clinic_a, make_user, patient, grade_3
):
    nurse = make_user(Role.NURSE, clinic_a, username="nurse")
    client.force_login(nurse)
    url = f"/monitoring/{patient.pk}/adverse-events/{grade_3.pk}/edit/"
    response = client.post(url, form(grade="1", change_reason="felt better next day"))
    assert response.status_code == 400
    assert "a clinician makes it" in response.content.decode()
    grade_3.refresh_from_db()
    assert grade_3.grade == 3 and grade_3.serious_or_high_grade
    # What is new can still be added: the resolution, without lowering anything.
    done = client.post(url, form(grade="3", resolution_date=TODAY.isoformat(), outcome="recovered"))
    assert done.status_code == 302


def test_a_serious_events_description_is_added_to_not_rewritten_without_a_clinician(
    clinician, patient, grade_3
):
    """A nurse could replace the whole account of a grade-3 event (a review); history kept
    the old text, but the refusal of a lowering says "add what is new to the description"."""
    first = "Erythema and induration at three frontal points, 4 cm."
    grade_3 = services.update_adverse_event(grade_3, clinician, {"description": first})
    with pytest.raises(services.MonitoringError) as err:
        services.update_adverse_event(
            grade_3, clinician, {"description": "nurse edit"}, may_lower_serious=False
        )
    assert "added to, not rewritten" in err.value.errors["description"][0]
    grade_3.refresh_from_db()
    assert grade_3.description == first
    added = f"{first}\nDay 3: receding, 2 cm."
    grade_3 = services.update_adverse_event(
        grade_3, clinician, {"description": added}, may_lower_serious=False
    )
    assert grade_3.description == added
    rewritten = services.update_adverse_event(grade_3, clinician, {"description": "Rewritten."})
    assert rewritten.description == "Rewritten."  # a clinician may


def test_a_clinician_lowers_it_with_a_reason_kept_in_the_history(
    client, clinician, patient, grade_3, api_token
):
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/adverse-events/{grade_3.pk}/edit/"
    page = client.get(url).content.decode()
    assert 'name="change_reason"' in page
    no_reason = client.post(url, form(grade="1"))
    assert no_reason.status_code == 400
    assert "This change lowers the event (grade 3 → 1)" in no_reason.content.decode()
    assert (
        client.post(url, form(grade="1", change_reason="graded from a blurred photo")).status_code
        == 302
    )
    grade_3.refresh_from_db()
    assert (grade_3.grade, grade_3.serious_or_high_grade) == (1, False)
    assert grade_3.history.first().history_change_reason.endswith(
        "lowered (grade 3 → 1): graded from a blurred photo"
    )


def test_lowering_relatedness_needs_a_reason_and_raising_a_grade_does_not(
    clinician, patient, clinic_a, make_user, client, api_token
):
    event = services.record_adverse_event(
        patient,
        clinician,
        {"term_key": "injection_site_reaction", "grade": 1, "relatedness": "possible",
         "onset_date": TODAY - timedelta(days=3)},
    )  # fmt: skip
    nurse = make_user(Role.NURSE, clinic_a, username="nurse")
    headers = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    url = f"/api/v1/monitoring/patients/{patient.pk}/adverse-events/{event.pk}"
    refused = client.patch(
        url, data={"relatedness": "unrelated"}, content_type="application/json", headers=headers
    )
    assert refused.status_code == 400
    assert "relatedness Possibly related → Not related" in refused.json()["detail"]
    ok = client.patch(
        url,
        data={"relatedness": "unrelated", "change_reason": "rash began before the session"},
        content_type="application/json",
        headers=headers,
    )
    assert ok.status_code == 200, ok.content
    raised = client.patch(url, data={"grade": 2}, content_type="application/json", headers=headers)
    assert raised.status_code == 200 and raised.json()["grade"] == 2


def test_two_people_updating_one_event_lose_neither_change(client, clinician, patient):
    """A nurse records the outcome while the clinician's form, opened before, changes the
    description: the form sent back every field and put the old outcome back."""
    from ..html import post_form_data

    client.force_login(clinician)
    client.post(f"/monitoring/{patient.pk}/adverse-events/new/", form())
    event = AdverseEvent.objects.get(patient=patient)
    edit = f"/monitoring/{patient.pk}/adverse-events/{event.pk}/edit/"
    opened = post_form_data(client.get(edit).content.decode(), edit)
    services.update_adverse_event(
        event, clinician, {"outcome": "recovered", "resolution_date": TODAY}, change_reason=""
    )
    sent = {**opened, "description": ["Erythema 2 cm, settled with cold packs"]}
    assert client.post(edit, sent).status_code == 302
    event.refresh_from_db()
    assert event.outcome == "recovered" and event.resolution_date == TODAY
    assert event.description == "Erythema 2 cm, settled with cold packs"
    # The outcome changed in both, differently: refused, naming the stored value.
    services.update_adverse_event(
        event, clinician, {"outcome": "recovered_sequelae"}, change_reason=""
    )
    opened_before = {**opened, "outcome": ["not_recovered"]}
    refused = client.post(edit, opened_before)
    assert refused.status_code == 400
    assert "Changed by someone else since you opened this page" in refused.content.decode()
    event.refresh_from_db()
    assert event.outcome == "recovered_sequelae"


class TestOpenedValuesOfAnEvent:
    """Seriousness is a list: opened empty, Django's own hidden "initial" input rendered
    nothing for it, so it was compared with the stored value instead."""

    @pytest.fixture
    def opened(self, client, clinician, patient):
        from ..html import post_form_data

        client.force_login(clinician)
        client.post(f"/monitoring/{patient.pk}/adverse-events/new/", form())
        event = AdverseEvent.objects.get(patient=patient)
        edit = f"/monitoring/{patient.pk}/adverse-events/{event.pk}/edit/"
        page = post_form_data(client.get(edit).content.decode(), edit)
        assert page["opened-seriousness"] == ["[]"]
        return event, edit, page

    def test_marked_serious_meanwhile_is_kept_when_another_field_is_edited(
        self, client, clinician, opened
    ):
        event, edit, page = opened
        services.update_adverse_event(event, clinician, {"seriousness": ["hospitalization"]})
        sent = {**page, "description": ["More detail"], "change_reason": ["narrative added"]}
        assert client.post(edit, sent).status_code == 302
        event.refresh_from_db()
        assert event.seriousness == ["hospitalization"] and event.description == "More detail"

    def test_a_box_ticked_beside_a_refused_date_is_saved_once_the_date_is_fixed(
        self, client, opened
    ):
        from ..html import post_form_data

        event, edit, page = opened
        bad = {**page, "seriousness": ["hospitalization"],
               "onset_date": [(TODAY + timedelta(days=5)).isoformat()]}  # fmt: skip
        refused = client.post(edit, bad)
        assert refused.status_code == 400
        again = post_form_data(refused.content.decode(), edit)
        again["onset_date"] = [(TODAY - timedelta(days=3)).isoformat()]
        assert client.post(edit, again).status_code == 302
        event.refresh_from_db()
        assert event.seriousness == ["hospitalization"]

    def test_a_conflict_on_a_list_names_the_labels_and_resolves_after_a_look(
        self, client, clinician, opened
    ):
        from ..html import post_form_data

        event, edit, page = opened
        services.update_adverse_event(event, clinician, {"seriousness": ["hospitalization"]})
        refused = client.post(edit, {**page, "seriousness": ["life_threatening"]})
        assert refused.status_code == 400
        text = refused.content.decode()
        assert "(now: “Requires or prolongs hospitalisation”)" in text
        again = post_form_data(text, edit)
        again["seriousness"] = ["hospitalization", "life_threatening"]
        assert client.post(edit, again).status_code == 302
        event.refresh_from_db()
        assert sorted(event.seriousness) == ["hospitalization", "life_threatening"]


def test_an_event_that_put_the_patient_in_hospital_is_serious(clinician, patient):
    """Action "Hospitalised" with no criterion ticked was neither serious nor reportable."""
    event = services.record_adverse_event(
        patient, clinician,
        {"term_key": "pain", "grade": 2, "onset_date": TODAY, "action_taken": "hospitalised"},
    )  # fmt: skip
    assert event.seriousness == ["hospitalization"] and event.serious_or_high_grade


def test_the_same_event_at_another_grade_is_refused_as_recorded_already(clinician, patient):
    """A second form at grade 3 recorded a grade-2 event twice (both on the reportable list)."""
    data = {"term_key": "pain", "grade": 2, "onset_date": TODAY}
    services.record_adverse_event(patient, clinician, data)
    with pytest.raises(services.MonitoringError) as refused:
        services.record_adverse_event(patient, clinician, {**data, "grade": 3})
    assert "already recorded" in " ".join(refused.value.errors["term_key"])
    assert AdverseEvent.objects.filter(patient=patient).count() == 1


def test_an_update_cannot_make_an_event_the_same_as_another(clinician, patient):
    """The same term, onset, session and lot is one event: recorded twice through an update
    (another term chosen, the onset corrected) it counted twice on every list."""
    services.record_adverse_event(
        patient, clinician, {"term_key": "pain", "grade": 2, "onset_date": TODAY}
    )
    other = services.record_adverse_event(
        patient, clinician, {"term_key": "headache", "grade": 1, "onset_date": TODAY}
    )
    with pytest.raises(services.MonitoringError) as refused:
        services.update_adverse_event(
            other, clinician, {"term_key": "pain"}, change_reason="wrong term chosen"
        )
    assert "already recorded" in " ".join(refused.value.errors["term_key"])
    other.refresh_from_db()
    assert other.term_key == "headache"
    # Its other fields still change, and so does it once it no longer matches.
    raised = services.update_adverse_event(other, clinician, {"grade": 2})
    moved = services.update_adverse_event(
        raised, clinician,
        {"term_key": "pain", "onset_date": TODAY - timedelta(days=1)},
        change_reason="wrong term and day",
    )  # fmt: skip
    assert (moved.term_key, moved.grade) == ("pain", 2)


def test_an_event_cannot_be_reported_at_a_visit_before_it_began(clinician, patient):
    visit = services.record_visit(
        patient, clinician, {"visit_date": TODAY - timedelta(days=1), "density_per_cm2": 120}
    )
    with pytest.raises(services.MonitoringError) as refused:
        services.record_adverse_event(
            patient, clinician,
            {"term_key": "headache", "grade": 1, "onset_date": TODAY, "visit_id": visit.pk},
        )  # fmt: skip
    assert "after the visit of" in refused.value.errors["visit_id"][0]
    assert not AdverseEvent.objects.exists()


def test_an_event_reported_outside_a_visit_is_voided_from_its_own_page(client, clinician, patient):
    event = services.record_adverse_event(
        patient, clinician, {"term_key": "pain", "grade": 3, "onset_date": TODAY}
    )
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/adverse-events/{event.pk}/edit/").content.decode()
    action = f"/monitoring/{patient.pk}/adverse-events/{event.pk}/void/"
    assert f'action="{action}"' in page
    client.post(action, {"reason": "Recorded twice by mistake"})
    event.refresh_from_db()
    assert event.is_voided


def test_a_visit_before_the_baseline_is_not_compared_with_the_later_baseline(clinician, patient):
    from anagen.monitoring import selectors

    services.record_visit(
        patient, clinician, {"visit_date": TODAY, "is_baseline": True, "density_per_cm2": 120}
    )
    earlier = services.record_visit(
        patient, clinician, {"visit_date": TODAY - timedelta(days=2), "density_per_cm2": 100}
    )
    change = selectors.change_from_baseline(earlier)
    assert change.baseline_date is None and change.density_change_pct is None
    assert change.note.startswith(f"No change: this visit is before the baseline visit of {TODAY}")


def test_the_event_form_carries_the_investigational_notice_after_exosome_sessions(
    client, clinician, patient
):
    from ..monitoring import _course as course

    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/adverse-events/new/"
    assert 'id="investigational-notice"' not in client.get(url).content.decode()
    course.course(patient, clinician, first=date.today() - timedelta(days=3), sessions=1)
    assert 'id="investigational-notice"' in client.get(url).content.decode()


def test_a_grade_4_event_stored_without_seriousness_reads_life_threatening_on_the_reportable_list(
    client, clinician, patient
):
    """An event stored before grade 4 implied "life-threatening" said "no" under serious."""
    event = services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 3, "onset_date": TODAY - timedelta(days=2)},
    )  # fmt: skip
    AdverseEvent.objects.filter(pk=event.pk).update(grade=4, seriousness=[])
    client.force_login(clinician)
    page = client.get("/monitoring/adverse-events/reportable/").content.decode()
    assert "<td>Life-threatening</td>" in page


def test_a_hospitalised_event_stored_with_the_flag_off_before_the_rule_is_reportable(
    client, clinician, patient
):
    """'Hospitalised' makes an event serious since the services add the criterion; a grade-2
    event admitted before that was stored with no criterion and the flag off: it stayed off
    the reportable list, the dashboard count and the timeline's serious flag."""
    from anagen.monitoring import selectors

    event = services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 2, "onset_date": TODAY - timedelta(days=2),
         "action_taken": "hospitalised"},
    )  # fmt: skip
    AdverseEvent.objects.filter(pk=event.pk).update(seriousness=[], serious_or_high_grade=False)
    assert list(selectors.reportable_events(patient.clinic)) == [event]
    entries = selectors.timeline(patient, show_adverse_events=True)
    (entry,) = [e for e in entries if e.kind == "adverse_event"]
    assert entry.flag == "serious"
    client.force_login(clinician)
    page = client.get("/monitoring/adverse-events/reportable/").content.decode()
    assert "<td>Requires or prolongs hospitalisation</td>" in page


def test_taking_back_the_admission_of_an_event_stored_before_the_rule_is_a_clinicians_lowering(
    clinician, patient
):
    """A grade-2 event 'Hospitalised' stored before that made it serious (no criterion, flag
    off): changing the action dropped its seriousness without a reason and without a
    clinician, and anyone could void it, though it is serious."""
    event = services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 2, "onset_date": TODAY - timedelta(days=2),
         "action_taken": "hospitalised"},
    )  # fmt: skip
    AdverseEvent.objects.filter(pk=event.pk).update(seriousness=[], serious_or_high_grade=False)
    event.refresh_from_db()
    with pytest.raises(services.MonitoringError) as err:
        services.update_adverse_event(
            event, clinician, {"action_taken": "medication"}, may_lower_serious=False
        )
    assert "seriousness removed: Requires or prolongs hospitalisation" in str(err.value.errors)
    assert "a clinician makes it" in str(err.value.errors)
    with pytest.raises(services.MonitoringError) as err:
        services.update_adverse_event(event, clinician, {"action_taken": "medication"})
    assert "give the reason" in err.value.errors["change_reason"][0]
    assert services.clinician_voids(event, may_lower_serious=False, may_decide=True)


def test_the_edit_page_of_a_grade_4_event_stored_without_seriousness_ticks_life_threatening(
    client, clinician, patient
):
    """The form showed the stored criteria only: the grade-4 event's box was unticked, as if
    the event were not life-threatening."""
    event = services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 3, "onset_date": TODAY - timedelta(days=2)},
    )  # fmt: skip
    AdverseEvent.objects.filter(pk=event.pk).update(grade=4, seriousness=[])
    client.force_login(clinician)
    edit = f"/monitoring/{patient.pk}/adverse-events/{event.pk}/edit/"
    page = client.get(edit).content.decode()
    (box,) = re.findall(r'<input[^>]*value="life_threatening"[^>]*>', page)
    assert "checked" in box
