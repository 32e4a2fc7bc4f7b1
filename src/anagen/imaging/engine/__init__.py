"""Trichoscopy image-analysis engine (pure NumPy/SciPy/scikit-image; no Django).

Public API::

    load_image(path_or_bytes) -> np.ndarray              # (H, W, 3) uint8, see io.py rules
    analyze(image, um_per_px, field=None, *, terminal_cutoff_um=40.0) -> Analysis
    compare(before, after, days, ...) -> Comparison       # two-visit trichogram
    render_overlay(image, analysis) -> np.ndarray         # RGB uint8
    Corrections(...).apply(analysis) -> Analysis          # manual correction layer
    calibrate_from_micrometer(image, spacing_um) / calibrate_from_field_of_view(...)
    accuracy_record(engine_version) -> AccuracyRecord | None  # the benchmark's figures
"""

from .analyze import ENGINE_VERSION, QUALITY_FLAGS, analyze, quality_flags
from .calibration import calibrate_from_field_of_view, calibrate_from_micrometer
from .compare import Comparison, HairGrowth, compare
from .corrections import CorrectionError, Corrections, summaries_both
from .errors import CalibrationError, ImageInputError
from .io import coerce_image, load_image
from .models import Analysis, Hair, Summary, summarize
from .overlay import render_overlay
from .record import ACCURACY_RECORD, AccuracyRecord, accuracy_note, accuracy_record

__all__ = [
    "ACCURACY_RECORD",
    "ENGINE_VERSION",
    "QUALITY_FLAGS",
    "AccuracyRecord",
    "Analysis",
    "CalibrationError",
    "Comparison",
    "CorrectionError",
    "Corrections",
    "Hair",
    "HairGrowth",
    "ImageInputError",
    "Summary",
    "accuracy_note",
    "accuracy_record",
    "analyze",
    "calibrate_from_field_of_view",
    "calibrate_from_micrometer",
    "coerce_image",
    "compare",
    "load_image",
    "quality_flags",
    "render_overlay",
    "summaries_both",
    "summarize",
]
