"""Request bodies refuse the wrong JSON type instead of converting it (422 naming the field).

Pydantic's lax mode read ``"date_of_birth": 0`` as 1970-01-01, ``true`` as the quantity 1 and
``"yes"`` as true, and the API stored them. ``InputSchema`` now refuses them in every body
and in the bodies and lists inside it; the valid forms still pass.
"""

from __future__ import annotations

import json
import types
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, ValidationError

from anagen.accounts.roles import Role
from anagen.api.schemas import (
    GIVE_BOOL,
    GIVE_DATE,
    GIVE_DATETIME,
    GIVE_DECIMAL,
    GIVE_NUMBER_NOT_BOOL,
    GIVE_NUMBER_NOT_TEXT,
    InputSchema,
)
from anagen.assessment.models import MedicalHistory
from anagen.patients.models import Patient
from anagen.products.models import Lot, VialDraw
from anagen.treatments.models import TreatmentSession

from .. import builders

pytestmark = pytest.mark.django_db

PATIENT = {
    "medical_record_number": "STRICT-1",
    "given_name": "Rosalind",
    "family_name": "Franklin",
    "date_of_birth": "1920-07-25",
    "sex_at_birth": "female",
}


@pytest.fixture
def api(client, clinic_a, make_user, api_token):
    """``call(role, method, path, body)`` with a bearer token of a user of that role."""
    tokens: dict[Role, dict[str, str]] = {}

    def call(role: Role, method: str, path: str, body: object):
        if role not in tokens:
            user = make_user(role, clinic_a)
            tokens[role] = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
        return getattr(client, method)(
            f"/api/v1{path}",
            data=json.dumps(body),
            content_type="application/json",
            headers=tokens[role],
        )

    return call


def refused(response, field: str, message: str) -> None:
    assert response.status_code == 422, (response.status_code, response.content)
    body = response.json()
    assert {"field": field, "message": message} in body["errors"], body
    assert f"{field}: {message}" in body["detail"]
    assert body["detail"].startswith("Invalid input — ")


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given", [0, 1700000000, -1, 1.5, True, False, "0", "1700000000", "25/07/1920", "", [], {}]
)
def test_a_date_of_birth_that_is_not_an_iso_date_is_refused_and_no_patient_stored(api, given):
    response = api(Role.CLINICIAN, "post", "/patients", {**PATIENT, "date_of_birth": given})
    refused(response, "date_of_birth", GIVE_DATE)
    assert not Patient.objects.exists()


def test_a_patient_with_an_iso_date_and_a_choice_given_as_text_is_created(api):
    response = api(Role.CLINICIAN, "post", "/patients", PATIENT)
    assert response.status_code == 201, response.content
    patient = Patient.objects.get()
    assert patient.date_of_birth == date(1920, 7, 25) and patient.sex_at_birth == "female"


def test_patching_a_date_of_birth_with_a_number_is_refused_and_the_record_kept(
    api, clinic_a, make_user, make_patient
):
    patient = make_patient(clinic_a, make_user(Role.NURSE, clinic_a))
    before = patient.date_of_birth
    response = api(Role.CLINICIAN, "patch", f"/patients/{patient.pk}", {"date_of_birth": 0})
    refused(response, "date_of_birth", GIVE_DATE)
    patient.refresh_from_db()
    assert patient.date_of_birth == before
    ok = api(Role.CLINICIAN, "patch", f"/patients/{patient.pk}", {"date_of_birth": "1981-02-03"})
    assert ok.status_code == 200, ok.content
    patient.refresh_from_db()
    assert patient.date_of_birth == date(1981, 2, 3)


@pytest.mark.parametrize("given", [5, 5.0, True, ["Ada"]])
def test_text_fields_refuse_numbers_and_booleans(api, given):
    response = api(Role.CLINICIAN, "post", "/patients", {**PATIENT, "given_name": given})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["given_name"]
    assert not Patient.objects.exists()


@pytest.mark.parametrize("given", [1, True, "FEMALE", "f"])
def test_a_choice_takes_only_its_own_text_values(api, given):
    response = api(Role.CLINICIAN, "post", "/patients", {**PATIENT, "sex_at_birth": given})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["sex_at_birth"]


