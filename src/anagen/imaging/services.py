"""Writes of imaging data: analyses of trichoscopy photos, their correction layer, settings,
and two-visit phototrichograms (comparisons of two analysed photos of the same site).

The engine (anagen.imaging.engine) does the image work; this module stores its automatic
result, keeps the clinician's corrections apart from it, fills the visit's measurement
(source "image analysis"; the anagen % comes from the photo's current comparison) and audits
every write with simple_history.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.core.checks import Refusal
from anagen.core.history import save_with_history
from anagen.core.text import decimal_comma
from anagen.imaging.display import MAX_DISPLAY_SIDE, display_overlay
from anagen.imaging.engine import (
    Analysis,
    CalibrationError,
    CorrectionError,
    Corrections,
    ImageInputError,
    analyze,
    compare,
    load_image,
)
from anagen.imaging.engine.analyze import (
    ENGINE_VERSION,
    MAX_UM_PER_PX,
    MIN_UM_PER_PX,
    TERMINAL_CUTOFF_UM_RANGE,
)
from anagen.imaging.engine.compare import GROWTH_MM_PER_DAY, MIN_REGISTRATION_SCORE
from anagen.imaging.engine.corrections import joined
from anagen.imaging.models import (
    COMPARISON_DAYS,
    MAX_CALIBRATED_SIDE_PX,
    MIN_CALIBRATED_SIDE_PX,
    AnalysisCorrection,
    ImagingSettings,
    PhotoAnalysis,
    PhotoComparison,
    correction_basis,
)
from anagen.monitoring import services as monitoring_services
from anagen.monitoring.models import TARGET_AREA_CM2_RANGE, Measurement, Photo, Visit
from anagen.monitoring.uploads import TRICHOSCOPY_MAX_MEGAPIXELS

log = logging.getLogger(__name__)
# A worker analyses one image in about 220 MB per megapixel (benchmarks/results_imaging.md);
# larger images are refused at upload, and again here (images stored before that check).
MAX_ANALYSIS_MEGAPIXELS = TRICHOSCOPY_MAX_MEGAPIXELS
EDIT_OPS = ("add", "remove", "merge", "split", "set_diameter")
# Phototrichogram limits (COMPARISON_DAYS apart, GROWTH_MM_PER_DAY, MIN_REGISTRATION_SCORE)
# live in engine/compare.py, so that `anagen image compare` applies the same rules.
SAME_SCALE_TOLERANCE = 0.01  # both analyses must use the same µm/px within 1 %


IMAGE_UNREADABLE = (
    "The stored image file could not be read (missing or damaged on the server). Ask your "
    "administrator to restore it from the backup, or void this photo and upload it again."
)

# An unexpected failure: the details (exception, traceback) go to the log, not to the page.
INTERNAL_ERROR = (
    "The {what} stopped on an unexpected error (recorded in the server log): run it again, "
    "and tell your administrator if it fails again."
)


class ImagingError(Refusal):
    """A write was refused; ``errors`` maps field name → list of messages."""


class StaleCorrection(ImagingError):
    """A correction was made on a state of the analysis that has changed since (re-analysed,
    or corrected meanwhile: a second press of the same button); the API answers 409."""


def _float(value: Any, field: str, lo: float, hi: float, unit: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = decimal_comma(value)  # "5,2" from a comma-decimal tablet
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ImagingError({field: ["Enter a number."]}) from exc
    if not math.isfinite(v) or not (lo <= v <= hi):
        raise ImagingError({field: [f"Enter a value between {lo:g} and {hi:g} {unit}."]})
    return v


# --- settings ------------------------------------------------------------------------------


def settings_for(clinic: Clinic) -> ImagingSettings:
    obj = ImagingSettings.objects.filter(clinic=clinic).first()
    return obj or ImagingSettings(clinic=clinic)


def save_settings(clinic: Clinic, user: User, data: Mapping[str, Any]) -> ImagingSettings:
    errors: dict[str, list[str]] = {}  # every field's problem at once, not the first only
    upp = cutoff = None
    try:
        upp = _float(data.get("um_per_px"), "um_per_px", MIN_UM_PER_PX, MAX_UM_PER_PX, "µm/px")
    except ImagingError as exc:
        errors.update(exc.errors)
    lo, hi = TERMINAL_CUTOFF_UM_RANGE
    try:
        cutoff = _float(data.get("terminal_cutoff_um"), "terminal_cutoff_um", lo, hi, "µm")
    except ImagingError as exc:
        errors.update(exc.errors)
    long_side = None
    try:
        long_side = _float(
            data.get("image_long_side_px"), "image_long_side_px",
            MIN_CALIBRATED_SIDE_PX, MAX_CALIBRATED_SIDE_PX, "px",
        )  # fmt: skip
        if long_side is not None and not long_side.is_integer():
            raise ImagingError({"image_long_side_px": ["Enter a whole number of pixels."]})
    except ImagingError as exc:
        errors.update(exc.errors)
    note = str(data.get("calibration_note") or "").strip()
    if len(note) > 200:  # refused, not cut: the note says how the scale was measured
        errors["calibration_note"] = [f"At most 200 characters (got {len(note)})."]
    if long_side is not None and upp is None and "um_per_px" not in errors:
        errors["image_long_side_px"] = ["Give the scale measured on images of this size."]
    if errors:
        raise ImagingError(errors)
    values = {
        "um_per_px": upp,
        "image_long_side_px": None if long_side is None else int(long_side),
        "terminal_cutoff_um": cutoff if cutoff is not None else 40.0,
        "calibration_note": note,
    }
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                # Not get_or_create: that saves a blank row first, a second history entry
                # without a reason; one save below records the settings with their reason.
                obj = ImagingSettings.objects.select_for_update().filter(clinic=clinic).first()
                if obj is None:
                    obj = ImagingSettings(clinic=clinic)
                for field, value in values.items():
                    setattr(obj, field, value)
                save_with_history(obj, user, "imaging settings changed")  # unchanged: no save
            return obj
        except IntegrityError:
            # Another request stored the clinic's first settings meanwhile: update those.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def save_calibration(
    clinic: Clinic, user: User, data: Mapping[str, Any]
) -> tuple[ImagingSettings, int]:
    """Save the clinic's imaging settings, then analyse the photos that waited for a
    calibration that now holds for them: (settings, how many were queued)."""
    saved = save_settings(clinic, user, data)
    return saved, analyse_waiting_photos(clinic, user)


def analyse_waiting_photos(clinic: Clinic, user: User) -> int:
    """Queue the analysis of every photo of the clinic that waits for a calibration the
    clinic's now holds for; the others keep waiting, their message rewritten to match the
    calibration as it is now (none, or one of another image size). Returns how many were
    queued."""
    waiting = PhotoAnalysis.objects.filter(
        clinic=clinic,
        status=PhotoAnalysis.Status.NEEDS_CALIBRATION,
        photo__voided_at__isnull=True,
        photo__visit__voided_at__isnull=True,
        patient__voided_at__isnull=True,
    ).select_related("photo")
    cfg = settings_for(clinic)
    queued = 0
    for analysis in waiting:
        if not cfg.um_per_px or other_size(cfg, analysis.photo):
            # Still waits for its own scale: nothing to request again, but the reason it
            # gave may be of an earlier calibration ("No calibration" once one is set).
            _rewrite_waiting_reason(analysis, cfg, user)
            continue
        # _prepare re-reads the row under a lock: one requested meanwhile is taken as it is.
        if _prepare(analysis.photo, user, None).status == PhotoAnalysis.Status.QUEUED:
            queued += 1
    return queued


def _rewrite_waiting_reason(analysis: PhotoAnalysis, cfg: ImagingSettings, user: User) -> None:
    with transaction.atomic():
        current = (
            PhotoAnalysis.objects.select_for_update().select_related("photo").get(pk=analysis.pk)
        )
        if current.status != PhotoAnalysis.Status.NEEDS_CALIBRATION or current.um_per_px:
            return  # requested again meanwhile, with a scale
        reason = _waiting_reason(cfg, current.photo)
        if current.error != reason:
            current.error = reason
            save_with_history(
                current, user, "clinic calibration changed: still waits for a scale",
                update_fields=["error"],
            )  # fmt: skip


NO_CALIBRATION = (
    "No calibration: enter the image scale (µm per pixel) or set the clinic's "
    "dermatoscope calibration; densities are never reported without it."
)


def _waiting_reason(cfg: ImagingSettings, photo: Photo) -> str:
    """Why a photo without a scale of its own waits, with the clinic's calibration ``cfg``."""
    return _size_mismatch(cfg, photo) if cfg.um_per_px else NO_CALIBRATION


