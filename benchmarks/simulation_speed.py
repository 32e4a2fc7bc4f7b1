"""Speed of the follicle-cycle simulator (issue 7, item 8).

Targets (REF B§5): ≥ 2×10⁷ follicle-years/s on 2 cores with alopecic parameters; a
1,000-patient × 1 cm² × 1-year virtual trial including its analysis in < 1 s; a power grid of
20 sample sizes × 1,000 replicates in < 2 minutes.

Run: ``.venv/bin/python benchmarks/simulation_speed.py [--quick]``; writes
``benchmarks/results_simulation.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from anagen.simulation.cohort import PatientSpec, simulate_visits  # noqa: E402
from anagen.simulation.measurement import MeasurementParams  # noqa: E402
from anagen.simulation.trial import (  # noqa: E402
    TrialDesign,
    analyse,
    simulate_trial,
    summarise,
)


def best_of(fn, repeats: int):
    """Best wall time of ``repeats`` runs and that run's result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fn()
        el = time.perf_counter() - t0
        if el < best:
            best, out = el, res
    return best, out


def follicle_years(workers: int, patients: int, area_cm2: float, years: float, repeats: int):
    """Untreated stage-V vertex patients (alopecic: miniaturised, kenogen-rich follicles).

    A warm-up call first, so that worker start-up is not timed (pools persist).
    """
    simulate_visits([PatientSpec("V")] * workers, 0, [0, 30], workers=workers, chunk_size=1)
    specs = [PatientSpec("V")] * patients
    m = MeasurementParams(area_cm2=area_cm2, visit_window_days=0)
    days = [0, round(365.25 * years)]
    el, vd = best_of(
        lambda: simulate_visits(
            specs, 1, days, measurement=m, workers=workers, chunk_size=max(1, patients // workers)
        ),
        repeats,
    )
    return el, vd.follicle_years, vd.cycles, vd.cpu_seconds


def trial_1000(repeats: int):
    d = TrialDesign(arms=("placebo", "minoxidil5"), n_per_arm=500, visit_weeks=(0, 12, 24, 52))

    def run():
        data = simulate_trial(d, seed=3)
        return analyse(d, data)

    el, res = best_of(run, repeats)
    return el, res[0]


def power_grid(workers: int, replicates: int, sizes: list[int]):
    """Same as ``trial.power_curve`` but also returns the simulation CPU time."""
    d = TrialDesign(arms=("placebo", "minoxidil5"), visit_weeks=(0, 12, 24, 52))
    t0, c0 = time.perf_counter(), time.process_time()
    data = simulate_trial(d, 5, replicates, n=max(sizes), workers=workers)
    curve = {n: [summarise(c, d.alpha, n) for c in analyse(d, data, n=n)] for n in sizes}
    # Workers' simulation CPU time (splits over the processes) and the parent's own CPU time
    # (ANCOVAs and bookkeeping, one process).
    return time.perf_counter() - t0, (data.cpu_seconds, time.process_time() - c0), curve


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller power grid (smoke test)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_simulation.md"))
    a = ap.parse_args()
    lines: list[str] = []

    def say(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    say("# Simulation speed benchmark")
    say()
    say(f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    say(f"- machine: `{uname}`")
    say(f"- nproc: {os.cpu_count()}")
    say(f"- python {platform.python_version()}, numpy {np.__version__}")
    say(
        f"- load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (the machine is "
        "shared with other engineers' jobs, so figures are noisy and likely pessimistic)"
    )
    say(
        "- command: `.venv/bin/python benchmarks/simulation_speed.py"
        + (" --quick`" if a.quick else "`")
    )
    say()
    say("## 1. Throughput, alopecic parameters")
    say()
    say(
        "Untreated Norwood V vertex patients, 50 cm² each (~9,000 living follicles, ~20 % "
        "vellus, kenogen-rich), 5-year horizon, stationary start (no burn-in), best of 3. "
        "Follicle-years count living follicles only."
    )
    say()
    say(
        "| processes | follicle-years | cycles | wall s | follicle-years/s (wall) | cycles/s "
        "(wall) | simulation CPU-s (all processes) | follicle-years per CPU-second |"
    )
    say("|---|---|---|---|---|---|---|---|")
    rates, per_cpu = {}, {}
    for workers in (1, 2):
        el, fy, cyc, cpu = follicle_years(workers, 80, 50.0, 5.0, 3)
        rates[workers] = fy / el
        per_cpu[workers] = fy / cpu
        say(
            f"| {workers} | {fy:.3g} | {cyc:.3g} | {el:.2f} | {fy / el:.3g} | {cyc / el:.3g} "
            f"| {cpu:.2f} | {fy / cpu:.3g} |"
        )
    say()
    say(
        f"Target ≥ 2×10⁷ follicle-years/s on 2 cores: measured **{rates[2]:.3g}** wall-clock "
        f"({'met' if rates[2] >= 2e7 else 'NOT met'} on this shared machine); two busy "
        f"processes at the measured per-CPU-second rate would give {2 * per_cpu[2]:.3g} on "
        "2 otherwise idle cores."
    )
    say()
    say("## 2. 1,000-patient virtual trial (1 cm², 1 year) including ANCOVA")
    say()
    el, res = trial_1000(3)
    say(
        f"500 per arm, placebo vs 5 % minoxidil, visits weeks 0/12/24/52, one process, best of "
        f"3: **{el:.2f} s** (target < 1 s: {'met' if el < 1 else 'NOT met'}); estimate "
        f"{res.estimate[0]:.1f} hairs/cm², p = {res.p_value[0]:.2g}."
    )
    say()
    say("## 3. Power grid: 20 sample sizes × replicates")
    say()
    sizes = [int(v) for v in np.linspace(10, 200, 20).round()]
    reps = 100 if a.quick else 1000
    el, cpu, curve = power_grid(2, reps, sizes)
    say(
        f"Sizes {sizes[0]}–{sizes[-1]} per arm (20 sizes), {reps} replicates, 1 cm², 1 year, "
        "2 processes. Nested design: each replicate simulates the largest trial once and the "
        "smaller sizes analyse its first n patients per arm (common random numbers; each point "
        "is still an unbiased power estimate). "
        f"**{el:.1f} s** wall-clock (target < 120 s: {'met' if el < 120 else 'NOT met'} on "
        f"this shared machine). CPU time: simulation {cpu[0]:.1f} s (in 2 worker "
        f"processes), parent (analysis) {cpu[1]:.1f} s; on 2 otherwise idle cores that is "
        f"about {cpu[0] / 2 + cpu[1]:.0f} s."
    )
    say()
    say("| n per arm | power (minoxidil 5 % vs placebo, 52 weeks) |")
    say("|---|---|")
    for n in sizes[::3] + [sizes[-1]]:
        r = curve[n][0]
        say(f"| {n} | {r.power:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] |")
    say()
    per_pt = el / (reps * 2 * sizes[-1])
    say(
        f"Cost per simulated patient in the grid: {per_pt * 1e6:.0f} µs (2 processes). An "
        f"un-nested grid (every size simulated separately, {reps * 2 * sum(sizes):,} patients) "
        f"would take about {per_pt * reps * 2 * sum(sizes):.0f} s at that rate."
    )
    load = os.getloadavg()
    say()
    say(f"Load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.")
    Path(a.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
