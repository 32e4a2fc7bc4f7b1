"""`anagen verify_files`: every file a record names is in storage, and photos are unchanged.

A database restored without its media folder, or from another day's copy, keeps records
whose photos or certificates are gone; the pages then answer "missing" one file at a time.
The command finds every such file at once and exits 1, so a backup script or a timer can
alert.
"""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from anagen.accounts.roles import Role
from anagen.monitoring import services as monitoring
from anagen.products import services as products

from ..builders import released_lot

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _png(shade: int) -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (190, 150, shade)).save(out, format="PNG")
    out.seek(0)
    return out


@pytest.fixture
def clinician(clinic_a, make_user):
    return make_user(Role.CLINICIAN, clinic_a, username="cleo")


@pytest.fixture
def photo(clinic_a, clinician, make_patient):
    patient = make_patient(clinic_a, clinician)
    visit = monitoring.record_visit(
        patient, clinician, {"visit_date": date.today(), "density_per_cm2": 120}
    )
    data = _png(120)
    upload = monitoring.PhotoUpload(data, "global", "vertex", size=len(data.getvalue()))
    return monitoring.add_photos(visit, clinician, [upload])[0]


@pytest.fixture
def document(clinic_a, clinician):
    lot = released_lot(clinic_a, clinician)
    pdf = SimpleUploadedFile("spec.pdf", PDF, content_type="application/pdf")
    return products.add_supplier_document(lot, clinician, pdf, "Shipping record")


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_files", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_all_files_present_and_unchanged_exit_0(photo, document):
    code, out = run()
    assert code == 0
    assert out.strip() == "All 2 file(s) present and unchanged."


def test_a_missing_photo_is_named_with_its_record_and_exit_is_1(photo, document, clinic_a):
    default_storage.delete(photo.image.name)
    code, out = run()
    assert code == 1
    assert (
        f"{clinic_a.slug}: photo {photo.pk} (patient {photo.patient_id}, visit "
        f"{photo.visit.visit_date}): {photo.image.name}: missing"
    ) in out
    assert out.strip().endswith("1 of 2 file(s) missing or changed.")


def test_a_photo_whose_bytes_changed_is_found_by_its_sha256(photo):
    # Same size, other content: only the checksum tells.
    with default_storage.open(photo.image.name, "rb") as f:
        content = bytearray(f.read())
    content[-20] ^= 0xFF
    default_storage.delete(photo.image.name)
    default_storage.save(photo.image.name, io.BytesIO(bytes(content)))
    code, out = run()
    assert code == 1
    assert "content differs from the upload (SHA-256)" in out


def test_a_truncated_photo_is_found_by_its_size(photo):
    with default_storage.open(photo.image.name, "rb") as f:
        content = f.read()
    default_storage.delete(photo.image.name)
    default_storage.save(photo.image.name, io.BytesIO(content[:100]))
    code, out = run()
    assert code == 1
    assert f"size differs: 100 bytes stored, {photo.size_bytes} at upload" in out


def test_a_missing_or_emptied_supplier_document_is_named(document):
    default_storage.delete(document.file.name)
    default_storage.save(document.file.name, io.BytesIO(b""))
    code, out = run()
    assert code == 1
    assert f"supplier document {document.pk} 'Shipping record' (lot L-1)" in out
    assert out.splitlines()[0].endswith("empty (0 bytes)")
    default_storage.delete(document.file.name)
    assert run()[1].splitlines()[0].endswith(": missing")


def test_voided_photos_are_checked_too(photo, clinician):
    monitoring.void_record(photo, clinician, "wrong patient")
    default_storage.delete(photo.image.name)
    code, out = run()
    assert code == 1
    assert f"photo {photo.pk} " in out and "[voided]" in out


def test_clinic_option_limits_the_check_and_refuses_an_unknown_slug(photo, clinic_b, clinic_a):
    default_storage.delete(photo.image.name)
    assert run("--clinic", clinic_b.slug) == (0, "All 0 file(s) present and unchanged.\n")
    assert run("--clinic", clinic_a.slug)[0] == 1
    with pytest.raises(CommandError, match="--clinic: no clinic with slug 'nowhere'"):
        call_command("verify_files", "--clinic", "nowhere")