# --- analyses ------------------------------------------------------------------------------


def on_trichoscopy_photo_stored(photo: Photo, user: User) -> PhotoAnalysis | None:
    """Hook called by monitoring when a trichoscopy photo is stored: queue its analysis.

    Never raises into the upload: a failure here leaves the photo stored and is logged.
    """
    try:
        return _prepare(photo, user, None)
    except Exception:  # noqa: BLE001 - the upload must not fail because of imaging
        log.exception("could not queue the analysis of photo %s", photo.pk)
        return None


def on_trichoscopy_photo_voided(photo: Photo, user: User) -> None:
    """Hook called by monitoring inside the transaction that voids a trichoscopy photo.

    The photo's image-analysis measurement is voided (outcomes must not count a photo entered
    in error) and its finished phototrichograms are outdated; where it was the earlier photo,
    the later visit's measurement is rewritten without that anagen %.
    """
    analysis = PhotoAnalysis.objects.select_for_update().filter(photo=photo).first()
    if analysis is not None and analysis.measurement_id:
        measurement = Measurement.objects.get(pk=analysis.measurement_id)
        if not measurement.is_voided:
            monitoring_services.void_record(measurement, user, "its trichoscopy photo was voided")
    _outdate_comparisons(photo, user, "voided")


def request_analysis(
    photo: Photo,
    user: User,
    um_per_px: Any = None,
    *,
    discard_corrections: bool = False,
    basis: str | None = None,
) -> PhotoAnalysis:
    """(Re)analyse a trichoscopy photo, with an entered calibration or the clinic's.

    A re-analysis starts a new correction layer: when the clinician has corrected this
    analysis, ``discard_corrections`` must say so (the old layer stays in the history).
    ``basis``: the analysis's ``correction_basis`` as shown; where given, a request on an
    analysis re-analysed or corrected since is refused (it would discard corrections the
    person never saw, or repeat a re-analysis sent twice)."""
    if photo.kind != Photo.Kind.TRICHOSCOPY:
        raise ImagingError({"photo": ["Only trichoscopy images are analysed."]})
    if photo.is_voided or photo.visit.is_voided:
        raise ImagingError({"photo": ["This photo or its visit is voided."]})
    if photo.visit.patient.is_voided:
        raise ImagingError({"__all__": ["The patient record is voided."]})
    upp = _float(um_per_px, "um_per_px", MIN_UM_PER_PX, MAX_UM_PER_PX, "µm/px")
    earlier = PhotoAnalysis.objects.filter(photo=photo).first()
    edits = _edit_count(earlier) if earlier is not None else 0
    if edits and not discard_corrections:
        raise ImagingError(
            {"discard_corrections": [
                f"This analysis has {edits} correction(s); re-analysing discards them (they "
                "stay in the history). Confirm that they may be discarded."
            ]}
        )  # fmt: skip
    cfg = settings_for(photo.clinic)
    if upp is None and earlier is not None and (not cfg.um_per_px or other_size(cfg, photo)):
        # No scale given and no clinic calibration that holds for this image to fall back on
        # (the documented meaning of an empty field): keep the scale entered for this image,
        # or keep the result.
        if earlier.calibration_source == "entered" and earlier.um_per_px:
            upp = earlier.um_per_px
        elif earlier.status == PhotoAnalysis.Status.DONE:
            raise ImagingError(
                {"um_per_px": ["Enter the image scale (µm per pixel): the clinic has no "
                               "dermatoscope calibration for images of this size, and "
                               "without a scale the re-analysis would discard this result."]}
            )  # fmt: skip
    return _prepare(photo, user, upp, basis)


def _prepare(
    photo: Photo, user: User, upp: float | None, basis: str | None = None
) -> PhotoAnalysis:
    cfg = settings_for(photo.clinic)
    source = "entered" if upp is not None else ("clinic" if cfg.um_per_px else "")
    upp = upp if upp is not None else cfg.um_per_px
    waits_for = ""  # why the analysis waits for a scale
    if upp is None:
        waits_for = NO_CALIBRATION
    elif source == "clinic" and other_size(cfg, photo):
        waits_for = _waiting_reason(cfg, photo)
        upp, source = None, ""
    with transaction.atomic():
        analysis = PhotoAnalysis.objects.select_for_update().filter(photo=photo).first()
        if analysis is not None and basis is not None:
            _check_basis(analysis, _edit_count(analysis), basis)
        if analysis is None:
            analysis = PhotoAnalysis(
                clinic=photo.clinic, patient=photo.patient, photo=photo, requested_by=user
            )
        analysis.requested_by = user
        analysis.requested_at = timezone.now()
        analysis.um_per_px = upp
        analysis.calibration_source = source
        analysis.terminal_cutoff_um = cfg.terminal_cutoff_um
        analysis.result = None
        analysis.seconds = None
        if analysis.measurement_id:
            old = Measurement.objects.get(pk=analysis.measurement_id)
            if not old.is_voided:
                monitoring_services.void_record(old, user, "image re-analysis requested")
            analysis.measurement = None
        analysis.analysed_at = None
        if upp is None:
            analysis.status = PhotoAnalysis.Status.NEEDS_CALIBRATION
            analysis.error = waits_for
        else:
            analysis.status = PhotoAnalysis.Status.QUEUED
            analysis.error = ""
        save_with_history(analysis, user, "analysis requested")
        correction = AnalysisCorrection.objects.filter(analysis=analysis).first()
        if correction is not None and correction.edits:
            correction.edits, correction.summary, correction.updated_by = [], None, user
            save_with_history(
                correction, user, "re-analysed: earlier corrections kept in the history"
            )
        _outdate_comparisons(photo, user, "re-analysed")
        if upp is not None:
            pk = analysis.pk
            transaction.on_commit(lambda: _enqueue(pk))
    return analysis


