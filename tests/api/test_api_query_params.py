"""Query parameters an endpoint does not declare are refused with 400, never ignored.

``GET /api/v1/patients?serach=smith`` answered the unfiltered list as if the search had run.
Every operation now answers 400 naming the unknown parameter(s) and the accepted ones: plain
parameters, the fields of a ``Query[Schema]`` and the ``limit``/``offset`` of paged lists.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from anagen.api.query import declared_query_names, unknown_query_message
from anagen.api.v1 import api


@pytest.fixture
def get(clinician_get):
    return clinician_get


def test_a_misspelt_search_on_a_paged_list_is_refused_naming_it_and_the_accepted_ones(
    get, clinic_a, clinician, make_patient
):
    make_patient(clinic_a, clinician, family_name="Smith")
    make_patient(clinic_a, clinician, family_name="Jones")
    response = get("/api/v1/patients", serach="smith")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Unknown query parameter 'serach'; this endpoint accepts: q, include_voided, "
        "limit, offset."
    }
    # The parameters it declares (filter schema and paging) still work.
    found = get("/api/v1/patients", q="smith", limit=1, offset=0).json()
    assert found["count"] == 1 and found["items"][0]["family_name"] == "Smith"


def test_a_misspelt_field_of_a_query_schema_is_refused(get):
    response = get("/api/v1/products/lots/usable", on_day=date.today().isoformat())
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Unknown query parameter 'on_day'; this endpoint accepts: on_date, product_id."
    )
    assert get("/api/v1/products/lots/usable", on_date=date.today().isoformat()).json() == []


def test_a_misspelt_plain_parameter_is_refused(get, clinic_a, clinician, make_patient):
    patient = make_patient(clinic_a, clinician)
    url = f"/api/v1/outcomes/patients/{patient.pk}/progress"
    response = get(url, forcast="true")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Unknown query parameter 'forcast'; this endpoint accepts: forecast."
    )
    assert get(url, forecast="true").status_code == 200


def test_several_unknown_parameters_are_all_named_and_an_endpoint_without_any_says_so(get):
    response = get("/api/v1/me", clinic="x", role="admin")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Unknown query parameters 'clinic', 'role'; this endpoint accepts no query parameters."
    )
    assert get("/api/v1/me").status_code == 200


def test_a_write_with_an_unknown_query_parameter_is_refused_and_stores_nothing(
    client, clinician, clinic_a, api_token
):
    from anagen.patients.models import Patient

    body = {"medical_record_number": "Q-1", "given_name": "Ida", "family_name": "Noddack",
            "date_of_birth": "1896-02-25", "sex_at_birth": "female"}  # fmt: skip
    response = client.post(
        "/api/v1/patients?confirm=true",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(clinician, clinic_a)}"},
    )
    assert response.status_code == 400
    assert "Unknown query parameter 'confirm'" in response.json()["detail"]
    assert not Patient.objects.filter(medical_record_number="Q-1").exists()


def test_authentication_comes_first(client):
    """A caller without a token learns nothing about the endpoint's parameters."""
    response = client.get("/api/v1/patients", {"serach": "smith"})
    assert response.status_code == 401


def test_a_malformed_value_of_a_declared_parameter_still_answers_422(get):
    response = get("/api/v1/monitoring/agenda", start="tomorrow")
    assert response.status_code == 422 and "start" in response.json()["detail"]


def test_every_operation_accepts_exactly_the_query_parameters_its_openapi_lists():
    """The check reads the same declaration the OpenAPI document is built from: what the
    document offers is accepted, and nothing else."""
    schema = api.get_openapi_schema()
    listed = {
        op["operationId"]: {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        for ops in schema["paths"].values()
        for op in ops.values()
    }
    checked = 0
    for router in api._get_bound_routers():
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                # Every operation is wrapped by the check (api.add_decorator in v1.py).
                assert hasattr(operation.view_func, "__wrapped__"), operation.view_func
                declared = set(declared_query_names(operation.view_func))
                assert declared == listed[api.get_openapi_operation_id(operation)]
                checked += 1
    assert checked == len(listed)


def test_the_openapi_document_says_unknown_query_parameters_are_refused():
    schema = api.get_openapi_schema()
    assert "does not list" in schema["info"]["description"]
    agenda = schema["paths"]["/api/v1/monitoring/agenda"]["get"]
    assert (
        "query parameter this endpoint does not list" in agenda["responses"]["400"]["description"]
    )


def test_the_message_names_one_or_several_parameters():
    assert unknown_query_message(["x"], ["a", "b"]) == (
        "Unknown query parameter 'x'; this endpoint accepts: a, b."
    )
    assert unknown_query_message(["x", "y"], []) == (
        "Unknown query parameters 'x', 'y'; this endpoint accepts no query parameters."
    )


def test_the_agenda_refuses_an_unknown_parameter_before_reading_dates(get):
    later = (date.today() + timedelta(days=3)).isoformat()
    response = get("/api/v1/monitoring/agenda", start=later, ende=later)
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Unknown query parameter 'ende'; this endpoint accepts: start, end, limit, offset."
    )
