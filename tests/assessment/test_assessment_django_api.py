"""The consultation API: the same flow and the same refusals as the pages, as JSON."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.assessment.models import (
    Consent,
    MedicalHistory,
    ScalpExam,
    TreatmentPlan,
)

from .. import builders

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate().isoformat()
BASE = "/api/v1/consultation"


answers = builders.history_answers


@pytest.fixture
def api(client, clinician, clinic_a, api_token):
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}

    def call(method: str, path: str, body: dict | None = None):
        return client.generic(
            method,
            BASE + path,
            data="{}" if body is None else json.dumps(body),
            content_type="application/json",
            headers=headers,
        )

    return call


@pytest.fixture
def woman(clinic_a, clinician, make_patient):
    return make_patient(
        clinic_a, clinician, given_name="Eva", family_name="Berg",
        sex_at_birth="female", date_of_birth=date(1988, 3, 3),
    )  # fmt: skip


def test_full_flow_through_the_api(api, woman):
    p = woman.pk
    r = api("POST", f"/{p}/history", answers(
        pregnant=False, lactating=False, allergies=["latex"],
        medications=[{"drug_class": "minoxidil", "name": "Regaine", "start": "2025-01-01"}],
        prior_treatments=[{"modality": "prp", "on": "2025-06-01"}],
    ))  # fmt: skip
    assert r.status_code == 201, r.json()
    assert r.json()["version"] == 1 and r.json()["answered_on"]["allergies"] == TODAY
    screening = api("GET", f"/{p}/screening").json()
    assert screening["ruleset_version"] == "2026.12-4" and screening["current"] is True
    assert screening["result"]["modalities"]["exosome"]["outcome"] == "OK"

    r = api("POST", f"/{p}/exams", {"ludwig": "II", "sinclair": 3, "trichoscopy_signs":
                                    ["hair_diameter_diversity", "vellus_hairs"]})  # fmt: skip
    assert r.status_code == 201 and r.json()["stage"] == "II"
    r = api("POST", f"/{p}/diagnoses", {"condition": "aga_female"})
    assert r.status_code == 201
    codings = {c["system"]: c for c in r.json()["codings"]}
    assert codings["http://snomed.info/sct"]["code"] == "1108009"
    assert codings["http://hl7.org/fhir/sid/icd-10"]["version"]

    proposals = api("GET", f"/{p}/proposals").json()
    keys = [x["key"] for x in proposals["proposals"]]
    assert "exosome" in keys and proposals["missing"] == []
    r = api("POST", f"/{p}/plans", {"proposal_key": "exosome", "interval_weeks": 3})
    assert r.status_code == 201
    plan = r.json()
    assert plan["notices"][0].startswith("Investigational — not approved")
    r = api("PATCH", f"/{p}/plans/{plan['id']}", {"sessions_planned": 3})
    assert r.status_code == 200 and r.json()["sessions_planned"] == 3
    assert r.json()["schedule_warnings"] == []
    # Weekly exosome sessions (template: every 2–4 weeks) are confirmed, then kept in view.
    r = api("PATCH", f"/{p}/plans/{plan['id']}", {"interval_weeks": 1})
    assert r.status_code == 400 and r.json()["detail"].startswith(
        "confirm_schedule: Sessions every 1 week: outside the 2–4 weeks"
    )
    r = api("PATCH", f"/{p}/plans/{plan['id']}", {"interval_weeks": 1, "confirm_schedule": True})
    assert r.status_code == 200 and r.json()["interval_weeks"] == 1
    assert r.json()["schedule_warnings"] == [
        "Sessions every 1 week: outside the 2–4 weeks between sessions of the protocol "
        "Exosome / EV injections."
    ]

    sign = {"modality": "exosome", "signed_name": "Eva Berg", "signed_on": TODAY}
    # The version the patient read must still be the current one.
    r = api("POST", f"/{p}/plans/{plan['id']}/consents", {**sign, "form_version": 2})
    assert r.status_code == 400 and r.json()["detail"].startswith("form_version: The consent")
    r = api("POST", f"/{p}/plans/{plan['id']}/consents", {**sign, "form_version": 1})
    assert r.status_code == 201 and r.json()["form_version"] == 1
    summary = api("GET", f"/{p}").json()
    assert summary["next_step"] is None
    assert [s["done"] for s in summary["steps"]] == [True] * 6

    consent_id = r.json()["id"]
    r = api("POST", f"/{p}/consents/{consent_id}/withdraw", {"reason": "Changed her mind today."})
    assert r.status_code == 201 and r.json()["withdrawn_on"] == TODAY


def test_block_then_override_then_plan(api, woman):
    p = woman.pk
    r = api(
        "POST",
        "/rules/overrides",
        {
            "rule_id": "EXO-KELOID",
            "action": "set_outcome",
            "outcome": "BLOCK",
            "reason": "No keloid risk here.",
        },
    )
    assert r.status_code == 201
    api("POST", f"/{p}/history", answers(keloid=True, pregnant=False, lactating=False))
    api("POST", f"/{p}/exams", {"ludwig": "I"})
    api("POST", f"/{p}/diagnoses", {"condition": "aga_female"})
    r = api("POST", f"/{p}/plans", {"proposal_key": "exosome"})
    assert r.status_code == 400 and r.json()["detail"].startswith("proposal_key:")
    r = api("POST", f"/{p}/screening/overrides", {"modality": "exosome", "reason": "short"})
    assert r.status_code == 400 and "reason" in r.json()["detail"]
    r = api(
        "POST",
        f"/{p}/screening/overrides",
        {"modality": "exosome", "reason": "Scar checked: no keloid tendency."},
    )
    assert r.status_code == 201 and r.json()["rule_ids"] == ["EXO-KELOID"]
    assert api("POST", f"/{p}/plans", {"proposal_key": "exosome"}).status_code == 201


def test_a_locked_block_refuses_an_override(api, woman):
    p = woman.pk
    api("POST", f"/{p}/history", answers(malignancy="active", pregnant=False, lactating=False))
    r = api(
        "POST",
        f"/{p}/screening/overrides",
        {"modality": "exosome", "reason": "Oncologist confirms remission; trial protocol."},
    )
    assert r.status_code == 400
    assert r.json()["detail"].startswith(
        "modality: The BLOCK of exosome / EV injections comes from locked rule "
        "EXO-MALIGNANCY-ACTIVE, which no override may lift"
    )
    assert api("POST", f"/{p}/plans", {"proposal_key": "exosome"}).status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("exams", {"salt_top": 120, "salt_posterior": 0, "salt_right": 0, "salt_left": 0},
         "salt_top"),
        ("exams", {"pull_hairs_pulled": 50, "pull_hairs_out": -4}, "pull_hairs_out"),
        ("exams", {"sinclair": 9}, "sinclair"),
        ("history", answers(conditions=["flu"]), "conditions"),
        ("history", answers(medications=[{"drug_class": "nsaid", "start": "2025-05-01",
                                          "stop": "2025-04-01"}]), "medications"),
        ("diagnoses", {"condition": "baldness"}, "condition"),
        # A code that is not the condition's was replaced unseen by the condition's own.
        ("diagnoses", {"condition": "aga_female", "icd10_code": "NOTACODE"}, "icd10_code"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, woman, path, body, field):
    r = api("POST", f"/{woman.pk}/{path}", body)
    assert r.status_code == 400
    assert field in r.json()["detail"]
    assert not ScalpExam.objects.exists() and not MedicalHistory.objects.exists()


def test_female_scale_on_a_male_record_is_a_400(api, clinic_a, clinician, make_patient):
    man = make_patient(clinic_a, clinician, sex_at_birth="male")
    r = api("POST", f"/{man.pk}/exams", {"ludwig": "II"})
    assert r.status_code == 400 and r.json()["detail"].startswith("ludwig:")


def test_wrong_types_are_422(api, woman):
    r = api("POST", f"/{woman.pk}/exams", {"salt_top": "lots"})
    assert r.status_code == 422 and "salt_top" in r.json()["detail"]


def test_another_clinics_patient_is_404_even_for_a_role_without_the_permission(
    client, clinic_a, clinic_b, make_user, make_patient, api_token
):
    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    secret = make_patient(clinic_b, admin_b)
    nurse = make_user(Role.NURSE, clinic_a)  # nurses may not diagnose
    headers = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    r = client.post(
        f"{BASE}/{secret.pk}/diagnoses",
        data='{"condition": "aga_male"}',
        content_type="application/json",
        headers=headers,
    )
    assert r.status_code == 404 and r.json() == {"detail": "No such patient."}
    own = make_patient(clinic_a, nurse)
    r = client.post(
        f"{BASE}/{own.pk}/diagnoses",
        data='{"condition": "aga_male"}',
        content_type="application/json",
        headers=headers,
    )
    assert r.status_code == 403


def test_nested_plan_of_another_patient_is_404(api, woman, clinic_a, clinician, make_patient):
    p = woman.pk
    api("POST", f"/{p}/history", answers(pregnant=False, lactating=False))
    api("POST", f"/{p}/exams", {"ludwig": "I"})
    api("POST", f"/{p}/diagnoses", {"condition": "aga_female"})
    plan = api("POST", f"/{p}/plans", {"proposal_key": "minoxidil"}).json()
    other = make_patient(clinic_a, clinician)
    r = api("POST", f"/{other.pk}/plans/{plan['id']}/consents",
            {"modality": "minoxidil", "signed_name": "Eva Berg", "signed_on": TODAY})  # fmt: skip
    assert r.status_code == 404 and not Consent.objects.exists()
    assert TreatmentPlan.objects.count() == 1


def test_rules_endpoint_and_clinic_override(api):
    rules = api("GET", "/rules").json()
    assert rules["ruleset_version"] == "2026.12-4" and len(rules["rules"]) == 67
    r = api(
        "POST",
        "/rules/overrides",
        {
            "rule_id": "EXO-KELOID",
            "action": "set_outcome",
            "outcome": "BLOCK",
            "reason": "Clinic keloid policy.",
        },
    )
    assert r.status_code == 201
    assert api("GET", "/rules").json()["ruleset_version"] == "2026.12-4+1ov"
    r = api("POST", "/rules/overrides", {"rule_id": "EXO-PREGNANCY", "action": "disable",
                                         "reason": "Would like to treat anyway."})  # fmt: skip
    assert r.status_code == 400 and "locked" in r.json()["detail"]


class TestANewHistoryVersionTakesEveryAnswer:
    """An omitted answer read as "no": ``POST /history {}`` stored a version without the
    allergies and medications of the previous one (a review found it)."""

    def test_an_empty_post_is_refused_naming_the_missing_answers(self, api, woman):
        first = answers(allergies=["latex"], medications=[{"drug_class": "nsaid"}])
        assert api("POST", f"/{woman.pk}/history", first).status_code == 201
        r = api("POST", f"/{woman.pk}/history", {})
        assert r.status_code == 422
        missing = {e["field"] for e in r.json()["errors"]}
        assert {"allergies", "medications", "conditions", "pregnant", "keloid"} <= missing
        assert "notes" not in missing and "recorded_on" not in missing
        assert MedicalHistory.objects.get(patient=woman).allergies == ["latex"]

    def test_a_partial_post_names_only_what_is_missing(self, api, woman):
        body = answers()
        del body["allergies"]
        r = api("POST", f"/{woman.pk}/history", body)
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["allergies"]
        assert "allergies:" in r.json()["detail"]

    def test_explicit_empty_answers_are_a_no(self, api, woman):
        api("POST", f"/{woman.pk}/history", answers(allergies=["latex"]))
        r = api("POST", f"/{woman.pk}/history", answers(allergies=[]))
        assert r.status_code == 201 and r.json()["allergies"] == [] and r.json()["version"] == 2

    def test_the_openapi_schema_marks_the_answers_required(self, client):
        schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["HistoryIn"]
        assert {"allergies", "medications", "pregnant"} <= set(schema["required"])
        assert "omitted" in schema["description"]


def test_an_exam_reads_back_what_moved_the_aa_scale_up(api, woman):
    """The AA Scale went up a level (King 2022) on inputs the API stored but never returned:
    a reader saw "severe, up from moderate" and could not tell why."""
    body = {"salt_top": 50, "salt_posterior": 25, "salt_right": 0, "salt_left": 0,
            "aa_qol_impact": 7, "aa_brow_or_lash_loss": True, "aa_months_failed_treatment": 8,
            "aa_rapid_loss": False, "aa_diffuse_pull_test": True}  # fmt: skip
    r = api("POST", f"/{woman.pk}/exams", body)
    assert r.status_code == 201, r.content
    (exam,) = api("GET", f"/{woman.pk}/exams").json()
    assert (exam["aa_scale_base"], exam["aa_scale_severity"]) == ("moderate", "severe")
    assert {k: exam[k] for k in body if k.startswith("aa_")} == {
        k: v for k, v in body.items() if k.startswith("aa_")
    }
    assert exam["aa_scale_upgrade_reasons"] == [
        "quality-of-life impact 7/10 (≥6)",
        "eyebrow or eyelash loss",
        "inadequate response after 8 months of treatment",
        "diffuse positive pull test",
    ]
