"""FHIR Patient bundle import: a good bundle registers the patient (audited); every bad input
is a clear 400 / field error and stores nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from anagen.accounts.roles import Role
from anagen.interop import fhir_export
from anagen.interop.fhir_import import ImportRefused, import_patient_bundle
from anagen.patients.models import Patient

from ..html import dangling_references


@pytest.fixture
def clerk(clinic_a, make_user):
    return make_user(Role.FRONT_DESK, clinic_a)


def bundle(**patient_overrides) -> dict:
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": "https://hospital.example/mrn",
                "value": "EXT-0042",
            }
        ],
        "name": [{"use": "official", "family": "Curie", "given": ["Marie", "Salomea"]}],
        "gender": "female",
        "birthDate": "1967-11-07",
        "telecom": [
            {"system": "phone", "value": "+33 1 00 00 00"},
            {"system": "email", "value": "marie@example.org"},
        ],
        "address": [{"line": ["1 rue Pierre"], "city": "Paris", "postalCode": "75005"}],
    }
    patient.update(patient_overrides)
    patient = {k: v for k, v in patient.items() if v is not None}
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:5b1d6c1e-8d53-4e4f-9c55-1a2b3c4d5e6f", "resource": patient}
        ],
    }


def test_a_good_bundle_registers_the_patient_with_history(clinic_a, clerk):
    result = import_patient_bundle(clinic_a, clerk, json.dumps(bundle()))
    p = result.patient
    assert (p.medical_record_number, p.given_name, p.family_name) == (
        "EXT-0042",
        "Marie Salomea",
        "Curie",
    )
    assert p.date_of_birth.isoformat() == "1967-11-07" and p.sex_at_birth == "female"
    assert p.phone == "+33 1 00 00 00" and p.email == "marie@example.org"
    assert "Paris" in p.address and p.clinic == clinic_a
    record = p.history.get()
    assert record.history_user == clerk
    assert record.history_change_reason == "created by FHIR import"


def test_an_exported_bundle_imports_into_another_clinic(
    clinic_a, clinic_b, clerk, make_user, make_patient
):
    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    source = make_patient(
        clinic_b, admin_b, given_name="Round", family_name="Trip", medical_record_number="RT-1"
    )
    text = fhir_export.patient_bundle_json(source)
    result = import_patient_bundle(clinic_a, clerk, text)
    p = result.patient
    assert p.clinic == clinic_a and p.pk != source.pk
    assert (p.medical_record_number, p.full_name, p.date_of_birth) == (
        "RT-1",
        "Round Trip",
        source.date_of_birth,
    )


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ("", "file", "empty"),
        ("{not json", "file", "Not valid JSON"),
        ("[1, 2]", "bundle", "JSON object"),
        (
            json.dumps({"resourceType": "Patient", "name": [{"family": "X"}]}),
            "resourceType",
            "found resourceType 'Patient'",
        ),
        (
            json.dumps({"resourceType": "Bundle", "type": "collection"}),
            "bundle",
            "no Patient resource",
        ),
        (
            json.dumps(
                {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [{"resource": {"resourceType": "Patient", "birthDate": "17/05/80"}}],
                }
            ),
            "bundle",
            "Not a valid FHIR R5 Bundle",
        ),
        (json.dumps(bundle(name=None)), "name", "The given name is missing (Patient.name.given)"),
        (json.dumps(bundle(name=[{"given": ["Marie"]}])), "name", "The family name is missing"),
        (json.dumps(bundle(birthDate=None)), "birthDate", "The date of birth is missing"),
        (json.dumps(bundle(birthDate="1967")), "birthDate", "full date"),
        (json.dumps(bundle(birthDate="2999-01-01")), "birthDate", "cannot be in the future"),
        (json.dumps(bundle(identifier=None)), "identifier", "medical record number"),
        (json.dumps(bundle(gender="bogus")), "gender", "The sex (Patient.gender) must be one of"),
        # Not a living, active patient: registered, they would get reminders and recalls.
        (json.dumps(bundle(active=False)), "active", "inactive"),
        (json.dumps(bundle(deceasedBoolean=True)), "deceased", "recorded as deceased"),
        (json.dumps(bundle(deceasedDateTime="2024-03-02")), "deceased", "on 2024-03-02"),
        # Too long for the record: refused, never cut or stored past the API's own limit.
        (json.dumps(bundle(telecom=[{"system": "phone", "value": "1" * 41}])), "telecom", "40"),
        (json.dumps(bundle(address=[{"text": "Lane " * 401}])), "address", "At most 2000"),
        (b"\xff\xfe\x00", "file", "UTF-8"),
        # PostgreSQL cannot store NUL: refused before any row is written, on both databases.
        (json.dumps(bundle(name=[{"family": "Du\x00pont", "given": ["Marie"]}])), "file", "NUL"),
    ],
)
def test_bad_input_is_refused_with_the_field_named_and_nothing_stored(
    clinic_a, clerk, raw, field, message
):
    with pytest.raises(ImportRefused) as exc:
        import_patient_bundle(clinic_a, clerk, raw)
    assert field in exc.value.errors, exc.value.errors
    assert any(message in m for m in exc.value.errors[field]), exc.value.errors
    assert not Patient.objects.exists()


def test_a_contact_point_without_a_value_is_left_out_not_taken_for_a_duplicate(clinic_a, clerk):
    empty = [{"system": "phone", "value": None}, {"system": "email", "value": None}]
    result = import_patient_bundle(clinic_a, clerk, json.dumps(bundle(telecom=empty)))
    assert (result.patient.phone, result.patient.email) == ("", "")


def test_an_active_patient_not_deceased_imports(clinic_a, clerk):
    raw = json.dumps(bundle(active=True, deceasedBoolean=False))
    assert import_patient_bundle(clinic_a, clerk, raw).patient.medical_record_number == "EXT-0042"


def test_an_inactive_deceased_patient_is_refused_for_both_reasons(clinic_a, clerk):
    with pytest.raises(ImportRefused) as exc:
        import_patient_bundle(
            clinic_a, clerk, json.dumps(bundle(active=False, deceasedBoolean=True))
        )
    assert set(exc.value.errors) == {"active", "deceased"}
    assert not Patient.objects.exists()


def test_an_exported_voided_patient_is_not_imported_as_a_live_one(
    clinic_a, clinic_b, clerk, make_user, make_patient
):
    """The export marks a voided record inactive; importing it elsewhere is refused."""
    from anagen.patients import services as patient_services

    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    source = make_patient(clinic_b, admin_b, medical_record_number="RT-2")
    voided = patient_services.void_patient(source, admin_b, "Duplicate of RT-1")
    with pytest.raises(ImportRefused) as exc:
        import_patient_bundle(clinic_a, clerk, fhir_export.patient_bundle_json(voided))
    assert list(exc.value.errors) == ["active"]
    assert not Patient.objects.filter(clinic=clinic_a).exists()


def test_two_patients_in_one_bundle_are_refused(clinic_a, clerk):
    data = bundle()
    second = json.loads(json.dumps(data["entry"][0]))
    second["fullUrl"] = "urn:uuid:6b1d6c1e-8d53-4e4f-9c55-1a2b3c4d5e6f"
    data["entry"].append(second)
    with pytest.raises(ImportRefused, match="2 Patient resources"):
        import_patient_bundle(clinic_a, clerk, json.dumps(data))
    assert not Patient.objects.exists()


def test_a_duplicate_mrn_is_refused_and_the_existing_patient_is_untouched(
    clinic_a, clerk, make_patient
):
    existing = make_patient(clinic_a, clerk, medical_record_number="EXT-0042", given_name="Old")
    with pytest.raises(ImportRefused) as exc:
        import_patient_bundle(clinic_a, clerk, json.dumps(bundle()))
    assert "already used in this clinic" in " ".join(exc.value.errors["identifier"])
    assert Patient.objects.get() == existing
    existing.refresh_from_db()
    assert existing.given_name == "Old"


def test_the_import_page_shows_field_errors_then_registers(client, clerk):
    client.force_login(clerk)
    page = client.get("/interop/import/")
    assert page.status_code == 200 and dangling_references(page.content.decode()) == []
    bad = client.post("/interop/import/", {"text": json.dumps(bundle(birthDate=None))})
    assert bad.status_code == 400
    assert "Date of birth: The date of birth is missing (Patient.birthDate)." in (
        bad.content.decode()
    )
    assert not Patient.objects.exists()
    died = client.post(
        "/interop/import/", {"text": json.dumps(bundle(deceasedDateTime="2024-03-02"))}
    )
    assert died.status_code == 400
    assert "Deceased: The Patient is recorded as deceased on 2024-03-02" in died.content.decode()
    assert not Patient.objects.exists()
    notjson = client.post(
        "/interop/import/",
        {"file": SimpleUploadedFile("b.json", b"{oops", content_type="application/json")},
    )
    assert notjson.status_code == 400 and "Not valid JSON" in notjson.content.decode()
    empty = client.post("/interop/import/", {})
    assert empty.status_code == 400 and "Choose a file" in empty.content.decode()
    upload = SimpleUploadedFile(
        "bundle.json", json.dumps(bundle()).encode(), content_type="application/fhir+json"
    )
    good = client.post("/interop/import/", {"file": upload})
    patient = Patient.objects.get()
    assert good.status_code == 302 and good["Location"] == f"/patients/{patient.pk}/"
    again = client.post("/interop/import/", {"text": json.dumps(bundle())})
    assert again.status_code == 400 and "already used" in again.content.decode()
    assert Patient.objects.count() == 1


def test_the_api_imports_and_answers_400_with_detail(client, clerk, clinic_a, api_token):
    headers = {"Authorization": f"Bearer {api_token(clerk, clinic_a)}"}
    url = "/api/v1/interop/fhir/import"
    for body in ("{}", "{oops", json.dumps(bundle(birthDate=None))):
        r = client.post(url, data=body, content_type="application/json", headers=headers)
        assert r.status_code == 400 and r.json()["detail"], body
    assert "birthDate" in r.json()["detail"]
    for field, patient in (("active", {"active": False}), ("deceased", {"deceasedBoolean": True})):
        body = json.dumps(bundle(**patient))
        r = client.post(url, data=body, content_type="application/json", headers=headers)
        assert r.status_code == 400 and r.json()["detail"].startswith(f"{field}: "), r.json()
    assert not Patient.objects.exists()
    r = client.post(
        url, data=json.dumps(bundle()), content_type="application/json", headers=headers
    )
    assert r.status_code == 201
    assert r.json()["medical_record_number"] == "EXT-0042"
    assert Patient.objects.get().clinic == clinic_a


def test_the_api_accepts_the_fhir_json_media_type(client, clerk, clinic_a, api_token):
    headers = {"Authorization": f"Bearer {api_token(clerk, clinic_a)}"}
    r = client.post(
        "/api/v1/interop/fhir/import",
        data=json.dumps(bundle()),
        content_type="application/fhir+json",
        headers=headers,
    )
    assert r.status_code == 201, r.content
    r = client.post(
        "/api/v1/interop/fhir/import",
        data="<xml/>",
        content_type="application/fhir+xml",
        headers=headers,
    )
    assert r.status_code == 415


@pytest.mark.parametrize(
    ("role", "allowed"), [(Role.NURSE, False), (Role.RESEARCHER, False), (Role.CLINICIAN, True)]
)
def test_import_roles(client, clinic_a, make_user, role, allowed):
    client.force_login(make_user(role, clinic_a))
    assert client.get("/interop/import/").status_code == (200 if allowed else 403)


def test_importing_a_person_already_registered_asks_for_confirmation(client, clinic_a, clerk):
    import_patient_bundle(clinic_a, clerk, json.dumps(bundle()))
    other_mrn = [{"system": "https://hospital.example/mrn", "value": "EXT-0043"}]
    again = json.dumps(bundle(identifier=other_mrn))
    with pytest.raises(ImportRefused) as exc:
        import_patient_bundle(clinic_a, clerk, again)
    assert "already registered: Curie, Marie Salomea (EXT-0042)" in str(exc.value)
    client.force_login(clerk)
    page = client.post("/interop/import/", {"text": again})
    assert page.status_code == 400
    assert "already registered" in page.content.decode()
    assert Patient.objects.count() == 1
    done = client.post("/interop/import/", {"text": again, "confirm_not_duplicate": "on"})
    assert done.status_code == 302 and Patient.objects.count() == 2