# --- booleans ---------------------------------------------------------------------------------


@pytest.fixture
def patient(clinic_a, make_user, make_patient):
    return make_patient(clinic_a, make_user(Role.NURSE, clinic_a), sex_at_birth="male")


@pytest.mark.parametrize("given", ["yes", "on", "true", "True", 1, 0, 1.0, "1", "no", None])
def test_a_boolean_given_as_anything_but_true_or_false_is_refused(api, patient, given):
    body = {"bleeding_disorder": given}
    response = api(Role.CLINICIAN, "post", f"/consultation/{patient.pk}/history", body)
    refused(response, "bleeding_disorder", GIVE_BOOL)
    assert not MedicalHistory.objects.filter(patient=patient).exists()


def test_true_and_false_and_null_for_an_optional_boolean_are_stored(api, patient):
    body = builders.history_answers(bleeding_disorder=True)
    response = api(Role.CLINICIAN, "post", f"/consultation/{patient.pk}/history", body)
    assert response.status_code == 201, response.content
    history = MedicalHistory.objects.get(patient=patient)
    assert history.bleeding_disorder is True and history.keloid is False


# --- whole numbers: a lot received --------------------------------------------------------------


@pytest.fixture
def lot_body(clinic_a):
    product = builders.exosome_product(clinic_a)
    return {
        "product_id": product.pk,
        "lot_number": "STRICT-L1",
        "expiry_date": (date.today() + timedelta(days=365)).isoformat(),
        "quantity_received": 10,
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (True, GIVE_NUMBER_NOT_BOOL),
        (False, GIVE_NUMBER_NOT_BOOL),
        ("10", GIVE_NUMBER_NOT_TEXT),
        ("ten", GIVE_NUMBER_NOT_TEXT),
        (10.5, "Give a whole number."),
    ],
)
def test_a_lot_quantity_that_is_not_a_json_number_is_refused_and_no_lot_stored(
    api, lot_body, given, message
):
    response = api(Role.QUALITY, "post", "/products/lots", {**lot_body, "quantity_received": given})
    refused(response, "quantity_received", message)
    assert not Lot.objects.exists()


def test_a_lot_id_given_as_true_is_refused(api, lot_body):
    response = api(Role.QUALITY, "post", "/products/lots", {**lot_body, "product_id": True})
    refused(response, "product_id", GIVE_NUMBER_NOT_BOOL)
    assert not Lot.objects.exists()


@pytest.mark.parametrize("given", [10, 10.0])
def test_a_lot_with_a_whole_number_of_vials_is_received(api, lot_body, given):
    response = api(Role.QUALITY, "post", "/products/lots", {**lot_body, "quantity_received": given})
    assert response.status_code == 201, response.content
    assert Lot.objects.get().quantity_received == 10


@pytest.mark.parametrize("given", [0, 1700000000, "1700000000", True, "01/01/2030"])
def test_a_lot_expiry_that_is_not_an_iso_date_is_refused(api, lot_body, given):
    response = api(Role.QUALITY, "post", "/products/lots", {**lot_body, "expiry_date": given})
    refused(response, "expiry_date", GIVE_DATE)
    assert not Lot.objects.exists()


# --- numbers inside nested bodies and lists: a treatment session --------------------------------


@pytest.fixture
def session_setup(clinic_a, make_user, make_patient):
    clinician = make_user(Role.CLINICIAN, clinic_a, username="strict-clinician")
    patient = make_patient(clinic_a, clinician, sex_at_birth="male", family_name="Strict")
    plan = builders.exosome_plan(patient, clinician)
    lot = builders.released_lot(clinic_a, clinician)
    body = {
        "plan_id": plan.pk,
        "modality": "exosome",
        "performed_on": date.today().isoformat(),
        "needle_gauge": 30,
        "depth_mm": 1.5,
        "map": [
            {"zone": "frontal", "points": 20, "volume_ml": 0.5},
            {"zone": "vertex", "points": 10, "volume_ml": 0.3},
        ],
        "vials": [{"lot_id": lot.pk, "quantity": 1}],
    }
    return patient, body


