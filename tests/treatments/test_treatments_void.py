"""Voiding a treatment session entered in error.

A voided session is kept with who, when and why (and in the change history); it leaves
the session list and every count of sessions (the further-treatment proposal, outcomes'
adverse events per 100 sessions); opened by its address it shows a "Voided" banner. Its
vial draws stay: the lot trace keeps listing the patient, because a recall must reach
anyone who may have been exposed; only when the user says the vials were not used do they
go back to stock, their draws marked returned and no longer the patient's exposure. Only
clinicians and admins void (record.void); another
clinic's session is 404; a bad reason or a second voiding changes nothing.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.monitoring import selectors as monitoring_selectors
from anagen.monitoring import services as monitoring
from anagen.outcomes import cohort
from anagen.outcomes import selectors as outcomes
from anagen.products import selectors as products
from anagen.products import services as product_services
from anagen.products.models import Lot, VialDraw
from anagen.treatments import selectors, services
from anagen.treatments.models import TreatmentSession

from ..monitoring import _course as course

MAP = [{"zone": "frontal", "points": 40, "volume_ml": 1.0}]
REASON = "entered on the wrong patient"


def record(clinic, user, plan, lot, on: date) -> TreatmentSession:
    return services.record_session(
        clinic,
        user,
        plan,
        {"modality": "exosome", "performed_on": on, "needle_gauge": 30, "depth_mm": "1.5"},
        map_entries=MAP,
        vials=[services.VialRequest(lot, 1)],
    )


@pytest.fixture
def session(clinic_a, clinician, ready, lot):
    _, plan = ready
    return record(clinic_a, clinician, plan, lot, date.today())


def url(session, suffix="void/"):
    return f"/sessions/{session.patient_id}/{session.pk}/{suffix}"


# --- the service -----------------------------------------------------------------------------


def test_voiding_keeps_the_session_with_who_when_and_why_in_its_history(session, clinician):
    services.void_session(session, clinician, f"  {REASON}  ")
    session.refresh_from_db()
    assert session.is_voided and session.voided_by == clinician
    assert session.void_reason == REASON
    assert TreatmentSession.objects.filter(pk=session.pk).exists()
    latest = session.history.first()
    assert latest.history_user == clinician
    assert latest.history_change_reason == f"voided: {REASON}"
    assert latest.voided_at is not None


@pytest.mark.parametrize("reason", ["", "   ", "oops", "wrong\x00patient", None])
def test_a_missing_short_or_nul_reason_is_refused_and_nothing_changes(session, clinician, reason):
    with pytest.raises(services.SessionError) as exc:
        services.void_session(session, clinician, reason)
    assert "at least 5 characters" in exc.value.errors["reason"][0]
    session.refresh_from_db()
    assert not session.is_voided and session.history.count() == 1


def test_a_session_is_voided_once(session, clinician):
    services.void_session(session, clinician, REASON)
    with pytest.raises(services.SessionError) as exc:
        services.void_session(session, clinician, "a second, different reason")
    assert exc.value.errors["__all__"] == ["This session is already voided."]
    session.refresh_from_db()
    assert session.void_reason == REASON


def test_the_vials_drawn_stay_on_the_lot_trace_so_a_recall_reaches_the_patient(
    session, clinician, lot, ready
):
    patient, _ = ready
    services.void_session(session, clinician, REASON)
    draw = VialDraw.objects.get()
    assert draw.session_ref == f"session:{session.pk}" and draw.patient == patient
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 4  # the vial is not put back
    trace = products.affected_patients(lot)
    assert [r["patient"] for r in trace] == [patient]
    assert trace[0]["sessions"] == [f"session:{session.pk}"]


def test_vials_not_used_go_back_to_stock_and_stay_on_the_trace_marked_returned(
    session, clinician, lot, ready, clinic_a
):
    """A session entered twice is voided and its vials returned: a correction by voiding and
    entering again no longer takes the vials from stock twice."""
    patient, plan = ready
    services.void_session(session, clinician, REASON, vials_returned=True)
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 5
    stock = products.stock_of(lot)
    assert (stock.drawn, stock.returned, stock.on_hand) == (0, 1, 5) and stock.consistent
    draw = VialDraw.objects.get()  # kept, marked
    assert draw.returned_at is not None and draw.returned_by == clinician
    assert draw.return_reason == f"session voided: {REASON}"
    assert "returned to stock" in draw.history.first().history_change_reason
    assert "1 vial(s) returned to stock unused" in session.history.first().history_change_reason
    # Not the patient's exposure: no recall row, no reverse trace, no dose.
    assert products.affected_patients(lot) == []
    assert list(products.draws_of_patient(clinic_a, patient)) == []
    [(use, dose)] = products.uses_of_lot(lot)
    assert use == draw and dose is None
    # Entered again, the one real treatment takes one vial.
    again = record(clinic_a, clinician, plan, lot, date.today())
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 4 and products.stock_of(lot).consistent
    assert [r["sessions"] for r in products.affected_patients(lot)] == [[f"session:{again.pk}"]]


def test_vials_of_a_recalled_lot_are_not_returned_so_the_recall_still_reaches_the_patient(
    session, clinician, lot, ready, clinic_a, make_user
):
    """A review voided a session "with vials returned" after the lot's recall: the patient
    left the recall list and the vials went back into the recalled lot."""
    patient, _ = ready
    quality = make_user(Role.QUALITY, clinic_a, username="qa")
    product_services.recall_lot(lot, quality, "supplier recall notice 12")
    with pytest.raises(services.SessionError) as exc:
        services.void_session(session, clinician, REASON, vials_returned=True)
    assert "is recalled: its vials cannot go back in stock" in exc.value.errors["vials_returned"][0]
    session.refresh_from_db()
    assert not session.is_voided
    assert [r["patient"] for r in products.affected_patients(lot)] == [patient]
    # Voided without returning them, the draw stays on the recall.
    services.void_session(session, clinician, REASON)
    assert [r["patient"] for r in products.affected_patients(lot)] == [patient]


def test_vials_of_an_expired_lot_are_not_returned(session, clinician, lot):
    Lot.objects.filter(pk=lot.pk).update(expiry_date=date.today() - timedelta(days=1))
    with pytest.raises(services.SessionError) as exc:
        services.void_session(session, clinician, REASON, vials_returned=True)
    assert "expired on" in exc.value.errors["vials_returned"][0]
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 4 and VialDraw.objects.get().returned_at is None


def test_a_refused_void_returns_nothing(session, clinician, lot):
    with pytest.raises(services.SessionError):
        services.void_session(session, clinician, "oops", vials_returned=True)
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 4 and VialDraw.objects.get().returned_at is None


# --- what counts sessions ignores voided ones ------------------------------------------------


@pytest.fixture
def course_patient(clinic_a, clinician, make_patient):
    """A patient treated on past dates: sessions at weeks 0 and 4, 12 weeks ago."""
    patient = make_patient(clinic_a, clinician, sex_at_birth="male", family_name="Course")
    start = date.today() - timedelta(weeks=12)
    _, _, sessions = course.course(patient, clinician, first=start, sessions=2)
    return patient, start, sessions


def test_a_voided_session_leaves_the_list_the_counts_and_the_proposal(clinician, course_patient):
    patient, start, (first, second) = course_patient
    today = date.today()
    monitoring.record_visit(
        patient, clinician, {"visit_date": start, "is_baseline": True, "density_per_cm2": 150}
    )
    visit = monitoring.record_visit(
        patient, clinician, {"visit_date": today, "density_per_cm2": 160})  # fmt: skip
    assert monitoring_selectors.proposal_for(visit).inputs["sessions_done"] == 2

    services.void_session(second, clinician, REASON)

    assert list(selectors.sessions_of(patient)) == [first]
    assert set(selectors.sessions_of(patient, include_voided=True)) == {first, second}
    assert list(selectors.recorded_sessions(patient)) == [first]
    assert selectors.treatment_days_before(patient, today) == 1
    assert monitoring_selectors.proposal_for(visit).inputs["sessions_done"] == 1
    assert selectors.get_session(patient, second.pk).is_voided  # still opens by id


def test_outcomes_count_adverse_events_per_100_sessions_without_voided_sessions(
    clinic_a, clinician, course_patient
):
    patient, start, (first, second) = course_patient
    monitoring.record_adverse_event(
        patient, clinician,
        {"term_key": "injection_site_reaction", "grade": 1,
         "onset_date": second.performed_on + timedelta(days=1),
         "related_session_date": second.performed_on},
    )  # fmt: skip

    def exosome_row():
        tables = outcomes.analysis_tables(clinic_a)
        view = outcomes.cohort_analysis(
            clinic_a,
            cohort.CohortFilters(),
            cohort.CohortOptions(),
            deidentified=False,
            tables=tables,
        )
        modality = view.ae_sections[0]
        return tables, next(r for r in modality.data["rows"] if r["sessions"])

    tables, row = exosome_row()
    assert len(tables.sessions) == 2 and row["sessions"] == 2

    services.void_session(first, clinician, REASON)

    tables, row = exosome_row()
    assert tables.sessions["session_id"].tolist() == [second.pk]
    assert row["sessions"] == 1 and row["sessions_with_event"] == 1


def test_the_fhir_export_marks_a_voided_session_entered_in_error(session, clinician, ready):
    from anagen.interop.fhir_export import patient_bundle_dict

    services.void_session(session, clinician, REASON)
    bundle = patient_bundle_dict(ready[0])
    procedures = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Procedure"
    ]
    assert [p["status"] for p in procedures] == ["entered-in-error"]


# --- the session page ------------------------------------------------------------------------


def test_a_clinician_voids_a_session_from_its_page_and_sees_the_banner(client, clinician, session):
    client.force_login(clinician)
    page = client.get(url(session, "")).content.decode()
    assert "Void…" in page and 'name="reason"' in page and "stay on the lot trace" in page
    response = client.post(url(session), {"reason": REASON})
    assert response.status_code == 302 and response["Location"] == url(session, "")
    detail = client.get(response["Location"]).content.decode()
    assert "Session voided" in detail
    assert f"by {clinician.username}:</strong> {REASON}" in detail and "Voided on " in detail
    assert "Void…" not in detail  # nothing left to void
    listing = client.get(f"/sessions/{session.patient_id}/").content.decode()
    assert url(session, "") not in listing
    assert "1 voided session (entered in error) is not listed" in listing
    shown = client.get(f"/sessions/{session.patient_id}/", {"voided": "1"}).content.decode()
    assert url(session, "") in shown and '<span class="badge void">voided</span>' in shown


def test_the_page_asks_whether_the_vials_were_used_and_returns_them_when_not(
    client, clinician, session, lot, clinic_a, make_user
):
    client.force_login(clinician)
    form = client.get(url(session)).content.decode()
    assert 'name="option"' in form and "The vials were not used: return them to stock" in form
    response = client.post(url(session), {"reason": REASON, "option": "on"})
    assert response.status_code == 302
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 5
    detail = client.get(response["Location"]).content.decode()
    assert "its vials are back in stock" in detail and "returned to stock unused" in detail
    assert "Its vials went back to stock unused" in detail and "Post-care sheet" not in detail
    sheet = client.get(url(session, "post-care/")).content.decode()
    assert "void-banner" in sheet  # opened by its address, the sheet says the session is void
    client.force_login(make_user(Role.QUALITY, clinic_a))  # quality traces lots
    trace = client.get(f"/products/lots/{lot.pk}/trace/").content.decode()
    assert "returned to stock unused" in trace and "(voided)" in trace


@pytest.mark.parametrize("reason", ["", "oops", "  abc "])
def test_a_short_reason_on_the_page_is_a_400_with_the_error_and_nothing_changes(
    client, clinician, session, reason
):
    client.force_login(clinician)
    response = client.post(url(session), {"reason": reason})
    assert response.status_code == 400
    assert "Give the reason for voiding (at least 5 characters)." in response.content.decode()
    session.refresh_from_db()
    assert not session.is_voided


def test_voiding_twice_on_the_page_says_so(client, clinician, session):
    services.void_session(session, clinician, REASON)
    client.force_login(clinician)
    response = client.post(url(session), {"reason": "another reason"})
    assert response.status_code == 400
    assert "This session is already voided." in response.content.decode()
    session.refresh_from_db()
    assert session.void_reason == REASON


@pytest.mark.parametrize("role", [Role.NURSE, Role.FRONT_DESK, Role.QUALITY, Role.RESEARCHER])
def test_roles_without_record_void_get_403_and_no_control(
    client, clinic_a, make_user, session, role
):
    user = make_user(role, clinic_a, username=f"no-void-{role.value}")
    client.force_login(user)
    assert client.post(url(session), {"reason": REASON}).status_code == 403
    if role == Role.NURSE:  # nurses see sessions, not the control
        assert "Void…" not in client.get(url(session, "")).content.decode()
    session.refresh_from_db()
    assert not session.is_voided


def test_admins_may_void(client, clinic_a, make_user, session):
    client.force_login(make_user(Role.ADMIN, clinic_a, username="boss"))
    assert client.post(url(session), {"reason": REASON}).status_code == 302


def test_another_clinics_session_is_404(client, clinic_b, make_user, session):
    client.force_login(make_user(Role.CLINICIAN, clinic_b, username="other"))
    assert client.post(url(session), {"reason": REASON}).status_code == 404
    session.refresh_from_db()
    assert not session.is_voided


# --- the API ---------------------------------------------------------------------------------


def api_post(client, path, body, headers):
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       headers=headers)  # fmt: skip


def test_api_voids_a_session_once_and_lists_it_no_more(
    client, clinic_a, clinician, session, api_token
):
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    base = f"/api/v1/sessions/{session.patient_id}"
    short = api_post(client, f"{base}/{session.pk}/void", {"reason": "no"}, headers)
    assert short.status_code == 400 and "reason" in short.json()["detail"]
    done = api_post(client, f"{base}/{session.pk}/void", {"reason": REASON}, headers)
    assert done.status_code == 200, done.json()
    body = done.json()
    assert body["voided"] is True and body["void_reason"] == REASON
    assert body["voided_by"] == clinician.username
    again = api_post(client, f"{base}/{session.pk}/void", {"reason": REASON}, headers)
    assert again.status_code == 400
    assert again.json()["detail"] == "This session is already voided."  # no "__all__:"
    assert client.get(base, headers=headers).json() == []
    assert client.get(f"{base}/{session.pk}", headers=headers).json()["voided"] is True


def test_api_void_may_return_the_vials(
    client, clinic_a, clinician, session, lot, api_token, make_user
):
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    base = f"/api/v1/sessions/{session.patient_id}/{session.pk}"
    bad = api_post(client, f"{base}/void", {"reason": REASON, "vials_returned": "yes"}, headers)
    assert bad.status_code in (400, 422) and not VialDraw.objects.get().returned_at
    done = api_post(client, f"{base}/void", {"reason": REASON, "vials_returned": True}, headers)
    assert done.status_code == 200, done.json()
    assert [v["returned"] for v in done.json()["vials"]] == [True]
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 5
    quality = {"Authorization": f"Bearer {api_token(make_user(Role.QUALITY, clinic_a), clinic_a)}"}
    trace = client.get(f"/api/v1/products/lots/{lot.pk}/trace", headers=quality).json()
    assert trace["patients"] == []
    assert trace["draws"][0]["return_reason"] == f"session voided: {REASON}"


def test_api_void_needs_record_void_and_the_clinic(
    client, clinic_a, clinic_b, make_user, session, api_token
):
    path = f"/api/v1/sessions/{session.patient_id}/{session.pk}/void"
    nurse = make_user(Role.NURSE, clinic_a, username="nurse-a")
    refused = api_post(client, path, {"reason": REASON},
                       {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"})  # fmt: skip
    assert refused.status_code == 403 and "record.void" in refused.json()["detail"]
    other = make_user(Role.CLINICIAN, clinic_b, username="clin-b")
    hidden = api_post(client, path, {"reason": REASON},
                      {"Authorization": f"Bearer {api_token(other, clinic_b)}"})  # fmt: skip
    assert hidden.status_code == 404
    session.refresh_from_db()
    assert not session.is_voided


def test_opening_the_void_page_of_a_voided_session_goes_back_to_it(client, clinician, session):
    """A stale tab or the back button: nothing to do, said on the session page."""
    services.void_session(session, clinician, REASON)
    client.force_login(clinician)
    response = client.get(url(session), follow=True)
    assert response.redirect_chain[-1][0].endswith(f"/{session.pk}/")
    assert "This session is already voided." in response.content.decode()
