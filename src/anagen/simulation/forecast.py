"""Patient forecast (fan chart) and plausibility check of claimed results.

Both simulate virtual patients of the given stage and keep those whose simulated baseline is
closest to the patient's (approximate Bayesian computation by nearest neighbours). The
patient's baseline is a *measured* density, so it is compared with a simulated measured
quantity, never with the noise-free true density (a phototrichogram reads ~15–20 % below the
true density: unemerged and missed vellus hairs, REF B§2):

* ``forecast`` matches a single measured baseline against each virtual patient's simulated
  measured baseline (measurement noise included, so regression to the mean is modelled),
  removes the small remaining mismatch by local-linear regression adjustment (Beaumont et al.
  2002), and reports a *predictive* band: where a new measurement of the target area would
  fall at each month (between-patient spread plus measurement error). Its week-0 entry is a
  repeat measurement at baseline, so the band has a realistic, non-zero width there.
* ``plausibility`` matches a claimed mean baseline (a mean of n patients, in which
  measurement noise largely averages out) against the expected measured baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .cohort import PatientSpec, simulate_visits
from .errors import (
    ParameterError,
    SimulationInputError,
    require_finite_between,
    require_int_between,
)
from .measurement import MeasurementParams, expected_measured_count
from .params import (
    DAYS_PER_WEEK,
    DAYS_PER_YEAR,
    MAX_DENSITY_PER_CM2,
    NORWOOD_SHRINK,
    Region,
    stage_shrink,
)
from .treatments import InjectionSessions, Minoxidil, Plan, plan_from_name

FORECAST_LABEL = (
    "MODEL FORECAST - simulated from a follicle-cycle model with assumed parameters; "
    "not a measurement, prediction of an individual result, or guarantee."
)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# Kept virtual patients by default. With 1,000 the Monte Carlo SE of the 12-month median is
# ≈ 1 hair/cm², so two seeds agree within ≈ 3 hairs/cm² (tested); 120 gives ≈ ±3 per seed.
DEFAULT_N_VIRTUAL = 1000
DEFAULT_OVERSAMPLE = 2
_Z95 = 1.959963984540054

# Ceilings (docs/simulation.md, "Input ranges and ceilings"); the pages and API that call
# these inherit them.
MAX_MONTHS = 120  # 10 years: beyond the model's calibration (48 weeks; −13 % over 4 years)
MAX_N_VIRTUAL = 10_000  # MC SE of the median ≈ 0.3 hairs/cm², far below measurement error
MAX_OVERSAMPLE = 10
# Simulated patients × years (~2,500 per second on one core): 100,000 ≈ 40–60 s.
MAX_FORECAST_PATIENT_YEARS = 100_000
# Patients in a plausibility claim: the largest AGA trial in REF B§3 enrolled 917.
MAX_PLAUSIBILITY_N = 2_000
MAX_PLAUSIBILITY_N_VIRTUAL = 5_000
MAX_RESAMPLES = 100_000
_RESAMPLE_BLOCK = 2_000_000  # resampled patient indices held in memory at once


def _check_patient_years(name: str, patients: int, days: float) -> None:
    py = patients * max(days, 1.0) / DAYS_PER_YEAR
    if py > MAX_FORECAST_PATIENT_YEARS:
        raise SimulationInputError(
            f"{name}: {patients:,} simulated patients × {days / DAYS_PER_YEAR:.1f} years = "
            f"{py:,.0f} patient-years exceeds the ceiling of {MAX_FORECAST_PATIENT_YEARS:,}; "
            "lower n_virtual or the horizon"
        )


@dataclass
class Forecast:
    """Monthly quantiles of the forecast target-area density (1 cm²), hairs/cm².

    ``density_per_cm2`` (quantiles × weeks) and ``mean_per_cm2`` are *predictive* values of a
    measured density: they include measurement error (relocation, counting, missed hairs),
    so the measured visits of the patient can be compared with the band directly.
    ``expected_density_per_cm2`` are the same quantiles without measurement error (the
    expected reading of each virtual patient's target area). ``median_mc_se`` is the Monte
    Carlo standard error of the median at each week (order-statistic interval / 2·1.96).
    """

    label: str
    plan: str
    stage: str
    baseline_density_per_cm2: float | None
    weeks: np.ndarray
    quantiles: tuple[float, ...]
    density_per_cm2: np.ndarray  # (len(quantiles), len(weeks)) predictive, measured scale
    mean_per_cm2: np.ndarray
    n_virtual_patients: int
    notes: list[str] = field(default_factory=list)
    expected_density_per_cm2: np.ndarray | None = None  # without measurement error
    median_mc_se: np.ndarray | None = None
    n_candidates: int = 0

    def rows(self) -> list[dict[str, float]]:
        out = []
        for j, w in enumerate(self.weeks):
            row = {"week": float(w), "mean": float(self.mean_per_cm2[j])}
            for q, v in zip(self.quantiles, self.density_per_cm2[:, j], strict=True):
                row[f"q{round(q * 100):02d}"] = float(v)
            out.append(row)
        return out


def median_mc_se(x: np.ndarray) -> np.ndarray:
    """Monte Carlo SE of the sample median of each column of ``x`` (rows = draws).

    Distribution-free: half the width of the 95 % order-statistic interval of the median
    (ranks n/2 ± 1.96·√n/2), divided by 1.96.
    """
    n = x.shape[0]
    srt = np.sort(x, axis=0)
    half = _Z95 * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half))
    return np.asarray((srt[hi] - srt[lo]) / (2 * _Z95))


def _regression_adjust(y: np.ndarray, x: np.ndarray, target: float) -> np.ndarray:
    """Local-linear ABC adjustment: y_j − b_j (x − target), b_j the OLS slope of y_j on x."""
    xc = x - x.mean()
    var = float(xc @ xc)
    if var <= 0:
        return y
    slope = (xc @ (y - y.mean(axis=0))) / var
    return y - np.outer(x - target, slope)


def _simulate(
    specs: list[PatientSpec], seed: int, days: list[int], m: MeasurementParams, key0: int
) -> tuple[np.ndarray, np.ndarray]:
    """Measured and expected-measured density (rows × visits) of the virtual patients."""
    vd = simulate_visits(
        specs, seed, days, keys=[(key0, i) for i in range(len(specs))], measurement=m
    )
    expected = expected_measured_count(vd.truth, m) / m.area_cm2
    return vd.measured["density_per_cm2"], expected


def forecast(
    stage: str,
    plan: str | Plan = "none",
    *,
    baseline_density: float | None = None,
    scale: str = "norwood",
    region: Region = Region.VERTEX,
    months: int = 24,
    n_virtual: int = DEFAULT_N_VIRTUAL,
    oversample: int = DEFAULT_OVERSAMPLE,
    seed: int = 0,
) -> Forecast:
    """Predictive quantiles of the measured target-area density (1 cm²) over ``months``.

    ``baseline_density`` is the patient's *measured* baseline (hairs/cm²). The
    ``n_virtual`` virtual patients (of ``n_virtual × oversample`` simulated) whose simulated
    measured baseline is nearest are kept and regression-adjusted to it. Without a baseline,
    ``n_virtual`` unmatched patients of the stage are used.
    """
    if scale not in ("norwood", "ludwig"):
        raise ParameterError("scale", scale, "must be 'norwood' or 'ludwig'")
    stage_shrink(stage, scale)
    require_int_between("months", months, 1, MAX_MONTHS)
    require_int_between("n_virtual", n_virtual, 10, MAX_N_VIRTUAL)
    require_int_between("oversample", oversample, 1, MAX_OVERSAMPLE)
    if baseline_density is not None:
        require_finite_between(
            "baseline_density",
            baseline_density,
            0.0,
            MAX_DENSITY_PER_CM2,
            " hairs/cm² (normal adult scalp ≈ 175–300)",
            low_open=True,
        )
    n_cand = n_virtual * (oversample if baseline_density is not None else 1)
    _check_patient_years("n_virtual × months", n_cand, months * DAYS_PER_YEAR / 12)
    p = plan if isinstance(plan, Plan) else plan_from_name(plan, "plan")
    days = sorted({round(mo * 365.25 / 12) for mo in range(months + 1)})
    m = MeasurementParams(visit_window_days=0)
    specs = [PatientSpec(stage, scale, region, (p,)) for _ in range(n_cand)]
    # Day 0 twice: the first measurement is the one matched to the patient's baseline, the
    # second an independent repeat (the predictive value at week 0).
    measured, expected = _simulate(specs, seed, [0, *days], m, key0=1)
    m0 = measured[:, 0]
    if baseline_density is not None and not m0.min() <= baseline_density <= m0.max():
        # Beyond every simulated patient of the stage the "nearest" virtual patients are all
        # at one end and the regression adjustment extrapolates from nothing: no forecast
        # (600/cm² at stage V got a confident band of 444-507/cm² at week 0).
        raise SimulationInputError(
            f"the measured baseline {baseline_density:g}/cm² is beyond every one of the "
            f"{n_cand} simulated patients of stage {stage} ({m0.min():.0f}–{m0.max():.0f}/cm² "
            "at baseline): the model cannot forecast it; check the stage and the measurement."
        )
    pred, exp_ = measured[:, 1:], expected[:, 1:]
    if baseline_density is not None:
        idx = np.argsort(np.abs(m0 - baseline_density), kind="stable")[:n_virtual]
        pred = _regression_adjust(pred[idx], m0[idx], baseline_density)
        exp_ = _regression_adjust(exp_[idx], m0[idx], baseline_density)
    pred = np.maximum(pred, 0.0)
    qs = np.quantile(pred, QUANTILES, axis=0)
    mc = median_mc_se(pred)
    n_kept = pred.shape[0]
    last = len(days) - 1
    notes = [
        f"{n_kept} virtual patients of stage {stage}"
        + (
            f" whose simulated measured baseline is nearest the measured {baseline_density:g}"
            f"/cm² (of {n_cand} simulated; regression-adjusted)"
            if baseline_density
            else ""
        ),
        "Band = where a measurement of this 1 cm² target area would fall: spread between "
        "virtual patients (response, progression, cycling) plus measurement error "
        "(relocation, counting, missed hairs); the week-0 band is a repeat baseline "
        "measurement.",
        f"Monte Carlo error: month-{months} median ± {_Z95 * float(mc[last]):.1f} "
        f"hairs/cm² (95 %) with {n_kept} virtual patients.",
    ]
    if baseline_density is not None:
        # Within the simulated range but beyond nearly all of it, few virtual patients lie
        # near the baseline: said, not refused.
        lo, hi = (float(v) for v in np.quantile(m0, [0.01, 0.99]))
        if not lo <= baseline_density <= hi:
            notes.append(
                f"The measured baseline {baseline_density:g}/cm² lies outside the range of "
                f"this stage's virtual patients ({lo:.0f}–{hi:.0f}/cm², 1st–99th "
                "percentile): the forecast is extrapolated; check the stage and the "
                "measurement."
            )
    return Forecast(
        FORECAST_LABEL,
        p.name,
        stage,
        baseline_density,
        np.array(days) / DAYS_PER_WEEK,
        QUANTILES,
        qs,
        pred.mean(axis=0),
        n_kept,
        notes,
        np.quantile(exp_, QUANTILES, axis=0),
        mc,
        n_cand,
    )


def fastest_credible_plan(weeks: float) -> Plan:
    """Every mechanism at the top of its credible range, from day 0: minoxidil-type telogen
    and kenogen clocks ×10, anagen prolonged ×2, and a strong anagen-induction hazard
    (0.1 per day, i.e. dormant follicles reactivate within days) renewed weekly."""
    sessions = tuple(float(7 * k) for k in range(int(math.ceil(weeks)) + 1))
    return Plan(
        (
            Minoxidil(anagen_rate=0.5, telogen_rate=10.0, kenogen_rate=10.0, thicken_per_cycle=0.2),
            InjectionSessions(
                sessions,
                kind="exosome",
                hazard_per_day=0.1,
                half_life_days=7.0,
                steps=1,
                prolong_anagen_rate=1.0,
                prolong_days=0.0,
            ),
        ),
        name="fastest-credible",
    )


@dataclass
class Plausibility:
    claimed_change_pct: float
    weeks: float
    n: int
    expected_max_change_pct: float
    upper_999_change_pct: float
    probability: float
    probability_bound: float  # Monte Carlo resolution (1 / resamples)
    verdict: str
    n_virtual_patients: int


def plausibility(
    baseline_density: float,
    followup_density: float,
    weeks: float,
    n: int,
    *,
    n_virtual: int = 600,
    resamples: int = 20000,
    seed: int = 0,
) -> Plausibility:
    """How likely is a claimed mean density change under the fastest credible kinetics?

    Virtual patients across Norwood stages are matched to the claimed (measured) baseline
    density by their expected measured baseline and treated with ``fastest_credible_plan``;
    measurement noise is included. The probability is that the relative change of the mean
    density of ``n`` patients (follow-up mean / baseline mean, as such claims are reported)
    reaches the claim (resampling).
    """
    require_finite_between(
        "baseline_density",
        baseline_density,
        0.0,
        MAX_DENSITY_PER_CM2,
        " hairs/cm² (normal adult scalp ≈ 175–300)",
        low_open=True,
    )
    require_finite_between(
        "followup_density",
        followup_density,
        0.0,
        MAX_DENSITY_PER_CM2,
        " hairs/cm² (normal adult scalp ≈ 175–300)",
    )
    require_finite_between("weeks", weeks, 0.0, 260.0, low_open=True)
    require_int_between("n", n, 1, MAX_PLAUSIBILITY_N)
    require_int_between("n_virtual", n_virtual, 10, MAX_PLAUSIBILITY_N_VIRTUAL)
    require_int_between("resamples", resamples, 100, MAX_RESAMPLES)
    _check_patient_years("n_virtual × weeks", 4 * n_virtual, weeks * DAYS_PER_WEEK)
    if followup_density <= baseline_density:
        # The check asks whether a gain could come from the fastest credible kinetics; for a
        # loss it would call any decline "possible" (review: -100 % read as possible).
        raise ParameterError(
            "followup_density",
            followup_density,
            f"must be above the baseline ({baseline_density:g}): the check tests claimed gains",
        )
    claimed = 100 * (followup_density / baseline_density - 1)
    plan = fastest_credible_plan(weeks)
    stages = list(NORWOOD_SHRINK)
    n_cand = n_virtual * 4
    specs = [
        PatientSpec(stages[i % len(stages)], "norwood", Region.VERTEX, (plan,))
        for i in range(n_cand)
    ]
    day = max(1, round(weeks * DAYS_PER_WEEK))
    m = MeasurementParams(visit_window_days=0)
    meas, expected = _simulate(specs, seed, [0, day], m, key0=2)
    # The claimed baseline is a mean over n patients (measurement noise largely averages
    # out), so it is matched against the expected measured baseline.
    e0 = expected[:, 0]
    if not e0.min() <= baseline_density <= e0.max():
        # The nearest virtual patients would all lie at one end, far from the claim's
        # patients, and the verdict would be about them (review: 590/cm² read "possible").
        raise SimulationInputError(
            f"baseline_density: {baseline_density:g}/cm² is beyond every one of the {n_cand} "
            f"virtual patients (expected baselines {e0.min():.0f}–{e0.max():.0f}/cm² across "
            "Norwood stages): the model cannot judge this claim; check the figure."
        )
    idx = np.argsort(np.abs(expected[:, 0] - baseline_density), kind="stable")[:n_virtual]
    meas = meas[idx]
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
    # Means of n resampled patients, in blocks so that memory stays bounded for large n
    # (one block, i.e. the same numbers as before, while resamples × n <= _RESAMPLE_BLOCK).
    block = max(1, _RESAMPLE_BLOCK // n)
    parts = []
    for start in range(0, resamples, block):
        pick = rng.integers(0, meas.shape[0], size=(min(block, resamples - start), n))
        parts.append(
            100 * (meas[pick, 1].mean(axis=1) / np.maximum(meas[pick, 0].mean(axis=1), 1.0) - 1)
        )
    means = np.concatenate(parts)
    prob = float((means >= claimed).mean())
    upper = float(np.quantile(means, 0.999))
    if prob == 0:
        verdict = (
            f"implausible: no simulated mean of {n} patients reached the claim "
            f"(p < {1 / resamples:.0e}) even with the fastest credible kinetics"
        )
    elif prob < 0.01:
        verdict = "very unlikely even with the fastest credible kinetics"
    elif prob < 0.05:
        verdict = "unlikely; only at the edge of the fastest credible kinetics"
    else:
        verdict = "possible under the fastest credible kinetics (not evidence that it is likely)"
    return Plausibility(
        claimed,
        float(weeks),
        int(n),
        float(100 * (meas[:, 1].mean() / max(float(meas[:, 0].mean()), 1.0) - 1)),
        upper,
        prob,
        1 / resamples,
        verdict,
        int(meas.shape[0]),
    )