def nothing_recorded() -> bool:
    return not TreatmentSession.objects.exists() and not VialDraw.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"map": [{"zone": "frontal", "points": 20, "volume_ml": True}]}, "map[0].volume_ml",
         GIVE_NUMBER_NOT_BOOL),
        ({"map": [{"zone": "frontal", "points": 20, "volume_ml": 0.5},
                  {"zone": "vertex", "points": "10", "volume_ml": 0.3}]}, "map[1].points",
         GIVE_NUMBER_NOT_TEXT),
        ({"vials": [{"lot_id": 1, "quantity": True}]}, "vials[0].quantity", GIVE_NUMBER_NOT_BOOL),
        ({"fine_grid": "yes"}, "fine_grid", GIVE_BOOL),
        ({"confirm_same_day": 1}, "confirm_same_day", GIVE_BOOL),
        ({"needle_gauge": True}, "needle_gauge", GIVE_NUMBER_NOT_BOOL),
        ({"needle_gauge": "30"}, "needle_gauge", GIVE_NUMBER_NOT_TEXT),
        ({"depth_mm": True}, "depth_mm", GIVE_NUMBER_NOT_BOOL),
        ({"performed_on": 0}, "performed_on", GIVE_DATE),
        ({"prp": {"blood_volume_ml": True, "spin_protocol": "2 spins"}}, "prp.blood_volume_ml",
         GIVE_NUMBER_NOT_BOOL),
    ],
)  # fmt: skip
def test_a_session_with_a_wrong_type_anywhere_is_refused_naming_it_and_nothing_recorded(
    api, session_setup, change, field, message
):
    patient, body = session_setup
    response = api(Role.CLINICIAN, "post", f"/sessions/{patient.pk}", {**body, **change})
    refused(response, field, message)
    assert nothing_recorded()


def test_a_session_given_json_numbers_and_a_decimal_as_text_is_recorded(api, session_setup):
    """A Decimal may come as a string of digits: the API writes Decimals that way."""
    patient, body = session_setup
    response = api(Role.CLINICIAN, "post", f"/sessions/{patient.pk}", {**body, "depth_mm": "1.5"})
    assert response.status_code == 201, response.content
    session = TreatmentSession.objects.get()
    assert session.depth_mm == Decimal("1.5")
    assert sorted((e.zone, e.points) for e in session.map_entries.all()) == [
        ("frontal", 20),
        ("vertex", 10),
    ]


@pytest.mark.parametrize("given", ["NaN", "Infinity", " 1.5", "1,5", "1_000", "one", ""])
def test_a_decimal_given_as_text_that_is_not_plain_digits_is_refused(api, session_setup, given):
    patient, body = session_setup
    response = api(Role.CLINICIAN, "post", f"/sessions/{patient.pk}", {**body, "depth_mm": given})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["depth_mm"]
    assert nothing_recorded()


def test_every_wrong_item_of_a_list_is_named(api, session_setup):
    patient, body = session_setup
    bad_map = [
        {"zone": "frontal", "points": True, "volume_ml": 0.5},
        {"zone": "vertex", "points": 10, "volume_ml": "0,3"},  # "0.3" is taken, as written
    ]
    response = api(Role.CLINICIAN, "post", f"/sessions/{patient.pk}", {**body, "map": bad_map})
    assert response.status_code == 422
    fields = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert fields == {
        "map[0].points": GIVE_NUMBER_NOT_BOOL,
        "map[1].volume_ml": GIVE_DECIMAL,
    }
    assert nothing_recorded()


# --- date-times: a cold-chain reading -----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"recorded_at": 1700000000}, "recorded_at", GIVE_DATETIME),
        ({"recorded_at": "1700000000"}, "recorded_at", GIVE_DATETIME),
        ({"recorded_at": True}, "recorded_at", GIVE_DATETIME),
        ({"temperature_c": True}, "temperature_c", GIVE_NUMBER_NOT_BOOL),
    ],
)
def test_a_reading_with_a_number_for_its_time_is_refused(api, clinic_a, change, field, message):
    from anagen.products.models import StorageLocation, TemperatureReading

    location = StorageLocation.objects.create(clinic=clinic_a, name="Freezer 1")
    body = {"recorded_at": datetime.now().astimezone().isoformat(), "temperature_c": -80}
    path = f"/products/locations/{location.pk}/readings"
    response = api(Role.QUALITY, "post", path, {**body, **change})
    refused(response, field, message)
    assert not TemperatureReading.objects.exists()
    ok = api(Role.QUALITY, "post", path, body)
    assert ok.status_code == 201, ok.content