def _long_side(photo: Photo) -> int:
    return max(photo.width_px or 0, photo.height_px or 0)


def other_size(cfg: ImagingSettings, photo: Photo) -> bool:
    """The photo's longer side is not that of the images the clinic's scale was measured on
    (the longer side: a portrait shot of the same camera is rotated, not resized)."""
    return bool(
        cfg.image_long_side_px and _long_side(photo) and _long_side(photo) != cfg.image_long_side_px
    )


def _size_mismatch(cfg: ImagingSettings, photo: Photo) -> str:
    long_side = _long_side(photo)
    resized = (cfg.um_per_px or 0) * (cfg.image_long_side_px or 0) / (long_side or 1)
    return (
        f"This image's longer side is {long_side} px; the clinic's calibration "
        f"({cfg.um_per_px:g} µm/px) was measured on images whose longer side is "
        f"{cfg.image_long_side_px} px, so it does not hold here. Enter this image's scale: "
        f"{resized:.3g} µm/px if it is the whole field resized, {cfg.um_per_px:g} µm/px if it "
        "is a crop at full resolution."
    )


def _enqueue(analysis_id: int) -> None:
    from anagen.imaging.tasks import analyse_photo

    try:
        analyse_photo.enqueue(analysis_id)
    except Exception:  # noqa: BLE001 - a broken queue leaves the analysis "queued", visibly
        log.exception("could not enqueue the analysis %s", analysis_id)


def run_analysis(analysis_id: int) -> PhotoAnalysis:
    """Run the engine on the stored photo (called by the background task).

    The analysis is claimed under its row lock (queued -> running): a task delivered twice,
    or to two workers, runs the engine once; the other finds it running and leaves it. One
    whose worker stopped stays "running" until it is stalled and requested again (a new
    request queues it anew)."""
    with transaction.atomic():
        analysis = (
            # The analysis's row only: voiding a photo locks the photo's, then this one.
            PhotoAnalysis.objects.select_for_update(of=("self",))
            .select_related("photo", "photo__visit")
            .get(pk=analysis_id)
        )
        if analysis.status != PhotoAnalysis.Status.QUEUED:
            return analysis
        user = analysis.requested_by
        analysis.status = PhotoAnalysis.Status.RUNNING
        save_with_history(analysis, user, "analysis started", update_fields=["status"])
    try:
        w, h = analysis.photo.width_px or 0, analysis.photo.height_px or 0
        if w * h > MAX_ANALYSIS_MEGAPIXELS * 1e6:
            raise ImageInputError(
                f"image is {w}x{h} px ({w * h / 1e6:.0f} MP); the analysis limit is "
                f"{MAX_ANALYSIS_MEGAPIXELS:g} MP: crop to the target area or export smaller"
            )
        with analysis.photo.image.open("rb") as fh:
            data = fh.read()
        image = load_image(data)
        result = analyze(image, analysis.um_per_px, terminal_cutoff_um=analysis.terminal_cutoff_um)
    except CalibrationError as exc:
        analysis.status, analysis.error = PhotoAnalysis.Status.NEEDS_CALIBRATION, str(exc)
    except ImageInputError as exc:
        analysis.status, analysis.error = PhotoAnalysis.Status.FAILED, str(exc)
    except OSError:
        # The server's path stays in the log: the page and the API say what to do.
        log.exception("analysis %s: the stored image could not be read", analysis_id)
        analysis.status, analysis.error = PhotoAnalysis.Status.FAILED, IMAGE_UNREADABLE
    except Exception:  # noqa: BLE001 - stored and shown; the worker keeps running
        log.exception("analysis %s failed", analysis_id)
        analysis.status = PhotoAnalysis.Status.FAILED
        analysis.error = INTERNAL_ERROR.format(what="analysis")
    else:
        analysis.status = PhotoAnalysis.Status.DONE
        analysis.error = ""
        analysis.result = result.to_dict()
        analysis.engine_version = str(result.meta.get("engine_version", ""))
        analysis.seconds = float(result.meta.get("seconds", 0.0))
        analysis.analysed_at = timezone.now()
    with transaction.atomic():
        current = PhotoAnalysis.objects.select_for_update().get(pk=analysis.pk)
        if (
            current.requested_at != analysis.requested_at
            or current.status != PhotoAnalysis.Status.RUNNING
        ):
            # Requested again while this ran (a stalled analysis, or a new scale): the newer
            # request's task stores its result; this one would overwrite it with stale input.
            return current
        save_with_history(analysis, user, f"analysis {analysis.status}")
        if analysis.status == PhotoAnalysis.Status.DONE:
            _record_measurement(analysis, user, final_analysis(analysis), "image analysis done")
    return analysis


def automatic_analysis(analysis: PhotoAnalysis) -> Analysis:
    if not analysis.is_done or analysis.result is None:
        raise ImagingError({"analysis": ["The analysis has no result yet."]})
    return Analysis.from_dict(analysis.result)


def corrections_of(analysis: PhotoAnalysis) -> Corrections:
    c = AnalysisCorrection.objects.filter(analysis=analysis).first()
    return Corrections.from_dict({"edits": c.edits}) if c and c.edits else Corrections()


def final_analysis(analysis: PhotoAnalysis) -> Analysis:
    """The automatic result with the correction layer applied (the automatic one if none)."""
    auto = automatic_analysis(analysis)
    c = corrections_of(analysis)
    return c.apply(auto) if c.edits else auto


def summaries(analysis: PhotoAnalysis) -> dict[str, Any]:
    """Automatic and corrected summaries side by side."""
    auto = automatic_analysis(analysis)
    c = corrections_of(analysis)
    return {
        "automatic": auto.summary.to_dict(),
        "corrected": c.apply(auto).summary.to_dict() if c.edits else None,
        "edits": len(c.edits),
    }


# Quality flags that make a result unfit to become the visit's measurement without a person's
# look: a blurred field was recorded at 59.7 hairs/cm² (truth about 103) and 143 µm mean
# diameter; a grey-scale or blank upload at 0 hairs/cm². Such a result, and any result with no
# hairs (a bald field is real, but someone must confirm it), waits for a clinician to record
# it (record_as_visit_measurement), whatever its count.
FLAGS_NEEDING_CONFIRMATION = frozenset(
    {"glare", "low_coverage", "out_of_focus", "too_few_pixels_per_hair", "monochrome",
     "featureless"}
)  # fmt: skip


