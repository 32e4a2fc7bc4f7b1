"""Reads of imaging data, always within one patient of the user's clinic (else 404)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from anagen.imaging import services
from anagen.imaging.engine import accuracy_note, accuracy_record
from anagen.imaging.models import COMPARISON_DAYS, PhotoAnalysis, PhotoComparison
from anagen.monitoring.models import Measurement, Photo, Visit
from anagen.monitoring.selectors import _get
from anagen.patients.models import Patient


def comparison_closed(photo: Photo) -> str:
    """Why ``photo`` can no longer be compared with another (it, its visit or its patient
    record is voided: the service refuses it), in words; "" where it can."""
    for what, voided in (
        ("patient record", photo.visit.patient.is_voided),
        ("visit", photo.visit.is_voided),
        ("photo", photo.is_voided),
    ):
        if voided:
            return f"This {what} is voided: its images can no longer be compared."
    return ""


def accuracy_notes(patient: Patient, visit_dates: Iterable[date]) -> list[str]:
    """How far the image-analysis measurements of the visits on ``visit_dates`` can be
    trusted: the accuracy record of each engine version that made one (tables of
    measurements show these dates; none when the dates have no image-analysis measurement).
    """
    dates = set(visit_dates)
    if not dates:
        return []
    versions = (
        _measured_analyses(patient, dates)
        .values_list("engine_version", flat=True)
        .distinct()
        .order_by("engine_version")
    )
    return [f"Image-analysis counts: {accuracy_note(v)}" for v in versions] + _cutoff_notes(
        patient, dates
    )


def _measured_analyses(patient: Patient, dates: set[date]) -> QuerySet[PhotoAnalysis]:
    """The patient's image analyses whose measurement stands (not voided, nor its visit) at a
    visit on one of ``dates``."""
    return PhotoAnalysis.objects.filter(
        clinic=patient.clinic,
        patient=patient,
        measurement__source=Measurement.Source.IMAGING,
        measurement__voided_at__isnull=True,
        measurement__visit__voided_at__isnull=True,
        measurement__visit__visit_date__in=dates,
    )


def _cutoff_notes(patient: Patient, dates: set[date]) -> list[str]:
    """The terminal/vellus cut-off each image analysis on ``dates`` used (kept with the
    analysis; the clinic's setting may have changed since): terminal and vellus % mean
    nothing without it, and two cut-offs make their change an artefact of the setting."""
    rows = (
        _measured_analyses(patient, dates)
        .filter(measurement__terminal_pct__isnull=False)
        .values_list("terminal_cutoff_um", "measurement__visit__visit_date")
        .order_by("measurement__visit__visit_date", "id")
    )
    by_cutoff: dict[float, list[date]] = {}
    for cutoff, on in rows:
        by_cutoff.setdefault(cutoff, []).append(on)
    if not by_cutoff:
        return []
    if len(by_cutoff) == 1:
        (cutoff,) = by_cutoff
        return [
            f"Image analysis counts a hair as terminal above {cutoff:g} µm (vellus at or "
            "below): the cut-off it was measured with."
        ]
    parts = "; ".join(
        f"{cutoff:g} µm on {', '.join(sorted({d.isoformat() for d in days}))}"
        for cutoff, days in by_cutoff.items()
    )
    return [
        f"Image analysis measured terminal and vellus hairs with different cut-offs ({parts}): "
        "the terminal and vellus % of these visits are not comparable, and a change between "
        "them reflects the clinic's setting, not the hair."
    ]


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


def measurement_sites(patient: Patient, measurement_ids: Iterable[int]) -> dict[int, str]:
    """For each of ``measurement_ids`` made by the analysis of a photo: the marked site the
    photo shows (its target area as ``services.site_key`` compares it; "" unnamed)."""
    ids = set(measurement_ids)
    if not ids:
        return {}
    rows = PhotoAnalysis.objects.filter(
        clinic=patient.clinic, patient=patient, measurement_id__in=ids
    ).values_list("measurement_id", "photo__target_area")
    return {m: services.site_key(site or "") for m, site in rows}


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
    """Trichoscopy photos of the same patient and marked site from the 1-7 days before
    ``photo``'s visit (photos of other sites were offered and refused once chosen)."""
    day = photo.visit.visit_date
    lo, hi = COMPARISON_DAYS
    site = services.site_key(photo.target_area)
    candidates = list(
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
    return [p for p in candidates if services.site_key(p.target_area) == site]


# --- the correction layer, as the analysis panel shows it --------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """One correction in words: what it did, who made it (full name) and when (aware UTC)."""

    text: str
    author: str
    at: datetime | None


def correction_log(analysis: PhotoAnalysis) -> list[LogEntry]:
    """The analysis's corrections, oldest first, in words."""
    edits = analysis.edits
    if not edits or not analysis.is_done:
        return []
    replay = services.replay_edits({h["id"] for h in analysis.hairs}, edits)
    usernames = {e.get("author") for e in edits if e.get("author")}
    users = get_user_model().objects.filter(username__in=usernames)
    names = {u.get_username(): u.get_full_name() or u.get_username() for u in users}
    out = []
    for text, e in zip(replay.texts, edits, strict=True):
        author = e.get("author") or ""
        try:
            at = datetime.fromisoformat(e["at"]) if e.get("at") else None
        except ValueError:
            at = None
        out.append(LogEntry(text, names.get(author, author), at))
    return out


@dataclass(frozen=True)
class HairRow:
    """A row of the per-hair table: the automatic detection and what the corrections made of
    it. ``automatic_um`` is None for a hair made by a correction, ``corrected_um`` None for
    one a correction took out; ``change`` is empty for a hair no correction touched."""

    id: int
    length_um: float
    automatic_um: float | None
    corrected_um: float | None
    unit_id: int | None
    counted: bool
    change: str

    @property
    def taken_out(self) -> bool:
        return self.corrected_um is None


def hair_rows(analysis: PhotoAnalysis) -> list[HairRow]:
    """Every automatic hair with its corrected state, then the hairs the corrections made
    (merged, split or added), by hair number. Without corrections: the automatic hairs."""
    auto: dict[int, dict[str, Any]] = {h["id"]: h for h in analysis.hairs}
    edits = analysis.edits
    if not edits:
        return [
            HairRow(i, h["length_um"], h["diameter_um"], h["diameter_um"], h["unit_id"],
                    h["counted"], "")
            for i, h in auto.items()
        ]  # fmt: skip
    replay = services.replay_edits(set(auto), edits)
    corrected = {h.id: h for h in services.final_analysis(analysis).hairs}
    rows = []
    for i in sorted(set(auto) | set(corrected)):
        a, c = auto.get(i), corrected.get(i)
        notes = [replay.gone.get(i) or replay.made.get(i) or ""]
        if i in replay.diameter_set and c is not None:
            notes.append(f"diameter set to {replay.diameter_set[i]:g} µm")
        change = "; ".join(n for n in notes if n)
        if c is not None:
            rows.append(
                HairRow(i, c.length_um, a["diameter_um"] if a else None, c.diameter_um,
                        c.unit_id, c.counted, change)
            )  # fmt: skip
        elif a is not None:
            rows.append(
                HairRow(i, a["length_um"], a["diameter_um"], None, a["unit_id"], False, change)
            )
    return rows


def measurement_source(measurement: Measurement, *, short: bool = False) -> str:
    """Where a visit measurement comes from, in words: manual, or the image analysis (of
    which photo, unless ``short``), automatic or corrected."""
    if measurement.source != Measurement.Source.IMAGING:
        return measurement.get_source_display()
    analysis = (
        PhotoAnalysis.objects.filter(clinic=measurement.clinic, measurement=measurement)
        .select_related("photo", "correction")
        .first()
    )
    if analysis is None:
        return measurement.get_source_display()
    n = len(analysis.edits)
    if short:
        return f"{measurement.get_source_display()}, {'corrected' if n else 'automatic'}"
    where = f" of {analysis.photo.target_area}" if analysis.photo.target_area else ""
    state = f"corrected ({n} correction{'s' if n != 1 else ''})" if n else "automatic"
    return f"{measurement.get_source_display()}{where}, {state}"


@dataclass(frozen=True)
class RecordingState:
    """Whether an analysis is the visit's image-analysis measurement now (``recorded``), or
    could become it (``may_record``: its result waits for a clinician's confirmation, or the
    one that held that place was voided since); ``held``: why it waits for a confirmation, in
    words ("" where it does not)."""

    recorded: bool
    may_record: bool
    held: str = ""


def recording_state(analysis: PhotoAnalysis) -> RecordingState:
    recorded = services.records_visit_measurement(analysis)
    held = "" if recorded else services.needs_confirmation(analysis)
    return RecordingState(recorded, services.may_record(analysis, recorded=recorded), held)
