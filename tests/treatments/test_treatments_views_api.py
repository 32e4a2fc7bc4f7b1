import json
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from anagen.products.models import VialDraw
from anagen.treatments import services
from anagen.treatments.models import Modality, TreatmentSession

from ..builders import accepted_plan
from ..html import duplicate_ids


def form_data(plan, lot, **extra):
    data = {
        "plan": plan.pk,
        "modality": "exosome",
        "performed_on": date.today().isoformat(),
        "needle_gauge": "30",
        "depth_mm": "1.5",
        "map-frontal-points": "40",
        "map-frontal-volume_ml": "1.0",
        "map-vertex-points": "30",
        "map-vertex-volume_ml": "0.8",
        "vial_0_lot": str(lot.pk),
        "vial_0_quantity": "1",
    }
    data.update(extra)
    return data


def test_recording_a_session_in_the_page_redraws_the_map_on_the_session_page(
    client, clinician, ready, lot
):
    patient, plan = ready
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/")
    assert b'role="button"' in page.content and b"Pre-session checklist" in page.content
    response = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot))
    session = TreatmentSession.objects.get()
    assert response.status_code == 302
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    assert b"<svg" in detail.content and b"Investigational" in detail.content
    for caption in ("Top", "Left side", "Right side"):
        assert f"<figcaption>{caption}</figcaption>".encode() in detail.content
    assert lot.lot_number.encode() in detail.content
    sheet = client.get(f"/sessions/{patient.pk}/{session.pk}/post-care/")
    assert b"After your treatment" in sheet.content


def test_a_bad_zone_value_is_shown_next_to_that_zone_and_nothing_is_stored(
    client, clinician, ready, lot
):
    patient, plan = ready
    client.force_login(clinician)
    response = client.post(
        f"/sessions/{patient.pk}/new/", form_data(plan, lot, **{"map-vertex-volume_ml": "-2"})
    )
    assert response.status_code == 400
    row = next(r for r in response.context["map_rows"] if r["code"] == "vertex")
    assert row["errors"] and "negative" in row["errors"][0]
    assert not TreatmentSession.objects.exists() and not VialDraw.objects.exists()


def test_api_records_and_reads_a_session_with_its_map(
    client, clinician, ready, lot, api_token, clinic_a
):
    patient, plan = ready
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    body = {
        "plan_id": plan.pk,
        "modality": "exosome",
        "performed_on": date.today().isoformat(),
        "map": [{"zone": "frontal", "points": 20, "volume_ml": 0.5}],
        "vials": [{"lot_id": lot.pk, "quantity": 1}],
    }
    created = client.post(
        f"/api/v1/sessions/{patient.pk}",
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )
    assert created.status_code == 201, created.json()
    sid = created.json()["id"]
    got = client.get(f"/api/v1/sessions/{patient.pk}/{sid}", headers=headers).json()
    assert got["map"][0]["zone"] == "frontal" and got["investigational_notice"]
    bad = client.post(
        f"/api/v1/sessions/{patient.pk}",
        headers=headers,
        content_type="application/json",
        data=json.dumps({**body, "map": [{"zone": "frontal", "points": 1, "volume_ml": -1}]}),
    )
    assert bad.status_code == 400 and "volume_ml" in bad.json()["detail"]
    unknown = client.post(
        f"/api/v1/sessions/{patient.pk}",
        headers=headers,
        content_type="application/json",
        data=json.dumps({**body, "vials": [body["vials"][0], {"lot_id": 99999, "quantity": 1}]}),
    )
    assert unknown.json()["detail"] == "vials[1].lot_id: No lot 99999 in this clinic."
    assert TreatmentSession.objects.count() == 1


def test_session_list_draws_each_map_with_its_own_ids(client, clinician, ready, lot):
    patient, plan = ready
    client.force_login(clinician)
    for second in (False, True):  # two sessions (the screening and consent are today's)
        extra = {"confirm_same_day": "on", "same_day_seen": "1"} if second else {}
        response = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot, **extra))
        assert response.status_code == 302
    page = client.get(f"/sessions/{patient.pk}/").content.decode()
    assert page.count("<svg") == 2
    assert duplicate_ids(page) == []  # two maps, two clip paths