def _unconfirmed(analysis: PhotoAnalysis) -> tuple[str, str]:
    """(what, why) a clinician must confirm before the automatic result becomes the visit's
    measurement, ("", "") where nothing: flags of FLAGS_NEEDING_CONFIRMATION, or no hairs.
    Read from the automatic result, so a correction does not lift it by itself."""
    if not analysis.is_done or analysis.result is None:
        return "", ""
    flags = sorted(set(analysis.quality_flags) & FLAGS_NEEDING_CONFIRMATION)
    flagged = ", ".join(f.replace("_", " ") for f in flags)  # "out of focus, glare"
    none_found = not (analysis.result.get("summary") or {}).get("count")
    if none_found and flags:
        return f"No hairs found on an image flagged {flagged}", ""
    detected = len(analysis.result.get("hairs") or [])
    if none_found and detected:
        # "No hairs found" above an overlay of numbered hairs read as a contradiction (review).
        return (
            f"No hair counted: the {detected} hair{'s' if detected != 1 else ''} found "
            f"{'have their bases' if detected != 1 else 'has its base'} outside the field or "
            "at the image edge",
            "",
        )
    if none_found:
        return "No hairs found", " (a bald field is a real result, but a person must confirm it)"
    if flags:
        return f"The image is flagged {flagged}", ""
    return "", ""


def needs_confirmation(analysis: PhotoAnalysis) -> str:
    """Why this finished analysis is not recorded as the visit's measurement until a clinician
    records it (:func:`record_as_visit_measurement`), in words; "" where it needs not."""
    what, why = _unconfirmed(analysis)
    if not what:
        return ""
    return (
        f"{what}: not recorded as the visit's measurement automatically{why}. Check the image "
        "and its overlay; a clinician or nurse may record it as the visit's measurement, or "
        "enter the values by hand."
    )


def _record_measurement(
    analysis: PhotoAnalysis,
    user: User,
    result: Analysis,
    reason: str = "image analysis recomputed",
    *,
    confirmed: bool = False,
) -> None:
    """Fill the visit's measurement from the (corrected) analysis.

    A result that :func:`needs_confirmation` gets no new measurement unless ``confirmed``
    (a clinician chose to record it); one it already holds is revised as any other.

    The analysis's own measurement, where it has one, is updated in place under ``reason``
    (the history keeps the earlier values): a correction is not a record entered in error,
    so it voids nothing. It is voided only when the result no longer gives a measurement.
    Call inside a transaction that holds the analysis's row lock: the visit's row is locked
    here, after it (the order everywhere), so that two photos of one visit cannot both find
    no measurement there and both fill one."""
    visit = Visit.objects.select_for_update().get(pk=analysis.photo.visit_id)
    analysis.photo.visit = visit  # as it stands now (voided meanwhile?)
    s = result.summary
    current = None
    voided_by_a_person = False
    if analysis.measurement_id:
        current = Measurement.objects.get(pk=analysis.measurement_id)
        if current.is_voided:
            # Voided on the visit by a person (this function clears the link when it voids):
            # a correction does not bring it back; recording it again is their choice.
            voided_by_a_person = True
            current = None
    analysis.measurement = current
    area = round(s.field_area_cm2, 4)
    problem = _why_not_recorded(
        analysis, result, has_measurement=current is not None, confirmed=confirmed
    )
    if problem is None and voided_by_a_person and not confirmed:
        problem = (
            "Not recorded as a visit measurement: its earlier measurement was voided on the "
            "visit. Record it as the visit's measurement again if it should measure the visit."
        )
    record = problem is None
    problem = problem or ""
    if not record:
        if current is not None and not visit.is_voided:
            monitoring_services.void_record(
                current, user, f"{reason}: it no longer gives a visit measurement"
            )
            analysis.measurement = None
        analysis.error = problem
    else:
        data = {
            "target_area_cm2": area,
            "hair_count": s.count,
            "density_per_cm2": round(s.density_per_cm2, 2),
            "mean_diameter_um": round(s.diameter_mean_um, 2) if s.diameter_mean_um else None,
            "terminal_pct": round(s.terminal_pct, 2) if s.terminal_pct is not None else None,
            "vellus_pct": round(s.vellus_pct, 2) if s.vellus_pct is not None else None,
        }
        analysis.error = ""
        try:
            if current is not None:
                monitoring_services.revise_measurement(current, user, data, reason)
            else:
                analysis.measurement = monitoring_services.add_measurement(
                    visit, user, data, source=Measurement.Source.IMAGING, why=reason
                )
        except monitoring_services.MonitoringError as exc:
            analysis.error = f"Not recorded as a visit measurement: {exc}"
    save_with_history(
        analysis, user, "visit measurement filled", update_fields=["measurement", "error"]
    )


def _why_not_recorded(
    analysis: PhotoAnalysis, result: Analysis, *, has_measurement: bool, confirmed: bool = False
) -> str | None:
    """Why this result cannot be the visit's measurement (None: it can). ``has_measurement``:
    the analysis already holds an active measurement (it is then revised, not refused);
    ``confirmed``: a clinician records it, so :func:`needs_confirmation` does not hold it."""
    photo = analysis.photo
    visit = photo.visit
    s = result.summary
    area = round(s.field_area_cm2, 4)
    if visit.is_voided or photo.is_voided or visit.patient.is_voided:
        return ""  # its measurement, if any, went out with the visit or the photo
    # An unreliable image or an empty field is never recorded by itself: a person confirms it.
    held = "" if confirmed or has_measurement else needs_confirmation(analysis)
    problem = None
    # Another photo's analysis already measures this visit: a second image (another target
    # area, or a failed retake) must not silently replace it as the visit's measurement.
    other = (
        PhotoAnalysis.objects.filter(
            photo__visit=visit, measurement__isnull=False, measurement__voided_at__isnull=True
        )
        .exclude(pk=analysis.pk)
        .select_related("photo")
        .first()
    )
    if not has_measurement and other is not None:
        photo = other.photo
        where = f" ({photo.target_area})" if photo.target_area else ""
        problem = (
            f"Not recorded as a visit measurement: the visit's measurement comes from the "
            f"analysis of another trichoscopy photo{where}. Void that measurement on the visit "
            "page to use this photo's result instead."
        )
    elif not (TARGET_AREA_CM2_RANGE[0] <= area <= TARGET_AREA_CM2_RANGE[1]):
        problem = (
            f"Field {area:g} cm² is outside {TARGET_AREA_CM2_RANGE[0]:g}–"
            f"{TARGET_AREA_CM2_RANGE[1]:g} cm²: not recorded as a visit measurement."
        )
    if held:
        return f"{held} {problem}" if problem else held
    return problem


def records_visit_measurement(analysis: PhotoAnalysis) -> bool:
    """The analysis's result is the visit's measurement now (not voided since)."""
    return bool(
        analysis.measurement_id
        and Measurement.objects.filter(pk=analysis.measurement_id, voided_at__isnull=True).exists()
    )


