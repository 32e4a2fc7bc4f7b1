"""Virtual trials, power and sample size.

Designs: parallel groups (first arm = control, every other arm compared with it) and
split-scalp (each patient's two halves get the two arms; the control half may receive a
fraction of the treatment, ``spillover``). Outcome: measured target-area density change from
baseline at the last visit. Analysis: ANCOVA (change ~ arm + baseline) on complete cases for
parallel groups; paired t-test on the within-patient difference of changes for split-scalp.
Parallel designs can also be analysed by MMRM (``analyse_mmrm``: change at every post-baseline
visit, unstructured covariance, REML, Satterthwaite df, from ``anagen.outcomes.stats``), which
uses the visits of patients who drop out before the last one.

Seeds: patient i of arm a in replicate r uses spawn key ``(r, a, i)`` (split-scalp:
``(r, i)``), so a trial with n patients per arm is a prefix of one with more patients. Power
curves over sample sizes reuse the same simulated patients (common random numbers), which
makes them smooth and cheap; each point is still an unbiased power estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from .cohort import PatientSpec, simulate_visits
from .errors import (
    ParameterError,
    SimulationInputError,
    require_finite_between,
    require_int_at_least,
    require_int_between,
    require_probability,
)
from .measurement import MeasurementParams
from .params import (
    DAYS_PER_WEEK,
    DAYS_PER_YEAR,
    MAX_DENSITY_PER_CM2,
    CycleParams,
    PopulationParams,
    Region,
    stage_shrink,
)
from .treatments import Finasteride, Placebo, Plan, combine, plan_from_name, same_modelled_effect

DEFAULT_STAGES = ("IIIv", "IV", "V")  # Olsen 2002 enrolled vertex-pattern men [U]
OUTCOME = "target-area density change from baseline"  # what every analysis compares

# Ceilings (docs/simulation.md, "Input ranges and ceilings"). They keep one call within
# memory and minutes; the API and pages that call these functions inherit them.
# Patients per arm (pairs for split-scalp): REF B§4 needs ~300 per arm for Δ = 5 at 80 %
# power and the largest AGA trial in REF B§3 has 917 patients; 10,000 covers Δ ≈ 0.9 (σ 22).
MAX_N_PER_ARM = 10_000
# Replicates: at 10,000 the Wilson 95 % Monte Carlo interval of a power near 0.8 is ±0.008.
MAX_REPLICATES = 10_000
# MMRM fits one model per replicate (~40–60 ms each): 1,000 replicates ≈ 1 minute.
MAX_MMRM_REPLICATES = 1_000
# Visits: the last at most 260 weeks (5 years, as ``plausibility``), at most 60 visits.
MAX_VISIT_WEEK = 260.0
MAX_VISITS = 60
# Work budget, in simulated target areas (replicates × n × arms) times years of follow-up:
# ~2,500 area-years/s on one core of the shared 2-core machine, so 1,000,000 ≈ 5–10 min.
MAX_AREA_YEARS = 1_000_000
# Memory budget: each simulated area-visit keeps ~280 bytes of tables, so 5,000,000
# area-visits ≈ 1.5 GB.
MAX_AREA_VISITS = 5_000_000
# Dropout hazard per year: 2 / year loses 1 − e⁻² ≈ 86 % of patients within a year (0.2 ≈
# 18 %); beyond that almost no replicate has patients left to analyse.
MAX_DROPOUT_PER_YEAR = 2.0
# Closed-form sample sizes (cheap) are refused above 1,000,000 per arm: Δ is then too small
# to be a meaningful hair-count difference (and the t quantiles lose precision).
MAX_CLOSED_FORM_N = 1_000_000


def check_work(n: int, replicates: int, groups: int, visit_weeks: Sequence[float]) -> None:
    """Raise if ``replicates × n × groups`` target areas over ``visit_weeks`` exceed the work
    (area-years) or memory (area-visits) budget."""
    areas = int(replicates) * int(n) * int(groups)
    years = max(float(visit_weeks[-1]), 1.0) * DAYS_PER_WEEK / DAYS_PER_YEAR
    what = f"{replicates:,} replicates × {n:,} per arm × {groups} arms"
    if areas * years > MAX_AREA_YEARS:
        raise SimulationInputError(
            f"replicates × n_per_arm: {what} × {years:.2f} years of follow-up = "
            f"{areas * years:,.0f} simulated area-years exceeds the ceiling of "
            f"{MAX_AREA_YEARS:,}; lower n, replicates or the last visit week"
        )
    if areas * len(visit_weeks) > MAX_AREA_VISITS:
        raise SimulationInputError(
            f"replicates × n_per_arm: {what} × {len(visit_weeks)} visits = "
            f"{areas * len(visit_weeks):,} simulated area-visits exceeds the memory ceiling of "
            f"{MAX_AREA_VISITS:,}; lower n, replicates or the number of visits"
        )


@dataclass(frozen=True)
class TrialDesign:
    arms: tuple[str, ...] = ("placebo", "minoxidil5")
    n_per_arm: int = 50
    visit_weeks: tuple[float, ...] = (0, 12, 24, 48)
    design: str = "parallel"
    stages: tuple[str, ...] = DEFAULT_STAGES
    scale: str = "norwood"
    region: Region = Region.VERTEX
    spillover: float = 0.0
    delta_shift: float = 0.0  # added to active arms' measured follow-up (sample-size search)
    alpha: float = 0.05
    measurement: MeasurementParams = field(default_factory=MeasurementParams)

    def __post_init__(self) -> None:
        if self.design not in ("parallel", "split"):
            raise ParameterError("design", self.design, "must be 'parallel' or 'split'")
        if len(self.arms) < 2:
            raise ParameterError("arms", self.arms, "need a control arm and at least one other")
        if self.design == "split" and len(self.arms) != 2:
            raise ParameterError("arms", self.arms, "split-scalp designs compare exactly 2 arms")
        for a in self.arms:
            plan = plan_from_name(a)
            if self.design == "split" and any(isinstance(t, Finasteride) for t in plan.treatments):
                # A tablet treats the whole scalp: one half cannot be its control.
                raise ParameterError(
                    "arms", a, "finasteride is taken by mouth and acts on both halves of the "
                    "scalp; compare it in a parallel design",
                )  # fmt: skip
        require_int_between("n_per_arm", self.n_per_arm, 2, MAX_N_PER_ARM)
        weeks = tuple(self.visit_weeks)
        if len(weeks) < 2 or weeks[0] != 0:
            raise ParameterError(
                "visit_weeks", self.visit_weeks, "need baseline week 0 and a follow-up visit"
            )
        if len(weeks) > MAX_VISITS:
            raise ParameterError(
                "visit_weeks", f"{len(weeks)} visits", f"at most {MAX_VISITS} visits (ceiling)"
            )
        for w in weeks:
            require_finite_between("visit_weeks", w, 0.0, MAX_VISIT_WEEK, " weeks")
        if any(b <= a for a, b in zip(weeks, weeks[1:], strict=False)):
            raise ParameterError("visit_weeks", self.visit_weeks, "must increase")
        if self.scale not in ("norwood", "ludwig"):
            raise ParameterError("scale", self.scale, "must be 'norwood' or 'ludwig'")
        if not self.stages:
            raise ParameterError("stages", self.stages, "need at least one stage")
        for st in self.stages:
            stage_shrink(st, self.scale)
        require_probability("spillover", self.spillover)
        if not 0 < self.alpha < 1:
            raise ParameterError("alpha", self.alpha, "must be in (0, 1)")
        require_finite_between(
            "delta_shift", self.delta_shift, -MAX_DENSITY_PER_CM2, MAX_DENSITY_PER_CM2, " hairs/cm²"
        )
        if not isinstance(self.measurement, MeasurementParams):
            raise ParameterError("measurement", self.measurement, "must be MeasurementParams")
        require_finite_between(
            "dropout_per_year",
            self.measurement.dropout_per_year,
            0.0,
            MAX_DROPOUT_PER_YEAR,
            " per year (hazard; 0.2 ≈ 18 % lost in a year)",
        )

    @property
    def visit_days(self) -> list[int]:
        return [round(7 * w) for w in self.visit_weeks]


@dataclass
class TrialData:
    """Measured density (per cm²) at baseline and the last visit for each replicate.

    Parallel: arrays (replicates, arms, n); split: (replicates, 2 halves, n) with half 0 the
    control arm. ``complete`` marks patients seen at the last visit.
    """

    baseline: np.ndarray
    followup: np.ndarray
    complete: np.ndarray
    true_baseline: np.ndarray
    true_followup: np.ndarray
    follicle_years: float
    cpu_seconds: float = 0.0
    # Every visit (last axis; visit 0 = baseline), same leading shape as ``baseline``.
    visits: np.ndarray | None = None
    visits_observed: np.ndarray | None = None


@dataclass
class Comparison:
    arm: str
    control: str
    estimate: np.ndarray  # per replicate
    se: np.ndarray
    p_value: np.ndarray
    n_used: np.ndarray
    sd_change: np.ndarray  # pooled SD of change (both arms), per replicate


def group_plans(design: TrialDesign) -> tuple[Plan, ...]:
    """The plan each group receives: one per arm (parallel), or the control half (with the
    active treatment's spill-over, if any) and the active half (split-scalp)."""
    plans = tuple(plan_from_name(a) for a in design.arms)
    if design.design == "parallel" or design.spillover <= 0:
        return plans
    # The active treatment spills over, not the vehicle or trial participation: both sides
    # have those already.
    active = tuple(t for t in plans[1].treatments if not isinstance(t, Placebo))
    active_spill = Plan(active, name=plans[1].name).scaled(design.spillover)
    return (combine([plans[0], active_spill], f"{design.arms[0]}+spill"), plans[1])


def _specs(design: TrialDesign, n: int, replicates: int) -> tuple[list, list]:
    specs: list[PatientSpec] = []
    keys: list[tuple[int, ...]] = []
    plans = group_plans(design)
    ns = len(design.stages)
    for r in range(replicates):
        if design.design == "parallel":
            for a, plan in enumerate(plans):
                for i in range(n):
                    specs.append(
                        PatientSpec(design.stages[i % ns], design.scale, design.region, (plan,))
                    )
                    keys.append((r, a, i))
        else:
            for i in range(n):
                specs.append(
                    PatientSpec(
                        design.stages[i % ns], design.scale, design.region, (plans[0], plans[1])
                    )
                )
                keys.append((r, i))
    return specs, keys


def no_modelled_difference(design: TrialDesign, arm: int = 1) -> bool:
    """True when the group of ``design.arms[arm]`` and the control group get the same
    modelled treatment effect up to the last visit (same effect parameters, whatever the
    arms are called) and no ``delta_shift`` separates them: the expected difference in the
    outcome is then 0, so no sample size gives power above the test's size."""
    if design.delta_shift:
        return False
    plans = group_plans(design)
    return same_modelled_effect(plans[0], plans[arm], design.visit_days[-1])


def simulate_trial(
    design: TrialDesign,
    seed: int = 0,
    replicates: int = 1,
    n: int | None = None,
    *,
    cycle: CycleParams | None = None,
    population: PopulationParams | None = None,
    workers: int = 1,
) -> TrialData:
    """Simulate ``replicates`` independent trials (n per arm, default ``design.n_per_arm``)."""
    n = design.n_per_arm if n is None else n
    require_int_between("n_per_arm", n, 2, MAX_N_PER_ARM)
    require_int_between("replicates", replicates, 1, MAX_REPLICATES)
    require_int_at_least("workers", workers, 1)
    groups = len(design.arms) if design.design == "parallel" else 2
    check_work(n, replicates, groups, design.visit_weeks)
    specs, keys = _specs(design, n, replicates)
    vd = simulate_visits(
        specs,
        seed,
        design.visit_days,
        keys=keys,
        cycle=cycle,
        population=population,
        measurement=design.measurement,
        workers=workers,
    )
    shape = (replicates, groups, n)

    def grab(table: dict[str, np.ndarray], col: int) -> np.ndarray:
        x = table["density_per_cm2"][:, col]
        if design.design == "parallel":
            return x.reshape(shape)
        return x.reshape(replicates, n, 2).transpose(0, 2, 1)

    base, fu = grab(vd.measured, 0), grab(vd.measured, -1)
    n_vis = len(design.visit_days)

    def per_visit(x: np.ndarray) -> np.ndarray:
        if design.design == "parallel":
            return x.reshape(*shape, n_vis)
        return x.reshape(replicates, n, 2, n_vis).transpose(0, 2, 1, 3)

    visits = per_visit(vd.measured["density_per_cm2"])
    if design.delta_shift:
        fu = fu.copy()
        fu[:, 1:, :] += design.delta_shift
        visits = visits.copy()
        visits[:, 1:, :, 1:] += design.delta_shift
    obs = vd.observed[:, -1]
    obs = (
        obs.reshape(shape)
        if design.design == "parallel"
        else obs.reshape(replicates, n, 2).transpose(0, 2, 1)
    )
    return TrialData(
        baseline=base,
        followup=fu,
        complete=obs & np.isfinite(fu),
        true_baseline=grab(vd.true, 0),
        true_followup=grab(vd.true, -1),
        follicle_years=vd.follicle_years,
        cpu_seconds=vd.cpu_seconds,
        visits=visits,
        visits_observed=per_visit(vd.observed) & np.isfinite(visits),
    )


def ancova(
    change: np.ndarray, baseline: np.ndarray, treated: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched OLS of change ~ 1 + treated + baseline over the last axis.

    Returns (treatment estimate, SE, two-sided p, n used) per leading index.
    """
    w = mask.astype(float)
    y = np.where(mask, change, 0.0)
    b = np.where(mask, baseline, 0.0)
    t = treated.astype(float) * w
    b_mean = (b * w).sum(-1) / np.maximum(w.sum(-1), 1)
    bc = (b - b_mean[..., None]) * w  # centring keeps X'X well conditioned
    cols = np.stack([w, t, bc], axis=-1)  # (..., n, 3)
    xtx = np.einsum("...ni,...nj->...ij", cols, cols)
    xty = np.einsum("...ni,...n->...i", cols, y)
    n_used = w.sum(-1)
    ok = (n_used >= 4) & (np.abs(np.linalg.det(xtx)) > 1e-9)
    xtx_safe = np.where(ok[..., None, None], xtx, np.eye(3))
    beta = np.linalg.solve(xtx_safe, xty[..., None])[..., 0]
    resid = (y - np.einsum("...ni,...i->...n", cols, beta)) * w
    df = np.maximum(n_used - 3, 1)
    s2 = (resid**2).sum(-1) / df
    cov11 = np.linalg.inv(xtx_safe)[..., 1, 1]
    se = np.sqrt(s2 * cov11)
    with np.errstate(invalid="ignore", divide="ignore"):
        tstat = beta[..., 1] / se
    p = 2 * stats.t.sf(np.abs(tstat), df)
    est = np.where(ok, beta[..., 1], np.nan)
    return est, np.where(ok, se, np.nan), np.where(ok, p, np.nan), n_used


def analyse(design: TrialDesign, data: TrialData, n: int | None = None) -> list[Comparison]:
    """Analyse every replicate (optionally only the first ``n`` patients per arm)."""
    sl = slice(None) if n is None else slice(0, n)
    base = data.baseline[..., sl]
    change = data.followup[..., sl] - base
    comp = data.complete[..., sl] & np.isfinite(base)
    out: list[Comparison] = []
    if design.design == "parallel":
        for a in range(1, len(design.arms)):
            y = np.concatenate([change[:, 0], change[:, a]], axis=-1)
            b = np.concatenate([base[:, 0], base[:, a]], axis=-1)
            m = np.concatenate([comp[:, 0], comp[:, a]], axis=-1)
            tr = np.zeros_like(m)
            tr[:, change.shape[-1] :] = True
            est, se, p, n_used = ancova(np.nan_to_num(y), np.nan_to_num(b), tr, m)
            sd = _pooled_sd(y, m)
            out.append(Comparison(design.arms[a], design.arms[0], est, se, p, n_used, sd))
    else:
        m = comp[:, 0] & comp[:, 1]
        d = np.where(m, change[:, 1] - change[:, 0], 0.0)
        k = m.sum(-1).astype(float)
        mean = d.sum(-1) / np.maximum(k, 1)
        var = (np.where(m, d - mean[:, None], 0.0) ** 2).sum(-1) / np.maximum(k - 1, 1)
        se = np.sqrt(var / np.maximum(k, 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            p = 2 * stats.t.sf(np.abs(mean / se), np.maximum(k - 1, 1))
        # Fewer than 2 complete pairs: no variance, no test (one pair gave se 0 and p 0, a
        # "rejection"). The replicate failed; ``summarise`` excludes and counts it.
        ok = k >= 2
        mean, se, p = (np.where(ok, x, np.nan) for x in (mean, se, p))
        sd = _pooled_sd(
            np.concatenate([change[:, 0], change[:, 1]], -1), np.concatenate([m, m], -1)
        )
        out.append(Comparison(design.arms[1], design.arms[0], mean, se, p, k, sd))
    return out


ANALYSES = ("ancova", "mmrm")


def analyse_mmrm(design: TrialDesign, data: TrialData, n: int | None = None) -> list[Comparison]:
    """MMRM of change from baseline at every post-baseline visit, per replicate (parallel).

    Fixed effects: arm × visit and baseline × visit; unstructured covariance (REML),
    Satterthwaite df (``anagen.outcomes.stats.fit_mmrm``). The comparison is the arm
    difference at the last visit. Patients who miss later visits contribute their earlier
    ones (valid under missing at random). A replicate the model cannot estimate gives NaN.
    """
    from anagen.outcomes.stats import NotEnoughDataError, fit_mmrm

    if design.design != "parallel":
        raise ParameterError("analysis", "mmrm", "MMRM is for parallel-group designs")
    if data.visits is None or data.visits_observed is None:
        raise SimulationInputError("analysis: the trial data hold no per-visit values")
    sl = slice(None) if n is None else slice(0, n)
    vis = data.visits[:, :, sl]
    obs = data.visits_observed[:, :, sl]
    reps, _, n_arm, n_vis = vis.shape
    labels = [f"week {w:g}" for w in design.visit_weeks[1:]]
    out: list[Comparison] = []
    for a in range(1, len(design.arms)):
        est, se, p, used, sd = (np.full(reps, np.nan) for _ in range(5))
        arm_names = np.repeat(np.array([design.arms[0], design.arms[a]]), n_arm)
        for r in range(reps):
            v = vis[r, [0, a]].reshape(2 * n_arm, n_vis)
            o = obs[r, [0, a]].reshape(2 * n_arm, n_vis)
            keep = o[:, 0] & o[:, 1:].any(axis=1)
            if keep.sum() < 4:
                continue
            base = v[keep, 0]
            change = np.where(o[keep, 1:], v[keep, 1:] - base[:, None], np.nan)
            k = int(keep.sum())
            try:
                fit = fit_mmrm(
                    np.repeat(np.arange(k), n_vis - 1),
                    np.repeat(arm_names[keep], n_vis - 1),
                    np.tile(labels, k),
                    np.repeat(base, n_vis - 1),
                    change.ravel(),
                    reference_arm=design.arms[0],
                    visit_order=labels,
                )
            except (NotEnoughDataError, np.linalg.LinAlgError):
                continue
            c = next(x for x in fit.contrasts if x.arm == design.arms[a] and x.visit == labels[-1])
            est[r], se[r], p[r], used[r] = c.estimate, c.se, c.p, k
            last = change[:, -1]
            done = np.isfinite(last)
            if done.sum() > 2:
                sd[r] = float(np.std(last[done], ddof=1))
        out.append(Comparison(design.arms[a], design.arms[0], est, se, p, used, sd))
    return out


def _pooled_sd(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    k = m.sum(-1)
    mean = np.where(m, y, 0).sum(-1) / np.maximum(k, 1)
    return np.sqrt((np.where(m, y - mean[..., None], 0) ** 2).sum(-1) / np.maximum(k - 1, 1))


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Monte Carlo interval for power)."""
    if n <= 0:
        return (0.0, 1.0)
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class PowerResult:
    """Simulated power of one comparison.

    ``power`` = ``rejections`` / ``n_valid``: replicates whose analysis failed (no p-value,
    e.g. an MMRM that did not converge or too few complete patients) are *excluded* from the
    denominator and counted in ``n_failed``; they are not counted as non-rejections.
    ``ci_low``/``ci_high``: Wilson 95 % Monte Carlo interval of the power over ``n_valid``
    replicates (≈ ±0.055 at power 0.8 with 200 replicates).
    """

    arm: str
    control: str
    n_per_arm: int
    replicates: int
    rejections: int
    power: float
    ci_low: float
    ci_high: float
    mean_estimate: float
    mean_sd_change: float
    n_valid: int = 0
    n_failed: int = 0

    def describe(self) -> str:
        """e.g. ``power 0.800 (95% MC CI 0.739–0.850; 200 replicates, 0 failed fits excluded)``."""
        return (
            f"power {self.power:.3f} (95% MC CI {self.ci_low:.3f}–{self.ci_high:.3f}; "
            f"{self.n_valid} replicates, {self.n_failed} failed fits excluded)"
        )


def summarise(c: Comparison, alpha: float, n: int) -> PowerResult:
    """Power over the replicates that produced a p-value; failed fits are excluded. A
    replicate counts when the test rejects at ``alpha`` in favour of the arm (estimate
    above 0): a significant difference the other way finds harm, not the effect sought."""
    valid = np.isfinite(c.p_value)
    reps = int(c.p_value.size)
    n_valid = int(valid.sum())
    k = int(((c.p_value[valid] < alpha) & (c.estimate[valid] > 0)).sum())
    lo, hi = wilson(k, n_valid)
    with np.errstate(invalid="ignore"):
        mean_est = float(np.nanmean(c.estimate)) if np.isfinite(c.estimate).any() else math.nan
        mean_sd = float(np.nanmean(c.sd_change)) if np.isfinite(c.sd_change).any() else math.nan
    return PowerResult(
        c.arm,
        c.control,
        n,
        reps,
        k,
        k / n_valid if n_valid else math.nan,
        lo,
        hi,
        mean_est,
        mean_sd,
        n_valid,
        reps - n_valid,
    )


def power(
    design: TrialDesign,
    replicates: int = 200,
    seed: int = 0,
    *,
    workers: int = 1,
    cycle: CycleParams | None = None,
    population: PopulationParams | None = None,
    analysis: str = "ancova",
) -> list[PowerResult]:
    """Simulated power of each comparison, with a 95 % Monte Carlo (Wilson) interval;
    replicates whose analysis failed are excluded and counted (``PowerResult.n_failed``).

    ``analysis``: "ancova" (complete cases at the last visit; paired test for split-scalp)
    or "mmrm" (parallel groups, every visit). Raises ``NoAnalysableReplicatesError`` when no
    replicate of any comparison could be analysed (there is no power to report).
    """
    if analysis not in ANALYSES:
        raise ParameterError("analysis", analysis, f"must be one of {', '.join(ANALYSES)}")
    if analysis == "mmrm" and design.design != "parallel":
        raise ParameterError("analysis", analysis, "MMRM is for parallel-group designs")
    if analysis == "mmrm":
        require_int_between("replicates", replicates, 1, MAX_MMRM_REPLICATES)
    data = simulate_trial(
        design, seed, replicates, workers=workers, cycle=cycle, population=population
    )
    comparisons = analyse_mmrm(design, data) if analysis == "mmrm" else analyse(design, data)
    results = [summarise(c, design.alpha, design.n_per_arm) for c in comparisons]
    if all(r.n_valid == 0 for r in results):
        raise NoAnalysableReplicatesError(design, analysis, replicates)
    return results


class NoAnalysableReplicatesError(SimulationInputError):
    """``power``: no replicate of any comparison could be analysed (every fit failed), so
    there is no power to report (it would be 0 / 0). ``explain`` words it with the caller's
    names for the sample size and the dropout hazard (the CLI's ``--n``, ``--dropout``)."""

    def __init__(self, design: TrialDesign, analysis: str, replicates: int) -> None:
        self.design = design
        self.analysis = analysis
        self.replicates = replicates
        super().__init__(self.explain())

    def explain(self, n_name: str = "n_per_arm", dropout_name: str = "dropout_per_year") -> str:
        d, reps = self.design, self.replicates
        dropout = d.measurement.dropout_per_year > 0
        if self.analysis == "mmrm":
            what = "MMRM fits"
            why = "too few patients or visits left" + (" after dropout" if dropout else "")
        elif d.design == "split":
            what, why = "paired t-tests", "fewer than 2 pairs seen at the last visit"
        else:
            what, why = "ANCOVA fits", "fewer than 4 patients seen at the last visit"
        fix = f"raise {n_name}" + (f" or lower {dropout_name}" if dropout else "")
        every = "both" if reps == 2 else f"all {reps}"
        if reps == 1:
            every, what = "the", what.replace("fits", "fit").replace("tests", "test")
        return f"no replicate could be analysed: {every} {what} failed ({why}); {fix}"


def power_curve(
    design: TrialDesign,
    n_values: Sequence[int],
    replicates: int = 200,
    seed: int = 0,
    *,
    workers: int = 1,
) -> dict[int, list[PowerResult]]:
    """Power at several sample sizes from one nested simulation (common random numbers)."""
    n_values = sorted({int(v) for v in n_values})
    if not n_values:
        raise SimulationInputError("n_values: need at least one sample size")
    for v in n_values:
        require_int_between("n_per_arm", v, 2, MAX_N_PER_ARM)
    data = simulate_trial(design, seed, replicates, n=max(n_values), workers=workers)
    return {
        v: [summarise(c, design.alpha, v) for c in analyse(design, data, n=v)] for v in n_values
    }


def normal_approx_n_exact(
    delta: float, sd: float = 22.0, power_target: float = 0.8, alpha: float = 0.05
) -> float:
    """REF B§4's normal-approximation formula, unrounded: 2 (z_{1−α/2} + z_{power})² σ² / Δ²."""
    _check_ss(delta, sd, power_target, alpha)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power_target)
    return _bounded_n(z * sd, 2.0, delta, sd, power_target, alpha)


def _bounded_n(num: float, factor: float, delta: float, sd: float, pw: float, a: float) -> float:
    """``factor · (num / delta)²``, refused above ``MAX_CLOSED_FORM_N`` (tested before
    dividing, so a tiny delta cannot overflow)."""
    num = float(num)
    if not (math.isfinite(num) and num <= math.sqrt(MAX_CLOSED_FORM_N / factor) * delta):
        raise SimulationInputError(
            f"delta: {delta:g} hairs/cm² with sd {sd:g}, power {pw:g}, alpha {a:g} needs "
            f"more than {MAX_CLOSED_FORM_N:,} per arm (ceiling); raise delta or lower power"
        )
    root = num / delta
    return float(factor * root * root)


def normal_approx_n(
    delta: float, sd: float = 22.0, power_target: float = 0.8, alpha: float = 0.05
) -> int:
    """REF B§4's normal-approximation n per arm, rounded up (for comparison only: it
    ignores that σ is estimated, so a t-test at this n falls slightly short of the power)."""
    return math.ceil(normal_approx_n_exact(delta, sd, power_target, alpha) - 1e-9)


def _t_power(ncp_per_sqrt_n: float, n: int, df: int, alpha: float) -> float:
    """Two-sided t-test power with noncentrality ncp_per_sqrt_n·√n (exact, noncentral t)."""
    tc = stats.t.ppf(1 - alpha / 2, df)
    ncp = ncp_per_sqrt_n * math.sqrt(n)
    return float(stats.nct.sf(tc, df, ncp) + stats.nct.cdf(-tc, df, ncp))


def two_sample_t_power(n: int, delta: float, sd: float = 22.0, alpha: float = 0.05) -> float:
    """Exact power of the two-sided two-sample t-test with n per arm (noncentral t)."""
    _check_ss(delta, sd, 0.5, alpha)
    require_int_at_least("n_per_arm", n, 2)
    return _t_power(delta / (sd * math.sqrt(2)), n, 2 * n - 2, alpha)


def paired_t_power(
    n: int, delta: float, sd: float = 22.0, rho: float = 0.5, alpha: float = 0.05
) -> float:
    """Exact power of the two-sided paired t-test with n pairs; the SD of the within-pair
    difference of changes is σ √(2(1−ρ))."""
    _check_ss(delta, sd, 0.5, alpha)
    _check_rho(rho)
    require_int_at_least("pairs", n, 2)
    return _t_power(delta / (sd * math.sqrt(2 * (1 - rho))), n, n - 1, alpha)


def closed_form_n(
    delta: float, sd: float = 22.0, power_target: float = 0.8, alpha: float = 0.05
) -> int:
    """Per-arm n for a two-arm parallel comparison analysed by a two-sample t-test: the
    smallest n whose exact power (noncentral t, df = 2n − 2) reaches ``power_target``.

    This is the answer to report. REF B§4's table uses the normal approximation
    (``normal_approx_n``), which is 1–2 patients per arm lower (σ = 22, Δ = 20, 80 %: 19 vs
    21; a t-test with 19 per arm has power 0.778). Same result as statsmodels
    ``TTestIndPower().solve_power`` rounded up (tested).
    """
    _check_ss(delta, sd, power_target, alpha)
    n = max(2, normal_approx_n(delta, sd, power_target, alpha))
    while two_sample_t_power(n, delta, sd, alpha) < power_target:
        n += 1
    while n > 2 and two_sample_t_power(n - 1, delta, sd, alpha) >= power_target:
        n -= 1
    return n


def normal_approx_pairs_exact(
    delta: float,
    sd: float = 22.0,
    rho: float = 0.5,
    power_target: float = 0.8,
    alpha: float = 0.05,
) -> float:
    """REF B§4's split-scalp formula, unrounded: ((z_α + z_β) σ √(2(1−ρ)) / Δ)²."""
    _check_ss(delta, sd, power_target, alpha)
    _check_rho(rho)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power_target)
    return _bounded_n(z * sd * math.sqrt(2 * (1 - rho)), 1.0, delta, sd, power_target, alpha)


