"""Reads of imaging data, always within one patient of the user's clinic (else 404)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from anagen.imaging.engine import accuracy_note, accuracy_record
from anagen.imaging.models import COMPARISON_DAYS, PhotoAnalysis, PhotoComparison
from anagen.monitoring.models import Measurement, Photo, Visit
from anagen.monitoring.selectors import _get
from anagen.patients.models import Patient


def accuracy_notes(patient: Patient, visit_dates: Iterable[date]) -> list[str]:
    """How far the image-analysis measurements of the visits on ``visit_dates`` can be
    trusted: the accuracy record of each engine version that made one (tables of
    measurements show these dates; none when the dates have no image-analysis measurement).
    """
    dates = set(visit_dates)
    if not dates:
        return []
    versions = (
        PhotoAnalysis.objects.filter(
            clinic=patient.clinic,
            patient=patient,
            measurement__source=Measurement.Source.IMAGING,
            measurement__voided_at__isnull=True,
            measurement__visit__voided_at__isnull=True,
            measurement__visit__visit_date__in=dates,
        )
        .values_list("engine_version", flat=True)
        .distinct()
        .order_by("engine_version")
    )
    return [f"Image-analysis counts: {accuracy_note(v)}" for v in versions]


def least_significant_changes(
    patient: Patient, measurement_ids: Iterable[int]
) -> dict[int, dict[str, float]]:
    """For each of ``measurement_ids`` made by image analysis: the least significant change
    (%) of each measure, from the benchmark record of the engine version that made it (none
    for versions without a record; terminal %, vellus % and anagen % have none)."""
    ids = set(measurement_ids)
    if not ids:
        return {}
    rows = PhotoAnalysis.objects.filter(
        clinic=patient.clinic, patient=patient, measurement_id__in=ids
    ).values_list("measurement_id", "engine_version")
    out = {}
    for measurement_id, version in rows:
        record = accuracy_record(version)
        if record is not None:
            out[measurement_id] = {
                "hair_count": record.least_significant_change_pct,
                # The count over the same field area: the count's relative variation.
                "density_per_cm2": record.least_significant_change_pct,
                "mean_diameter_um": record.least_significant_change_mean_diameter_pct,
                "cumulative_thickness_mm_per_cm2": record.least_significant_change_thickness_pct,
            }
    return out


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


def get_comparison(patient: Patient, comparison_id: int) -> PhotoComparison:
    qs = PhotoComparison.objects.filter(clinic=patient.clinic, patient=patient).select_related(
        "before_photo", "before_photo__visit", "after_photo", "after_photo__visit"
    )
    return _get(qs, comparison_id, "comparison")


def comparisons_of_photo(photo: Photo) -> list[PhotoComparison]:
    """Comparisons with ``photo`` as the later image, newest first."""
    return list(
        PhotoComparison.objects.filter(clinic=photo.clinic, after_photo=photo)
        .select_related(
            "before_photo",
            "before_photo__visit",
            "before_photo__analysis",
            "after_photo__visit",
            "after_photo__analysis",
        )
        .order_by("-created_at", "-id")
    )


def comparisons_of(visit: Visit) -> list[PhotoComparison]:
    """Comparisons whose later image was taken at ``visit``, newest first."""
    return list(
        PhotoComparison.objects.filter(
            clinic=visit.clinic, after_photo__visit=visit, after_photo__voided_at__isnull=True
        )
        .select_related("before_photo", "before_photo__visit", "after_photo", "after_photo__visit")
        .order_by("-created_at", "-id")
    )


def earlier_photos_for(photo: Photo) -> list[Photo]:
    """Trichoscopy photos of the same patient from the 1-7 days before ``photo``'s visit."""
    day = photo.visit.visit_date
    lo, hi = COMPARISON_DAYS
    return list(
        Photo.objects.filter(
            clinic=photo.clinic,
            patient=photo.patient,
            kind=Photo.Kind.TRICHOSCOPY,
            voided_at__isnull=True,
            visit__voided_at__isnull=True,
            visit__visit_date__gte=day - timedelta(days=hi),
            visit__visit_date__lte=day - timedelta(days=lo),
        )
        .select_related("visit", "analysis")
        .order_by("-visit__visit_date", "id")
    )
