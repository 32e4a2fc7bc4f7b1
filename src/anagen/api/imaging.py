"""Imaging API: analyses of trichoscopy photos, both summaries, corrections, re-analysis, and
phototrichograms (two-visit comparisons giving anagen %).

The patient in the path is looked up first (another clinic's patient → 404 before any body
check); services.py applies the rules and names the field in a 400.
"""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.http import Http404
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from anagen.api.auth import guard
from anagen.api.errors import refuse
from anagen.api.schemas import InputSchema
from anagen.core.http import ClinicRequest
from anagen.imaging import selectors, services
from anagen.imaging.engine import accuracy_record
from anagen.imaging.models import PhotoAnalysis, PhotoComparison
from anagen.monitoring import selectors as monitoring_selectors

router = Router(tags=["imaging"])


class AnalysisOut(Schema):
    id: int
    photo_id: int
    visit_id: int
    status: str
    error: str
    um_per_px: float | None
    calibration_source: str
    terminal_cutoff_um: float
    engine_version: str
    requested_at: datetime
    analysed_at: datetime | None
    # Queued or running for longer than any analysis takes: request it again.
    stalled: bool
    measurement_id: int | None
    # The result is the visit's image-analysis measurement now (its measurement not voided).
    records_visit_measurement: bool
    # It could become it (POST .../record): its result waits for a clinician's confirmation
    # (needs_confirmation), or the one that held that place was voided since.
    may_record: bool
    # Why the result was not recorded automatically and waits for someone with visit.record
    # to record it (POST .../record): quality flags of an unreliable image, or no hairs found.
    # "" where it needs no confirmation or is the visit's measurement already.
    needs_confirmation: str
    quality: dict[str, Any] | None
    # The accuracy benchmark's record of the engine version that made the result (None:
    # no record for that version).
    accuracy_record: dict[str, Any] | None
    summary_automatic: dict[str, Any] | None
    summary_corrected: dict[str, Any] | None
    edits: list[dict[str, Any]]
    basis: str = Field(
        description="The result and corrections as they are now; send it with a correction "
        "to have it refused (409) if the analysis was re-analysed or corrected meanwhile"
    )
    overlay_url: str

    @staticmethod
    def resolve_visit_id(obj: PhotoAnalysis) -> int:
        return obj.photo.visit_id

    @staticmethod
    def resolve_records_visit_measurement(obj: PhotoAnalysis) -> bool:
        return services.records_visit_measurement(obj)

    @staticmethod
    def resolve_may_record(obj: PhotoAnalysis) -> bool:
        return services.may_record(obj)

    @staticmethod
    def resolve_needs_confirmation(obj: PhotoAnalysis) -> str:
        return "" if services.records_visit_measurement(obj) else services.needs_confirmation(obj)

    @staticmethod
    def resolve_stalled(obj: PhotoAnalysis) -> bool:
        return obj.is_stalled

    @staticmethod
    def resolve_quality(obj: PhotoAnalysis) -> dict[str, Any] | None:
        return obj.result.get("quality") if obj.is_done and obj.result is not None else None

    @staticmethod
    def resolve_accuracy_record(obj: PhotoAnalysis) -> dict[str, Any] | None:
        record = accuracy_record(obj.engine_version)
        if record is None:
            return None
        return asdict(record) | {
            "least_significant_change_pct": round(record.least_significant_change_pct, 1),
            "summary": obj.accuracy_note,
        }

    @staticmethod
    def resolve_summary_automatic(obj: PhotoAnalysis) -> dict[str, Any] | None:
        return obj.summary_auto

    @staticmethod
    def resolve_summary_corrected(obj: PhotoAnalysis) -> dict[str, Any] | None:
        return obj.corrected_summary

    @staticmethod
    def resolve_edits(obj: PhotoAnalysis) -> list[dict[str, Any]]:
        return obj.edits

    @staticmethod
    def resolve_basis(obj: PhotoAnalysis) -> str:
        return obj.correction_basis

    @staticmethod
    def resolve_overlay_url(obj: PhotoAnalysis) -> str:
        return f"/imaging/{obj.patient_id}/analyses/{obj.pk}/overlay.png"


class HairOut(Schema):
    id: int
    centreline_px: list[list[float]]
    length_um: float
    diameter_um: float
    unit_id: int
    counted: bool
    source: str


class AnalysisDetailOut(AnalysisOut):
    hairs_automatic: list[HairOut]
    hairs_corrected: list[HairOut] | None

    @staticmethod
    def resolve_hairs_automatic(obj: PhotoAnalysis) -> list[dict[str, Any]]:
        return obj.hairs

    @staticmethod
    def resolve_hairs_corrected(obj: PhotoAnalysis) -> list[dict[str, Any]] | None:
        if not obj.is_done or not obj.edits:
            return None
        return [h.to_dict() for h in services.final_analysis(obj).hairs]