def normal_approx_pairs(
    delta: float,
    sd: float = 22.0,
    rho: float = 0.5,
    power_target: float = 0.8,
    alpha: float = 0.05,
) -> int:
    """REF B§4's split-scalp normal approximation, rounded up (for comparison only)."""
    return math.ceil(normal_approx_pairs_exact(delta, sd, rho, power_target, alpha) - 1e-9)


def closed_form_pairs(
    delta: float,
    sd: float = 22.0,
    rho: float = 0.5,
    power_target: float = 0.8,
    alpha: float = 0.05,
) -> int:
    """Pairs for a split-scalp comparison analysed by a paired t-test: the smallest n whose
    exact power (noncentral t, df = n − 1) reaches ``power_target``. REF B§4's formula is
    ``normal_approx_pairs``. Same as statsmodels ``TTestPower().solve_power`` rounded up."""
    _check_ss(delta, sd, power_target, alpha)
    _check_rho(rho)
    n = max(2, normal_approx_pairs(delta, sd, rho, power_target, alpha))
    while paired_t_power(n, delta, sd, rho, alpha) < power_target:
        n += 1
    while n > 2 and paired_t_power(n - 1, delta, sd, rho, alpha) >= power_target:
        n -= 1
    return n


def _check_rho(rho: float) -> None:
    if not -1 < rho < 1:
        raise ParameterError("rho", rho, "must be in (-1, 1)")


