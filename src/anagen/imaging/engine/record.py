"""What the accuracy benchmark measured for this engine, for whoever reads its results.

An automatic count is only as useful as its known error: the visit page and the CLI state it
beside each result. The figures are those of ``benchmarks/imaging_accuracy.py`` in
``benchmarks/results_imaging.md`` (section "Accuracy"), and a test keeps them equal to that
file and to ENGINE_VERSION, so a new engine version needs a new benchmark run before it ships.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _least_significant_change(cv_pct: float) -> float:
    """The smallest change between two measurements, each with a CV of ``cv_pct``, that
    measurement noise alone explains less than 5 % of the time: 1.96 x sqrt(2) x CV (normal
    errors). The benchmark's retest re-renders one scene (new noise, a small shift), so real
    visits, with repositioning and re-clipping, vary more: this is a lower bound."""
    return 1.96 * math.sqrt(2) * cv_pct


def _drift(bias_pct: float) -> str:
    return f"{'undercounting' if bias_pct < 0 else 'overcounting'} by {abs(bias_pct):g} %"


@dataclass(frozen=True)
class AccuracyRecord:
    engine_version: str
    run: str  # when the benchmark ran (UTC)
    images: int  # generated images with known truth
    count_mae_pct: float  # mean absolute count error per image
    count_bias_pct: float  # mean signed count error (negative: undercount)
    retest_cv_count_pct: float  # two shots of one field (new noise, small shift)
    retest_cv_mean_diameter_pct: float
    retest_cv_thickness_pct: float  # cumulative thickness (density x mean diameter)
    # The same on the images the engine flagged "faint_hairs" (light hair: the worst case).
    faint_images: int
    faint_count_mae_pct: float
    faint_count_bias_pct: float

    @property
    def least_significant_change_pct(self) -> float:
        """Of the count (and so of the density, the count over the same field area)."""
        return _least_significant_change(self.retest_cv_count_pct)

    @property
    def least_significant_change_mean_diameter_pct(self) -> float:
        return _least_significant_change(self.retest_cv_mean_diameter_pct)

    @property
    def least_significant_change_thickness_pct(self) -> float:
        return _least_significant_change(self.retest_cv_thickness_pct)

    def summary(self, flags: list[str] | tuple[str, ...] = ()) -> str:
        """One or two sentences for a clinician, with what to do about it. ``flags``: the
        result's quality flags (a faint-hair image gets the figures of such images too)."""
        text = (
            f"On {self.images} generated test images with known truth (benchmark of "
            f"{self.run}), engine {self.engine_version} missed the true hair count by "
            f"{self.count_mae_pct:g} % on average, {_drift(self.count_bias_pct)} on balance; "
            f"two images of one field differed by a CV of {self.retest_cv_count_pct:g} %, so "
            f"between two visits a change under about {self.least_significant_change_pct:.0f} "
            f"% in the count (under {self.least_significant_change_mean_diameter_pct:.0f} % in "
            "the mean diameter) can be measurement noise alone."
        )
        if "faint_hairs" in flags:
            text += (
                f" On the {self.faint_images} of them flagged for faint hairs, like this one, it "
                f"missed by {self.faint_count_mae_pct:g} %, "
                f"{_drift(self.faint_count_bias_pct)}."
            )
        return text + " Check the overlay and correct it before relying on the count."


ACCURACY_RECORD = AccuracyRecord(
    engine_version="0.6.0",
    run="2026-12-07 07:19 UTC",
    images=230,
    count_mae_pct=14.2,
    count_bias_pct=-6.8,
    retest_cv_count_pct=8.8,
    retest_cv_mean_diameter_pct=8.3,
    retest_cv_thickness_pct=11.5,
    faint_images=36,
    faint_count_mae_pct=16.7,
    faint_count_bias_pct=-11.5,
)


@dataclass(frozen=True)
class TrichogramRecord:
    """What benchmarks/imaging_trichogram.py measured of the two-visit anagen % (section
    "two-visit trichogram" of results_imaging.md; a test keeps the two equal)."""

    engine_version: str
    run: str
    pairs: int  # pairs used (registered, at least 10 hairs assessed)
    mean_error_points: float  # measured - true anagen %, mean over the pairs
    mae_points: float
    min_error_points: float
    max_error_points: float
    grown_called_anagen_pct: float  # per hair
    resting_called_telogen_pct: float

    def note(self) -> str:
        """Why the engine's anagen % is not recorded, with the figures, and what to do."""
        return (
            f"Not validated: on {self.pairs} generated pairs with known growth (benchmark of "
            f"{self.run}, engine {self.engine_version}), this engine's anagen % was off by "
            f"{self.mae_points:g} points on average, {_points(self.mean_error_points)} on "
            f"balance (from {self.min_error_points:+g} to {self.max_error_points:+g}); it "
            f"called {self.grown_called_anagen_pct:g} % of grown hairs anagen and "
            f"{self.resting_called_telogen_pct:g} % of resting hairs telogen. It is not recorded "
            "as the visit's anagen %; check the growing hairs on the two overlays and enter the "
            "anagen % by hand."
        )


def _points(bias: float) -> str:
    return f"{abs(bias):g} points {'too low' if bias < 0 else 'too high'}"


TRICHOGRAM_RECORD = TrichogramRecord(
    engine_version="0.6.0",
    run="2026-12-07 07:24 UTC",
    pairs=31,
    mean_error_points=0.8,
    mae_points=10.6,
    min_error_points=-60.3,
    max_error_points=32.6,
    grown_called_anagen_pct=87.0,
    resting_called_telogen_pct=65.0,
)


def accuracy_record(engine_version: str) -> AccuracyRecord | None:
    """The record of the engine version that made a result (None: no record for it)."""
    return ACCURACY_RECORD if engine_version == ACCURACY_RECORD.engine_version else None


def accuracy_note(engine_version: str, flags: list[str] | tuple[str, ...] = ()) -> str:
    """What a reader should know about a result of ``engine_version`` with quality ``flags``:
    its record, or that there is none (no figures are borrowed from another version)."""
    record = accuracy_record(engine_version)
    if record is None:
        return (
            f"No accuracy benchmark is recorded for engine {engine_version or '?'}: check the "
            "overlay and correct it before relying on the count."
        )
    return record.summary(flags)
