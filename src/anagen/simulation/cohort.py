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

import atexit
import math
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import engine
from .errors import ParameterError, SimulationInputError, require_int_at_least
from .measurement import (
    CHANNELS,
    N_MEASURE_NORMALS,
    MeasurementParams,
    apply_dropout,
    measure,
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
    cpu_seconds: float = 0.0  # process CPU time of the simulation, summed over workers
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def patient_seed(seed: int, key: tuple[int, ...]) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


def _gamma_mean1(
    rng: np.random.Generator, cv: float, size: int | None = None
) -> np.ndarray | float:
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
    cpu0 = time.process_time()
    n_pat = len(specs)
    n_vis = sched.size
    rngs_p = [np.random.Generator(np.random.PCG64(patient_seed(seed, k))) for k in keys]
    last_day = int(sched[-1]) + (meas.visit_window_days if n_vis > 1 else 0)
    s_term = math.sqrt(math.log1p(pop.terminal_diameter_cv**2))
    s_kap = math.sqrt(math.log1p(pop.miniaturisation_cv**2))
    shape = pop.susceptibility_shape
    resp_shape = 1.0 / pop.response_cv**2 if pop.response_cv > 0 else 0.0

    # 1. Patient-level draws, always in this order from the patient's own generator.
    zp = np.empty((n_pat, 4))
    resp = np.ones(n_pat)
    uv = np.empty((n_pat, n_vis))
    for i, g in enumerate(rngs_p):
        zp[i] = g.standard_normal(4)
        if resp_shape:
            resp[i] = g.gamma(resp_shape, 1.0 / resp_shape)
        uv[i] = g.random(n_vis)
    amul = np.exp(pop.anagen_multiplier_sd * zp[:, 0])
    kap = pop.miniaturisation_per_cycle * np.exp(s_kap * zp[:, 1] - 0.5 * s_kap**2)
    shrink_cache: dict[tuple[str, str], float] = {}
    for sp in specs:
        if (sp.stage, sp.scale) not in shrink_cache:
            shrink_cache[sp.stage, sp.scale] = stage_shrink(sp.stage, sp.scale)
    stage_s = np.array([shrink_cache[sp.stage, sp.scale] for sp in specs])
    shr = np.maximum(0.0, stage_s + pop.shrink_sd * zp[:, 2])
    site_mean = np.maximum(pop.follicle_sites_per_cm2 + pop.follicle_sites_sd * zp[:, 3], 1.0)
    region_cache = {str(r): pop.region_susceptibility.get(str(r), 1.0) for r in Region}
    region_s = np.array([region_cache[str(sp.region)] for sp in specs])
    vdays = visit_days(uv, sched, meas.visit_window_days)

    # 2. Follicles per target area (row); a patient's rows share its generator.
    rows_rng: list[np.random.Generator] = []
    rows_patient: list[int] = []
    plans: list[Plan] = []
    n_sites: list[int] = []
    zf: list[np.ndarray] = []
    sus: list[np.ndarray] = []
    grafts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    for i, (spec, g) in enumerate(zip(specs, rngs_p, strict=True)):
        for plan in spec.plans:
            row = len(rows_rng)
            n_site = int(g.poisson(site_mean[i] * meas.area_cm2))
            n_sites.append(n_site)
            zf.append(g.standard_normal(n_site))
            sus.append(g.gamma(shape, 1.0 / shape, n_site))
            for tp in plan.transplants():
                n_g = int(g.poisson(tp.grafts_per_cm2 * tp.hairs_per_graft * meas.area_cm2))
                ok = g.random(n_g) < tp.survival
                zg = g.standard_normal((2, n_g))[:, ok]
                sr = math.sqrt(math.log1p(tp.regrowth_cv**2))
                lag = tp.regrowth_mean_days * np.exp(sr * zg[1] - 0.5 * sr * sr)
                grafts.append((row, zg[0], lag + tp.day, np.zeros(zg.shape[1])))
            rows_rng.append(g)
            rows_patient.append(i)
            plans.append(plan)
    n_rows = len(rows_rng)
    rp = np.array(rows_patient, dtype=np.int64)
    ld_ref = math.log(cycle.reference_diameter_um)
    f_row = np.repeat(np.arange(n_rows), n_sites)
    f_pat = rp[f_row]
    z_all = np.concatenate(zf) if zf else np.zeros(0)
    s_all = (np.concatenate(sus) if sus else np.zeros(0)) * region_s[f_pat]
    ld = ld_ref + s_term * z_all - 0.5 * s_term**2 - s_all * shr[f_pat]
    dld = -s_all * kap[f_pat]
    start = np.full(ld.size, engine.STATIONARY, dtype=np.int8)
    resid = np.zeros(ld.size)
    # Follicles already below the critical diameter at baseline are lost sites.
    alive = ld >= math.log(cycle.death_diameter_um)
    f_row, ld, dld, start, resid = f_row[alive], ld[alive], dld[alive], start[alive], resid[alive]
    if grafts:
        g_row = np.concatenate([np.full(z.size, r) for r, z, _, _ in grafts])
        g_ld = ld_ref + s_term * np.concatenate([z for _, z, _, _ in grafts]) - 0.5 * s_term**2
        g_res = np.concatenate([res for _, _, res, _ in grafts])
        f_row = np.concatenate([f_row, g_row])
        ld = np.concatenate([ld, g_ld])
        dld = np.concatenate([dld, np.zeros(g_ld.size)])
        start = np.concatenate([start, np.full(g_ld.size, engine.KENOGEN, dtype=np.int8)])
        resid = np.concatenate([resid, g_res])
        order = np.argsort(f_row, kind="stable")
        f_row, ld, dld, start, resid = (x[order] for x in (f_row, ld, dld, start, resid))
    foll = engine.Follicles(
        row=f_row,
        log_d=ld,
        dlog_d=dld,
        log_d_cap=ld.copy(),
        start_phase=start,
        start_residual=resid,
    )

    # 3. Cycles.
    effects = build_effects(plans, resp[rp], last_day)
    a_log = np.log(cycle.anagen_mean_days * amul[rp])
    counts = engine.simulate(
        cycle, foll, a_log, rows_rng, last_day, meas.emergence_lag_days, effects
    )

    # 4. Measurement at each row's visit days, then dropout.
    days_rows = np.minimum(vdays[rp], last_day) if n_rows else np.zeros((0, n_vis), np.int64)
    take = np.arange(n_rows)[:, None]
    truth = {k: getattr(counts, k)[take, days_rows] for k in TRUTH_KEYS}
    true = true_values(truth, meas.area_cm2)
    zm = np.empty((n_rows, N_MEASURE_NORMALS, n_vis))
    ud = np.empty((n_rows, n_vis))
    for r, g in enumerate(rows_rng):
        zm[r] = g.standard_normal((N_MEASURE_NORMALS, n_vis))
        ud[r] = g.random(n_vis)
    measured = measure(zm, truth, meas)
    observed = apply_dropout(
        ud, days_rows, measured["density_per_cm2"], true["density_per_cm2"], meas
    )
    for k in CHANNELS:
        measured[k] = np.where(observed, measured[k], np.nan)
    out = {
        "days": days_rows,
        "truth": truth,
        "true": true,
        "measured": measured,
        "observed": observed,
        "rows_patient": rp,
        "effects": (
            resp,
            amul,
            kap,
            shr,
            np.array(n_sites)[np.unique(rp, return_index=True)[1]] if n_rows else np.zeros(0),
        ),
        "follicle_years": foll.row.size * last_day / 365.25,
        "cycles": counts.cycles,
        "cpu_seconds": time.process_time() - cpu0,
    }
    if keep_daily:
        out["daily"] = {k: getattr(counts, k) for k in TRUTH_KEYS}
    return out


def _merge(parts: list[dict], offsets: list[int]) -> VisitData:
    def cat(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts])

    def cat_each(key: str) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[key][k] for p in parts]) for k in parts[0][key]}

    eff = [np.concatenate([p["effects"][j] for p in parts]) for j in range(5)]
    rp = np.concatenate([p["rows_patient"] + off for p, off in zip(parts, offsets, strict=True)])
    vd = VisitData(
        days=cat("days"),
        truth=cat_each("truth"),
        true=cat_each("true"),
        measured=cat_each("measured"),
        observed=cat("observed"),
        rows_patient=rp,
        effects=PatientEffects(*eff),
        follicle_years=float(sum(p["follicle_years"] for p in parts)),
        cycles=int(sum(p["cycles"] for p in parts)),
        cpu_seconds=float(sum(p["cpu_seconds"] for p in parts)),
    )
    if "daily" in parts[0]:
        vd.extra = {k: np.concatenate([p["daily"][k] for p in parts]) for k in parts[0]["daily"]}
    return vd


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """A worker pool kept for the life of the process (start-up costs ~1 s per pool)."""
    if workers not in _POOLS:
        # forkserver: forking a process that may hold threads (BLAS, pytest) can deadlock
        ctx = multiprocessing.get_context("forkserver")
        _POOLS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    return _POOLS[workers]


@atexit.register
def _close_pools() -> None:
    for ex in _POOLS.values():
        ex.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


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
    require_int_at_least("workers", workers, 1)  # more than the CPUs are clamped below
    require_int_at_least("seed", seed, 0)
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
        parts = list(_pool(workers).map(_simulate_chunk, jobs))
    return _merge(parts, bounds[:-1])
