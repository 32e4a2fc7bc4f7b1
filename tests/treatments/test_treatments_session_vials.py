"""Which vials a session lists: the one rule of ``treatments.selectors.draws_used_by``.

The session page, the sessions API and the patient timeline list the draws naming the
session ("session:<id>", as the session form draws) and, for a session no draw names, its
patient's draws of its day that name no session (vials drawn at the point of care). Before,
they listed only draws naming the session, so a session whose vials were drawn at the point
of care showed none while the progress PDF, the FHIR export and the cohort analysis said it
used that lot. Voiding such a session offers no "vials returned" choice: only draws naming
the session go back to stock with it.
"""

from __future__ import annotations

from datetime import date

import pytest

from anagen.monitoring import selectors as monitoring_selectors
from anagen.products import services as product_services
from anagen.treatments import selectors
from anagen.treatments.models import TreatmentSession

from .conftest import make_lot, prepare
from .test_treatments_void import record

TODAY = date.today()


@pytest.fixture
def point_of_care(clinic_a, clinician, ready):
    """A session recorded without vials, and a lot drawn for its patient that day at the
    point of care (with a hand-written ticket, no session named)."""
    patient, plan = ready
    session = TreatmentSession.objects.create(
        clinic=clinic_a, patient=patient, plan=plan, modality="exosome",
        performed_on=TODAY, clinician=clinician,
    )  # fmt: skip
    poc = make_lot(clinic_a, clinician, number="POC-1")
    product_services.draw_vials(poc, patient, 2, clinician, on_date=TODAY, session_ref="ticket 4")
    return session


def test_a_session_lists_the_vials_drawn_for_its_patient_that_day_naming_no_session(
    point_of_care,
):
    drawn = selectors.vial_draws_of([point_of_care])[point_of_care.pk]
    assert [(d.lot.lot_number, d.quantity) for d in drawn] == [("POC-1", 2)]
    # The same answer as the PDF / FHIR / cohort rule.
    given = selectors.given_draws(point_of_care.clinic, point_of_care.patient)
    assert drawn == selectors.draws_used_by([point_of_care], given)[point_of_care.pk]


def test_draws_of_another_patient_or_naming_another_session_are_not_listed(
    clinic_a, clinician, ready, make_patient, lot
):
    patient, plan = ready
    named = record(clinic_a, clinician, plan, lot, TODAY)
    other = make_lot(clinic_a, clinician, number="OTHER")
    someone_else = make_patient(clinic_a, clinician, given_name="Other", family_name="Person")
    product_services.draw_vials(other, someone_else, 1, clinician, on_date=TODAY)
    unnamed_same_day = make_lot(clinic_a, clinician, number="SAME-DAY")
    product_services.draw_vials(unnamed_same_day, patient, 1, clinician, on_date=TODAY)
    drawn = selectors.vial_draws_of([named])[named.pk]
    # A session its draws name keeps to them: the unnamed draw of its day is not added.
    assert [d.lot.lot_number for d in drawn] == ["L-1"]


def test_the_session_page_and_api_list_the_point_of_care_lot(point_of_care, clinician, client):
    client.force_login(clinician)
    page = client.get(f"/sessions/{point_of_care.patient_id}/{point_of_care.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "POC-1" in html
    assert "no session named (at the point of care)" in html
    # Voiding cannot put those vials back: the choice is not offered.
    assert "return them to stock" not in html
    api = client.get(f"/api/v1/sessions/{point_of_care.patient_id}/{point_of_care.pk}")
    assert api.status_code == 200, api.content
    assert [v["lot_number"] for v in api.json()["vials"]] == ["POC-1"]
    listing = client.get(f"/api/v1/sessions/{point_of_care.patient_id}")
    assert [v["lot_number"] for v in listing.json()[0]["vials"]] == ["POC-1"]


def test_the_void_page_offers_returning_vials_only_for_draws_naming_the_session(
    point_of_care, clinic_a, clinician, make_patient, lot, client
):
    client.force_login(clinician)
    page = client.get(f"/sessions/{point_of_care.patient_id}/{point_of_care.pk}/void/")
    assert page.status_code == 200
    assert "return them to stock" not in page.content.decode()
    patient = make_patient(
        clinic_a, clinician, sex_at_birth="male", given_name="Al", family_name="Named"
    )
    named = record(clinic_a, clinician, prepare(patient, clinician), lot, TODAY)
    page = client.get(f"/sessions/{named.patient_id}/{named.pk}/void/")
    assert "return them to stock" in page.content.decode()


def test_the_timeline_names_the_point_of_care_lot_of_a_session(point_of_care):
    entries = monitoring_selectors.timeline(point_of_care.patient, show_sessions=True)
    words = " ".join(e.detail for e in entries if e.kind == "session")
    assert "lot POC-1 × 2 vials" in words


def test_a_prp_session_of_that_day_used_none_of_its_vials(point_of_care, clinic_a, clinician):
    """Vials are drawn in exosome sessions only: the day's point-of-care draw is not also a
    same-day PRP session's lot (the PDF, the FHIR Procedure.used and the cohort's lot rows
    named it for both)."""
    from anagen.outcomes import selectors as outcomes

    prp = TreatmentSession.objects.create(
        clinic=clinic_a, patient=point_of_care.patient, plan=point_of_care.plan, modality="prp",
        performed_on=TODAY, clinician=clinician,
    )  # fmt: skip
    drawn = selectors.vial_draws_of([point_of_care, prp])
    assert set(drawn) == {point_of_care.pk}
    key = selectors.SessionKey(prp.pk, prp.patient_id, TODAY, "prp")
    assert selectors.draws_used_by([key], selectors.given_draws(clinic_a)) == {}
    rows = outcomes._sessions(clinic_a).set_index("session_id")
    poc_lot = str(point_of_care.patient.vial_draws.get().lot_id)
    assert rows.loc[prp.pk, "lot"] == "" and rows.loc[point_of_care.pk, "lot"] == poc_lot
