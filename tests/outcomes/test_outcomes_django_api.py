"""Outcomes API: patient progress and cohort summary, roles and de-identification."""

from __future__ import annotations

import json
import re

import pytest

from anagen.accounts.models import AccessLog
from anagen.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_cohort_summary_matches_the_page(client, clinician, sim_cohort, api_token, clinic_a):
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    data = client.get("/api/v1/outcomes/cohort", {"sex": "male"}, headers=headers).json()
    assert data["n_patients"] == Patient.objects.filter(sex_at_birth="male").count()
    assert data["filters"]["sex"] == "male"
    assert set(data["sections"]) == {"by_visit", "responders", "ancova", "mmrm"}
    for s in data["sections"].values():
        assert s["missing_data"]
    mmrm = data["sections"]["mmrm"]
    assert mmrm["ok"] and mmrm["data"]["contrasts"]
    assert {"estimate", "se", "df", "lower", "upper", "p"} <= set(mmrm["data"]["contrasts"][0])
    assert [s["key"] for s in data["adverse_events"]] == ["ae_modality", "ae_product", "ae_lot"]
    # JSON has no NaN: undefined numbers are null.
    assert "NaN" not in json.dumps(data)
    page = client.get("/outcomes/cohort/", {"sex": "male"}, headers=headers)
    assert page.status_code == 302  # pages use the session, not tokens


def test_answers_about_exosome_treatment_carry_the_investigational_notice(
    client, clinician, sim_cohort, api_token, clinic_a
):
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    everyone = client.get("/api/v1/outcomes/cohort", headers=headers).json()
    assert "exosome" in everyone["arms"]
    assert "not approved" in everyone["investigational_notice"]
    prp = client.get("/api/v1/outcomes/cohort", {"combination": "prp"}, headers=headers).json()
    assert prp["arms"] == ["prp"] and prp["investigational_notice"] is None
    treated = Patient.objects.filter(sessions__modality="exosome").first()
    progress = client.get(
        f"/api/v1/outcomes/patients/{treated.pk}/progress?forecast=true", headers=headers
    ).json()
    assert "not approved" in progress["investigational_notice"]
    assert progress["forecast"]["ok"] and "exosome" in progress["forecast"]["plan"].split("+")
    assert any("investigational" in n for n in progress["forecast"]["notes"])
    untreated = Patient.objects.exclude(sessions__modality="exosome").first()
    other = client.get(f"/api/v1/outcomes/patients/{untreated.pk}/progress", headers=headers)
    assert other.json()["investigational_notice"] is None


def test_cohort_filters_are_checked_as_on_the_page(client, clinician, sim_cohort, api_token,
                                                  clinic_a):  # fmt: skip
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    url = "/api/v1/outcomes/cohort"
    landmark = client.get(url, {"landmark": "24"}, headers=headers)
    assert landmark.status_code == 200, landmark.content
    assert landmark.json()["landmark_week"] == 24
    for bad in ({"landmark": "5"}, {"modality": "bogus"}, {"sex": "bogus"},
                {"age_band": "bogus"}, {"lot": "999999"}):  # fmt: skip
        answer = client.get(url, bad, headers=headers)
        assert answer.status_code == 400, bad
        assert answer.json()["detail"].startswith(f"{next(iter(bad))}:"), answer.json()


def test_the_cohort_summary_and_pdf_filter_by_a_stage_as_the_page_names_it(
    client, clinician, sim_cohort, api_token, clinic_a
):
    """The page offers stages after their scale's name ("Norwood–Hamilton III"); the API
    refused every Norwood–Hamilton stage as longer than 10 characters."""
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    men = Patient.objects.filter(sex_at_birth="male", diagnoses__stage="III").distinct()
    assert men.exists()
    stage = "Norwood–Hamilton III"
    answer = client.get("/api/v1/outcomes/cohort", {"stage": stage}, headers=headers)
    assert answer.status_code == 200, answer.content
    assert answer.json()["filters"]["stage"] == stage
    assert answer.json()["n_patients"] == men.count()
    pdf = client.get("/api/v1/reports/cohort.pdf", {"stage": stage}, headers=headers)
    assert pdf.status_code == 200, pdf.content
    assert pdf["Content-Type"] == "application/pdf"


