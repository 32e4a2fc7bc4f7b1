"""Patients → target areas → follicles; simulate and measure at visits.

Hierarchy (REF B§5 item 4): population → patient random effects (accumulated
miniaturisation by stage, per-cycle miniaturisation rate, anagen mean, treatment response,
follicle-site density) → follicles (terminal diameter, susceptibility).

Every patient has its own ``numpy.random.SeedSequence(seed, spawn_key=key)`` and generator;
all of that patient's random numbers (effects, follicles, cycles, visit windows, measurement,
dropout) come from it in a fixed order, so results do not depend on how patients are
chunked or spread over worker processes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import engine
from .errors import ParameterError, SimulationInputError
from .measurement import (
    CHANNELS,
    MeasurementParams,
    apply_dropout,
    measure_patient,
    true_values,
    visit_days,
)
from .params import CycleParams, PopulationParams, Region, stage_shrink
from .treatments import NO_TREATMENT, Plan, build_effects

TRUTH_KEYS = (
    "hairs_terminal",
    "hairs_vellus",
    "anagen_terminal",
    "anagen_vellus",
    "young_terminal",
    "young_vellus",
    "diameter_sum_um",
    "alive",
)


@dataclass(frozen=True)
class PatientSpec:
    """One patient: stage, region of the target area(s), and one plan per target area.

    Split-scalp designs give two plans (left, right half); parallel designs one.
    """

    stage: str = "IV"
    scale: str = "norwood"
    region: Region = Region.VERTEX
    plans: tuple[Plan, ...] = (NO_TREATMENT,)

    def __post_init__(self) -> None:
        if self.scale not in ("norwood", "ludwig"):
            raise ParameterError("scale", self.scale, "must be 'norwood' or 'ludwig'")
        stage_shrink(self.stage, self.scale)
        if not self.plans:
            raise ParameterError("plans", self.plans, "need at least one target area")
        if Region(self.region) not in tuple(Region):
            raise ParameterError("region", self.region, "unknown region")


@dataclass
class PatientEffects:
    response: np.ndarray
    anagen_multiplier: np.ndarray
    miniaturisation_per_cycle: np.ndarray
    shrink: np.ndarray
    sites: np.ndarray  # follicle sites per target area (first area)


@dataclass
class VisitData:
    """Per row (target area) × visit. ``rows_patient[r]`` is the patient of row r."""

    days: np.ndarray  # (rows, visits) actual visit day
    truth: dict[str, np.ndarray]  # TRUTH_KEYS → (rows, visits)
    true: dict[str, np.ndarray]  # CHANNELS → (rows, visits), noise-free
    measured: dict[str, np.ndarray]  # CHANNELS → (rows, visits), NaN when missed
    observed: np.ndarray  # (rows, visits) bool
    rows_patient: np.ndarray
    effects: PatientEffects
    follicle_years: float = 0.0
    cycles: int = 0
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def patient_seed(seed: int, key: tuple[int, ...]) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


def _gamma_mean1(rng: np.random.Generator, cv: float, size: int | None = None) -> np.ndarray:
    if cv <= 0:
        return np.ones(size) if size else np.float64(1.0)
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, 1.0 / shape, size)


def _validate_days(scheduled_days: np.ndarray) -> np.ndarray:
    d = np.asarray(scheduled_days, dtype=float)
    if d.ndim != 1 or d.size == 0:
        raise SimulationInputError("visit_days: need at least one visit day")
    if np.any(d < 0) or np.any(np.diff(d) < 0) or np.any(d != np.round(d)):
        raise SimulationInputError(
            f"visit_days: must be whole days >= 0 in increasing order, got {d.tolist()}"
        )
    return d.astype(np.int64)


def _simulate_chunk(args: tuple) -> dict:
    (specs, seed, keys, sched, cycle, pop, meas, keep_daily) = args
    n_pat = len(specs)
    rngs_p = [np.random.Generator(np.random.PCG64(patient_seed(seed, k))) for k in keys]
    last_day = int(sched[-1]) + (meas.visit_window_days if sched.size > 1 else 0)
    rows_rng: list[np.random.Generator] = []
    rows_patient: list[int] = []
    plans: list[Plan] = []
    resp = np.empty(n_pat)
    amul = np.empty(n_pat)
    kap = np.empty(n_pat)
    shr = np.empty(n_pat)
    sites0 = np.empty(n_pat, dtype=np.int64)
    f_row: list[np.ndarray] = []
    f_ld: list[np.ndarray] = []
    f_dld: list[np.ndarray] = []
    f_start: list[np.ndarray] = []
    f_res: list[np.ndarray] = []
    vdays: list[np.ndarray] = []
    ld_death = math.log(cycle.death_diameter_um)
    ld_ref = math.log(cycle.reference_diameter_um)
    s_term = math.sqrt(math.log1p(pop.terminal_diameter_cv**2))
    s_kap = math.sqrt(math.log1p(pop.miniaturisation_cv**2))
    shape = pop.susceptibility_shape
    row = 0
    for i, (spec, g) in enumerate(zip(specs, rngs_p, strict=True)):
        # Patient-level random effects, always drawn in this order.
        resp[i] = _gamma_mean1(g, pop.response_cv)
        amul[i] = math.exp(pop.anagen_multiplier_sd * g.standard_normal())
        kap[i] = pop.miniaturisation_per_cycle * math.exp(
            s_kap * g.standard_normal() - 0.5 * s_kap**2
        )
        shr[i] = max(
            0.0, stage_shrink(spec.stage, spec.scale) + pop.shrink_sd * g.standard_normal()
        )
        site_mean = max(
            pop.follicle_sites_per_cm2 + pop.follicle_sites_sd * g.standard_normal(), 1.0
        )
        region_s = pop.region_susceptibility.get(str(Region(spec.region)), 1.0)
        vdays.append(visit_days(g, sched, meas.visit_window_days))
        for u, plan in enumerate(spec.plans):
            n_sites = int(g.poisson(site_mean * meas.area_cm2))
            if u == 0:
                sites0[i] = n_sites
            d0 = ld_ref + s_term * g.standard_normal(n_sites) - 0.5 * s_term**2
            sus = g.gamma(shape, 1.0 / shape, n_sites) * region_s
            ld = d0 - sus * shr[i]
            alive = ld >= ld_death
            ld_l = ld[alive]
            parts_ld = [ld_l]
            parts_dld = [-sus[alive] * kap[i]]
            parts_start = [np.full(ld_l.size, engine.STATIONARY, dtype=np.int8)]
            parts_res = [np.zeros(ld_l.size)]
            for tp in plan.transplants():
                n_g = int(g.poisson(tp.grafts_per_cm2 * tp.hairs_per_graft * meas.area_cm2))
                surv = g.random(n_g) < tp.survival
                n_ok = int(surv.sum())
                gd = ld_ref + s_term * g.standard_normal(n_ok) - 0.5 * s_term**2
                sr = math.sqrt(math.log1p(tp.regrowth_cv**2))
                lag = tp.regrowth_mean_days * np.exp(sr * g.standard_normal(n_ok) - 0.5 * sr * sr)
                parts_ld.append(gd)
                parts_dld.append(np.zeros(n_ok))
                parts_start.append(np.full(n_ok, engine.KENOGEN, dtype=np.int8))
                parts_res.append(tp.day + lag)
            ld_all = np.concatenate(parts_ld)
            f_row.append(np.full(ld_all.size, row, dtype=np.int64))
            f_ld.append(ld_all)
            f_dld.append(np.concatenate(parts_dld))
            f_start.append(np.concatenate(parts_start))
            f_res.append(np.concatenate(parts_res))
            rows_rng.append(g)
            rows_patient.append(i)
            plans.append(plan)
            row += 1
    rows_patient_a = np.array(rows_patient, dtype=np.int64)
    ld_cat = np.concatenate(f_ld) if f_ld else np.zeros(0)
    foll = engine.Follicles(
        row=np.concatenate(f_row) if f_row else np.zeros(0, dtype=np.int64),
        log_d=ld_cat,
        dlog_d=np.concatenate(f_dld) if f_dld else np.zeros(0),
        log_d_cap=ld_cat.copy(),
        start_phase=np.concatenate(f_start) if f_start else np.zeros(0, dtype=np.int8),
        start_residual=np.concatenate(f_res) if f_res else np.zeros(0),
    )
    effects = build_effects(plans, resp[rows_patient_a], last_day)
    a_log = np.log(cycle.anagen_mean_days * amul[rows_patient_a])
    counts = engine.simulate(
        cycle, foll, a_log, rows_rng, last_day, meas.emergence_lag_days, effects
    )
    days_rows = np.stack([vdays[p] for p in rows_patient_a]) if row else np.zeros((0, sched.size))
    days_rows = np.minimum(days_rows, last_day)
    take = np.arange(row)[:, None]
    truth = {k: getattr(counts, k)[take, days_rows] for k in TRUTH_KEYS}
    true = true_values(truth, meas.area_cm2)
    measured = {k: np.empty((row, sched.size)) for k in CHANNELS}
    observed = np.ones((row, sched.size), dtype=bool)
    for r in range(row):
        g = rows_rng[r]
        mrow = measure_patient(g, {k: truth[k][r] for k in TRUTH_KEYS}, meas)
        seen = apply_dropout(
            g, days_rows[r], mrow["density_per_cm2"], true["density_per_cm2"][r], meas
        )
        observed[r] = seen
        for k in CHANNELS:
            vals = mrow[k]
            vals[~seen] = np.nan
            measured[k][r] = vals
    out = {
        "days": days_rows,
        "truth": truth,
        "true": true,
        "measured": measured,
        "observed": observed,
        "rows_patient": rows_patient_a,
        "effects": (resp, amul, kap, shr, sites0),
        "follicle_years": foll.row.size * last_day / 365.25,
        "cycles": counts.cycles,
    }
    if keep_daily:
        out["daily"] = {k: getattr(counts, k) for k in TRUTH_KEYS}
    return out


def _merge(parts: list[dict], offsets: list[int]) -> VisitData:
    def cat(key: str, sub: str | None = None) -> np.ndarray | dict:
        if sub is None:
            return np.concatenate([p[key] for p in parts])
        return {k: np.concatenate([p[key][k] for p in parts]) for k in parts[0][key]}

    eff = [np.concatenate([p["effects"][j] for p in parts]) for j in range(5)]
    rp = np.concatenate([p["rows_patient"] + off for p, off in zip(parts, offsets, strict=True)])
    vd = VisitData(
        days=cat("days"),
        truth=cat("truth", "x"),
        true=cat("true", "x"),
        measured=cat("measured", "x"),
        observed=cat("observed"),
        rows_patient=rp,
        effects=PatientEffects(*eff),
        follicle_years=float(sum(p["follicle_years"] for p in parts)),
        cycles=int(sum(p["cycles"] for p in parts)),
    )
    if "daily" in parts[0]:
        vd.extra = {k: np.concatenate([p["daily"][k] for p in parts]) for k in parts[0]["daily"]}
    return vd


def simulate_visits(
    specs: Sequence[PatientSpec],
    seed: int,
    visit_days_scheduled: Sequence[int],
    *,
    keys: Sequence[tuple[int, ...]] | None = None,
    cycle: CycleParams | None = None,
    population: PopulationParams | None = None,
    measurement: MeasurementParams | None = None,
    workers: int = 1,
    chunk_size: int = 512,
    keep_daily: bool = False,
) -> VisitData:
    """Simulate patients and measure their target areas at the scheduled visit days.

    ``keys[i]`` is patient i's SeedSequence spawn key (default ``(i,)``); the same key and
    seed always give the same patient, whatever ``workers`` and ``chunk_size``.
    """
    if not specs:
        raise ParameterError("n_patients", 0, "need at least one patient")
    sched = _validate_days(np.asarray(visit_days_scheduled))
    cycle = cycle or CycleParams()
    population = population or PopulationParams()
    measurement = measurement or MeasurementParams()
    keys = [(i,) for i in range(len(specs))] if keys is None else [tuple(k) for k in keys]
    if len(keys) != len(specs):
        raise SimulationInputError("keys: need one seed key per patient")
    chunk_size = max(1, int(chunk_size))
    bounds = list(range(0, len(specs), chunk_size)) + [len(specs)]
    jobs = [
        (list(specs[a:b]), seed, keys[a:b], sched, cycle, population, measurement, keep_daily)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    workers = max(1, min(int(workers), len(jobs), os.cpu_count() or 1))
    if workers == 1:
        parts = [_simulate_chunk(j) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            parts = list(ex.map(_simulate_chunk, jobs))
    return _merge(parts, bounds[:-1])
