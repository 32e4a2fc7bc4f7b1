"""Reads of imaging data, always within one patient of the user's clinic (else 404)."""

from __future__ import annotations

from anagen.imaging.models import PhotoAnalysis
from anagen.monitoring.models import Photo, Visit
from anagen.monitoring.selectors import _get
from anagen.patients.models import Patient


def get_analysis(patient: Patient, analysis_id: int) -> PhotoAnalysis:
    qs = PhotoAnalysis.objects.filter(clinic=patient.clinic, patient=patient).select_related(
        "photo", "photo__visit"
    )
    return _get(qs, analysis_id, "analysis")


def get_trichoscopy_photo(patient: Patient, photo_id: int) -> Photo:
    qs = Photo.objects.filter(
        clinic=patient.clinic, patient=patient, kind=Photo.Kind.TRICHOSCOPY
    ).select_related("visit")
    return _get(qs, photo_id, "trichoscopy photo")


def analyses_of(visit: Visit) -> list[PhotoAnalysis]:
    return list(
        PhotoAnalysis.objects.filter(
            clinic=visit.clinic, photo__visit=visit, photo__voided_at__isnull=True
        )
        .select_related("photo", "correction")
        .order_by("photo_id")
    )