def test_cohort_summary_for_researchers_has_no_identifiers(
    client, researcher, sim_cohort, api_token, clinic_a
):
    headers = {"Authorization": f"Bearer {api_token(researcher, clinic_a)}"}
    response = client.get("/api/v1/outcomes/cohort", headers=headers)
    assert response.status_code == 200
    text = response.content.decode()
    assert response.json()["deidentified"] is True
    for p in Patient.objects.all():
        assert p.family_name not in text and p.medical_record_number not in text
    assert not re.search(r"\d{4}-\d\d-\d\d", text)
    pid = Patient.objects.first().pk
    assert client.get(f"/api/v1/outcomes/patients/{pid}/progress", headers=headers).status_code \
        == 403  # fmt: skip


def test_patient_progress_api(client, nurse, clinic_a, make_patient, record_visit, api_token):
    p = make_patient(clinic_a, nurse)
    record_visit(p, nurse, 0, baseline=True, density_per_cm2=100.0, mean_diameter_um=55.0)
    record_visit(p, nurse, 85, density_per_cm2=95.0)
    headers = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    data = client.get(f"/api/v1/outcomes/patients/{p.pk}/progress", headers=headers).json()
    assert data["patient_id"] == p.pk
    rows = data["rows"]
    assert rows[0]["is_baseline"] and rows[1]["week"] == 12 and rows[1]["study_day"] == 85
    assert rows[1]["measures"]["density_per_cm2"]["change"] == -5.0
    assert rows[1]["measures"]["density_per_cm2"]["change_pct"] == -5.0
    assert rows[1]["measures"]["mean_diameter_um"]["value"] is None
    assert data["units"]["density_per_cm2"] == "hairs/cm²"
    assert "forecast" not in data
    with_forecast = client.get(
        f"/api/v1/outcomes/patients/{p.pk}/progress?forecast=true", headers=headers
    ).json()
    assert with_forecast["forecast"]["ok"] is False  # no diagnosis recorded
    assert "not a prediction" in with_forecast["forecast"]["label"]
    assert AccessLog.objects.filter(patient=p, channel="api").count() == 2


def test_roles(client, clinic_a, make_user, api_token, make_patient):
    from anagen.accounts.roles import Role

    p = make_patient(clinic_a, make_user(Role.ADMIN, clinic_a, username="adm"))
    expected = {
        Role.FRONT_DESK: (403, 403),
        Role.QUALITY: (403, 403),
        Role.NURSE: (403, 200),
        Role.RESEARCHER: (200, 403),
        Role.CLINICIAN: (200, 200),
    }
    for role, (cohort_code, progress_code) in expected.items():
        user = make_user(role, clinic_a, username=f"api-{role.value}")
        headers = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
        assert client.get("/api/v1/outcomes/cohort", headers=headers).status_code == cohort_code
        assert (
            client.get(f"/api/v1/outcomes/patients/{p.pk}/progress", headers=headers).status_code
            == progress_code
        ), role
    assert client.get("/api/v1/outcomes/cohort").status_code == 401


def test_the_progress_api_names_the_measurement_source_of_each_value(
    client, nurse, clinic_a, make_patient, record_visit, api_token
):
    """The page and the report say under each date whether a value was counted by hand or
    by image analysis; the API gave the values alone, so a client drew one line from a manual
    1 cm² density of 100 to an image-analysis field's 480 (change null, reason unsaid)."""
    from anagen.monitoring.services import add_measurement

    p = make_patient(clinic_a, nurse)
    record_visit(p, nurse, 0, baseline=True, density_per_cm2=100.0)
    later = record_visit(p, nurse, 85, target_area_cm2=None)
    add_measurement(later, nurse, {"density_per_cm2": 480.0}, source="imaging")
    headers = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    rows = client.get(f"/api/v1/outcomes/patients/{p.pk}/progress", headers=headers).json()["rows"]
    base, follow_up = (r["measures"]["density_per_cm2"] for r in rows)
    assert base["source"] == "manual" and rows[0]["source"] == "manual"
    assert follow_up == {"value": 480.0, "change": None, "change_pct": None,
                         "within_noise": False, "source": "imaging"}  # fmt: skip
    assert rows[1]["source"] == "imaging"
    assert rows[0]["measures"]["mean_diameter_um"]["source"] == ""  # no value: no source


