"""`anagen fhir`, `anagen deidentified` and `anagen report`: same permissions and checks as the
pages; errors are one line and exit non-zero (CommandError)."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from fhir.resources.bundle import Bundle

from anagen.accounts.roles import Role
from anagen.patients.models import Patient

from ..reports.factory import course
from ..reports.pdftext import assert_pdf


@pytest.fixture
def setup(clinic_a, make_user, make_patient):
    clinician = make_user(Role.CLINICIAN, clinic_a, username="doc")
    make_user(Role.RESEARCHER, clinic_a, username="res")
    patient = make_patient(clinic_a, clinician, medical_record_number="CLI-1", sex_at_birth="male")
    course(patient, clinician, photos=False)
    return patient


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_fhir_export_to_a_file_and_import_it_back(setup, tmp_path, clinic_a, clinic_b, make_user):
    target = tmp_path / "b.json"
    run(
        "fhir",
        "export",
        "--clinic",
        "clinic-a",
        "--user",
        "doc",
        "--mrn",
        "CLI-1",
        "-o",
        str(target),
    )
    Bundle.model_validate_json(target.read_text())
    make_user(Role.FRONT_DESK, clinic_b, username="desk-b")
    out, _ = run("fhir", "import", str(target), "--clinic", "clinic-b", "--user", "desk-b")
    assert "Imported" in out and "not imported" in out
    assert Patient.objects.get(clinic=clinic_b).medical_record_number == "CLI-1"


def test_deidentified_csv_to_stdout_and_parquet_to_a_file(setup, tmp_path, capsys):
    call_command("deidentified", "--clinic", "clinic-a", "--user", "res")
    text = capsys.readouterr().out
    assert text.startswith("pseudo_id,") and "CLI-1" not in text
    target = tmp_path / "t.parquet"
    run(
        "deidentified",
        "--clinic",
        "clinic-a",
        "--user",
        "res",
        "--format",
        "parquet",
        "-o",
        str(target),
    )
    assert pq.read_table(target).num_rows == 3


def test_reports_to_pdf_files(setup, tmp_path):
    patient_pdf, cohort_pdf = tmp_path / "p.pdf", tmp_path / "c.pdf"
    run(
        "report",
        "patient",
        "--clinic",
        "clinic-a",
        "--user",
        "doc",
        "--mrn",
        "CLI-1",
        "-o",
        str(patient_pdf),
    )
    assert_pdf(patient_pdf.read_bytes())
    run(
        "report",
        "cohort",
        "--clinic",
        "clinic-a",
        "--user",
        "res",
        "--filter",
        "sex=male",
        "-o",
        str(cohort_pdf),
    )
    assert_pdf(cohort_pdf.read_bytes())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fhir", "export", "--clinic", "nowhere", "--user", "doc", "--mrn", "CLI-1"), "no clinic"),
        (
            ("fhir", "export", "--clinic", "clinic-a", "--user", "res", "--mrn", "CLI-1"),
            "may not do this",
        ),
        (
            ("fhir", "export", "--clinic", "clinic-a", "--user", "doc", "--mrn", "NOPE"),
            "no patient",
        ),
        (("deidentified", "--clinic", "clinic-a", "--user", "doc"), "export.deidentified"),
        (
            ("deidentified", "--clinic", "clinic-a", "--user", "res", "--format", "parquet"),
            "give a file name",
        ),
        (
            (
                "report",
                "cohort",
                "--clinic",
                "clinic-a",
                "--user",
                "res",
                "--filter",
                "sex",
                "-o",
                "x.pdf",
            ),
            "KEY=VALUE",
        ),
        (
            (
                "report",
                "cohort",
                "--clinic",
                "clinic-a",
                "--user",
                "res",
                "--filter",
                "outcome=nonsense",
                "-o",
                "x.pdf",
            ),
            "outcome",
        ),
        (
            (
                "report",
                "patient",
                "--clinic",
                "clinic-a",
                "--user",
                "res",
                "--mrn",
                "CLI-1",
                "-o",
                "x.pdf",
            ),
            "report.patient",
        ),
    ],
)
def test_errors_are_one_line(setup, args, message):
    with pytest.raises(CommandError, match=message) as exc:
        run(*args)
    assert "\n" not in str(exc.value)


def test_import_of_a_bad_file_stores_nothing(setup, tmp_path, clinic_a):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resourceType": "Patient"}))
    before = Patient.objects.count()
    with pytest.raises(CommandError, match="nothing imported — resourceType"):
        run("fhir", "import", str(bad), "--clinic", "clinic-a", "--user", "doc")
    assert Patient.objects.count() == before