def test_a_folded_section_with_an_error_comes_back_open(client, clinician, ready, lot):
    patient, plan = ready
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/").content.decode()
    assert '<details class="card" open>' not in page
    response = client.post(
        f"/sessions/{patient.pk}/new/",
        form_data(plan, lot, graft_0_grafts="many", prp_platelet_concentration="lots"),
    )
    assert response.status_code == 400
    assert response.content.decode().count('<details class="card" open>') == 2


def test_prp_errors_show_by_the_prp_field_not_as_a_field_path(
    client, clinic_a, clinician, make_patient, lot
):
    patient = make_patient(clinic_a, clinician, sex_at_birth="male", family_name="Plasma")
    plan = accepted_plan(patient, clinician, "prp")
    client.force_login(clinician)
    # A PRP plan draws no product vials: no lot rows, no investigational notice.
    page = client.get(f"/sessions/{patient.pk}/new/").content.decode()
    assert "exosome" not in plan.modalities
    assert 'id="vials"' not in page and "notice investigational" not in page
    response = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot, modality="prp"))
    assert response.status_code == 400
    assert response.context["form"].errors["prp_blood_volume_ml"] == [
        "Enter the blood volume drawn (mL)."
    ]
    assert "prp.blood_volume_ml" not in response.content.decode()


def test_a_treatment_outside_the_plan_is_not_offered_and_is_refused_in_words(
    client, clinician, ready, lot
):
    patient, plan = ready  # an exosome plan: no PRP in it
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/").content.decode()
    assert '<option value="prp"' not in page
    prp = {"modality": "prp", "prp_blood_volume_ml": "20", "prp_spin_protocol": "2 spins"}
    response = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot, **prp))
    assert response.status_code == 400
    assert response.context["form"].errors["modality"] == [
        "This treatment is not in the patient's active plan: choose one of the list, or accept "
        "a plan that includes it first."
    ]
    assert not TreatmentSession.objects.filter(patient=patient).exists()
    # The service's own check (the API's path) says the same in words.
    with pytest.raises(services.SessionError) as refused:
        services.record_session(
            patient.clinic, clinician, plan,
            {"modality": "prp", "performed_on": date.today()},
            map_entries=[{"zone": "frontal", "points": 40, "volume_ml": 1.0}],
            prp={"blood_volume_ml": 20, "spin_protocol": "2 spins"},
        )  # fmt: skip
    messages = [m for msgs in refused.value.errors.values() for m in msgs]
    assert "The active plan does not include platelet-rich plasma." in messages


def test_a_zone_error_names_the_column_in_words(client, clinician, ready, lot):
    patient, plan = ready
    client.force_login(clinician)
    response = client.post(
        f"/sessions/{patient.pk}/new/", form_data(plan, lot, **{"map-vertex-volume_ml": "-2"})
    )
    row = next(r for r in response.context["map_rows"] if r["code"] == "vertex")
    assert row["errors"][0].startswith("Volume (mL): ")
    # The diagram outlines the refused zone too, and only it.
    svg = str(response.context["map_svg"])
    assert svg.count('class="zone-error"') == 1
    assert 'class="zone-error" data-zone="vertex"' in svg


def test_the_session_pages_show_zone_labels_and_the_clinicians_name(client, clinician, ready, lot):
    patient, plan = ready
    clinician.first_name, clinician.last_name = "Ada", "Lovelace"
    clinician.save()
    client.force_login(clinician)
    response = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot))
    detail = client.get(response["Location"]).content.decode()
    assert "<td>Vertex / crown</td>" in detail and "<td>vertex</td>" not in detail
    listing = client.get(f"/sessions/{patient.pk}/").content.decode()
    assert "<td>Ada Lovelace</td>" in listing
    assert f"<td>{clinician.username}</td>" not in listing


