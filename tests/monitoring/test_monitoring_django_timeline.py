"""The patient timeline from recorded data: consultation steps, treatment sessions (map
thumbnail, lots, link), visits, measurements, photos, adverse events, decisions and what is
still planned, in time order; permissions per role; a bounded number of queries. And the
further-treatment proposal counting recorded (non-voided) sessions."""

from __future__ import annotations

import io
import itertools
import re
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from anagen.accounts.roles import Role
from anagen.monitoring import selectors, services
from anagen.treatments import scalp_zones
from anagen.treatments.models import TreatmentSession

from . import _course as course

TODAY = date.today()
START = TODAY - timedelta(weeks=13)  # first session; sessions at weeks 0, 4, 8


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(
        clinic_a, clinician, given_name="Tim", family_name="Line", sex_at_birth="male"
    )


_SHOTS = itertools.count()


def png(name: str = "vertex.png") -> SimpleUploadedFile:
    """A small photo, another file each time (one image is stored once per patient)."""
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (190, 150, 100 + next(_SHOTS) % 150)).save(out, format="PNG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/png")


def follow_up_plan(patient, user, sessions: int = 3, **extra):
    return services.create_follow_up_plan(
        patient,
        user,
        first_session_date=START,
        sessions_planned=sessions,
        interval_weeks=4,
        **extra,
    )


def visits(patient, user, *, week: int = 12, density_after: float = 170):
    services.record_visit(
        patient, user,
        {"visit_date": START, "is_baseline": True, "density_per_cm2": 150,
         "mean_diameter_um": 55},
        photos=[services.PhotoUpload(png(), "global", "vertex")],
    )  # fmt: skip
    return services.record_visit(
        patient, user,
        {"visit_date": START + timedelta(weeks=week), "density_per_cm2": density_after,
         "mean_diameter_um": 57, "global_assessment": 1},
        photos=[services.PhotoUpload(png("front.png"), "global", "frontal"),
                services.PhotoUpload(png(), "global", "vertex")],
    )  # fmt: skip


def full_course(patient, user, *, sessions: int = 3):
    follow_up_plan(patient, user)
    plan, lot, rows = course.course(patient, user, first=START, sessions=sessions)
    visit = visits(patient, user)
    return plan, lot, rows, visit


def page(client, user, patient) -> str:
    client.force_login(user)
    response = client.get(f"/monitoring/{patient.pk}/")
    assert response.status_code == 200
    return response.content.decode()


# --- what the timeline lists -----------------------------------------------------------------


def test_recorded_sessions_are_listed_with_modality_clinician_totals_lots_map_and_link(
    client, clinician, patient
):
    _, lot, rows, _ = full_course(patient, clinician)
    entries = selectors.timeline(patient, show_sessions=True, show_consultation=True,
                                 thumbnails=True)  # fmt: skip
    sessions = [e for e in entries if e.kind == "session"]
    assert [e.when for e in sessions] == [s.performed_on for s in rows]
    assert [e.title for e in sessions] == [
        f"Session {n}: Exosome injection (investigational)" for n in (1, 2, 3)
    ]
    first = sessions[0]
    assert first.url == reverse("treatments:detail", args=[patient.pk, rows[0].pk])
    assert "by clinician-clinic-a" in first.detail and "70 points, 1.5 mL" in first.detail
    assert f"lot {lot.lot_number} × 1 vial" in first.detail
    assert f'id="anagen-scalp-clip-top-s{rows[0].pk}"' in first.thumbnail
    # The plan's three sessions are all recorded: no planned session left to show.
    assert not [e for e in entries if e.kind == "planned_session"]

    html = page(client, clinician, patient)
    for s in rows:
        assert f'href="{reverse("treatments:detail", args=[patient.pk, s.pk])}"' in html
    assert html.count('class="scalp-map scalp-map-top"') == 3
    clip_ids = re.findall(r'<clipPath id="([^"]+)"', html)
    assert len(clip_ids) == len(set(clip_ids)) == 3  # one id per thumbnail, none repeated
    assert lot.lot_number in html and "(planned)" not in html


