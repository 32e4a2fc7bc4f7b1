"""FHIR R5 export: a whole course as a Bundle that fhir.resources accepts, references that
resolve inside the bundle, and tenancy."""

from __future__ import annotations

import json

import pytest
from fhir.resources.bundle import Bundle

from anagen.accounts.roles import Role
from anagen.interop import fhir_export

from ..reports.factory import course


@pytest.fixture
def clinician(clinic_a, make_user):
    return make_user(Role.CLINICIAN, clinic_a)


@pytest.fixture
def treated(clinic_a, clinician, make_patient):
    patient = make_patient(
        clinic_a,
        clinician,
        sex_at_birth="male",
        given_name="Tom",
        family_name="Export",
        phone="+44 20 7946 0000",
        email="tom@example.org",
    )
    return patient, course(patient, clinician)


def _references(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                out.append(v)
            else:
                _references(v, out)
    elif isinstance(node, list):
        for v in node:
            _references(v, out)
    return out


def test_the_bundle_parses_back_with_fhir_resources_and_references_resolve(treated):
    patient, data = treated
    text = fhir_export.patient_bundle_json(patient, base_url="https://clinic.example")
    bundle = Bundle.model_validate_json(text)
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    for kind in (
        "Patient",
        "Condition",
        "Procedure",
        "Observation",
        "AdverseEvent",
        "BiologicallyDerivedProduct",
        "Consent",
        "DocumentReference",
    ):
        assert kind in kinds, kind
    full_urls = {e.fullUrl for e in bundle.entry}
    assert len(full_urls) == len(bundle.entry)
    refs = _references(json.loads(text), [])
    assert refs and set(refs) <= full_urls
