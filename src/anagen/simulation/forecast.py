"""Patient forecast (fan chart) and plausibility check of claimed results.

Both simulate virtual patients of the given stage, keep those whose noise-free baseline
density is closest to the patient's (approximate Bayesian computation by nearest
neighbours), and rescale each kept trajectory by the small remaining baseline ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .cohort import PatientSpec, simulate_visits
from .errors import ParameterError, require_int_at_least
from .measurement import MeasurementParams
from .params import DAYS_PER_WEEK, NORWOOD_SHRINK, Region, stage_shrink
from .treatments import InjectionSessions, Minoxidil, Plan, plan_from_name

FORECAST_LABEL = (
    "MODEL FORECAST - simulated from a follicle-cycle model with assumed parameters; "
    "not a measurement, prediction of an individual result, or guarantee."
)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class Forecast:
    label: str
    plan: str
    stage: str
    baseline_density_per_cm2: float | None
    weeks: np.ndarray
    quantiles: tuple[float, ...]
    density_per_cm2: np.ndarray  # (len(quantiles), len(weeks)) noise-free target-area density
    mean_per_cm2: np.ndarray
    n_virtual_patients: int
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, float]]:
        out = []
        for j, w in enumerate(self.weeks):
            row = {"week": float(w), "mean": float(self.mean_per_cm2[j])}
            for q, v in zip(self.quantiles, self.density_per_cm2[:, j], strict=True):
                row[f"q{round(q * 100):02d}"] = float(v)
            out.append(row)
        return out


def _matched(
    specs: list[PatientSpec],
    seed: int,
    days: list[int],
    baseline: float | None,
    keep: int,
    measurement: MeasurementParams,
    key0: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vd = simulate_visits(
        specs, seed, days, keys=[(key0, i) for i in range(len(specs))], measurement=measurement
    )
    true = vd.true["density_per_cm2"]
    meas = vd.measured["density_per_cm2"]
    if baseline is None:
        return true, meas, np.arange(len(specs))
    idx = np.argsort(np.abs(true[:, 0] - baseline), kind="stable")[:keep]
    ratio = baseline / np.maximum(true[idx, 0], 1.0)
    return true[idx] * ratio[:, None], meas[idx] * ratio[:, None], idx


def forecast(
    stage: str,
    plan: str | Plan = "none",
    *,
    baseline_density: float | None = None,
    scale: str = "norwood",
    region: Region = Region.VERTEX,
    months: int = 24,
    n_virtual: int = 400,
    oversample: int = 4,
    seed: int = 0,
) -> Forecast:
    """Quantiles of expected target-area density (1 cm²) over ``months`` for a plan."""
    stage_shrink(stage, scale)
    require_int_at_least("months", months, 1)
    require_int_at_least("n_virtual", n_virtual, 10)
    if baseline_density is not None and not baseline_density > 0:
        raise ParameterError("baseline_density", baseline_density, "must be > 0 hairs/cm²")
    p = plan if isinstance(plan, Plan) else plan_from_name(plan)
    days = sorted({round(m * 365.25 / 12) for m in range(months + 1)})
    m = MeasurementParams(visit_window_days=0)
    n_cand = n_virtual * (oversample if baseline_density is not None else 1)
    specs = [PatientSpec(stage, scale, region, (p,)) for _ in range(n_cand)]
    true, _, _ = _matched(specs, seed, days, baseline_density, n_virtual, m, key0=1)
    qs = np.quantile(true, QUANTILES, axis=0)
    notes = [
        f"{true.shape[0]} virtual patients of stage {stage}"
        + (f" matched to baseline {baseline_density:g}/cm²" if baseline_density else ""),
        "Band = spread between virtual patients (response, progression, cycling), "
        "not measurement error.",
    ]
    return Forecast(
        FORECAST_LABEL,
        p.name,
        stage,
        baseline_density,
        np.array(days) / DAYS_PER_WEEK,
        QUANTILES,
        qs,
        true.mean(axis=0),
        true.shape[0],
        notes,
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

    Virtual patients across Norwood stages are matched to the claimed baseline density and
    treated with ``fastest_credible_plan``; measurement noise is included. The probability
    is that the mean relative change of ``n`` patients reaches the claim (resampling).
    """
    if not baseline_density > 0:
        raise ParameterError("baseline_density", baseline_density, "must be > 0 hairs/cm²")
    if not followup_density >= 0:
        raise ParameterError("followup_density", followup_density, "must be >= 0 hairs/cm²")
    if not 0 < weeks <= 260:
        raise ParameterError("weeks", weeks, "must be in (0, 260]")
    require_int_at_least("n", n, 1)
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
    _, meas, _ = _matched(specs, seed, [0, day], baseline_density, n_virtual, m, key0=2)
    rel = 100 * (meas[:, 1] / np.maximum(meas[:, 0], 1.0) - 1)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
    means = rel[rng.integers(0, rel.size, size=(resamples, n))].mean(axis=1)
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
        float(rel.mean()),
        upper,
        prob,
        1 / resamples,
        verdict,
        int(rel.size),
    )