def _check_ss(delta: float, sd: float, power_target: float, alpha: float) -> None:
    require_finite_between("delta", delta, 0.0, MAX_DENSITY_PER_CM2, " hairs/cm²", low_open=True)
    require_finite_between("sd", sd, 0.0, MAX_DENSITY_PER_CM2, " hairs/cm²", low_open=True)
    if not 0 < power_target < 1:
        raise ParameterError("power", power_target, "must be in (0, 1)")
    if not 0 < alpha < 1:
        raise ParameterError("alpha", alpha, "must be in (0, 1)")
    _check_power_above_alpha(power_target, alpha)


def _check_power_above_alpha(power_target: float, alpha: float) -> None:
    # Any sample size, even 2, reaches a power at or below the test's size.
    if power_target <= alpha:
        raise ParameterError(
            "power", power_target, f"must exceed alpha ({alpha:g}): a power at or below the "
            "test's size is reached without any effect, at any sample size",
        )  # fmt: skip


@dataclass
class SampleSizeResult:
    """Result of a simulated sample-size search. ``power_at_n`` is a Monte Carlo estimate:
    see ``result_at_n`` for its Wilson 95 % interval and the failed fits excluded, and
    ``results`` for every size tried (``curve`` holds their point estimates)."""

    n_per_arm: int | None
    power_at_n: float | None
    curve: dict[int, float]
    replicates: int
    results: dict[int, PowerResult] = field(default_factory=dict)

    @property
    def result_at_n(self) -> PowerResult | None:
        return None if self.n_per_arm is None else self.results.get(self.n_per_arm)