class EditIn(InputSchema):
    op: str | None = Field(None, description="add, remove, merge, split, set_diameter or undo")
    hair_id: int | None = Field(None, ge=1, le=2**31 - 1)
    hair_ids: list[int] | None = Field(None, max_length=20)
    n: int | None = Field(None, ge=2, le=4)
    diameter_um: float | None = Field(None, allow_inf_nan=False)
    centreline_px: list[list[float]] | None = Field(
        None, max_length=200, description="add: [[x, y], ...] from base to tip, image pixels"
    )
    basis: str | None = Field(
        None,
        max_length=40,
        description="The analysis's basis as read (GET); the correction is refused with 409 "
        "if the analysis changed since (re-analysed, or another correction: a retried call). "
        "Left out: applied to the analysis as it is",
    )


class AnalyseIn(InputSchema):
    um_per_px: float | None = Field(
        None, allow_inf_nan=False, description="Image scale; empty = the clinic's calibration"
    )
    discard_corrections: bool = Field(
        False,
        description="Required when the analysis has corrections: re-analysing discards "
        "them (they stay in the history)",
    )
    basis: str | None = Field(
        None,
        max_length=40,
        description="The analysis's basis as read (GET); refused with 409 if it was "
        "re-analysed or corrected since (corrections you have not seen would be discarded)",
    )


@router.get(
    "/patients/{int:patient_id}/visits/{int:visit_id}/analyses",
    response=list[AnalysisOut],
    summary="Analyses of the visit's trichoscopy photos (automatic and corrected summaries)",
    auth=guard("visit.view"),
)
def list_analyses(request: ClinicRequest, patient_id: int, visit_id: int):
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    visit = monitoring_selectors.get_visit(patient, visit_id)
    return selectors.analyses_of(visit)


@router.get(
    "/patients/{int:patient_id}/analyses/{int:analysis_id}",
    response=AnalysisDetailOut,
    summary="One analysis with its per-hair tables (automatic and corrected)",
    auth=guard("visit.view"),
)
def get_analysis(request: ClinicRequest, patient_id: int, analysis_id: int):
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    return selectors.get_analysis(patient, analysis_id)


@router.post(
    "/patients/{int:patient_id}/analyses/{int:analysis_id}/corrections",
    response=AnalysisOut,
    summary="Add one correction (or undo the last); the automatic result is kept unchanged",
    auth=guard("visit.record"),
)
def add_correction(request: ClinicRequest, patient_id: int, analysis_id: int, payload: EditIn):
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    analysis = selectors.get_analysis(patient, analysis_id)
    data = {k: v for k, v in payload.dict().items() if v is not None}
    basis = data.pop("basis", None)
    try:
        if data.get("op") == "undo":
            services.undo_edit(analysis, request.user, basis)
        else:
            services.add_edit(analysis, request.user, data, basis)
    except services.StaleCorrection as exc:
        refuse(exc.errors, 409)
    analysis.refresh_from_db()
    return analysis


@router.post(
    "/patients/{int:patient_id}/analyses/{int:analysis_id}/record",
    response=AnalysisOut,
    summary="Make this finished analysis the visit's image-analysis measurement: confirm a "
    "result held back for review (needs_confirmation), or take the place of a voided one",
    auth=guard("visit.record"),
)
def record_measurement(
    request: ClinicRequest,
    patient_id: int,
    analysis_id: int,
    # ?basis=: the analysis's basis as reviewed (GET); 409 if re-analysed or corrected since.
    basis: str | None = None,
):
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    analysis = selectors.get_analysis(patient, analysis_id)
    try:
        return services.record_as_visit_measurement(analysis, request.user, basis)
    except services.StaleCorrection as exc:
        refuse(exc.errors, 409)


@router.post(
    "/patients/{int:patient_id}/photos/{int:photo_id}/analyse",
    response={202: AnalysisOut},
    summary="(Re)analyse a trichoscopy photo in the background",
    auth=guard("visit.record"),
)
def analyse_photo(request: ClinicRequest, patient_id: int, photo_id: int, payload: AnalyseIn):
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    photo = selectors.get_trichoscopy_photo(patient, photo_id)
    try:
        analysis = services.request_analysis(
            photo, request.user, payload.um_per_px,
            discard_corrections=payload.discard_corrections, basis=payload.basis,
        )  # fmt: skip
    except services.StaleCorrection as exc:
        refuse(exc.errors, 409)
    return Status(202, analysis)


def _overlay_url(obj: PhotoComparison, photo) -> str | None:
    pk = (
        PhotoAnalysis.objects.filter(
            photo=photo, status=PhotoAnalysis.Status.DONE, result__isnull=False
        )
        .values_list("id", flat=True)
        .first()
    )
    return f"/imaging/{obj.patient_id}/analyses/{pk}/overlay.png" if pk else None


