"""Issue 8 reports and interop in a real browser: a clinician downloads a patient's progress
report (PDF) and FHIR bundle from the patient page; a researcher downloads the cohort report
and the de-identified CSV; the front desk imports a patient from a FHIR file after fixing an
error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anagen.accounts.roles import Role
from anagen.patients.models import Patient

from ..conftest import PASSWORD
from ..reports.factory import course
from ..reports.pdftext import assert_pdf
from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _download(page, link_name: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_clinician_downloads_the_progress_report_pdf_and_the_fhir_bundle(
    page, clinic_a, make_user, make_patient
):
    clinician = make_user(Role.CLINICIAN, clinic_a, username="dr-report")
    patient = make_patient(
        clinic_a,
        clinician,
        sex_at_birth="male",
        given_name="Rene",
        family_name="Report",
        medical_record_number="BR-REP-1",
    )
    course(patient, clinician)
    sign_in(page, "dr-report", PASSWORD)
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("heading", name="Rene Report").wait_for()
    name, content = _download(page, "Progress report (PDF)")
    assert name.startswith("progress-BR-REP-1-") and name.endswith(".pdf")
    assert_pdf(content, min_bytes=20_000)
    name, content = _download(page, "FHIR export")
    assert name == "fhir-BR-REP-1.json"
    bundle = json.loads(content)
    assert bundle["resourceType"] == "Bundle"
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} >= {
        "Patient",
        "Procedure",
        "Observation",
        "AdverseEvent",
        "DocumentReference",
    }
    assert page.console_errors == []


def test_researcher_downloads_the_cohort_report_and_the_deidentified_csv(
    page, screenshot, clinic_a, make_user, make_patient
):
    clinician = make_user(Role.CLINICIAN, clinic_a, username="dr-cohort")
    make_user(Role.RESEARCHER, clinic_a, username="researcher-1")
    for i in range(2):
        p = make_patient(clinic_a, clinician, sex_at_birth="male", family_name=f"Hidden{i}")
        course(p, clinician, photos=False, adverse_event=i == 0)
    sign_in(page, "researcher-1", PASSWORD)
    page.goto("/reports/")
    page.get_by_role("heading", name="Reports", exact=True).wait_for()
    page.get_by_label("Sex").select_option("male")
    screenshot(page, "reports")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download cohort report (PDF)").click()
    assert info.value.suggested_filename.startswith("cohort-report-")
    assert_pdf(Path(info.value.path()).read_bytes())
    page.goto("/interop/export/")
    assert "6 rows" in page.locator("#export-size").inner_text()
    screenshot(page, "export-deidentified")
    name, content = _download(page, "Download CSV")
    assert name.endswith(".csv")
    text = content.decode()
    assert text.startswith("pseudo_id,") and "Hidden0" not in text
    assert page.console_errors == []


def test_front_desk_imports_a_patient_from_a_fhir_file_after_fixing_an_error(
    page, tmp_path, clinic_a, make_user
):
    make_user(Role.FRONT_DESK, clinic_a, username="desk-1")
    patient = {
        "resourceType": "Patient",
        "identifier": [{"value": "FHIR-77"}],
        "name": [{"family": "Import", "given": ["Ines"]}],
        "gender": "female",
    }
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
        )
    )
    sign_in(page, "desk-1", PASSWORD)
    page.goto("/patients/")
    page.get_by_role("link", name="Import from FHIR").click()
    page.get_by_label("FHIR Bundle (JSON file)").set_input_files(str(bad))
    page.get_by_role("button", name="Import patient").click()
    assert "The date of birth is missing (Patient.birthDate)." in page.content()
    assert not Patient.objects.filter(medical_record_number="FHIR-77").exists()
    patient["birthDate"] = "1990-02-03"
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
        )
    )
    page.get_by_label("FHIR Bundle (JSON file)").set_input_files(str(good))
    page.get_by_role("button", name="Import patient").click()
    page.get_by_role("heading", name="Ines Import").wait_for()
    assert Patient.objects.get(medical_record_number="FHIR-77").clinic == clinic_a
    assert page.console_errors == []
