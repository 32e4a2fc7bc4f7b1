"""The API's error answers name each field; a refusal of the whole request names none."""

import pytest
from ninja.errors import HttpError

from anagen.api.errors import error_detail, refuse


def test_each_message_follows_its_field_and_whole_request_messages_stand_alone():
    detail = error_detail(
        {"__all__": ["This record is voided."], "stage": ["Unknown stage.", "Check it."]}
    )
    assert detail == "This record is voided.; stage: Unknown stage. Check it."


def test_refuse_raises_the_status_asked_for():
    with pytest.raises(HttpError) as err:
        refuse({"lot": ["Not usable."]}, 409)
    assert (err.value.status_code, err.value.message) == (409, "lot: Not usable.")


def test_every_request_body_schema_refuses_unknown_fields_and_has_its_own_name():
    """A schema of one name in two modules made the OpenAPI document describe the wrong
    body (consultation plans were documented with the follow-up schedule's fields)."""
    import inspect

    from ninja import Schema

    from anagen.api import assessment, imaging, monitoring, patients, products, treatments
    from anagen.api.schemas import InputSchema

    seen: dict[str, str] = {}
    for module in (assessment, imaging, monitoring, patients, products, treatments):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, Schema) or cls.__module__ != module.__name__:
                continue
            assert name not in seen, (name, seen.get(name), module.__name__)
            seen[name] = module.__name__
            if name.endswith(("In", "Patch")):
                assert issubclass(cls, InputSchema), name
    assert len(seen) > 50


@pytest.mark.django_db
def test_a_misspelt_field_is_refused_and_nothing_is_stored(
    client, clinic_a, make_user, make_patient, api_token
):
    from anagen.accounts.roles import Role
    from anagen.assessment.models import MedicalHistory

    clinician = make_user(Role.CLINICIAN, clinic_a)
    patient = make_patient(clinic_a, clinician)
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    response = client.post(
        f"/api/v1/consultation/{patient.pk}/history",
        {"bleeding_disordr": True, "pregnant": False, "lactating": False},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 422
    assert "bleeding_disordr" in response.json()["detail"]
    assert "Unknown field; remove it" in response.json()["detail"]
    assert not MedicalHistory.objects.filter(patient=patient).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"given_name": "x" * 101}, "given_name", "At most 100 characters."),
        ({"date_of_birth": "1980-02-30"}, "date_of_birth", "Give a real date as YYYY-MM-DD."),
        ({"sex_at_birth": "F"}, "sex_at_birth", "Choose one of: "),
        ({"given_name": ""}, "given_name", "This field is required."),
    ],
)
def test_a_body_the_schema_refuses_is_answered_in_words(
    client, clinic_a, make_user, api_token, change, field, message
):
    """pydantic's own wording ("String should have at most 100 characters", "Input should be a
    valid date or datetime, day value is outside expected range") is replaced by the API's."""
    from anagen.accounts.roles import Role
    from anagen.patients.models import Patient

    clinician = make_user(Role.CLINICIAN, clinic_a)
    body = {
        "medical_record_number": "MRN-1", "given_name": "Ada", "family_name": "Lind",
        "date_of_birth": "1980-01-01", "sex_at_birth": "female", **change,
    }  # fmt: skip
    response = client.post(
        "/api/v1/patients",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(clinician, clinic_a)}"},
    )
    assert response.status_code == 422, response.content
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert errors[field].startswith(message), errors
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("authorization", "challenge", "words"),
    [
        (None, 'Bearer realm="anagen"', "Authorization: Bearer <token>"),
        ("Basic dXNlcjpwYXNz", 'Bearer realm="anagen"', "Authorization: Bearer <token>"),
        ("Bearer ang_not-a-token", 'Bearer realm="anagen", error="invalid_token"', "not valid"),
    ],
)
def test_a_401_carries_its_challenge_and_says_whether_the_token_was_refused(
    client, db, authorization, challenge, words
):
    """RFC 9110 requires WWW-Authenticate on a 401; the detail tells a token to replace from
    a request that sent none (both read "Unauthorized")."""
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge
    assert words in response.json()["detail"]


def test_a_revoked_token_is_named_as_not_valid(client, clinic_a, make_user, api_token):
    from anagen.accounts.models import ApiToken
    from anagen.accounts.roles import Role

    headers = {"Authorization": f"Bearer {api_token(make_user(Role.NURSE, clinic_a), clinic_a)}"}
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    response = client.post("/api/v1/patients", "{}", "application/json", headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response.json()["detail"].startswith("The API token is not valid")