def test_immediate_reactions_left_empty_read_as_not_recorded_not_as_none(
    client, clinician, ready, lot
):
    """ "none recorded" read the same whether the field was left empty or there were none."""
    patient, plan = ready
    client.force_login(clinician)
    response = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot))
    detail = client.get(response["Location"]).content.decode()
    assert "not recorded (the field was left empty)" in detail and "none recorded" not in detail


def test_api_session_shows_what_the_session_page_shows(
    client, clinician, ready, lot, api_token, clinic_a
):
    """Notes, the fine grid, the vials drawn (lot and quantity), PRP and grafts."""
    patient, plan = ready
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    body = {
        "plan_id": plan.pk,
        "modality": "exosome",
        "performed_on": date.today().isoformat(),
        "fine_grid": True,
        "notes": "Tolerated well.",
        "map": [{"zone": "frontal.1", "points": 20, "volume_ml": 0.5}],
        "vials": [{"lot_id": lot.pk, "quantity": 2}],
    }
    created = client.post(
        f"/api/v1/sessions/{patient.pk}", data=json.dumps(body),
        content_type="application/json", headers=headers,
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    got = client.get(f"/api/v1/sessions/{patient.pk}/{created.json()['id']}", headers=headers)
    session = got.json()
    assert session["notes"] == "Tolerated well." and session["fine_grid"] is True
    assert [(v["lot_number"], v["quantity"]) for v in session["vials"]] == [(lot.lot_number, 2)]
    assert session["vials"][0]["lot_id"] == lot.pk
    assert session["prp"] is None and session["grafts"] == []
    assert created.json()["vials"] == session["vials"]
    # The list reads the draws of all sessions at once: a second session adds no query.
    listing = client.get(f"/api/v1/sessions/{patient.pk}", headers=headers)
    assert listing.json() == [session]
    with CaptureQueriesContext(connection) as one:
        client.get(f"/api/v1/sessions/{patient.pk}", headers=headers)
    again = {**body, "confirm_same_day": True}
    client.post(
        f"/api/v1/sessions/{patient.pk}", data=json.dumps(again),
        content_type="application/json", headers=headers,
    )  # fmt: skip
    with CaptureQueriesContext(connection) as two:
        listed = client.get(f"/api/v1/sessions/{patient.pk}", headers=headers)
    assert len(listed.json()) == 2
    assert len(two.captured_queries) == len(one.captured_queries)


def test_a_volume_over_the_vials_is_confirmed_on_the_page_before_it_is_saved(
    client, clinician, ready, lot
):
    patient, plan = ready
    client.force_login(clinician)
    url = f"/sessions/{patient.pk}/new/"
    over = form_data(plan, lot, **{"map-frontal-volume_ml": "3.0"})  # 3.8 mL from one vial
    assert "confirm_limits" not in client.get(url).content.decode()  # not offered up front
    refused = client.post(url, over)
    page = refused.content.decode()
    assert refused.status_code == 400
    assert 'name="confirm_limits"' in page
    assert "Injected 3.8 mL is more than the" in page
    assert not TreatmentSession.objects.exists() and not VialDraw.objects.exists()
    saved = client.post(url, {**over, "confirm_limits": "on"}, follow=True)
    assert saved.status_code == 200
    assert '<p class="msg warning">Injected 3.8 mL is more than the' in saved.content.decode()
    assert [w["code"] for w in TreatmentSession.objects.get().limit_warnings] == ["exceeds_vial"]


def test_the_api_refuses_a_volume_over_the_vials_until_confirmed(
    client, clinician, ready, lot, api_token
):
    patient, plan = ready
    headers = {"Authorization": f"Bearer {api_token(clinician, plan.clinic)}"}
    body = {
        "plan_id": plan.pk, "modality": "exosome", "performed_on": date.today().isoformat(),
        "map": [{"zone": "frontal", "points": 40, "volume_ml": 3.5}],
        "vials": [{"lot_id": lot.pk, "quantity": 1}],
    }  # fmt: skip
    url = f"/api/v1/sessions/{patient.pk}"
    refused = client.post(url, json.dumps(body), "application/json", headers=headers)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("confirm_limits: Injected 3.5 mL is more than")
    ok = client.post(
        url, json.dumps({**body, "confirm_limits": True}), "application/json", headers=headers
    )
    assert ok.status_code in (200, 201), ok.content


def test_the_maps_problems_are_shown_with_the_forms_not_in_a_second_round(
    client, clinician, ready, lot
):
    patient, plan = ready
    client.force_login(clinician)
    response = client.post(
        f"/sessions/{patient.pk}/new/",
        form_data(plan, lot, needle_gauge="40", **{"map-vertex-volume_ml": "-2",
                                                   "map-frontal-volume_ml": ""}),
    )  # fmt: skip
    assert response.status_code == 400
    assert response.context["form"].errors["needle_gauge"]
    rows = {r["code"]: r["errors"] for r in response.context["map_rows"]}
    assert rows["vertex"] and "negative" in rows["vertex"][0]
    assert rows["frontal"] == ["Volume (mL): give the volume injected (mL)"]
    assert not TreatmentSession.objects.exists() and not VialDraw.objects.exists()


def test_a_zone_left_at_0_points_without_a_volume_is_no_entry(client, clinician, ready, lot):
    patient, plan = ready
    client.force_login(clinician)
    data = form_data(plan, lot, **{"map-temporal_left-points": "0"})
    assert client.post(f"/sessions/{patient.pk}/new/", data).status_code == 302
    assert {e.zone for e in TreatmentSession.objects.get().map_entries.all()} == {
        "frontal",
        "vertex",
    }


def test_the_post_care_templates_page_shows_each_modality_s_current_text_and_version(
    client, clinician
):
    client.force_login(clinician)
    page = client.get("/sessions/post-care/").content.decode()
    assert page.count("(Anagen default text, not yet reviewed by the clinic)") == len(Modality)
    saved = client.post(
        "/sessions/post-care/",
        {"modality": "prp", "body": "Our PRP text: no hair wash for a day."},
    )
    assert saved.status_code == 302
    page = client.get("/sessions/post-care/").content.decode()
    assert "(Clinic version 1)" in page and "Our PRP text: no hair wash for a day." in page
    assert page.count("(Anagen default text, not yet reviewed by the clinic)") == (
        len(Modality) - 1
    )


def test_the_api_takes_back_the_decimals_it_writes_in_the_map_and_the_prp(
    client, clinic_a, clinician, make_patient, api_token
):
    """The map's and the PRP's volumes are written as decimal text ("0.35"); a client that
    sends a session's values back as it read them is not refused with "not text"."""
    patient = make_patient(clinic_a, clinician, sex_at_birth="male", family_name="Plasma")
    plan = accepted_plan(patient, clinician, "prp")
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    body = {
        "plan_id": plan.pk, "modality": "prp", "performed_on": date.today().isoformat(),
        "map": [{"zone": "frontal", "points": 20, "volume_ml": "0.35", "spacing_mm": "10.0"}],
        "prp": {"blood_volume_ml": "20.5", "spin_protocol": "2 spins",
                "platelet_concentration_10e9_per_l": "1200.5"},
    }  # fmt: skip
    url = f"/api/v1/sessions/{patient.pk}"
    created = client.post(url, json.dumps(body), "application/json", headers=headers)
    assert created.status_code == 201, created.json()
    session = created.json()
    assert session["map"][0]["volume_ml"] == "0.35" and session["map"][0]["spacing_mm"] == "10.0"
    assert session["prp"]["blood_volume_ml"] == "20.5"
    assert session["prp"]["platelet_concentration_10e9_per_l"] == "1200.5"
    # Text that is not a number is still refused by the type check, naming the field.
    bad = {**body, "map": [{"zone": "frontal", "points": 20, "volume_ml": "NaN"}]}
    refused = client.post(url, json.dumps(bad), "application/json", headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "map[0].volume_ml"
