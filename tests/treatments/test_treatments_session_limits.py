"""What a session record refuses before anything is stored.

Every number is checked against the clinical hard limits in ``scalp_zones`` (no real scalp
session goes past them) and against what its database column can hold, then rounded to the
column's decimal places; every text against its column's length; choices against their
lists. A refused session names the field as the client sent it (``map[0].volume_ml`` in the
API, the zone's row in the page) and stores nothing: no session, no map, no vial draw.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from anagen.products.models import VialDraw
from anagen.treatments import scalp_zones, services
from anagen.treatments.models import (
    GraftRecord,
    InjectionMapEntry,
    PrpPreparation,
    TreatmentSession,
)

from .conftest import make_lot
from .test_treatments_views_api import form_data

FRONTAL = {"zone": "frontal", "points": 20, "volume_ml": 0.5}
HUGE = 1e300


def record(clinic, user, plan, lots, *, modality="exosome", entries=None, **kwargs):
    data = {"modality": modality, "performed_on": date.today(), **kwargs.pop("data", {})}
    return services.record_session(
        clinic,
        user,
        plan,
        data,
        map_entries=[FRONTAL] if entries is None else entries,
        vials=[services.VialRequest(lot, 1) for lot in lots],
        **kwargs,
    )


def refused(clinic, user, plan, lots, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(services.SessionError) as exc:
        record(clinic, user, plan, lots, **kwargs)
    return exc.value.errors


def nothing_stored(*lots) -> bool:
    for lot in lots:
        lot.refresh_from_db()
    return (
        not TreatmentSession.objects.exists()
        and not InjectionMapEntry.objects.exists()
        and not PrpPreparation.objects.exists()
        and not GraftRecord.objects.exists()
        and not VialDraw.objects.exists()
        and all(lot.quantity_on_hand == 5 for lot in lots)
    )


# --- the injection map ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({**FRONTAL, "volume_ml": HUGE}, "map[0].volume_ml"),
        ({**FRONTAL, "spacing_mm": HUGE}, "map[0].spacing_mm"),
        ({**FRONTAL, "depth_mm": HUGE}, "map[0].depth_mm"),
        ({**FRONTAL, "volume_ml": scalp_zones.MAX_VOLUME_ML_PER_ZONE + 0.01}, "map[0].volume_ml"),
        ({**FRONTAL, "points": scalp_zones.MAX_POINTS_PER_ZONE + 1}, "map[0].points"),
        ({**FRONTAL, "points": 2**40}, "map[0].points"),
        ({**FRONTAL, "points": 2**63}, "map[0].points"),
        ({**FRONTAL, "points": True}, "map[0].points"),
        ({**FRONTAL, "zone": ["frontal"]}, "map[0].zone"),
    ],
)
def test_out_of_range_map_values_are_refused_naming_the_entry(
    clinic_a, clinician, ready, lot, entry, field
):
    _, plan = ready
    errors = refused(clinic_a, clinician, plan, [lot], entries=[entry])
    assert field in errors, errors
    assert nothing_stored(lot)


def test_a_zone_listed_twice_is_refused(clinic_a, clinician, ready, lot):
    _, plan = ready
    errors = refused(clinic_a, clinician, plan, [lot], entries=[FRONTAL, FRONTAL])
    assert "listed twice" in " ".join(errors["map[1].zone"])
    assert nothing_stored(lot)


def test_the_session_totals_have_hard_limits_too(clinic_a, clinician, ready, lot):
    _, plan = ready
    zones = list(scalp_zones.CELLS)[:6]
    # Six cells, each within the per-zone limits, together beyond the per-session ones.
    entries = [
        {"zone": z, "points": 1000, "volume_ml": scalp_zones.MAX_VOLUME_ML_PER_ZONE} for z in zones
    ]
    errors = refused(clinic_a, clinician, plan, [lot], entries=entries, data={"fine_grid": True})
    message = " ".join(errors["map"])
    assert "points" in message and "mL" in message
    assert nothing_stored(lot)


@pytest.mark.parametrize(
    ("entry", "fields"),
    [
        ({"zone": "frontal", "points": 0, "volume_ml": 0}, {"map[0].points", "map[0].volume_ml"}),
        ({"zone": "frontal", "points": 10, "volume_ml": 0.004}, {"map[0].volume_ml"}),
    ],
)
def test_a_zone_needs_points_and_a_volume_above_zero_as_stored(
    clinic_a, clinician, ready, lot, entry, fields
):
    _, plan = ready
    errors = refused(clinic_a, clinician, plan, [lot], entries=[entry])
    assert fields <= set(errors), errors
    assert nothing_stored(lot)


def test_a_zone_and_its_own_cells_are_refused(clinic_a, clinician, ready, lot):
    _, plan = ready
    entries = [{"zone": "frontal.1", "points": 5, "volume_ml": 0.1}, FRONTAL]
    errors = refused(clinic_a, clinician, plan, [lot], entries=entries)
    assert "fine-grid cells (map[0])" in " ".join(errors["map[1].zone"])
    assert nothing_stored(lot)


def test_cells_are_recorded_only_with_the_fine_grid(clinic_a, clinician, ready, lot):
    _, plan = ready
    cells = [{"zone": "frontal.1", "points": 5, "volume_ml": 0.1}]
    assert "map[0].zone" in refused(clinic_a, clinician, plan, [lot], entries=cells)
    assert "map[0].zone" in refused(
        clinic_a, clinician, plan, [lot], entries=[FRONTAL], data={"fine_grid": True}
    )
    session = record(clinic_a, clinician, plan, [lot], entries=cells, data={"fine_grid": True})
    assert session.fine_grid and [e.zone for e in session.map_entries.all()] == ["frontal.1"]


def test_decimals_are_rounded_to_the_columns_places_and_the_totals_add_up(
    clinic_a, clinician, ready, lot
):
    _, plan = ready
    entries = [
        {"zone": "frontal", "points": 10, "volume_ml": 0.333, "spacing_mm": 9.96},
        {"zone": "vertex", "points": 10, "volume_ml": 0.333},
    ]
    session = record(clinic_a, clinician, plan, [lot], entries=entries, data={"depth_mm": 1.55})
    session.refresh_from_db()
    rows = {e.zone: e for e in session.map_entries.all()}
    assert rows["frontal"].volume_ml == Decimal("0.33")
    assert rows["frontal"].spacing_mm == Decimal("10.0")
    assert session.total_volume_ml == Decimal("0.66")
    assert session.depth_mm == Decimal("1.6")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"depth_mm": HUGE}, "depth_mm"),
        ({"depth_mm": "NaN"}, "depth_mm"),
        ({"needle_gauge": 2**63}, "needle_gauge"),
        ({"needle_gauge": "thirty"}, "needle_gauge"),
        ({"anaesthesia": "x" * 201}, "anaesthesia"),
        ({"technique": "x" * 201}, "technique"),
        ({"notes": "a\x00b"}, "notes"),
    ],
)
def test_session_fields_must_fit_their_columns(clinic_a, clinician, ready, lot, data, field):
    _, plan = ready
    errors = refused(clinic_a, clinician, plan, [lot], data=data)
    assert field in errors, errors
    assert nothing_stored(lot)


def test_a_map_is_refused_on_a_session_that_injects_nothing(clinic_a, clinician, ready, lot):
    _, plan = ready
    errors = refused(clinic_a, clinician, plan, [], modality="minoxidil")
    assert "map" in errors
    assert nothing_stored(lot)


# --- vials -----------------------------------------------------------------------------------


def test_the_same_lot_on_two_vial_rows_is_refused(clinic_a, clinician, ready, lot):
    _, plan = ready
    errors = refused(clinic_a, clinician, plan, [lot, lot])
    assert f"Lot {lot.lot_number} listed twice (row 1 too)" in " ".join(errors["vials[1].lot"])
    assert nothing_stored(lot)


# --- PRP and grafts --------------------------------------------------------------------------


PRP = {"blood_volume_ml": 20, "spin_protocol": "Double spin"}


@pytest.mark.parametrize(
    ("prp", "field"),
    [
        ({**PRP, "spin_protocol": "x" * 1_000_000}, "prp.spin_protocol"),
        ({**PRP, "spin_protocol": "   "}, "prp.spin_protocol"),
        ({**PRP, "blood_volume_ml": HUGE}, "prp.blood_volume_ml"),
        (
            {**PRP, "platelet_concentration_10e9_per_l": HUGE},
            "prp.platelet_concentration_10e9_per_l",
        ),
    ],
)
def test_prp_details_must_fit_their_columns(clinic_a, clinician, ready, lot, prp, field):
    _, plan = ready
    errors = refused(clinic_a, clinician, plan, [], modality="prp", prp=prp)
    assert field in errors, errors
    assert nothing_stored(lot)


def test_graft_rows_are_refused_unless_the_session_is_a_transplant(clinic_a, clinician, ready, lot):
    _, plan = ready
    grafts = [{"zone": "nowhere", "grafts": -5, "technique": "x" * 100_000}]
    errors = refused(clinic_a, clinician, plan, [], modality="prp", prp=PRP, grafts=grafts)
    assert "transplant" in " ".join(errors["grafts"])
    assert nothing_stored(lot)


def test_prp_details_on_another_session_are_refused_not_dropped(clinic_a, clinician, ready, lot):
    """The API stored an exosome session and silently dropped the PRP block it was sent."""
    _, plan = ready
    errors = refused(clinic_a, clinician, plan, [lot], prp={"spin_protocol": "2 spins"})
    assert errors["prp"] == [
        "PRP details are recorded only for a platelet-rich plasma session; leave them empty."
    ]
    assert nothing_stored(lot)
    # An empty PRP block (what a form sends for another modality) is no error.
    record(clinic_a, clinician, plan, [lot], prp={"spin_protocol": "", "blood_volume_ml": None})


@pytest.mark.parametrize(
    ("graft", "field"),
    [
        ({"zone": "nowhere"}, "grafts[0].zone"),
        ({"grafts": -5}, "grafts[0].grafts"),
        ({"grafts": 2**63}, "grafts[0].grafts"),
        ({"grafts": scalp_zones.MAX_GRAFTS_PER_ROW + 1}, "grafts[0].grafts"),
        ({"grafts": True}, "grafts[0].grafts"),
        ({"technique": "x" * 100_000}, "grafts[0].technique"),
    ],
)
def test_transplant_graft_rows_are_checked(clinic_a, clinician, ready, lot, graft, field):
    _, plan = ready
    row = {"zone": "frontal", "grafts": 1000, "technique": "FUE", **graft}
    errors = refused(clinic_a, clinician, plan, [], modality="transplant", entries=[], grafts=[row])
    assert field in errors, errors
    assert nothing_stored(lot)


def test_a_transplant_has_a_ceiling_on_grafts_per_session(clinic_a, clinician, ready, lot):
    _, plan = ready
    rows = [
        {"zone": z, "grafts": scalp_zones.MAX_GRAFTS_PER_ROW, "technique": "FUE"}
        for z in ("frontal", "mid_scalp")
    ]
    errors = refused(clinic_a, clinician, plan, [], modality="transplant", entries=[], grafts=rows)
    assert "grafts" in errors
    assert nothing_stored(lot)


# --- the API and the page --------------------------------------------------------------------


def api_post(client, patient, headers, body):
    return client.post(
        f"/api/v1/sessions/{patient.pk}",
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"map": [{**FRONTAL, "volume_ml": HUGE}]}, "map[0].volume_ml"),
        ({"map": [{**FRONTAL, "spacing_mm": HUGE}]}, "map[0].spacing_mm"),
        ({"map": [{**FRONTAL, "points": 2**63}]}, "map[0].points"),
        ({"map": [FRONTAL, FRONTAL]}, "map[1].zone"),
        ({"map": [{"zone": "frontal", "points": 0, "volume_ml": 0}]}, "map[0].points"),
        ({"map": [{"zone": "frontal", "points": 0, "volume_ml": 0}]}, "map[0].volume_ml"),
        ({"map": [{**FRONTAL, "volume_ml": 0.004}]}, "map[0].volume_ml"),
        ({"map": [{**FRONTAL, "zone": "frontal.1"}, FRONTAL]}, "map[1].zone"),
        ({"fine_grid": True, "map": [FRONTAL]}, "map[0].zone"),
        ({"depth_mm": "1e300"}, "depth_mm"),
        # Zero, or so small it rounds to zero: no injection depth is 0 mm.
        ({"depth_mm": "1e-400"}, "depth_mm"),
        ({"depth_mm": 0}, "depth_mm"),
        ({"map": [{**FRONTAL, "spacing_mm": 0}]}, "map[0].spacing_mm"),
    ],
)
def test_the_api_answers_400_naming_the_field_the_client_sent_and_stores_nothing(
    client, clinician, ready, lot, api_token, clinic_a, change, field
):
    patient, plan = ready
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    body = {
        "plan_id": plan.pk,
        "modality": "exosome",
        "performed_on": date.today().isoformat(),
        "map": [FRONTAL],
        "vials": [{"lot_id": lot.pk, "quantity": 1}],
        **change,
    }
    response = api_post(client, patient, headers, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["detail"]
    assert nothing_stored(lot)


def test_the_api_names_a_lot_listed_twice_by_its_lot_id(
    client, clinician, ready, clinic_a, api_token
):
    patient, plan = ready
    lot = make_lot(clinic_a, clinician)
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    body = {
        "plan_id": plan.pk,
        "modality": "exosome",
        "performed_on": date.today().isoformat(),
        "map": [FRONTAL],
        "vials": [{"lot_id": lot.pk, "quantity": 1}, {"lot_id": lot.pk, "quantity": 1}],
    }
    response = api_post(client, patient, headers, body)
    assert response.status_code == 400
    assert "vials[1].lot_id" in response.json()["detail"]
    assert nothing_stored(lot)


def test_the_page_refuses_impossible_points_and_volume_next_to_the_zone(
    client, clinician, ready, lot
):
    patient, plan = ready
    client.force_login(clinician)
    response = client.post(
        f"/sessions/{patient.pk}/new/",
        form_data(plan, lot, **{"map-frontal-points": "1000000", "map-frontal-volume_ml": "5000"}),
    )
    assert response.status_code == 400
    row = next(r for r in response.context["map_rows"] if r["code"] == "frontal")
    assert any(e.startswith("Points:") for e in row["errors"])
    assert any(e.startswith("Volume (mL):") for e in row["errors"])
    assert response.context["form"].non_field_errors()
    # The row's inputs say they are refused and point at the row's error text.
    page = response.content.decode()
    assert (
        'id="map-frontal-points" name="map-frontal-points" aria-invalid="true" '
        'aria-describedby="map-frontal-error"' in page
    )
    from ..html import dangling_references

    assert dangling_references(page) == []
    assert nothing_stored(lot)


def test_the_page_records_fine_grid_cells_and_skips_blank_rows(client, clinician, ready, lot):
    patient, plan = ready
    client.force_login(clinician)
    data = form_data(plan, lot, fine_grid="on", **{
        "map-frontal.1-points": "10", "map-frontal.1-volume_ml": "0.2",
        "map-vertex.3-points": "", "map-vertex.3-volume_ml": "",
    })  # fmt: skip
    response = client.post(f"/sessions/{patient.pk}/new/", data)
    assert response.status_code == 302
    session = TreatmentSession.objects.get()
    # The whole-zone fields of form_data are not read with the fine grid on.
    assert session.fine_grid and [e.zone for e in session.map_entries.all()] == ["frontal.1"]


def test_the_page_refuses_a_zone_with_no_points_and_no_volume_next_to_it(
    client, clinician, ready, lot
):
    patient, plan = ready
    client.force_login(clinician)
    response = client.post(
        f"/sessions/{patient.pk}/new/",
        form_data(plan, lot, **{"map-vertex-points": "0", "map-vertex-volume_ml": "0"}),
    )
    assert response.status_code == 400
    row = next(r for r in response.context["map_rows"] if r["code"] == "vertex")
    assert any(e.startswith("Points:") for e in row["errors"])
    assert nothing_stored(lot)


# --- vials drawn -----------------------------------------------------------------------------


def test_every_vial_row_that_cannot_be_drawn_is_refused_under_its_row(
    clinic_a, clinician, ready, lot
):
    _, plan = ready
    bad = make_lot(clinic_a, clinician, number="BAD", status="quarantined")
    with pytest.raises(services.SessionError) as exc:
        services.record_session(
            clinic_a, clinician, plan,
            {"modality": "exosome", "performed_on": date.today()},
            map_entries=[FRONTAL],
            vials=[services.VialRequest(lot, 6), services.VialRequest(bad, 1)],
        )  # fmt: skip
    errors = exc.value.errors
    assert "Only 5 vial(s) left" in " ".join(errors["vials[0].quantity"])
    assert "Lot BAD" in " ".join(errors["vials[1].lot"])
    assert "vials" not in errors
    assert nothing_stored(lot)


def test_a_lot_refusal_comes_in_the_same_round_as_the_other_errors(clinic_a, clinician, ready, lot):
    # A same-day duplicate with too many vials and a bad depth: one answer names all three,
    # not the depth and the day first and the stock only after they are put right.
    _, plan = ready
    services.record_session(
        clinic_a, clinician, plan, {"modality": "exosome", "performed_on": date.today()},
        map_entries=[FRONTAL], vials=[services.VialRequest(lot, 1)],
    )  # fmt: skip
    lot.refresh_from_db()  # as the page and the API load it: 4 vials left
    with pytest.raises(services.SessionError) as exc:
        services.record_session(
            clinic_a, clinician, plan,
            {"modality": "exosome", "performed_on": date.today(), "depth_mm": "-1"},
            map_entries=[FRONTAL], vials=[services.VialRequest(lot, 5)],
        )  # fmt: skip
    errors = exc.value.errors
    assert set(errors) == {"performed_on", "depth_mm", "vials[0].quantity"}
    assert errors["vials[0].quantity"] == [
        f"Lot {lot.lot_number}: Only 4 vial(s) left in this lot."
    ]
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 4


def test_the_api_and_the_page_name_the_vial_row_that_cannot_be_drawn(
    client, clinician, ready, lot, api_token, clinic_a
):
    patient, plan = ready
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    body = {
        "plan_id": plan.pk,
        "modality": "exosome",
        "performed_on": date.today().isoformat(),
        "map": [FRONTAL],
        "vials": [{"lot_id": lot.pk, "quantity": 6}],
    }
    response = api_post(client, patient, headers, body)
    assert response.status_code == 400
    assert "vials[0].quantity" in response.json()["detail"]
    client.force_login(clinician)
    page = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot, vial_0_quantity="6"))
    assert page.status_code == 400
    assert any("Only 5 vial(s) left" in e for e in page.context["form"].errors["vial_0_quantity"])
    assert nothing_stored(lot)


def test_the_fine_grid_chosen_by_the_link_is_the_grid_recorded(client, clinician, ready, lot):
    """The page's "Use the fine grid" link showed cells while an unticked box said whole
    zones: every cell was refused and the fine grid could never be saved (a review found it)."""
    patient, plan = ready
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/?grid=fine").content.decode()
    assert 'type="hidden" name="fine_grid" value="True"' in page
    assert 'name="map-frontal.1-points"' in page and 'name="map-frontal-points"' not in page
    data = form_data(plan, lot, fine_grid="True", **{
        "map-frontal-points": "", "map-frontal-volume_ml": "",
        "map-frontal.1-points": "10", "map-frontal.1-volume_ml": "0.5",
    })  # fmt: skip
    response = client.post(f"/sessions/{patient.pk}/new/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    session = TreatmentSession.objects.get(patient=patient)
    assert session.fine_grid and [e.zone for e in session.map_entries.all()] == ["frontal.1"]


def test_a_refused_fine_grid_form_comes_back_on_the_fine_grid_with_its_cells(
    client, clinician, ready, lot
):
    patient, plan = ready
    client.force_login(clinician)
    data = form_data(plan, lot, fine_grid="True", performed_on="", **{
        "map-frontal-points": "", "map-frontal-volume_ml": "",
        "map-frontal.1-points": "10", "map-frontal.1-volume_ml": "0.5",
    })  # fmt: skip
    response = client.post(f"/sessions/{patient.pk}/new/", data)
    assert response.status_code == 400
    page = response.content.decode()
    assert 'type="hidden" name="fine_grid" value="True"' in page
    assert 'name="map-frontal.1-points"' in page and 'value="10"' in page


def test_product_vials_are_refused_in_a_session_other_than_exosome(clinic_a, clinician, ready, lot):
    """A PRP session drew an exosome lot: the lot trace and a recall would name the patient
    as treated with it."""
    _, plan = ready
    errors = refused(clinic_a, clinician, plan, [lot], modality="prp", prp=PRP)
    assert "exosome sessions only" in " ".join(errors["vials"])
    assert nothing_stored(lot)


def test_the_page_reads_a_decimal_comma_as_a_tablet_in_german_types_it(
    client, clinician, ready, lot
):
    """A comma-decimal number pad has no point: "1,5" mL was refused (and totalled as 1)."""
    patient, plan = ready
    client.force_login(clinician)
    data = form_data(
        plan, lot, depth_mm="1,5",
        **{"map-frontal-volume_ml": "1,25", "map-vertex-volume_ml": "0,5"},  # 1.75 of 2 mL
    )  # fmt: skip
    assert client.post(f"/sessions/{patient.pk}/new/", data).status_code == 302
    session = TreatmentSession.objects.get()
    assert session.depth_mm == Decimal("1.5")
    frontal = session.map_entries.get(zone="frontal")
    assert frontal.volume_ml == Decimal("1.25")


def test_a_comma_that_may_group_thousands_is_refused_not_guessed(client, clinician, ready, lot):
    patient, plan = ready
    client.force_login(clinician)
    data = form_data(plan, lot, **{"map-frontal-volume_ml": "1,500"})
    assert client.post(f"/sessions/{patient.pk}/new/", data).status_code == 400
    assert nothing_stored(lot)
