"""Check that every file the database refers to is in storage, unchanged.

Photos, certificates of analysis and supplier documents live in the file storage
(``ANAGEN_MEDIA_ROOT`` or S3), not in the database, so a backup of one without the other, a
restore from an older copy, or a storage move can lose files that the records still name.
Photos carry the size and SHA-256 of the stored bytes (taken at upload), so a changed or
truncated photo is found too; for PDFs only presence and a non-empty file can be checked.
Voided records are checked as well: they are kept, with their files, for the audit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.files.storage import default_storage

from anagen.accounts.models import Clinic
from anagen.monitoring.models import Photo
from anagen.products.models import CertificateOfAnalysis, SupplierDocument

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileProblem:
    clinic: str  # slug
    record: str  # what names the file, e.g. "photo 12 (patient 45, visit 2026-09-14)"
    path: str  # the name in storage
    problem: str


@dataclass
class FileCheck:
    checked: int
    problems: list[FileProblem]


def _sha256(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _photo_problem(photo: Photo, name: str) -> str | None:
    if not name:
        return "no file recorded"
    if not default_storage.exists(name):
        return "missing"
    size = default_storage.size(name)
    if size != photo.size_bytes:
        return f"size differs: {size} bytes stored, {photo.size_bytes} at upload"
    if _sha256(name) != photo.sha256:
        return "content differs from the upload (SHA-256)"
    return None


def _document_problem(name: str) -> str | None:
    if not name:
        return "no file recorded"
    if not default_storage.exists(name):
        return "missing"
    if default_storage.size(name) == 0:
        return "empty (0 bytes)"
    return None


def _photos(clinic: Clinic | None) -> Iterator[tuple[str, str, str, str | None]]:
    photos = Photo.objects.select_related("clinic", "visit").order_by("pk")
    if clinic is not None:
        photos = photos.filter(clinic=clinic)
    for photo in photos.iterator(chunk_size=500):
        record = (
            f"photo {photo.pk} (patient {photo.patient_id}, visit {photo.visit.visit_date})"
            + (" [voided]" if photo.is_voided else "")
        )
        name = photo.image.name or ""
        yield photo.clinic.slug, record, name, _photo_problem(photo, name)


def _documents(clinic: Clinic | None) -> Iterator[tuple[str, str, str, str | None]]:
    coas = CertificateOfAnalysis.objects.exclude(pdf="").select_related("clinic", "lot")
    docs = SupplierDocument.objects.select_related("clinic", "lot")
    if clinic is not None:
        coas, docs = coas.filter(clinic=clinic), docs.filter(clinic=clinic)
    for coa in coas.order_by("pk").iterator(chunk_size=500):
        record = f"certificate of analysis {coa.pk} (lot {coa.lot.lot_number})"
        name = coa.pdf.name or ""
        yield coa.clinic.slug, record, name, _document_problem(name)
    for doc in docs.order_by("pk").iterator(chunk_size=500):
        record = f"supplier document {doc.pk} '{doc.title}' (lot {doc.lot.lot_number})"
        name = doc.file.name or ""
        yield doc.clinic.slug, record, name, _document_problem(name)


def check_stored_files(clinic: Clinic | None = None) -> FileCheck:
    """Every file of ``clinic`` (all clinics when None) checked against its record."""
    result = FileCheck(checked=0, problems=[])
    for slug, record, path, problem in (*_photos(clinic), *_documents(clinic)):
        result.checked += 1
        if problem is not None:
            result.problems.append(FileProblem(slug, record, path, problem))
    return result