def test_consultation_steps_are_listed_in_step_order_with_links(client, clinician, patient):
    full_course(patient, clinician)
    consult_day = START - timedelta(days=7)
    steps = [
        e
        for e in selectors.timeline(patient, show_sessions=True, show_consultation=True)
        if e.kind == "consultation"
    ]
    assert {e.when for e in steps} == {consult_day}
    titles = [e.title for e in steps]
    # Screened once with the history and again when the diagnosis was recorded.
    assert titles == [
        "Medical history, version 1",
        "Contraindication screening",
        "Contraindication screening",
        "Scalp examination",
        "Diagnosis: Androgenetic alopecia, male pattern",
        "Treatment plan accepted: Exosome / EV injections (investigational)",
        "Consent signed: Exosome / EV injections",
    ]
    by_title = {e.title: e for e in steps}
    assert "Norwood–Hamilton III" in by_title["Scalp examination"].detail
    assert "ICD-10 L64.9" in by_title["Diagnosis: Androgenetic alopecia, male pattern"].detail
    assert steps[1].detail == "no contraindication found"
    flow = reverse("assessment:flow", args=[patient.pk])
    assert steps[0].url == reverse("assessment:history_versions", args=[patient.pk])
    assert steps[-1].url == f"{flow}#step-consent"
    html = page(client, clinician, patient)
    assert f'href="{flow}#step-screening"' in html


def test_everything_is_in_time_order_with_photos_as_thumbnails(client, clinician, patient):
    _, _, rows, visit = full_course(patient, clinician)
    services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 2, "onset_date": rows[1].performed_on,
         "relatedness": "probable"},
    )  # fmt: skip
    services.record_decision(visit, clinician, decided="maintenance", sessions_done=3,
                             sessions_planned=3)  # fmt: skip
    entries = selectors.timeline(patient, show_sessions=True, show_consultation=True)
    kinds = [e.kind for e in entries]
    for kind in ("registered", "consultation", "session", "scheduled", "visit", "measurement",
                 "photo", "adverse_event", "decision"):  # fmt: skip
        assert kind in kinds, kind
    assert [e.when for e in entries] == sorted(e.when for e in entries)
    # Same day: the baseline visit is measured before the first injection; the adverse
    # event comes after the session it followed.
    day0 = [e.kind for e in entries if e.when == START]
    assert day0.index("visit") < day0.index("measurement") < day0.index("session")
    day1 = [e.kind for e in entries if e.when == rows[1].performed_on]
    assert day1.index("session") < day1.index("adverse_event")
    photos = [e for e in entries if e.kind == "photo"]
    assert [len(e.images) for e in photos] == [1, 2]
    assert photos[1].images[0].alt.startswith("Frontal view")  # global views in view order

    html = page(client, clinician, patient)
    photo_ids = [p.pk for p in visit.photos.all()]
    for pk in photo_ids:
        assert f'<img src="/monitoring/{patient.pk}/photos/{pk}/"' in html
    assert "<script>" not in html and ' style="' not in html


def test_planned_sessions_and_appointments_are_marked_planned(client, clinician, patient):
    follow_up_plan(patient, clinician, sessions=3, protocol_key="exosome_standard")
    course.course(patient, clinician, first=START, sessions=1)
    entries = selectors.timeline(patient, show_sessions=True, show_consultation=True)
    recorded = [e for e in entries if e.kind == "session"]
    planned = [e for e in entries if e.kind == "planned_session"]
    assert [e.title for e in recorded] == ["Session 1: Exosome injection (investigational)"]
    assert [e.title for e in planned] == ["Session 2 of 3 (planned)", "Session 3 of 3 (planned)"]
    assert all(e.planned and not e.url for e in planned)
    # The protocol by its title, not its key ("exosome standard").
    assert all(e.detail == "Exosome / EV injections" for e in planned)
    # Weeks 4 and 8 are past by more than the grace days: flagged.
    assert [e.flag for e in planned] == ["overdue", "overdue"]
    appointments = [e for e in entries if e.kind == "scheduled"]
    assert appointments and all(e.planned for e in appointments)
    html = page(client, clinician, patient)
    assert html.count('class="k-planned_session planned"') == 2
    # Two planned sessions, the appointments, and the legend above the list.
    assert html.count('<span class="badge planned">planned</span>') == 2 + len(appointments) + 1


