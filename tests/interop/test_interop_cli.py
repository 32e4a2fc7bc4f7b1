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


@pytest.mark.parametrize(
    "command",
    [
        ("report", "cohort", "--clinic", "clinic-a", "--user", "doc"),
        ("deidentified", "--clinic", "clinic-a", "--user", "res", "--format", "parquet"),
        ("fhir", "export", "--clinic", "clinic-a", "--user", "doc", "--mrn", "CLI-1"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
    setup, tmp_path, command, monkeypatch
):
    """The cohort PDF was rendered in full before the missing folder was noticed."""
    from anagen.interop import analysis, fhir_export
    from anagen.reports import pdf

    def never(*args, **kwargs):
        raise AssertionError("rendered although the output cannot be written")

    for module, name in ((pdf, "render_pdf"), (analysis, "analysis_rows"),
                         (fhir_export, "patient_bundle_json")):  # fmt: skip
        monkeypatch.setattr(module, name, never)
    with pytest.raises(CommandError, match="does not exist"):
        run(*command, "-o", str(tmp_path / "missing" / "out.pdf"))
    with pytest.raises(CommandError, match="is a folder"):
        run(*command, "-o", str(tmp_path))


def test_a_fhir_bundle_saved_with_a_byte_order_mark_imports(setup, tmp_path, clinic_b, make_user):
    """Lots import accepted a UTF-8 BOM (Windows editors write one) and FHIR import refused it."""
    target = tmp_path / "b.json"
    run("fhir", "export", "--clinic", "clinic-a", "--user", "doc", "--mrn", "CLI-1",
        "-o", str(target))  # fmt: skip
    target.write_bytes(b"\xef\xbb\xbf" + target.read_bytes())
    make_user(Role.FRONT_DESK, clinic_b, username="desk-b")
    out, _ = run("fhir", "import", str(target), "--clinic", "clinic-b", "--user", "desk-b")
    assert "Imported" in out
    assert Patient.objects.get(clinic=clinic_b).medical_record_number == "CLI-1"


# --- photo links and --base-url ----------------------------------------------------------------

EXPORT = ("fhir", "export", "--clinic", "clinic-a", "--user", "doc")


@pytest.fixture
def photographed(clinic_a, setup, make_patient):
    """A second patient whose visits have photos (the `setup` course has none)."""
    from anagen.accounts.models import User

    doc = User.objects.get(username="doc")
    patient = make_patient(clinic_a, doc, medical_record_number="CLI-2")
    course(patient, doc)
    return patient


def _attachments(path) -> list[dict]:
    bundle = json.loads(path.read_text())
    return [
        e["resource"]["content"][0]["attachment"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    ]


def test_without_a_base_url_photos_are_listed_without_links_and_stderr_says_how_to_add_them(
    photographed, tmp_path
):
    """A path such as /monitoring/5/photos/7/ resolves nowhere for the receiver."""
    target = tmp_path / "b.json"
    _, err = run(*EXPORT, "--mrn", "CLI-2", "-o", str(target))
    Bundle.model_validate_json(target.read_text())
    attachments = _attachments(target)
    assert len(attachments) == 3
    for a in attachments:
        assert "url" not in a
        assert a["contentType"] == "image/jpeg" and a["title"] and a["size"]
    (note,) = [line for line in err.splitlines() if "--base-url" in line]
    assert note.startswith("Photo links were left out (3 photos)")
    assert "--base-url https://your-server" in note


def test_with_a_base_url_photos_are_linked_there(photographed, tmp_path):
    target = tmp_path / "b.json"
    _, err = run(*EXPORT, "--mrn", "CLI-2", "-o", str(target),
                 "--base-url", "https://anagen.example.org/")  # fmt: skip
    urls = [a["url"] for a in _attachments(target)]
    assert len(urls) == 3
    assert all(
        u.startswith(f"https://anagen.example.org/monitoring/{photographed.pk}/photos/")
        for u in urls
    )
    assert "--base-url" not in err


def test_a_patient_without_photos_exports_without_the_note(setup, tmp_path):
    _, err = run(*EXPORT, "--mrn", "CLI-1", "-o", str(tmp_path / "b.json"))
    assert "Photo links" not in err


@pytest.mark.parametrize(
    "base_url",
    [
        "anagen.example.org",
        "/monitoring",
        "ftp://anagen.example.org",
        "https://",
        "https://anagen.example.org:port",
        "https://anagen.example.org/?next=1",
        "javascript:alert(1)",
    ],
)
def test_a_base_url_that_is_not_an_absolute_http_address_is_refused_before_any_work(
    setup, tmp_path, base_url
):
    from anagen.accounts.models import AccessLog

    target = tmp_path / "b.json"
    with pytest.raises(CommandError, match="--base-url: give the server's absolute") as exc:
        run(*EXPORT, "--mrn", "CLI-1", "-o", str(target), "--base-url", base_url)
    assert "\n" not in str(exc.value) and "https://" in str(exc.value)
    assert not target.exists()
    assert not AccessLog.objects.exists()


@pytest.mark.parametrize(
    ("command", "path", "message"),
    [
        (("fhir", "import"), "/dev/zero", "/dev/zero: larger than 2,048 KiB; nothing imported"),
        (("fhir", "import"), "{tmp}", "is a folder, not a file"),
        (("lots", "import"), "/dev/zero", "/dev/zero: larger than 2,048 KiB; nothing imported"),
    ],
)
def test_an_import_file_too_big_or_not_a_file_is_refused_without_reading_it_all(
    setup, tmp_path, clinic_a, make_user, command, path, message
):
    """`anagen fhir import /dev/zero` once read until the kernel killed it at 22 GB."""
    # Each command run by a role that may use it: front desk imports patients, quality lots.
    role = Role.QUALITY if command[0] == "lots" else Role.FRONT_DESK
    user = make_user(role, clinic_a, username="cli-user")
    with pytest.raises(CommandError) as err:
        call_command(
            *command, path.format(tmp=tmp_path), "--clinic", "clinic-a", "--user", user.username
        )
    assert str(err.value).endswith(message)


def test_a_record_number_is_found_ignoring_case_as_it_is_unique(setup, tmp_path):
    target = tmp_path / "a.json"
    run("fhir", "export", "--clinic", "clinic-a", "--user", "doc", "--mrn", "cli-1",
        "-o", str(target))  # fmt: skip
    assert Bundle.model_validate_json(target.read_text()).type == "collection"


def test_a_record_number_typed_in_full_width_finds_the_patient(setup, capsys):
    """Record numbers are stored as they print (NFKC): "ＣＬＩ－１" from an input method left
    in full-width mode is CLI-1, at the command line as in the pages."""
    call_command("fhir", "export", "--clinic", "clinic-a", "--user", "doc", "--mrn", " ｃｌｉ－１ ")
    assert json.loads(capsys.readouterr().out)["resourceType"] == "Bundle"
