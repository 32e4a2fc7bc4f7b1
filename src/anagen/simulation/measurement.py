"""Measurement layer: what a phototrichogram of the target area records at each visit.

The same layer produces the web demo's measured values, so every measured number has a known
noise-free truth next to it.

- Target-area sampling: the follicle sites inside ``area_cm2`` (drawn in ``cohort``).
- Missed hairs: anagen hairs younger than ``emergence_lag_days`` have not grown out far enough
  to be counted; vellus hairs are detected with probability ``vellus_detection``
  (phototrichograms read low and miss fine hairs, REF B§2 Rushton 1993).
- Relocation error: the re-imaged area differs from the tattooed one by a lognormal factor
  (``relocation_cv``); counting error adds ``counting_sd`` hairs. TrichoScan ICC 0.91–0.97
  (REF B§5 item 5); both values [U] calibrated so that the SD of the 48-week change is
  ≈ 21–25 hairs/cm² (REF B§3–4).
- Visit windows: each scheduled visit after baseline happens uniformly within
  ± ``visit_window_days``.
- Dropout: completely at random (MCAR), at random (MAR: hazard rises with the last *observed*
  loss) or not at random (MNAR: hazard rises with the current *true* loss).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from .errors import ParameterError, require_nonnegative, require_positive, require_probability


class Dropout(StrEnum):
    MCAR = "mcar"
    MAR = "mar"
    MNAR = "mnar"


@dataclass(frozen=True)
class MeasurementParams:
    """Defaults and sources: see the module docstring."""

    area_cm2: float = 1.0
    emergence_lag_days: int = 21
    vellus_detection: float = 0.4
    relocation_cv: float = 0.07
    counting_sd: float = 10.0
    diameter_sd_um: float = 3.0
    visit_window_days: int = 7
    dropout_per_year: float = 0.0
    dropout: Dropout = Dropout.MCAR
    dropout_strength: float = 0.05  # log-hazard change per hair/cm² lost (MAR / MNAR)

    def __post_init__(self) -> None:
        require_positive("area_cm2", self.area_cm2)
        require_nonnegative("emergence_lag_days", self.emergence_lag_days)
        require_probability("vellus_detection", self.vellus_detection)
        require_nonnegative("relocation_cv", self.relocation_cv)
        require_nonnegative("counting_sd", self.counting_sd)
        require_nonnegative("diameter_sd_um", self.diameter_sd_um)
        require_nonnegative("visit_window_days", self.visit_window_days)
        require_nonnegative("dropout_per_year", self.dropout_per_year)
        require_nonnegative("dropout_strength", self.dropout_strength)
        try:
            Dropout(self.dropout)
        except ValueError:
            raise ParameterError(
                "dropout", self.dropout, "must be one of mcar, mar, mnar"
            ) from None


# Channel names of the per-visit tables (measured and true).
CHANNELS = (
    "hair_count",
    "density_per_cm2",
    "mean_diameter_um",
    "terminal_pct",
    "vellus_pct",
    "anagen_pct",
)


def true_values(truth: dict[str, np.ndarray], area_cm2: float) -> dict[str, np.ndarray]:
    """Noise-free target-area values from simulated counts (all present hairs)."""
    term = truth["hairs_terminal"].astype(float)
    vel = truth["hairs_vellus"].astype(float)
    hairs = term + vel
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "hair_count": hairs,
            "density_per_cm2": hairs / area_cm2,
            "mean_diameter_um": np.where(hairs > 0, truth["diameter_sum_um"] / hairs, np.nan),
            "terminal_pct": np.where(hairs > 0, 100 * term / hairs, np.nan),
            "vellus_pct": np.where(hairs > 0, 100 * vel / hairs, np.nan),
            "anagen_pct": np.where(
                hairs > 0, 100 * (truth["anagen_terminal"] + truth["anagen_vellus"]) / hairs, np.nan
            ),
        }


def expected_measured_count(truth: dict[str, np.ndarray], m: MeasurementParams) -> np.ndarray:
    """Expected measured hair count (mean over measurement noise) from noise-free counts.

    Emerged terminal hairs plus ``vellus_detection`` × emerged vellus hairs; relocation
    error has mean 1 and counting error mean 0 (before rounding and truncation at 0). This is
    what a phototrichogram reads on average, so it is the right quantity to match a
    *measured* density against (the noise-free true density is ~15–20 % higher).
    """
    return expected_values(truth, m)["hair_count"]


def _visible(truth: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Terminal, vellus and anagen hairs a camera can see: anagen hairs younger than the
    emergence lag have not reached the surface."""
    young = truth["young_terminal"] + truth["young_vellus"]
    term_vis = np.maximum(truth["hairs_terminal"] - truth["young_terminal"], 0).astype(float)
    vel_vis = np.maximum(truth["hairs_vellus"] - truth["young_vellus"], 0).astype(float)
    anag_vis = np.maximum(truth["anagen_terminal"] + truth["anagen_vellus"] - young, 0)
    return term_vis, vel_vis, anag_vis.astype(float)