def search_sample_size(
    design: TrialDesign,
    power_target: float = 0.8,
    replicates: int = 200,
    seed: int = 0,
    n_max: int = 400,
    n_min: int = 2,
    *,
    workers: int = 1,
    grid: int = 20,
) -> SampleSizeResult:
    """Smallest n per arm whose simulated power reaches the target (two arms, control first).

    Bisection-free: one nested simulation at ``n_max`` and a grid of ``grid`` sizes, then a
    refinement grid between the bracketing sizes, all from the same simulated patients.
    The chosen n is the smallest whose *point estimate* reaches the target; its Monte Carlo
    interval (``result_at_n``) says how sure that is. Refused before simulating when the
    first comparison's groups have the same modelled effect (``no_modelled_difference``):
    no n can reach the target then.
    """
    if not 0 < power_target < 1:
        raise ParameterError("power", power_target, "must be in (0, 1)")
    _check_power_above_alpha(power_target, design.alpha)
    if len(design.arms) != 2:
        # One n answers one comparison: a third arm would be simulated and then ignored.
        raise ParameterError(
            "arms", ",".join(design.arms), "a sample-size search compares exactly 2 arms "
            "(control first); search each comparison on its own, with alpha adjusted for "
            "their number",
        )  # fmt: skip
    require_int_between("n_min", n_min, 1, MAX_N_PER_ARM)
    require_int_between("n_max", n_max, max(2, n_min), MAX_N_PER_ARM)
    require_int_between("grid", grid, 1, 1_000)
    if no_modelled_difference(design):
        raise SimulationInputError(
            f"arms: the arms {design.arms[0]} and {design.arms[1]} have no modelled "
            f"difference in {OUTCOME} up to week {design.visit_weeks[-1]:g}: no sample size "
            "reaches the target power"
        )
    base = np.unique(np.linspace(max(2, n_min), n_max, grid).round().astype(int))
    data = simulate_trial(design, seed, replicates, n=n_max, workers=workers)
    results: dict[int, PowerResult] = {}

    def pw(v: int) -> float:
        r = summarise(analyse(design, data, n=int(v))[0], design.alpha, int(v))
        results[int(v)] = r
        return r.power if math.isfinite(r.power) else 0.0

    curve = {int(v): pw(v) for v in base}
    hit = [v for v in base if curve[int(v)] >= power_target]
    if not hit:
        return SampleSizeResult(None, None, curve, replicates, dict(sorted(results.items())))
    hi = int(hit[0])
    lower = [v for v in base if v < hi]
    lo = int(lower[-1]) if lower else hi
    for v in range(lo + 1, hi):
        curve[v] = pw(v)
    best = min(v for v, p in curve.items() if p >= power_target and v <= hi)
    return SampleSizeResult(
        best, curve[best], dict(sorted(curve.items())), replicates, dict(sorted(results.items()))
    )


def with_n(design: TrialDesign, n: int) -> TrialDesign:
    return replace(design, n_per_arm=n)
