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
    counting_sd: float = 7.0
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


def measure_patient(
    rng: np.random.Generator, truth: dict[str, np.ndarray], m: MeasurementParams
) -> dict[str, np.ndarray]:
    """Measured values for one target area at its visits (1-D arrays over visits)."""
    v = truth["hairs_terminal"].shape[0]
    term_vis = np.maximum(truth["hairs_terminal"] - truth["young_terminal"], 0)
    vel_vis = np.maximum(truth["hairs_vellus"] - truth["young_vellus"], 0)
    anag_vis = np.maximum(
        truth["anagen_terminal"]
        + truth["anagen_vellus"]
        - truth["young_terminal"]
        - truth["young_vellus"],
        0,
    )
    z = rng.standard_normal((3, v))
    vel_det = rng.binomial(vel_vis, m.vellus_detection)
    expected = term_vis + vel_det
    s = m.relocation_cv
    factor = np.exp(s * z[0] - 0.5 * s * s)
    count = np.maximum(np.rint(factor * expected + m.counting_sd * z[1]), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share_t = np.where(expected > 0, term_vis / expected, np.nan)
        p_anagen = np.where(
            expected > 0, np.clip(anag_vis / np.maximum(term_vis + vel_vis, 1), 0, 1), 0.0
        )
        n_anagen = rng.binomial(count.astype(np.int64), p_anagen)
        mean_d = np.where(
            truth["hairs_terminal"] + truth["hairs_vellus"] > 0,
            truth["diameter_sum_um"] / (truth["hairs_terminal"] + truth["hairs_vellus"]),
            np.nan,
        )
        return {
            "hair_count": count,
            "density_per_cm2": count / m.area_cm2,
            "mean_diameter_um": mean_d + m.diameter_sd_um * z[2],
            "terminal_pct": 100 * share_t,
            "vellus_pct": 100 * (1 - share_t),
            "anagen_pct": np.where(count > 0, 100 * n_anagen / np.maximum(count, 1), np.nan),
        }


def visit_days(rng: np.random.Generator, scheduled_days: np.ndarray, window: int) -> np.ndarray:
    """Actual visit days: baseline on day 0, others uniform within ± window, kept ordered."""
    jitter = rng.integers(-window, window + 1, size=scheduled_days.size) if window else 0
    days = np.asarray(scheduled_days, dtype=np.int64) + jitter
    days[scheduled_days == 0] = 0
    days = np.maximum(days, 0)
    return np.maximum.accumulate(days)


def apply_dropout(
    rng: np.random.Generator,
    days: np.ndarray,
    observed_density: np.ndarray,
    true_density: np.ndarray,
    m: MeasurementParams,
) -> np.ndarray:
    """Boolean array: visit observed. Monotone: once a patient drops out, later visits are
    missing. The baseline visit is always observed."""
    n_v = days.size
    seen = np.ones(n_v, dtype=bool)
    u = rng.random(n_v)
    if m.dropout_per_year <= 0:
        return seen
    base_rate = m.dropout_per_year / 365.25
    for j in range(1, n_v):
        dt = days[j] - days[j - 1]
        log_h = 0.0
        if m.dropout == Dropout.MAR:
            loss = observed_density[0] - observed_density[j - 1]
            log_h = m.dropout_strength * loss
        elif m.dropout == Dropout.MNAR:
            loss = true_density[0] - true_density[j]
            log_h = m.dropout_strength * loss
        p_drop = 1.0 - np.exp(-base_rate * np.exp(np.clip(log_h, -5, 5)) * dt)
        if u[j] < p_drop:
            seen[j:] = False
            break
    return seen
