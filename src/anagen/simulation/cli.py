"""``anagen simulate ...``: virtual trials, sample size, forecasts, plausibility checks.

``main(argv)`` returns an exit code; bad input prints one ``error: ...`` line to stderr and
returns 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from .errors import SimulationInputError
from .forecast import forecast, plausibility
from .measurement import Dropout, MeasurementParams
from .params import Region
from .treatments import ARM_NAMES
from .trial import (
    TrialDesign,
    closed_form_n,
    closed_form_pairs,
    power,
    search_sample_size,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would print usage + exit(2)
        raise SimulationInputError(message)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _arms(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in text.split(",") if a.strip())


def _build_parser() -> _Parser:
    p = _Parser(prog="anagen simulate", description="Follicle-cycle simulator (model outputs).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def trial_opts(sp: argparse.ArgumentParser, need_arms: bool) -> None:
        sp.add_argument(
            "--arms",
            type=_arms,
            required=need_arms,
            help=f"comma-separated arms, control first; names: {', '.join(ARM_NAMES)}"
            " (combine with +)",
        )
        sp.add_argument("--design", choices=("parallel", "split"), default="parallel")
        sp.add_argument(
            "--weeks",
            type=_floats,
            default=(0, 12, 24, 48),
            help="visit weeks, starting with 0 (default 0,12,24,48)",
        )
        sp.add_argument("--stages", type=_arms, default=("IIIv", "IV", "V"))
        sp.add_argument("--region", choices=[r.value for r in Region], default="vertex")
        sp.add_argument("--dropout", type=float, default=0.0, help="dropout rate per year")
        sp.add_argument("--dropout-mechanism", choices=[d.value for d in Dropout], default="mcar")
        sp.add_argument(
            "--spillover",
            type=float,
            default=0.0,
            help="split-scalp: share of the effect reaching the control half",
        )
        sp.add_argument("--alpha", type=float, default=0.05)
        sp.add_argument("--replicates", type=int, default=200)
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--workers", type=int, default=1)

    t = sub.add_parser("trial", help="simulated power of a virtual trial")
    trial_opts(t, need_arms=True)
    t.add_argument("--n", type=int, required=True, help="patients per arm (pairs for split)")
    t.add_argument(
        "--analysis",
        choices=("ancova", "mmrm"),
        default="ancova",
        help="ANCOVA at the last visit (complete cases) or MMRM over all visits (parallel)",
    )

    s = sub.add_parser("sample-size", help="patients per arm for a target power")
    trial_opts(s, need_arms=False)
    s.add_argument("--delta", type=float, help="difference to detect (hairs/cm²)")
    s.add_argument("--power", type=float, default=0.8)
    s.add_argument("--sd", type=float, default=22.0, help="SD of change (closed form)")
    s.add_argument("--rho", type=float, default=0.5, help="split-scalp left/right correlation")
    s.add_argument(
        "--simulate",
        action="store_true",
        help="search n by simulation (model noise; with --delta the active arm is "
        "placebo shifted by delta, with --arms the model arms)",
    )
    s.add_argument("--n-max", type=int, default=400)

    f = sub.add_parser("forecast", help="fan chart of target-area density (model forecast)")
    f.add_argument("--stage", required=True)
    f.add_argument("--scale", choices=("norwood", "ludwig"), default="norwood")
    f.add_argument("--baseline-density", type=float)
    f.add_argument("--plan", default="none", help=f"plan: {', '.join(ARM_NAMES)} (combine with +)")
    f.add_argument("--months", type=int, default=24)
    f.add_argument("--every", type=int, default=3, help="print every k-th month")
    f.add_argument("--region", choices=[r.value for r in Region], default="vertex")
    f.add_argument("--n-virtual", type=int, default=400)
    f.add_argument("--seed", type=int, default=0)

    q = sub.add_parser("plausibility", help="is a claimed density change credible?")
    q.add_argument("--baseline", type=float, required=True, help="baseline density /cm²")
    q.add_argument("--followup", type=float, required=True, help="follow-up density /cm²")
    q.add_argument("--weeks", type=float, required=True)
    q.add_argument("--n", type=int, required=True, help="patients in the claim")
    q.add_argument("--seed", type=int, default=0)
    return p


def _design(
    a: argparse.Namespace, arms: tuple[str, ...], n: int, shift: float = 0.0
) -> TrialDesign:
    m = MeasurementParams(dropout_per_year=a.dropout, dropout=Dropout(a.dropout_mechanism))
    return TrialDesign(
        arms=arms,
        n_per_arm=n,
        visit_weeks=a.weeks,
        design=a.design,
        stages=a.stages,
        region=Region(a.region),
        spillover=a.spillover,
        delta_shift=shift,
        alpha=a.alpha,
        measurement=m,
    )


def _cmd_trial(a: argparse.Namespace) -> int:
    d = _design(a, a.arms, a.n)
    t0 = time.perf_counter()
    res = power(d, a.replicates, a.seed, workers=a.workers, analysis=a.analysis)
    el = time.perf_counter() - t0
    print(
        f"Virtual trial ({d.design}), {a.n} per arm, visits at weeks "
        f"{', '.join(f'{w:g}' for w in d.visit_weeks)}, {a.replicates} replicates, "
        f"alpha {d.alpha:g}"
    )
    print(
        "Analysis: "
        + (
            "paired t-test of within-patient difference in change"
            if d.design != "parallel"
            else "MMRM of change from baseline at every visit (unstructured, REML, "
            "Satterthwaite), arm difference at the last visit"
            if a.analysis == "mmrm"
            else "ANCOVA of change from baseline (complete cases)"
        )
    )
    print(
        f"{'comparison':32s} {'power':>6s}  {'95% MC interval':>17s} {'mean diff':>9s} "
        f"{'SD change':>9s}"
    )
    for r in res:
        print(
            f"{r.arm + ' vs ' + r.control:32s} {r.power:6.3f}  [{r.ci_low:6.3f}, "
            f"{r.ci_high:6.3f}] {r.mean_estimate:9.1f} {r.mean_sd_change:9.1f}"
        )
    print(f"({el:.1f} s; model forecast, not a guarantee of trial results)")
    return 0


def _cmd_sample_size(a: argparse.Namespace) -> int:
    if a.delta is None and not a.arms:
        raise SimulationInputError("sample-size needs --delta or --arms")
    if a.delta is not None and not a.simulate and not a.arms:
        if a.design == "split":
            n = closed_form_pairs(a.delta, a.sd, a.rho, a.power, a.alpha)
            print(
                f"Closed form (paired, REF B§4): delta {a.delta:g}, SD {a.sd:g}, rho {a.rho:g},"
                f" power {a.power:g}, alpha {a.alpha:g} -> {n} pairs"
            )
        else:
            n = closed_form_n(a.delta, a.sd, a.power, a.alpha)
            print(
                f"Closed form (two-sample normal approximation): delta {a.delta:g}, "
                f"SD {a.sd:g}, power {a.power:g}, alpha {a.alpha:g} -> {n} per arm"
            )
        return 0
    if a.arms:
        d = _design(a, a.arms, 2)
        what = f"arms {', '.join(a.arms)}"
    else:
        d = _design(a, ("placebo", "placebo"), 2, shift=a.delta)
        what = f"placebo vs placebo shifted by {a.delta:g}/cm² (model noise)"
    res = search_sample_size(d, a.power, a.replicates, a.seed, a.n_max, workers=a.workers)
    print(
        f"Simulated sample-size search: {what}; {a.replicates} replicates per size, "
        f"target power {a.power:g}"
    )
    for n, pw in res.curve.items():
        print(f"  n = {n:4d}: power {pw:.3f}")
    if res.n_per_arm is None:
        print(f"Target power not reached up to n = {a.n_max}; raise --n-max")
        return 1
    print(f"Smallest n per arm reaching {a.power:g}: {res.n_per_arm} (power {res.power_at_n:.3f})")
    if a.delta is not None and a.design == "parallel":
        print(f"Closed form with SD {a.sd:g}: {closed_form_n(a.delta, a.sd, a.power, a.alpha)}")
    return 0


def _cmd_forecast(a: argparse.Namespace) -> int:
    fc = forecast(
        a.stage,
        a.plan,
        baseline_density=a.baseline_density,
        scale=a.scale,
        region=Region(a.region),
        months=a.months,
        n_virtual=a.n_virtual,
        seed=a.seed,
    )
    print(fc.label)
    print(f"Plan: {fc.plan}; stage {fc.stage}; " + "; ".join(fc.notes))
    print("Target-area density (hairs/cm²), quantiles over virtual patients:")
    print(
        f"{'month':>5s} {'week':>6s} {'5%':>7s} {'25%':>7s} {'median':>7s} {'75%':>7s} "
        f"{'95%':>7s} {'mean':>7s}"
    )
    for k, row in enumerate(fc.rows()):
        if k % max(1, a.every) and k != len(fc.weeks) - 1:
            continue
        print(
            f"{k:5d} {row['week']:6.1f} {row['q05']:7.1f} {row['q25']:7.1f} {row['q50']:7.1f} "
            f"{row['q75']:7.1f} {row['q95']:7.1f} {row['mean']:7.1f}"
        )
    return 0


def _cmd_plausibility(a: argparse.Namespace) -> int:
    r = plausibility(a.baseline, a.followup, a.weeks, a.n, seed=a.seed)
    print(
        f"Claim: {a.baseline:g} -> {a.followup:g} hairs/cm² ({r.claimed_change_pct:+.1f}%) "
        f"in {a.weeks:g} weeks, n = {a.n}"
    )
    print(
        f"Fastest credible kinetics (model): mean change {r.expected_max_change_pct:+.1f}%, "
        f"99.9th percentile of a {a.n}-patient mean {r.upper_999_change_pct:+.1f}%"
    )
    p = f"< {r.probability_bound:.0e}" if r.probability == 0 else f"{r.probability:.4f}"
    print(f"Probability of the claim under those kinetics: {p}")
    print(f"Verdict: {r.verdict}")
    return 0


_COMMANDS = {
    "trial": _cmd_trial,
    "sample-size": _cmd_sample_size,
    "forecast": _cmd_forecast,
    "plausibility": _cmd_plausibility,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] in ("-h", "--help"):
            _build_parser().print_help()
            return 0
        args = _build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except SystemExit as exc:  # --help inside a subcommand
        return int(exc.code or 0)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