def test_a_planned_session_moves_with_its_rescheduled_appointment(clinician, patient):
    # The patient delays the course: "Before session 2" and every later visit move a week.
    # The planned sessions follow them; they stayed on the protocol's dates (session 2
    # listed, and flagged overdue, a week before the visit that comes before it).
    start = timezone.localdate()
    services.create_follow_up_plan(
        patient, clinician, first_session_date=start, sessions_planned=3, interval_weeks=4
    )
    before_2 = patient.scheduled_visits.get(kind="pre_session", session_number=2)
    moved = services.reschedule_visit(
        before_2, clinician, new_date=before_2.due_date + timedelta(weeks=1),
        reason="patient travelling", move_later=True,
    )  # fmt: skip
    entries = selectors.timeline(patient, show_sessions=True, show_consultation=True)
    planned = {e.title: e.when for e in entries if e.kind == "planned_session"}
    assert planned["Session 2 of 3 (planned)"] == moved.due_date == start + timedelta(weeks=5)
    assert planned["Session 3 of 3 (planned)"] == start + timedelta(weeks=9)


def test_a_voided_session_is_neither_listed_nor_counted(clinician, patient):
    _, _, rows, visit = full_course(patient, clinician)
    TreatmentSession.objects.filter(pk=rows[1].pk).update(
        voided_at=timezone.now(), void_reason="entered on the wrong patient"
    )
    entries = selectors.timeline(patient, show_sessions=True, show_consultation=True)
    assert [e.obj.pk for e in entries if e.kind == "session"] == [rows[0].pk, rows[2].pk]
    assert [e.title for e in entries if e.kind == "planned_session"] == ["Session 3 of 3 (planned)"]
    assert selectors.proposal_for(visit).inputs["sessions_done"] == 2


# --- the proposal counts recorded sessions ----------------------------------------------------


def test_the_proposal_counts_recorded_sessions_not_the_plans_dates(client, clinician, patient):
    # The plan says 3 sessions by week 8; only 2 were given. At week 12 the course is
    # therefore not complete: continue, not "maintenance" as the plan's dates would say.
    _, _, _, visit = full_course(patient, clinician, sessions=2)
    proposal = selectors.proposal_for(visit)
    assert proposal.inputs["sessions_done"] == 2 and proposal.inputs["sessions_planned"] == 3
    assert proposal.inputs["sessions_done_source"] == "recorded"
    assert proposal.decision.proposal.value == "continue_as_planned"
    assert "2 of 3 planned sessions done" in " ".join(proposal.decision.reasons)
    client.force_login(clinician)
    html = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert (
        "Sessions done: 2 recorded treatment sessions before this visit on "
        f"{visit.visit_date.isoformat()}" in html
    )
    decision_page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/decision/")
    assert 'name="sessions_done" value="2"' in decision_page.content.decode()


def test_sessions_on_the_visit_day_and_same_day_modalities_count_once(clinician, patient):
    follow_up_plan(patient, clinician)
    plan, lot, rows = course.course(patient, clinician, first=START, sessions=2)
    # A second entry on the day of session 2 (another row, same treatment day) and a
    # session on the follow-up visit's own day (after the measurements).
    visit_day = START + timedelta(weeks=12)
    # (The second entry on one day is confirmed as such: treatments refuses it otherwise.)
    course.record_sessions(
        plan, clinician, lot, [rows[1].performed_on, visit_day], confirm_same_day=True
    )
    visit = visits(patient, clinician)
    assert visit.visit_date == visit_day
    assert selectors.sessions_done_before(patient, visit_day) == 2
    assert selectors.sessions_done_before(patient, visit_day + timedelta(days=1)) == 3
    assert selectors.proposal_for(visit).inputs["sessions_done"] == 2
    titles = [e.title for e in selectors.timeline(patient, show_sessions=True) if
              e.kind == "session"]  # fmt: skip
    # Both records of the second day are session 2, each saying which record of the day it is.
    assert [t.split(":")[0] for t in titles] == [
        "Session 1", "Session 2 (record 1 of 2 that day)", "Session 2 (record 2 of 2 that day)",
        "Session 3"]  # fmt: skip


def test_only_sessions_of_the_followed_protocol_count(client, clinician, patient):
    # The follow-up plan follows the exosome protocol; minoxidil started on a day of its
    # own (entered directly: this is about counting) is not an exosome session.
    plan = course.consultation(patient, clinician, START - timedelta(days=7))
    key = next(p["key"] for p in plan.protocols if p["modality"] == "exosome")
    services.create_follow_up_plan(
        patient, clinician, first_session_date=START, sessions_planned=3, interval_weeks=4,
        protocol_key=key,
    )  # fmt: skip
    lot = course.released_lot(patient.clinic, clinician)
    course.record_sessions(plan, clinician, lot, [START, START + timedelta(weeks=4)])
    TreatmentSession.objects.create(
        clinic=patient.clinic, patient=patient, plan=plan, modality="minoxidil",
        performed_on=START + timedelta(days=2), clinician=clinician,
    )  # fmt: skip
    visit = visits(patient, clinician)
    proposal = selectors.proposal_for(visit)
    assert (
        proposal.inputs["sessions_done"] == 2 and proposal.inputs["sessions_modality"] == "exosome"
    )
    assert "2 recorded treatment sessions of Exosome / EV injections" in proposal.sessions_basis
    assert selectors.sessions_done_before(patient, visit.visit_date) == 3  # any modality
    entries = selectors.timeline(patient, show_sessions=True)
    assert [e.title for e in entries if e.kind == "session"] == [
        "Session 1: Exosome injection (investigational)",
        "Session 1: Minoxidil start / adjustment",
        "Session 2: Exosome injection (investigational)",
    ]
    assert [e.title for e in entries if e.kind == "planned_session"] == ["Session 3 of 3 (planned)"]