# --- every request body -------------------------------------------------------------------------


def input_schemas() -> list[type[InputSchema]]:
    import anagen.api.v1  # noqa: F401 — imports every router and so every schema

    found: list[type[InputSchema]] = []
    todo = list(InputSchema.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return found


def plain_types(annotation) -> set:
    """The types a field may hold, through Optional, unions and Annotated (not lists)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return plain_types(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return set().union(*(plain_types(a) for a in get_args(annotation)))
    return {annotation}


def nested_models(annotation) -> set:
    found = set()
    for arg in get_args(annotation):
        found |= nested_models(arg)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.add(annotation)
    return found


def errors_for(cls: type[InputSchema], field: str, value) -> dict:
    try:
        cls.model_validate({field: value})
    except ValidationError as exc:
        return {e["loc"]: e["msg"] for e in exc.errors()}
    return {}


def test_every_request_body_refuses_lax_types_in_each_field():
    schemas = input_schemas()
    assert len(schemas) > 30
    checked = {"number": 0, "date": 0, "bool": 0}
    for cls in schemas:
        for name, info in cls.model_fields.items():
            key = info.alias or name
            kinds = plain_types(info.annotation)
            if kinds & {int, float, Decimal} and not kinds & {str, bool}:
                checked["number"] += 1
                assert errors_for(cls, key, True).get((key,)) == GIVE_NUMBER_NOT_BOOL, (cls, name)
                if Decimal not in kinds:
                    got = errors_for(cls, key, "12").get((key,))
                    assert got == GIVE_NUMBER_NOT_TEXT, (cls, name)
            if kinds & {date, datetime} and not kinds & {str, int, float}:
                checked["date"] += 1
                for value in (0, 1700000000, "0", False):
                    got = errors_for(cls, key, value).get((key,))
                    assert got in (GIVE_DATE, GIVE_DATETIME), (cls, name, value, got)
            if bool in kinds and not kinds & {str, int, float}:
                checked["bool"] += 1
                for value in (1, 0, "yes", "true", "on"):
                    assert errors_for(cls, key, value).get((key,)) == GIVE_BOOL, (cls, name)
    assert all(n >= 5 for n in checked.values()), checked


def test_every_body_inside_a_request_body_is_itself_an_input_schema():
    """Nested bodies check their own fields (``map[0].volume_ml``): a plain Schema inside an
    InputSchema would take ``true`` for a volume again."""
    for cls in input_schemas():
        for name, info in cls.model_fields.items():
            for model in nested_models(info.annotation):
                assert issubclass(model, InputSchema), (cls, name, model)


def test_a_list_of_whole_numbers_names_the_wrong_item():
    from anagen.api.imaging import EditIn

    errors = errors_for(EditIn, "hair_ids", [1, True, "3", 4.0])
    assert errors == {("hair_ids", 1): GIVE_NUMBER_NOT_BOOL, ("hair_ids", 2): GIVE_NUMBER_NOT_TEXT}
    assert errors_for(EditIn, "centreline_px", [[1.0, 2], [3, False]]) == {
        ("centreline_px", 1, 1): GIVE_NUMBER_NOT_BOOL
    }


@pytest.mark.parametrize("spelling", ["{pk}_0", "+{pk}", "{pk}.0", "%20{pk}", "{pk}%0A"])
def test_an_id_in_the_path_is_plain_digits(
    client, api_token, clinic_a, make_user, make_patient, spelling
):
    """/patients/2_0 opened patient 20, and /patients/+2, /2.0 and /2%0A patient 2 (Python's
    int() reads them); the access log then kept a path with a newline in it."""
    user = make_user(Role.CLINICIAN, clinic_a, username="reader")
    patient = make_patient(clinic_a, user)
    headers = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
    assert client.get(f"/api/v1/patients/{patient.pk}", headers=headers).status_code == 200
    odd = "/api/v1/patients/" + spelling.format(pk=patient.pk)
    assert client.get(odd, headers=headers).status_code == 404
