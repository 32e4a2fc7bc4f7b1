"""Analyses of monitoring trichoscopy photos.

The automatic result of the engine (PhotoAnalysis.result) and the clinician's correction
layer (AnalysisCorrection.edits) are stored apart: the automatic result is never changed by
a correction, and both summaries can always be shown side by side. Both are audited with
django-simple-history. Calibration is per clinic (the dermatoscope's µm per pixel) unless
given for one analysis; without it the analysis waits and says so.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from anagen.accounts.models import Clinic
from anagen.imaging.engine.analyze import (
    MAX_UM_PER_PX,
    MIN_UM_PER_PX,
    QUALITY_FLAGS,
    TERMINAL_CUTOFF_UM_RANGE,
)
from anagen.imaging.engine.compare import (  # noqa: F401 - COMPARISON_DAYS read from here too
    ANAGEN_NOT_VALIDATED,
    COMPARISON_DAYS,
)
from anagen.imaging.engine.record import accuracy_note
from anagen.monitoring.models import Measurement, Photo
from anagen.monitoring.uploads import MAX_SIDE_PX, TRICHOSCOPY_MIN_SIDE_PX
from anagen.patients.models import Patient

# Trichoscopy uploads are this wide at least and at most.
MIN_CALIBRATED_SIDE_PX, MAX_CALIBRATED_SIDE_PX = TRICHOSCOPY_MIN_SIDE_PX, MAX_SIDE_PX
UM_PER_PX_VALIDATORS = [MinValueValidator(MIN_UM_PER_PX), MaxValueValidator(MAX_UM_PER_PX)]
CUTOFF_VALIDATORS = [
    MinValueValidator(TERMINAL_CUTOFF_UM_RANGE[0]),
    MaxValueValidator(TERMINAL_CUTOFF_UM_RANGE[1]),
]


class ImagingSettings(models.Model):
    """Per-clinic calibration of the dermatoscope used for trichoscopy images."""

    clinic = models.OneToOneField(Clinic, on_delete=models.PROTECT, related_name="imaging_settings")
    um_per_px = models.FloatField(
        "µm per pixel",
        null=True,
        blank=True,
        validators=UM_PER_PX_VALIDATORS,
        help_text="From a stage-micrometer image (anagen image calibrate) or the known field "
        "of view; empty = analyses wait for a calibration",
    )
    # The scale holds for images of the size it was measured on: a resized export of the same
    # field has another µm/px (and a density off by the square of the resize). The longer
    # side is compared, so that a portrait shot of the same camera passes.
    image_long_side_px = models.PositiveIntegerField(
        "longer side of the calibrated images (px)",
        null=True,
        blank=True,
        validators=[
            MinValueValidator(MIN_CALIBRATED_SIDE_PX),
            MaxValueValidator(MAX_CALIBRATED_SIDE_PX),
        ],
        help_text="Longer side of the images the scale was measured on; a photo whose longer "
        "side differs waits for its own scale. Empty = not checked",
    )
    terminal_cutoff_um = models.FloatField(default=40.0, validators=CUTOFF_VALIDATORS)
    calibration_note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    def __str__(self) -> str:
        return f"Imaging settings of {self.clinic}"


# An analysis or a comparison takes seconds. One still queued or running this long after it
# was requested has lost its task (worker stopped, queue unreachable): the page stops waiting
# for it and offers to request it again.
STALLED_AFTER = timedelta(minutes=10)


class BackgroundTaskState:
    """Pending/stalled state of a model whose result a background task fills.

    The model has ``status`` with QUEUED and RUNNING choices and names in
    ``requested_time_field`` the field that says when the current result was requested.
    """

    status: str
    requested_time_field: str

    @property
    def is_pending(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def is_stalled(self) -> bool:
        """Queued or running for longer than any run takes: its task was lost."""
        requested = getattr(self, self.requested_time_field)
        return self.is_pending and timezone.now() - requested > STALLED_AFTER


def correction_basis(requested_at: Any, edits: int) -> str:
    """``PhotoAnalysis.correction_basis`` from its parts: "<request time, µs>-<edits>"."""
    return f"{round(requested_at.timestamp() * 1_000_000)}-{edits}"


class PhotoAnalysis(BackgroundTaskState, models.Model):
    """The engine's automatic result for one trichoscopy photo."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        NEEDS_CALIBRATION = "needs_calibration", "Needs calibration"
        FAILED = "failed", "Failed"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    photo = models.OneToOneField(Photo, on_delete=models.PROTECT, related_name="analysis")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    um_per_px = models.FloatField(null=True, blank=True, validators=UM_PER_PX_VALIDATORS)
    calibration_source = models.CharField(max_length=20, blank=True)  # clinic | entered
    terminal_cutoff_um = models.FloatField(default=40.0, validators=CUTOFF_VALIDATORS)
    engine_version = models.CharField(max_length=20, blank=True)
    result = models.JSONField(null=True, blank=True, help_text="engine Analysis.to_dict()")
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    measurement = models.ForeignKey(
        Measurement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the current result was requested (each re-analysis sets it again).
    requested_at = models.DateTimeField(default=timezone.now)
    analysed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()
    requested_time_field = "requested_at"

    class Meta:
        ordering = ["photo__visit__visit_date", "id"]

    def __str__(self) -> str:
        return f"Analysis of photo {self.photo_id} ({self.get_status_display()})"

    @property
    def is_done(self) -> bool:
        return self.status == self.Status.DONE and self.result is not None

    @property
    def summary_auto(self) -> dict[str, Any] | None:
        return self.result["summary"] if self.is_done and self.result is not None else None

    @property
    def quality_flags(self) -> list[str]:
        return list((self.result or {}).get("quality", {}).get("flags", []))

    @property
    def quality_notes(self) -> list[tuple[str, str]]:
        """(flag, what it means) for each quality flag; a flag from another engine version
        that this one does not describe is shown by its name."""
        return [(f, QUALITY_FLAGS.get(f, f.replace("_", " "))) for f in self.quality_flags]

    @property
    def accuracy_note(self) -> str:
        """How far the automatic figures can be trusted: the benchmark record of the engine
        version that made them."""
        return accuracy_note(self.engine_version, self.quality_flags)

    @property
    def corrected_summary(self) -> dict[str, Any] | None:
        try:
            return self.correction.summary
        except AnalysisCorrection.DoesNotExist:
            return None

    @property
    def edits(self) -> list[dict[str, Any]]:
        try:
            return list(self.correction.edits)
        except AnalysisCorrection.DoesNotExist:
            return []

    @property
    def closed_reason(self) -> str:
        """Why this analysis can no longer be corrected, re-analysed or recorded, in words
        (its photo, visit or patient record is voided); "" where it can."""
        photo = self.photo
        for what, voided in (
            ("patient record", photo.visit.patient.is_voided),
            ("visit", photo.visit.is_voided),
            ("photo", photo.is_voided),
        ):
            if voided:
                return (
                    f"This {what} is voided: the analysis is kept as it is for the record and "
                    "can no longer be corrected, re-analysed or recorded."
                )
        return ""

    @property
    def correction_basis(self) -> str:
        """The result and correction layer as shown, which a correction is made on: the
        request of the analysis (a re-analysis gives a new one) and the number of edits. Hair
        numbers belong to one result, and an undo to the last edit shown."""
        return correction_basis(self.requested_at, len(self.edits))

    @property
    def image_size_px(self) -> tuple[int, int] | None:
        """(width, height) of the analysed image in pixels, the frame of hair coordinates."""
        shape = (self.result or {}).get("image_shape")
        return (int(shape[1]), int(shape[0])) if shape else None

    @property
    def hairs(self) -> list[dict[str, Any]]:
        return list((self.result or {}).get("hairs", [])) if self.is_done else []

    def summary_rows(self) -> list[tuple[str, Any, Any]]:
        """(label, automatic, corrected) rows for the page; corrected is None without edits."""
        a, c = self.summary_auto, self.corrected_summary
        if a is None:
            return []

        def fmt(s: dict[str, Any] | None, key: str, nd: int = 1) -> str | None:
            if s is None:
                return None
            v = s.get(key)
            if v is None:
                return "—"
            return f"{v:.{nd}f}" if isinstance(v, float) else str(v)

        def bins(s: dict[str, Any] | None) -> str | None:
            if s is None:
                return None
            return " / ".join(f"{k}: {v}" for k, v in s["diameter_bins"].items())

        def units(s: dict[str, Any] | None) -> str | None:
            if s is None:
                return None
            return " / ".join(f"{k}: {v}" for k, v in s["hairs_per_unit"].items())

        cut = f"{a['terminal_cutoff_um']:g}"
        return [
            ("Hairs counted", fmt(a, "count"), fmt(c, "count")),
            ("Density (/cm²)", fmt(a, "density_per_cm2"), fmt(c, "density_per_cm2")),
            (
                "Follicular units (/cm²)",
                fmt(a, "follicular_units_per_cm2"),
                fmt(c, "follicular_units_per_cm2"),
            ),
            (
                "Hairs per unit (mean)",
                fmt(a, "hairs_per_unit_mean", 2),
                fmt(c, "hairs_per_unit_mean", 2),
            ),
            ("Units with 1 / 2 / 3 / 4+ hairs", units(a), units(c)),
            ("Mean diameter (µm)", fmt(a, "diameter_mean_um"), fmt(c, "diameter_mean_um")),
            ("Median diameter (µm)", fmt(a, "diameter_median_um"), fmt(c, "diameter_median_um")),
            ("Diameter CV", fmt(a, "diameter_cv", 2), fmt(c, "diameter_cv", 2)),
            ("Diameter bins (µm)", bins(a), bins(c)),
            (f"Terminal > {cut} µm (%)", fmt(a, "terminal_pct"), fmt(c, "terminal_pct")),
            (f"Vellus ≤ {cut} µm (%)", fmt(a, "vellus_pct"), fmt(c, "vellus_pct")),
            (
                "Cumulative thickness (mm/cm²)",
                fmt(a, "cumulative_thickness_mm_per_cm2", 2),
                fmt(c, "cumulative_thickness_mm_per_cm2", 2),
            ),
            ("Field (cm²)", fmt(a, "field_area_cm2", 4), fmt(c, "field_area_cm2", 4)),
        ]


class AnalysisCorrection(models.Model):
    """The correction layer of one analysis: the list of edits and the summary they give."""

    analysis = models.OneToOneField(
        PhotoAnalysis, on_delete=models.PROTECT, related_name="correction"
    )
    edits = models.JSONField(default=list, help_text="engine Corrections.to_dict()['edits']")
    summary = models.JSONField(null=True, blank=True, help_text="summary with the edits applied")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{len(self.edits)} corrections of analysis {self.analysis_id}"


class PhotoComparison(BackgroundTaskState, models.Model):
    """A two-visit phototrichogram: the same marked site imaged again a few days after clipping.

    Both photos must be analysed; the engine registers the images, matches the hairs and calls
    a hair anagen when it grew by at least ``growth_mm_per_day`` × ``days``. Its anagen % is
    shown, with how far it is from validated, and not written into a visit's measurement
    (``ANAGEN_NOT_VALIDATED``; ``measurement`` is kept for comparisons made before that).
    A comparison becomes *outdated* when either analysis is re-run, corrected or voided
    afterwards, or while it is still queued or running (then it never gets a result).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        OUTDATED = "outdated", "Outdated"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    before_photo = models.ForeignKey(Photo, on_delete=models.PROTECT, related_name="+")
    after_photo = models.ForeignKey(Photo, on_delete=models.PROTECT, related_name="+")
    days = models.PositiveSmallIntegerField(help_text="days between the two visits")
    growth_mm_per_day = models.FloatField(default=0.3)
    um_per_px = models.FloatField(null=True, blank=True, validators=UM_PER_PX_VALIDATORS)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    anagen_pct = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    telogen_pct = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    assessed_count = models.PositiveIntegerField(null=True, blank=True)
    not_assessable_count = models.PositiveIntegerField(null=True, blank=True)
    unmatched_before_count = models.PositiveIntegerField(null=True, blank=True)
    unmatched_after_count = models.PositiveIntegerField(null=True, blank=True)
    registration_score = models.FloatField(null=True, blank=True, help_text="0..1")
    threshold_um = models.FloatField(null=True, blank=True)
    engine_version = models.CharField(max_length=20, blank=True)
    result = models.JSONField(null=True, blank=True, help_text="engine Comparison.to_dict()")
    seconds = models.FloatField(null=True, blank=True)
    measurement = models.ForeignKey(
        Measurement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    compared_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()
    requested_time_field = "created_at"

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return (
            f"Phototrichogram of photos {self.before_photo_id} → {self.after_photo_id} "
            f"({self.get_status_display()})"
        )

    @property
    def is_done(self) -> bool:
        return self.status == self.Status.DONE and self.anagen_pct is not None

    @property
    def validation_note(self) -> str:
        return ANAGEN_NOT_VALIDATED

    @property
    def shift_px(self) -> list[float] | None:
        return list((self.result or {}).get("shift_px") or []) or None

    @property
    def rotation_deg(self) -> float | None:
        """The camera's turn between the captures (None: not compared, or compared before
        the registration looked for turns)."""
        value = (self.result or {}).get("rotation_deg")
        return None if value is None else float(value)

    @property
    def photo_pair(self) -> list[tuple[str, Photo]]:
        return [("First image (clipped)", self.before_photo), ("Second image", self.after_photo)]