def test_sessions_given_with_the_decision_are_stored_as_entered(clinician, patient):
    _, _, _, visit = full_course(patient, clinician, sessions=2)
    row = services.record_decision(
        visit, clinician, decided="maintenance", rationale="patient content",
        sessions_done=3, sessions_planned=3,
    )  # fmt: skip
    assert row.inputs["sessions_done"] == 3 and row.inputs["sessions_done_source"] == "entered"


def test_a_session_count_other_than_the_record_needs_a_reason(clinician, patient):
    """ "10 of 3 planned sessions done" was stored beside a record of 2, unexplained."""
    _, _, _, visit = full_course(patient, clinician, sessions=2)
    with pytest.raises(services.MonitoringError) as refused:
        services.record_decision(
            visit, clinician, decided="continue_as_planned", sessions_done=10, sessions_planned=3
        )
    assert refused.value.errors["rationale"] == [
        "10 sessions done were entered, but the record has 2 before this visit: give the "
        "reason (for example, sessions given elsewhere)."
    ]


# --- permissions ---------------------------------------------------------------------------


def test_front_desk_sees_that_sessions_and_consultations_happened_but_no_clinical_detail(
    client, clinic_a, make_user, clinician, patient, api_token
):
    _, lot, rows, _ = full_course(patient, clinician)
    front = make_user(Role.FRONT_DESK, clinic_a)
    html = page(client, front, patient)
    html = html[html.index('<section class="card" id="timeline">') :]
    html = html[: html.index("</section>")]
    assert html.count('class="k-session"') == 3
    assert html.count('<strong class="entry-title">Treatment session</strong>') == 3
    assert "Exosome" not in html and lot.lot_number not in html
    assert "scalp-map" not in html and "/sessions/" not in html
    assert '<strong class="entry-title">Consultation</strong>' in html
    assert "/consultation/" not in html
    for word in ("Diagnosis", "screening", "Medical history", "Consent", "Norwood"):
        assert word not in html, word
    assert "shown to clinical staff only" in html
    # Visits and measurements stay visible (visit.view).
    assert "Measurements" in html and "170/cm²" in html

    token = api_token(front, clinic_a)
    rows_api = client.get(
        f"/api/v1/monitoring/patients/{patient.pk}/timeline", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    sessions = [r for r in rows_api if r["kind"] == "session"]
    assert len(sessions) == 3 and all(r["restricted"] and not r["detail"] for r in sessions)
    assert all(not r["url"] for r in rows_api if r["kind"] in ("session", "consultation"))
    assert "Exosome" not in str(rows_api) and lot.lot_number not in str(rows_api)


@pytest.mark.parametrize("role", [Role.NURSE, Role.ADMIN, Role.CLINICIAN])
def test_clinical_roles_see_session_and_consultation_detail(
    client, clinic_a, make_user, clinician, patient, role
):
    _, lot, _, _ = full_course(patient, clinician)
    user = clinician if role == Role.CLINICIAN else make_user(role, clinic_a)
    html = page(client, user, patient)
    assert "Session 1: Exosome injection (investigational)" in html
    assert lot.lot_number in html and "scalp-map" in html
    assert "Contraindication screening" in html
    assert "shown to clinical staff only" not in html


def test_api_timeline_gives_details_to_clinicians(client, clinic_a, clinician, patient, api_token):
    full_course(patient, clinician)
    token = api_token(clinician, clinic_a)
    rows_api = client.get(
        f"/api/v1/monitoring/patients/{patient.pk}/timeline", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    sessions = [r for r in rows_api if r["kind"] == "session"]
    assert sessions[0]["title"].startswith("Session 1: Exosome") and "lot" in sessions[0]["detail"]
    assert any(r["kind"] == "consultation" and r["url"] for r in rows_api)
    assert all("svg" not in str(r) for r in rows_api)
    assert [r["when"] for r in rows_api] == sorted(r["when"] for r in rows_api)


# --- bounded queries -----------------------------------------------------------------------


def test_timeline_queries_do_not_grow_with_the_number_of_sessions(
    client, clinician, patient, django_assert_max_num_queries
):
    follow_up_plan(patient, clinician)
    plan, lot, _ = course.course(patient, clinician, first=START, sessions=1)
    visits(patient, clinician)
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/"

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    one = count()
    course.record_sessions(  # weekly and past the plan's count: confirmed
        plan, clinician, lot, [START + timedelta(weeks=w) for w in (4, 8, 9, 10, 11)],
        confirm_schedule=True,
    )  # fmt: skip
    assert TreatmentSession.objects.filter(patient=patient).count() == 6
    six = count()
    assert six == one, (one, six)
    with django_assert_max_num_queries(25):
        selectors.timeline(patient, show_sessions=True, show_consultation=True, thumbnails=True)


def test_map_thumbnail_ids_take_only_a_safe_suffix():
    svg = scalp_zones.render_scalp_svg(course.MAP, "top", id_suffix="s12")
    assert 'id="anagen-scalp-clip-top-s12"' in svg and "url(#anagen-scalp-clip-top-s12)" in svg
    assert 'id="anagen-scalp-clip-top"' in scalp_zones.render_scalp_svg(course.MAP, "top")
    with pytest.raises(ValueError):
        scalp_zones.render_scalp_svg(course.MAP, "top", id_suffix='x"><script>')


def test_an_adverse_event_reads_as_the_clinician_described_it(clinician, patient):
    """The timeline showed the grade's CTCAE definition ("grade 2: Pain; lipodystrophy;
    edema; phlebitis"), which read as the patient's findings."""
    described = services.record_adverse_event(
        patient, clinician,
        {"term_key": "injection_site_reaction", "grade": 2, "onset_date": START,
         "relatedness": "probable", "description": "Erythema and tender swelling over vertex"},
    )  # fmt: skip
    bare = services.record_adverse_event(
        patient, clinician,
        {"term_key": "headache", "grade": 1, "onset_date": START, "relatedness": "possible"},
    )  # fmt: skip
    entries = selectors.timeline(patient, show_adverse_events=True)
    details = [e.detail for e in entries if e.kind == "adverse_event"]
    assert "grade 2: Erythema and tender swelling over vertex" in details
    assert f"grade 1 (CTCAE grade 1: {bare.grade_text})" in details
    assert described.grade_text not in " ".join(details)


def test_a_second_photo_of_a_view_at_one_visit_is_refused(clinician, patient):
    """It was stored and never shown: the comparison shows one photo per view."""
    visit = services.record_visit(
        patient, clinician, {"visit_date": TODAY, "density_per_cm2": 120},
        photos=[services.PhotoUpload(png("front.png"), "global", "frontal")],
    )  # fmt: skip
    other = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (400, 300), (90, 60, 50)).save(other, format="PNG")
    second = SimpleUploadedFile("front2.png", other.getvalue(), content_type="image/png")
    with pytest.raises(services.MonitoringError) as refused:
        services.add_photos(visit, clinician, [services.PhotoUpload(second, "global", "frontal")])
    assert refused.value.errors["image"][0].startswith("This visit already has a frontal photo")
    assert visit.photos.count() == 1


def test_front_desk_does_not_see_the_treatments_progress(
    client, clinic_a, make_user, clinician, patient, api_token
):
    """progress.view ("change from baseline, charts, photo comparison") is not front desk's,
    yet the visit page, the visit API and the timeline's chart gave it."""
    _, _, _, visit = full_course(patient, clinician)
    front = make_user(Role.FRONT_DESK, clinic_a)
    client.force_login(front)
    visit_page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert "Change from baseline (" not in visit_page and 'id="change-restricted"' in visit_page
    assert "next to baseline" not in visit_page
    assert 'id="density-chart"' not in page(client, front, patient)
    token = api_token(front, clinic_a)
    body = client.get(
        f"/api/v1/monitoring/patients/{patient.pk}/visits/{visit.pk}",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    ).json()
    assert body["change_from_baseline"] is None
    client.force_login(clinician)
    assert (
        "Change from baseline ("
        in client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    )