def may_record(analysis: PhotoAnalysis, *, recorded: bool | None = None) -> bool:
    """A finished analysis that is not the visit's measurement but could be now: its result
    waits for a clinician's confirmation (:func:`needs_confirmation`), the one that blocked
    it (another photo's) was voided since, or its own was voided by hand.
    ``recorded``: records_visit_measurement(analysis), where the caller has it already."""
    if recorded is None:
        recorded = records_visit_measurement(analysis)
    if not analysis.is_done or recorded:
        return False
    result = final_analysis(analysis)
    return _why_not_recorded(analysis, result, has_measurement=False, confirmed=True) is None


def record_as_visit_measurement(
    analysis: PhotoAnalysis, user: User, basis: str | None = None
) -> PhotoAnalysis:
    """Fill the visit's measurement from this analysis (corrected figures where corrected),
    where :func:`may_record` allows it; otherwise refused with the reason. This is also how a
    clinician confirms a result that :func:`needs_confirmation` held back (the history's
    reason says what was confirmed). ``basis``: the ``correction_basis`` of the result the
    clinician reviewed; where given, a result re-analysed or corrected since is refused (the
    history would say a person reviewed figures they never saw)."""
    with transaction.atomic():
        # The analysis row, then (in _record_measurement) the visit's: the order of every
        # writer of an analysis, so a correction sent at the same time cannot deadlock.
        current = (
            PhotoAnalysis.objects.select_for_update()
            .select_related("photo", "photo__visit", "photo__visit__patient")
            .get(pk=analysis.pk)
        )
        if not current.is_done:
            raise ImagingError({"analysis": ["This analysis has no result to record."]})
        _check_basis(current, _edit_count(current), basis)
        if records_visit_measurement(current):
            raise ImagingError({"analysis": ["This result is already the visit's measurement."]})
        result = final_analysis(current)
        problem = _why_not_recorded(current, result, has_measurement=False, confirmed=True)
        if problem is not None:
            raise ImagingError({"analysis": [problem or "This photo, its visit or the patient "
                                             "record is voided."]})  # fmt: skip
        held, _ = _unconfirmed(current)
        reason = "chosen as the visit measurement"
        if held:
            reason += f" after review by a clinician ({held[0].lower()}{held[1:]})"
        _record_measurement(current, user, result, reason, confirmed=True)
        if current.measurement_id is None:
            raise ImagingError({"analysis": [current.error or "Not recorded."]})
    return current


# --- correction layer ----------------------------------------------------------------------