class ComparisonOut(Schema):
    id: int
    before_photo_id: int
    after_photo_id: int
    before_visit_id: int
    after_visit_id: int
    days: int
    growth_mm_per_day: float
    um_per_px: float | None
    status: str
    error: str
    anagen_pct: float | None = Field(
        description="The engine's anagen %: not validated, and not recorded as a visit's "
        "anagen % (see validation_note)"
    )
    telogen_pct: float | None
    validation_note: str = Field(description="How far the engine's anagen % is from validated")
    assessed_count: int | None = Field(description="Hairs of the first image assessed")
    matched_count: int | None = Field(
        description="Deprecated (engine 0.5.0): the same as assessed_count, which it was named "
        "when only hairs matched between the two images were assessed"
    )
    not_assessable_count: int | None = Field(
        description="Hairs of the first image at the image edge or growing out of either image"
    )
    unmatched_before_count: int | None = Field(
        description="Hairs of the first image the second image's detection does not follow "
        "(assessed from the image all the same)"
    )
    unmatched_after_count: int | None
    registration_score: float | None
    threshold_um: float | None
    shift_px: list[float] | None
    rotation_deg: float | None = Field(
        description="The camera's turn between the captures, degrees, about the image centre"
    )
    engine_version: str
    created_at: datetime
    compared_at: datetime | None
    # Queued or running for longer than any comparison takes: request a new one.
    stalled: bool
    measurement_id: int | None
    before_overlay_url: str | None
    after_overlay_url: str | None

    @staticmethod
    def resolve_matched_count(obj: PhotoComparison) -> int | None:
        return obj.assessed_count

    @staticmethod
    def resolve_stalled(obj: PhotoComparison) -> bool:
        return obj.is_stalled

    @staticmethod
    def resolve_before_visit_id(obj: PhotoComparison) -> int:
        return obj.before_photo.visit_id

    @staticmethod
    def resolve_after_visit_id(obj: PhotoComparison) -> int:
        return obj.after_photo.visit_id

    @staticmethod
    def resolve_before_overlay_url(obj: PhotoComparison) -> str | None:
        return _overlay_url(obj, obj.before_photo)

    @staticmethod
    def resolve_after_overlay_url(obj: PhotoComparison) -> str | None:
        return _overlay_url(obj, obj.after_photo)


class ComparisonDetailOut(ComparisonOut):
    assessed: list[dict[str, Any]] = Field(description="Each hair of the first image assessed")
    matched: list[dict[str, Any]] = Field(description="Deprecated: the same as assessed")

    @staticmethod
    def resolve_assessed(obj: PhotoComparison) -> list[dict[str, Any]]:
        return _assessed(obj)

    @staticmethod
    def resolve_matched(obj: PhotoComparison) -> list[dict[str, Any]]:
        return _assessed(obj)


def _assessed(obj: PhotoComparison) -> list[dict[str, Any]]:
    # Results stored before engine 0.5.0's naming call the list "matched".
    result = obj.result or {}
    return list(result.get("assessed", result.get("matched", [])))


class CompareIn(InputSchema):
    before_photo_id: int = Field(
        ..., ge=1, le=2**31 - 1, description="The earlier trichoscopy photo (1-7 days before)"
    )


@router.get(
    "/patients/{int:patient_id}/visits/{int:visit_id}/comparisons",
    response=list[ComparisonOut],
    summary="Phototrichograms whose second image was taken at this visit (newest first)",
    auth=guard("visit.view"),
)
def list_comparisons(request: ClinicRequest, patient_id: int, visit_id: int):
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    visit = monitoring_selectors.get_visit(patient, visit_id)
    return selectors.comparisons_of(visit)


@router.get(
    "/patients/{int:patient_id}/comparisons/{int:comparison_id}",
    response=ComparisonDetailOut,
    summary="One phototrichogram with its per-hair growth table",
    auth=guard("visit.view"),
)
def get_comparison(request: ClinicRequest, patient_id: int, comparison_id: int):
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    return selectors.get_comparison(patient, comparison_id)


@router.post(
    "/patients/{int:patient_id}/photos/{int:photo_id}/compare",
    response={202: ComparisonOut},
    summary="Phototrichogram: compare this photo with an earlier one of the same site (anagen %)",
    auth=guard("visit.record"),
)
def compare_photos(request: ClinicRequest, patient_id: int, photo_id: int, payload: CompareIn):
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    photo = selectors.get_trichoscopy_photo(patient, photo_id)
    try:
        before = selectors.get_trichoscopy_photo(patient, payload.before_photo_id)
    except Http404:
        raise HttpError(
            400, "before_photo_id: Choose an earlier trichoscopy photo of this patient."
        ) from None
    comparison = services.request_comparison(before, photo, request.user)
    return Status(202, comparison)