def expected_values(truth: Mapping[str, np.ndarray], m: MeasurementParams) -> dict[str, np.ndarray]:
    """The noise-free *measurement*: the mean of what ``measure`` returns over its random
    error, from simulated hair counts (``cohort.TRUTH_KEYS``).

    Same detection rules as ``measure``: anagen hairs younger than the emergence lag are not
    seen; vellus hairs are seen with probability ``m.vellus_detection`` (expected count
    instead of the binomial draw); relocation (mean-one lognormal factor) and counting error
    average out; the diameter is the mean over all hairs (as ``measure`` reports it); the
    anagen share is that of the visible hairs. Left out: rounding and clipping of the random
    draws, and that the mean of a ratio is not the ratio of the means (at demo counts under
    1 hair/cm² and 0.2 percentage points; ``tests/simulation/test_simulation_measurement.py``).
    """
    term_vis, vel_vis, anag_vis = _visible(truth)
    count = term_vis + m.vellus_detection * vel_vis
    hairs = (truth["hairs_terminal"] + truth["hairs_vellus"]).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share_t = np.where(count > 0, term_vis / count, np.nan)
        pa = np.clip(anag_vis / np.maximum(term_vis + vel_vis, 1), 0, 1)
        return {
            "hair_count": count,
            "density_per_cm2": count / m.area_cm2,
            "mean_diameter_um": np.where(hairs > 0, truth["diameter_sum_um"] / hairs, np.nan),
            "terminal_pct": 100 * share_t,
            "vellus_pct": 100 * (1 - share_t),
            "anagen_pct": np.where(count > 0, 100 * pa, np.nan),
        }


N_MEASURE_NORMALS = 5  # per visit: relocation, counting, diameter, vellus thinning, anagen


def measure(
    z: np.ndarray, truth: dict[str, np.ndarray], m: MeasurementParams
) -> dict[str, np.ndarray]:
    """Measured values per row and visit from noise-free counts.

    ``z`` holds standard normals of shape (rows, N_MEASURE_NORMALS, visits) drawn from each
    row's own generator. Binomial thinning of vellus hairs and the anagen count use normal
    approximations (cheap, and counts are large).
    """
    term_vis, vel_vis, anag_vis = _visible(truth)
    p = m.vellus_detection
    vel_det = np.clip(np.rint(vel_vis * p + np.sqrt(vel_vis * p * (1 - p)) * z[:, 3]), 0, vel_vis)
    expected = term_vis + vel_det
    s = m.relocation_cv
    factor = np.exp(s * z[:, 0] - 0.5 * s * s)
    count = np.maximum(np.rint(factor * expected + m.counting_sd * z[:, 1]), 0.0)
    hairs = truth["hairs_terminal"] + truth["hairs_vellus"]
    with np.errstate(invalid="ignore", divide="ignore"):
        share_t = np.where(expected > 0, term_vis / expected, np.nan)
        pa = np.clip(anag_vis / np.maximum(term_vis + vel_vis, 1), 0, 1)
        pa_obs = np.clip(pa + np.sqrt(pa * (1 - pa) / np.maximum(count, 1)) * z[:, 4], 0, 1)
        mean_d = np.where(hairs > 0, truth["diameter_sum_um"] / hairs, np.nan)
        return {
            "hair_count": count,
            "density_per_cm2": count / m.area_cm2,
            "mean_diameter_um": mean_d + m.diameter_sd_um * z[:, 2],
            "terminal_pct": 100 * share_t,
            "vellus_pct": 100 * (1 - share_t),
            "anagen_pct": np.where(count > 0, 100 * pa_obs, np.nan),
        }


def visit_days(u: np.ndarray, scheduled_days: np.ndarray, window: int) -> np.ndarray:
    """Actual visit days from uniforms ``u`` (rows, visits): baseline on day 0, others
    uniform within ± window, kept in order."""
    sched = np.asarray(scheduled_days, dtype=np.int64)
    jitter = np.floor(u * (2 * window + 1)).astype(np.int64) - window
    days = np.where(sched == 0, 0, np.maximum(sched + jitter, 0))
    return np.maximum.accumulate(days, axis=-1)


def apply_dropout(
    u: np.ndarray,
    days: np.ndarray,
    observed_density: np.ndarray,
    true_density: np.ndarray,
    m: MeasurementParams,
) -> np.ndarray:
    """Boolean (rows, visits): visit observed. Monotone (no return after dropout); baseline is
    always observed. ``u`` are uniforms (rows, visits) from each row's generator."""
    seen = np.ones(days.shape, dtype=bool)
    if m.dropout_per_year <= 0:
        return seen
    base_rate = m.dropout_per_year / 365.25
    still = np.ones(days.shape[0], dtype=bool)
    for j in range(1, days.shape[1]):
        dt = days[:, j] - days[:, j - 1]
        log_h = np.zeros(days.shape[0])
        if m.dropout == Dropout.MAR:
            log_h = m.dropout_strength * (observed_density[:, 0] - observed_density[:, j - 1])
        elif m.dropout == Dropout.MNAR:
            log_h = m.dropout_strength * (true_density[:, 0] - true_density[:, j])
        log_h = np.nan_to_num(log_h)
        p_drop = 1.0 - np.exp(-base_rate * np.exp(np.clip(log_h, -5, 5)) * dt)
        still &= u[:, j] >= p_drop
        seen[:, j] = still
    return seen