def _edit_from(data: Mapping[str, Any]) -> dict[str, Any]:
    """A single edit from form or JSON input, checked for shape (ids are checked on apply)."""
    op = str(data.get("op") or "")
    if op not in EDIT_OPS:
        raise ImagingError({"op": [f"Choose one of: {', '.join((*EDIT_OPS, 'undo'))}."]})

    def hair_id(field: str = "hair_id") -> int:
        try:
            return int(str(data.get(field, "")).strip())
        except ValueError as exc:
            raise ImagingError({field: ["Enter a hair number from the overlay."]}) from exc

    if op == "remove":
        return {"op": "remove", "hair_id": hair_id()}
    if op == "merge":
        raw = data.get("hair_ids")
        items = raw if isinstance(raw, list) else str(raw or "").replace(",", " ").split()
        try:
            ids = [int(v) for v in items]
        except (TypeError, ValueError) as exc:
            raise ImagingError({"hair_ids": ["Enter hair numbers separated by commas."]}) from exc
        if len(set(ids)) < 2:
            raise ImagingError({"hair_ids": ["Merging needs at least two different hairs."]})
        if len(set(ids)) != len(ids):
            raise ImagingError({"hair_ids": ["Enter each hair number once."]})
        return {"op": "merge", "hair_ids": ids}
    if op == "split":
        n = _float(data.get("n") or 2, "n", 2, 4, "pieces")
        if n is not None and not n.is_integer():  # 2.5 was split into 2 without a word
            raise ImagingError({"n": ["Enter a whole number of hairs (2, 3 or 4)."]})
        return {"op": "split", "hair_id": hair_id(), "n": int(n or 2)}
    if op == "set_diameter":
        d = _float(data.get("diameter_um"), "diameter_um", 5, 200, "µm")
        if d is None:
            raise ImagingError({"diameter_um": ["Enter the diameter in µm."]})
        return {"op": "set_diameter", "hair_id": hair_id(), "diameter_um": d}
    # add: a straight hair from its base (x1, y1) to its tip (x2, y2), in image pixels
    pts = data.get("centreline_px")
    if pts is None:
        try:
            pts = [[float(data[k]) for k in ("x1", "y1")], [float(data[k]) for k in ("x2", "y2")]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ImagingError({"x1": ["Enter base and tip coordinates in pixels."]}) from exc
    try:
        pts = [[float(x), float(y)] for x, y in pts]
    except (TypeError, ValueError) as exc:
        raise ImagingError({"centreline_px": ["Give points as [x, y] pairs in pixels."]}) from exc
    if not (2 <= len(pts) <= 200) or not all(
        math.isfinite(v) and -1e5 < v < 1e5 for p in pts for v in p
    ):
        raise ImagingError({"centreline_px": ["Give 2-200 points inside the image."]})
    if math.hypot(pts[-1][0] - pts[0][0], pts[-1][1] - pts[0][1]) < 1:
        raise ImagingError({"centreline_px": ["The base and the tip are the same point."]})
    # Only a diameter left out is the default: a 0 sent as a number was taken as 60 µm.
    d = _float(data.get("diameter_um"), "diameter_um", 5, 200, "µm")
    return {"op": "add", "centreline_px": pts, "diameter_um": 60.0 if d is None else d}


def _id_list(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)


@dataclass
class EditReplay:
    """The hair numbers an edit list gives, replayed as the engine numbers them (hairs made by
    an edit get the next number after the largest automatic one, in edit order), with a
    sentence per edit for the correction log and the change history."""

    automatic_ids: set[int]
    texts: list[str]
    gone: dict[int, str]  # hair no. -> what took it out ("removed", "merged into hair 41")
    made: dict[int, str]  # hair no. made by an edit -> how ("added by hand")
    diameter_set: dict[int, float]  # hair no. -> diameter set by hand, µm
    # hair no. added by hand -> its (base, tip) in image pixels
    added_ends: dict[int, tuple[tuple[float, float], tuple[float, float]]] = dataclasses.field(
        default_factory=dict
    )

    @property
    def current_ids(self) -> set[int]:
        return (self.automatic_ids | set(self.made)) - set(self.gone)


def replay_edits(automatic_ids: set[int], edits: list[dict[str, Any]]) -> EditReplay:
    """What ``edits`` do to the automatic hairs numbered ``automatic_ids``, in words."""
    out = EditReplay(set(automatic_ids), [], {}, {}, {})
    next_id = max(automatic_ids, default=0) + 1

    def new(k: int) -> list[int]:
        nonlocal next_id
        ids = list(range(next_id, next_id + k))
        next_id += k
        return ids

    for e in edits:
        op = e.get("op")
        if op == "remove":
            out.gone[e["hair_id"]] = "removed"
            out.texts.append(f"Hair {e['hair_id']} removed")
        elif op == "merge":
            (j,) = new(1)
            for i in e["hair_ids"]:
                out.gone[i] = f"merged into hair {j}"
            out.made[j] = f"merged from hairs {_id_list(e['hair_ids'])}"
            out.texts.append(f"Hairs {_id_list(e['hair_ids'])} merged into hair {j}")
        elif op == "split":
            js = new(2 if e.get("at_px") is not None else int(e.get("n", 2)))
            out.gone[e["hair_id"]] = f"split into hairs {_id_list(js)}"
            for j in js:
                out.made[j] = f"split from hair {e['hair_id']}"
            out.texts.append(f"Hair {e['hair_id']} split into {len(js)} hairs ({_id_list(js)})")
        elif op == "set_diameter":
            d = float(e["diameter_um"])
            out.diameter_set[e["hair_id"]] = d
            out.texts.append(f"Diameter of hair {e['hair_id']} set to {d:g} µm")
        elif op == "add":
            (j,) = new(1)
            points = e.get("polyline_px") or [[0.0, 0.0]]
            (x1, y1), (x2, y2) = points[0], points[-1]
            given = e.get("diameter_um")
            width = f", {float(given):g} µm" if given is not None else ""
            out.made[j] = "added by hand"
            out.added_ends[j] = ((float(x1), float(y1)), (float(x2), float(y2)))
            out.texts.append(
                f"Hair {j} added from ({x1:.0f}, {y1:.0f}) to ({x2:.0f}, {y2:.0f}) px{width}"
            )
        else:
            out.texts.append(f"Unknown correction {op!r}")
    return out


# An added hair whose base and tip both lie this close to those of a hair added before is the
# same hair sent twice (a form resubmitted, an API call retried).
SAME_ADDED_HAIR_PX = 1.5


def _check_not_added_twice(replay: EditReplay, edit: dict[str, Any]) -> None:
    if edit["op"] != "add":
        return
    points = edit.get("polyline_px") or []
    if len(points) < 2:
        return
    base, tip = points[0], points[-1]
    for j, (b, t) in replay.added_ends.items():
        near = math.dist(b, base) <= SAME_ADDED_HAIR_PX and math.dist(t, tip) <= SAME_ADDED_HAIR_PX
        if near and j in replay.current_ids:
            raise ImagingError(
                {"centreline_px": [f"This hair was added already (hair no. {j}, from the same "
                                   "base to the same tip); nothing was added."]}
            )  # fmt: skip


def _check_hair_ids(replay: EditReplay, edit: dict[str, Any]) -> None:
    """Refuse an edit naming a hair that is not in the corrected result, saying why."""
    field = "hair_ids" if edit["op"] == "merge" else "hair_id"
    ids = edit.get("hair_ids") or ([edit["hair_id"]] if "hair_id" in edit else [])
    for i in ids:
        if i in replay.gone:
            raise ImagingError(
                {field: [f"Hair {i} was {replay.gone[i]} by an earlier correction; enter a "
                         "hair number from the corrected overlay."]}
            )  # fmt: skip
        if i not in replay.current_ids:
            raise ImagingError(
                {field: [f"There is no hair {i} in this analysis; enter a hair number from "
                         "the overlay."]}
            )  # fmt: skip


# A merge joins the pieces of one hair that the analysis broke (at a crossing hair, a glare
# spot or a faint stretch): a bridge longer than this is two hairs, or a mistyped number.
MERGE_MAX_GAP_UM = 300.0


def _check_merge_gap(current: Analysis, edit: dict[str, Any]) -> None:
    """Refuse a merge whose hairs lie far apart at their nearest ends, naming the distance."""
    by_id = {h.id: h for h in current.hairs}
    ids = edit["hair_ids"]
    _, gaps = joined([by_id[i].centreline_px for i in ids])
    for i, gap_px in zip(ids[1:], gaps, strict=True):
        gap_um = gap_px * current.um_per_px
        if gap_um > MERGE_MAX_GAP_UM:
            raise ImagingError(
                {"hair_ids": [f"Hair {i} is {gap_um / 1000:.2f} mm from the hair(s) before it "
                              f"at the nearest ends: a merge joins pieces of one hair at most "
                              f"{MERGE_MAX_GAP_UM / 1000:.2f} mm apart. Check the numbers on "
                              "the overlay."]}
            )  # fmt: skip


def _to_engine(edit: dict[str, Any], author: str) -> dict[str, Any]:
    """Our edit dict -> the engine's stored edit format (Corrections.to_dict)."""
    c = Corrections()
    if edit["op"] == "remove":
        c.remove_hair(edit["hair_id"], author=author)
    elif edit["op"] == "merge":
        c.merge(edit["hair_ids"], author=author)
    elif edit["op"] == "split":
        c.split(edit["hair_id"], n=edit["n"], author=author)
    elif edit["op"] == "set_diameter":
        c.set_diameter(edit["hair_id"], edit["diameter_um"], author=author)
    else:
        c.add_hair(edit["centreline_px"], diameter_um=edit["diameter_um"], author=author)
    return c.to_dict()["edits"][0]


def add_edit(
    analysis: PhotoAnalysis, user: User, data: Mapping[str, Any], basis: str | None = None
) -> AnalysisCorrection:
    """Append one edit to the correction layer (the automatic result is left as it is).

    ``basis``: the analysis's ``correction_basis`` as the person saw it; where given, the
    edit is refused if the analysis was re-analysed or corrected since (None: not checked)."""
    if not analysis.is_done:
        raise ImagingError({"analysis": ["Only a finished analysis can be corrected."]})
    clean = _edit_from(data)
    shape = (analysis.result or {}).get("image_shape")
    if clean["op"] == "add" and shape:
        height, width = shape
        if not all(0 <= x < width and 0 <= y < height for x, y in clean["centreline_px"]):
            raise ImagingError(
                {"centreline_px": [f"Give points inside the image ({width} × {height} px)."]}
            )
    try:
        edit = _to_engine(clean, user.get_username())
    except CorrectionError as exc:
        # Named after the input that was wrong (a hair number that does not exist).
        field = {"merge": "hair_ids", "add": "centreline_px"}.get(clean["op"], "hair_id")
        raise ImagingError({field: [str(exc)]}) from exc
    return _save_edits(analysis, user, None, edit, basis)


def undo_edit(analysis: PhotoAnalysis, user: User, basis: str | None = None) -> AnalysisCorrection:
    """Take back the last edit (``basis`` as for :func:`add_edit`)."""
    if not analysis.is_done:
        raise ImagingError({"analysis": ["Only a finished analysis can be corrected."]})
    return _save_edits(analysis, user, "undo", None, basis)


def _edit_count(analysis: PhotoAnalysis) -> int:
    """How many corrections are stored for ``analysis`` (read afresh: callers hold its lock)."""
    layer = AnalysisCorrection.objects.filter(analysis=analysis).values_list("edits", flat=True)
    return len(next(iter(layer), None) or [])


def _check_basis(locked: PhotoAnalysis, edits: int, basis: str | None) -> None:
    """Refuse a correction made on another state than the current one: after a re-analysis
    the hair numbers are another result's, and a second press of a button (an undo sent
    twice) would apply it again."""
    current = correction_basis(locked.requested_at, edits)
    sent = str(basis).strip()
    if basis is None or sent == current:
        return
    same_result = sent.partition("-")[0] == current.partition("-")[0]
    why = (
        f"it has {edits} correction{'s' if edits != 1 else ''} now"
        if same_result
        else "the image was re-analysed, so its hair numbers are those of a new result"
    )
    raise StaleCorrection(
        {"basis": [f"This analysis changed since this page was shown ({why}): nothing was "
                   "changed. Check the current result and correct it again if needed."]}
    )  # fmt: skip


def _save_edits(
    analysis: PhotoAnalysis,
    user: User,
    action: str | None,
    edit: dict[str, Any] | None,
    basis: str | None = None,
) -> AnalysisCorrection:
    with transaction.atomic():
        locked = PhotoAnalysis.objects.select_for_update().get(pk=analysis.pk)
        if locked.photo.visit.is_voided or locked.photo.is_voided:
            raise ImagingError({"analysis": ["This photo or its visit is voided."]})
        if locked.photo.visit.patient.is_voided:
            raise ImagingError({"__all__": ["The patient record is voided."]})
        corr = AnalysisCorrection.objects.filter(analysis=locked).first()
        if corr is None:
            corr = AnalysisCorrection(analysis=locked, edits=[], updated_by=user)
        edits = list(corr.edits)
        _check_basis(locked, len(edits), basis)
        auto = automatic_analysis(locked)
        replay = replay_edits({h.id for h in auto.hairs}, edits)
        if action == "undo":
            if not edits:
                raise ImagingError({"op": ["There is no correction to undo."]})
            edits.pop()
            reason, what = "correction undone", f"correction undone ({replay.texts[-1]})"
        else:
            assert edit is not None
            _check_hair_ids(replay, edit)
            _check_not_added_twice(replay, edit)
            if edit["op"] == "merge":
                _check_merge_gap(Corrections.from_dict({"edits": edits}).apply(auto), edit)
            edits.append(edit)
            reason = f"correction: {edit['op']}"
            what = replay_edits(replay.automatic_ids, edits).texts[-1]
        try:
            corrected = Corrections.from_dict({"edits": edits}).apply(auto)
        except CorrectionError as exc:
            raise ImagingError({"op": [str(exc)]}) from exc
        corr.edits = edits
        corr.summary = corrected.summary.to_dict() if edits else None
        corr.updated_by = user
        save_with_history(corr, user, reason)
        _outdate_comparisons(locked.photo, user, "corrected")
        _record_measurement(
            locked, user, corrected if edits else auto, f"corrected image analysis: {what}"
        )
    analysis.refresh_from_db()
    return corr


# --- overlay -------------------------------------------------------------------------------


def overlay_png(
    analysis: PhotoAnalysis, corrected: bool = True, max_side: int = MAX_DISPLAY_SIDE
) -> bytes:
    """The photo with the hairs drawn (corrections applied unless ``corrected`` is False), at a
    size fit for the screen: small images enlarged, numbers readable and inside the image."""
    result = final_analysis(analysis) if corrected else automatic_analysis(analysis)
    with analysis.photo.image.open("rb") as fh:
        image = load_image(fh.read())
    im = display_overlay(image, result, max_side=max_side)
    out = io.BytesIO()
    im.save(out, format="PNG", optimize=False)
    return out.getvalue()


# --- phototrichogram (two-visit comparison) ---------------------------------------------------


def _done_analysis(photo: Photo, field: str, label: str) -> PhotoAnalysis:
    analysis = PhotoAnalysis.objects.filter(photo=photo).first()
    if analysis is None:
        raise ImagingError({field: [f"The {label} photo is not analysed yet: analyse it first."]})
    if analysis.status == PhotoAnalysis.Status.NEEDS_CALIBRATION or analysis.um_per_px is None:
        raise ImagingError(
            {field: [f"The {label} photo has no calibration (µm per pixel): enter the image "
                     "scale or set the clinic's calibration and analyse it again."]}
        )  # fmt: skip
    if not analysis.is_done:
        raise ImagingError(
            {field: [f"The analysis of the {label} photo is "
                     f"{analysis.get_status_display().lower()}, not done."]}
        )  # fmt: skip
    return analysis


def site_key(target_area: str) -> str:
    """A marked site as compared: spaces and case do not tell two sites apart."""
    return " ".join(target_area.split()).casefold()


def check_comparison(before: Photo, after: Photo) -> tuple[int, PhotoAnalysis, PhotoAnalysis]:
    """Days between the photos and both analyses, or ImagingError naming what is wrong.

    Errors are keyed as the API names the photos (body ``before_photo_id``, path
    ``photo_id``), so its 400 names the field the client sent; the page lists the messages
    without field names."""
    field, after_field = "before_photo_id", "photo_id"
    if before.pk == after.pk:
        raise ImagingError({field: ["Choose a photo from an earlier visit, not the same photo."]})
    if before.clinic_id != after.clinic_id or before.patient_id != after.patient_id:
        raise ImagingError({field: ["The two photos must be of the same patient."]})
    for photo, f in ((before, field), (after, after_field)):
        if photo.kind != Photo.Kind.TRICHOSCOPY:
            raise ImagingError({f: ["Only trichoscopy images can be compared."]})
        if photo.is_voided or photo.visit.is_voided:
            raise ImagingError({f: ["This photo or its visit is voided."]})
    if before.visit.patient.is_voided:
        raise ImagingError({"__all__": ["The patient record is voided."]})
    if site_key(before.target_area) != site_key(after.target_area):
        raise ImagingError(
            {field: [f"The photos show different target areas ({before.target_area or '—'} / "
                     f"{after.target_area or '—'}): compare images of the same marked site."]}
        )  # fmt: skip
    days = (after.visit.visit_date - before.visit.visit_date).days
    lo, hi = COMPARISON_DAYS
    if days <= 0:
        raise ImagingError(
            {field: ["The first photo must be from an earlier visit than this one "
                     f"({before.visit.visit_date:%Y-%m-%d} is not before "
                     f"{after.visit.visit_date:%Y-%m-%d})."]}
        )  # fmt: skip
    if not (lo <= days <= hi):
        raise ImagingError(
            {field: [f"The visits are {days} days apart; the phototrichogram needs the second "
                     f"image {lo}–{hi} days after clipping."]}
        )  # fmt: skip
    a0 = _done_analysis(before, field, "earlier")
    a1 = _done_analysis(after, after_field, "later")
    assert a0.um_per_px is not None and a1.um_per_px is not None  # a done analysis has a scale
    if abs(a0.um_per_px - a1.um_per_px) > SAME_SCALE_TOLERANCE * a1.um_per_px:
        raise ImagingError(
            {field: [f"The two analyses use different image scales ({a0.um_per_px:g} and "
                     f"{a1.um_per_px:g} µm/px): analyse both with the same calibration."]}
        )  # fmt: skip
    return days, a0, a1


def request_comparison(before: Photo, after: Photo, user: User) -> PhotoComparison:
    """Queue a phototrichogram of two analysed photos of one site taken 1-7 days apart."""
    days, a0, a1 = check_comparison(before, after)
    with transaction.atomic():
        comparison = PhotoComparison(
            clinic=after.clinic,
            patient=after.patient,
            before_photo=before,
            after_photo=after,
            days=days,
            growth_mm_per_day=GROWTH_MM_PER_DAY,
            um_per_px=a1.um_per_px,
            requested_by=user,
        )
        save_with_history(comparison, user, "phototrichogram requested")
        pk = comparison.pk
        transaction.on_commit(lambda: _enqueue_comparison(pk))
    return comparison


def _enqueue_comparison(comparison_id: int) -> None:
    from anagen.imaging.tasks import compare_photos

    try:
        compare_photos.enqueue(comparison_id)
    except Exception:  # noqa: BLE001 - a broken queue leaves the comparison "queued", visibly
        log.exception("could not enqueue the comparison %s", comparison_id)


def run_comparison(comparison_id: int) -> PhotoComparison:
    """Run the engine's two-visit trichogram (called by the background task).

    The comparison is claimed under its row lock (queued -> running), as an analysis is: a
    task delivered twice, or to two workers, runs the engine once; the other finds it running
    and leaves it. One whose worker stopped stays "running" (shown as stalled); a new request
    makes a new comparison."""
    import time

    with transaction.atomic():
        c = (
            # The comparison's row only, not the photos' or visits' rows it reads.
            PhotoComparison.objects.select_for_update(of=("self",))
            .select_related(
                "before_photo", "before_photo__visit", "after_photo", "after_photo__visit"
            )
            .get(pk=comparison_id)
        )
        if c.status != PhotoComparison.Status.QUEUED:
            return c
        user = c.requested_by
        c.status = PhotoComparison.Status.RUNNING
        save_with_history(c, user, "phototrichogram started", update_fields=["status"])
    t0 = time.perf_counter()
    result = None
    try:
        days, a0, a1 = check_comparison(c.before_photo, c.after_photo)
        images = []
        for photo in (c.before_photo, c.after_photo):
            with photo.image.open("rb") as fh:
                images.append(load_image(fh.read()))
        result = compare(
            images[0],
            images[1],
            float(days),
            um_per_px=a1.um_per_px,
            growth_mm_per_day=c.growth_mm_per_day,
            analyses=(final_analysis(a0), final_analysis(a1)),
        )
    except ImagingError as exc:
        msgs = [m for ms in exc.errors.values() for m in ms]
        c.status, c.error = PhotoComparison.Status.FAILED, " ".join(msgs)
    except (CalibrationError, ImageInputError, ValueError) as exc:
        c.status, c.error = PhotoComparison.Status.FAILED, str(exc)
    except OSError:
        log.exception("comparison %s: a stored image could not be read", comparison_id)
        c.status, c.error = PhotoComparison.Status.FAILED, IMAGE_UNREADABLE
    except Exception:  # noqa: BLE001 - stored and shown; the worker keeps running
        log.exception("comparison %s failed", comparison_id)
        c.status, c.error = PhotoComparison.Status.FAILED, INTERNAL_ERROR.format(what="comparison")
    if result is not None:
        c.days, c.um_per_px = days, a1.um_per_px
        c.registration_score = round(float(result.registration_score), 4)
        c.threshold_um = round(float(result.threshold_um), 1)
        c.assessed_count = len(result.assessed)
        c.not_assessable_count = result.not_assessable
        c.unmatched_before_count = len(result.unmatched_before)
        c.unmatched_after_count = len(result.unmatched_after)
        c.result = result.to_dict()
        c.engine_version = ENGINE_VERSION
        if result.registration_score < MIN_REGISTRATION_SCORE:
            c.status = PhotoComparison.Status.FAILED
            c.error = (
                f"Registration failed (score {result.registration_score:.2f} < "
                f"{MIN_REGISTRATION_SCORE:g}): the images do not seem to show the same site. "
                "Check the marked area and image it again."
            )
        elif (anagen_pct := result.anagen_pct) is None or result.telogen_pct is None:
            c.status = PhotoComparison.Status.FAILED
            c.error = (
                "No hair of the first image could be assessed (each lies at the image edge or "
                "grows out of either image), so no anagen % is given: check that both images "
                "show the clipped, marked site, well inside the field."
            )
        else:
            c.status = PhotoComparison.Status.DONE
            c.error = ""
            c.anagen_pct = round(anagen_pct, 2)
            c.telogen_pct = round(result.telogen_pct, 2)
            c.compared_at = timezone.now()
    c.seconds = round(time.perf_counter() - t0, 3)
    # Not written into the visit's measurement: the engine's anagen % is not validated
    # (ANAGEN_NOT_VALIDATED); a clinician who has checked the overlays enters it by hand.
    with transaction.atomic():
        current = PhotoComparison.objects.select_for_update().get(pk=c.pk)
        if current.status != PhotoComparison.Status.RUNNING:
            # No longer this run's (its state was changed while the engine ran): leave it.
            return current
        save_with_history(c, user, f"phototrichogram {c.status}")
    return c


def _outdate_comparisons(photo: Photo, user: User, what: str) -> None:
    """Either analysis of a comparison changed: its anagen % no longer holds.

    Finished comparisons and those still queued or running are outdated: a pending one would
    otherwise be run (or stored) on the analysis as it was before, and shown as done. A run
    under way stores nothing once its comparison is no longer "running" (``run_comparison``)."""
    pending = (PhotoComparison.Status.QUEUED, PhotoComparison.Status.RUNNING)
    rows = list(
        PhotoComparison.objects.select_for_update()
        .filter(clinic=photo.clinic, status__in=(PhotoComparison.Status.DONE, *pending))
        .filter(Q(before_photo=photo) | Q(after_photo=photo))
    )
    for c in rows:
        when = "before this comparison finished" if c.status in pending else "after this comparison"
        c.status = PhotoComparison.Status.OUTDATED
        c.error = (
            f"The analysis of one of the two photos was {what} {when}: "
            "run the phototrichogram again."
        )
        save_with_history(c, user, f"outdated: analysis {what}", update_fields=["status", "error"])