def test_the_researchers_cohort_summary_withholds_results_resting_on_fewer_than_five(
    client, clinician, researcher, clinic_a, api_token
):
    """The page warns researchers not to copy such results out; the API handed them out, as
    exact means of one to four patients, to the role the page warns."""
    from anagen.outcomes.demo import load_simulated_cohort
    from anagen.outcomes.selectors import SMALL_CELL

    load_simulated_cohort(clinic_a, clinician, 40, seed=5)  # leaves a thin arm (cohort PDF)

    def summary(user):
        headers = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
        return client.get("/api/v1/outcomes/cohort", headers=headers).json()

    full, shared = summary(clinician), summary(researcher)
    rows = full["sections"]["by_visit"]["data"]["rows"]
    thin = [i for i, r in enumerate(rows) if 0 < r["n"] < SMALL_CELL]
    assert thin, "the simulated cohort of 40 must have a thin cell"
    shown = shared["sections"]["by_visit"]["data"]["rows"]
    for i, (r, s) in enumerate(zip(rows, shown, strict=True)):
        if i in thin:
            assert s["hidden"] is True and s["n"] is s["mean"] is s["lower"] is s["upper"] is None
            assert (s["arm"], s["week"]) == (r["arm"], r["week"])
        else:
            assert s == {**r, "hidden": False}
    assert shared["small_cells"] >= len(thin)
    # Nothing the shared answer still says counts a thin cell's patients.
    text = json.dumps([shared["notes"], [s["warnings"] for s in shared["sections"].values()]])
    assert not re.search(r"\b[1-4] (patient|subject)s?\b", text)
    # Adjusted means of a thin arm are withheld too, not only its contrasts.
    mmrm = shared["sections"]["mmrm"]["data"]
    n_at = {(r["arm"], r["week"]): r["n"] for r in rows}
    for x in mmrm["lsmeans"]:
        assert (x["estimate"] is None) == (0 < n_at.get((x["arm"], x["week"]), 0) < SMALL_CELL)
    # The clinician's answer is not de-identified and keeps every figure.
    assert all(r["n"] for r in rows) and "hidden" not in rows[0]


def test_with_a_result_hidden_the_researchers_totals_do_not_give_it_back_by_subtraction(
    client, clinician, researcher, clinic_a, api_token
):
    """The hidden arm's n is null, but the exact totals less the arms shown gave it back (40
    patients match, the arms shown at week 4 hold 38): as in the shared PDF, with a result
    hidden the totals come in bands of 5 and the models' sizes and degrees of freedom are
    withheld. The clinician's answer keeps them exact."""
    from anagen.outcomes.demo import load_simulated_cohort
    from anagen.outcomes.selectors import SMALL_CELL

    load_simulated_cohort(clinic_a, clinician, 40, seed=5)  # leaves a thin arm (cohort PDF)

    def summary(user):
        headers = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
        return client.get("/api/v1/outcomes/cohort", headers=headers).json()

    full, shared = summary(clinician), summary(researcher)
    assert shared["small_cells"]
    assert [full[k] for k in ("n_patients", "n_with_baseline", "n_analysed")] == [40, 40, 40]
    for key in ("n_patients", "n_with_baseline", "n_analysed"):
        assert shared[key] is None
        assert shared["banded_totals"][key] == f"40 to {40 + SMALL_CELL - 1}"
    ancova, mmrm = (shared["sections"][k]["data"] for k in ("ancova", "mmrm"))
    assert ancova["n_used"] is ancova["df_residual"] is None
    assert mmrm["n_subjects"] is mmrm["n_observations"] is None
    for row in [*ancova["lsmeans"], *ancova["contrasts"], *mmrm["lsmeans"], *mmrm["contrasts"]]:
        assert row["df"] is None  # n less the model's parameters
    # Nor do the notes count the whole cohort exactly.
    text = json.dumps([shared["notes"], [s["missing_data"] for s in shared["sections"].values()]])
    assert not re.search(r"\b40 (patient|subject)s\b", text)
    assert not re.search(r"\b\d+ of \d+ analysed follow-up visits\b", text)
    # Clinicians keep every figure.
    assert full["sections"]["ancova"]["data"]["n_used"] == 40
    assert full["sections"]["mmrm"]["data"]["contrasts"][0]["df"]
    assert "banded_totals" not in full


def test_the_researchers_mmrm_does_not_count_fewer_than_five_incomplete_subjects(
    client, clinician, researcher, clinic_a, api_token
):
    """The MMRM's note words them "fewer than 5 subjects with missing visits"; its data gave
    the exact number beside it."""
    from anagen.outcomes.demo import load_simulated_cohort

    load_simulated_cohort(clinic_a, clinician, 40, seed=5)

    def mmrm(user):
        headers = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
        data = client.get("/api/v1/outcomes/cohort", headers=headers).json()
        return data["sections"]["mmrm"]

    full, shared = mmrm(clinician), mmrm(researcher)
    assert full["data"]["n_incomplete_subjects"] == 2
    assert "fewer than 5 subjects with missing visits" in shared["missing_data"]
    assert shared["data"]["n_incomplete_subjects"] is None
