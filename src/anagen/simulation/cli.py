"""``anagen simulate ...``: virtual trials, sample size, forecasts, plausibility checks.

``main(argv)`` returns an exit code; bad input prints one ``error: ...`` line to stderr and
returns 2 (never a traceback). Inputs are validated, with their ceilings, by the pure
functions the commands call (``trial``, ``forecast``); see docs/simulation.md, "Input
ranges and ceilings".
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from .errors import (
    ParameterError,
    SimulationInputError,
    require_finite_between,
    require_int_at_least,
    require_int_between,
)
from .forecast import DEFAULT_N_VIRTUAL, forecast, plausibility
from .measurement import Dropout, MeasurementParams
from .params import MAX_DENSITY_PER_CM2, Region, canonical_stage
from .treatments import ARM_NAMES, EXOSOME_NOTE, models_exosome
from .trial import (
    MAX_DROPOUT_PER_YEAR,
    NoAnalysableReplicatesError,
    TrialDesign,
    closed_form_n,
    closed_form_pairs,
    normal_approx_n,
    normal_approx_n_exact,
    normal_approx_pairs,
    normal_approx_pairs_exact,
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


def _number(text: str) -> float:
    """A float option; a decimal comma ("0,05", as the web forms accept) is named."""
    try:
        return float(text)
    except ValueError:
        hint = (
            f"; write {text.replace(',', '.')} with a decimal point"
            if text.count(",") == 1 and _is_float(text.replace(",", "."))
            else ""
        )
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}{hint}") from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _arms(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in text.split(",") if a.strip())


def _arm_name(text: str) -> str:
    """One arm: known names joined by '+' ("prp+" or "prp+foo" is refused, not shortened)."""
    name = text.strip()
    parts = [p.strip().lower() for p in name.split("+")]
    bad = [p for p in parts if p not in ARM_NAMES]
    if not name or bad:
        what = "an empty part" if not name or any(not p for p in bad) else repr(bad[0])
        raise argparse.ArgumentTypeError(
            f"unknown arm {name!r} ({what}); valid arms: {', '.join(ARM_NAMES)}, joined with +"
        )
    return name


def _arm_list(text: str) -> tuple[str, ...]:
    """Comma-separated arms, each checked by ``_arm_name``."""
    arms = tuple(_arm_name(a) for a in text.split(",") if a.strip())
    if not arms:
        raise argparse.ArgumentTypeError(f"no arm given; valid arms: {', '.join(ARM_NAMES)}")
    return arms


def _build_parser() -> _Parser:
    p = _Parser(prog="anagen simulate", description="Follicle-cycle simulator (model outputs).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def trial_opts(sp: argparse.ArgumentParser, need_arms: bool) -> None:
        sp.add_argument(
            "--arms",
            type=_arm_list,
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
        sp.add_argument(
            "--dropout",
            type=_number,
            default=0.0,
            help=f"dropout hazard per year, 0 to {MAX_DROPOUT_PER_YEAR:g} "
            "(0.2 loses about 18%% of patients in a year)",
        )
        sp.add_argument("--dropout-mechanism", choices=[d.value for d in Dropout], default="mcar")
        sp.add_argument(
            "--spillover",
            type=_number,
            default=0.0,
            help="split-scalp: share of the effect reaching the control half",
        )
        sp.add_argument("--alpha", type=_number, default=0.05)
        sp.add_argument(
            "--replicates", type=int, default=200, help="simulated trials (at most 10,000)"
        )
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--workers", type=int, default=1, help="worker processes (>= 1)")

    t = sub.add_parser("trial", help="simulated power of a virtual trial")
    trial_opts(t, need_arms=True)
    t.add_argument(
        "--n",
        type=int,
        required=True,
        help="patients per arm (pairs for split), 2 to 10,000",
    )
    t.add_argument(
        "--analysis",
        choices=("ancova", "mmrm"),
        default="ancova",
        help="ANCOVA at the last visit (complete cases) or MMRM over all visits (parallel)",
    )

    s = sub.add_parser("sample-size", help="patients per arm for a target power")
    trial_opts(s, need_arms=False)
    s.add_argument(
        "--delta",
        type=_number,
        help=f"difference to detect (hairs/cm², > 0 and <= {MAX_DENSITY_PER_CM2:g})",
    )
    s.add_argument("--power", type=_number, default=0.8)
    s.add_argument("--sd", type=_number, default=22.0, help="SD of change (closed form)")
    s.add_argument("--rho", type=_number, default=0.5, help="split-scalp left/right correlation")
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
    f.add_argument(
        "--baseline-density",
        type=_number,
        help=f"measured baseline, hairs/cm² (> 0 and <= {MAX_DENSITY_PER_CM2:g})",
    )
    f.add_argument(
        "--plan",
        default="none",
        type=_arm_name,
        help=f"plan: {', '.join(ARM_NAMES)} (combine with +)",
    )
    f.add_argument("--months", type=int, default=24, help="horizon, 1 to 120")
    f.add_argument("--every", type=int, default=3, help="print every k-th month")
    f.add_argument("--region", choices=[r.value for r in Region], default="vertex")
    f.add_argument(
        "--n-virtual",
        type=int,
        default=DEFAULT_N_VIRTUAL,
        help="kept virtual patients, 10 to 10,000",
    )
    f.add_argument("--seed", type=int, default=0)

    q = sub.add_parser("plausibility", help="is a claimed density change credible?")
    q.add_argument("--baseline", type=_number, required=True, help="baseline density /cm²")
    q.add_argument("--followup", type=_number, required=True, help="follow-up density /cm²")
    q.add_argument("--weeks", type=_number, required=True)
    q.add_argument("--n", type=int, required=True, help="patients in the claim, 1 to 2,000")
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
        stages=tuple(canonical_stage(st) for st in a.stages),
        region=Region(a.region),
        spillover=a.spillover,
        delta_shift=shift,
        alpha=a.alpha,
        measurement=m,
    )


def _exosome_note(arms: Sequence[str]) -> None:
    if models_exosome(arms):
        print(EXOSOME_NOTE)


def _check_common(a: argparse.Namespace) -> None:
    require_int_at_least("workers", a.workers, 1)


def _cmd_trial(a: argparse.Namespace) -> int:
    _check_common(a)
    d = _design(a, a.arms, a.n)
    t0 = time.perf_counter()
    try:
        res = power(d, a.replicates, a.seed, workers=a.workers, analysis=a.analysis)
    except NoAnalysableReplicatesError as exc:
        raise SimulationInputError(exc.explain("--n", "--dropout")) from None
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
        f"{'SD change':>9s} {'failed fits':>11s}"
    )
    print(f"{'':59s} {'(/cm²)':>9s} {'(/cm²)':>9s}")
    for r in res:
        name = f"{r.arm} vs {r.control}"
        if r.n_valid == 0:  # another comparison has a result (else power() refused)
            print(f"{name:32s} {'none':>6s}  {'(no replicate analysed)':37s} {r.n_failed:11d}")
        else:
            print(
                f"{name:32s} {r.power:6.3f}  [{r.ci_low:6.3f}, {r.ci_high:6.3f}] "
                f"{r.mean_estimate:9.1f} {r.mean_sd_change:9.1f} {r.n_failed:11d}"
            )
    for r in res:
        if r.n_failed:
            print(
                f"Note: {r.arm} vs {r.control}: {r.n_failed} of {r.replicates} replicates "
                "could not be analysed (failed fits)"
                + (
                    f"; its power is over the other {r.n_valid}."
                    if r.n_valid
                    else "; it has no power estimate."
                )
            )
    print(
        "Power = rejections in favour of the arm (mean diff > 0) / replicates with a result; "
        "failed fits are excluded from the denominator (counted above). MC interval: Wilson "
        "95 %."
    )
    print(f"({el:.1f} s; model forecast, not a guarantee of trial results)")
    _exosome_note(d.arms)
    return 0


# Options of the simulation that the closed-form answer does not use.
CLOSED_FORM_UNUSED = {
    "--weeks", "--stages", "--region", "--dropout-mechanism", "--spillover", "--n-max",
    "--replicates", "--seed", "--workers",
}  # fmt: skip


def _refuse_unused(given: set[str], unused: set[str], method: str) -> None:
    named = sorted(given & unused)
    if named:
        raise SimulationInputError(f"{', '.join(named)}: not used by {method}")


def _cmd_sample_size(a: argparse.Namespace) -> int:
    _check_common(a)
    if a.delta is None and not a.arms:
        raise SimulationInputError("sample-size needs --delta or --arms")
    if a.delta is not None:
        require_finite_between(
            "delta", a.delta, 0.0, MAX_DENSITY_PER_CM2, " hairs/cm²", low_open=True
        )
    given: set[str] = getattr(a, "given", set())
    closed_form = a.delta is not None and not a.simulate and not a.arms
    if closed_form:
        with_dropout = {"--weeks", "--dropout-mechanism"} if a.dropout > 0 else set()
        _refuse_unused(given - with_dropout, CLOSED_FORM_UNUSED,
                       "the closed form (a t-test on --delta and --sd; dropout is allowed for "
                       "with --dropout and --weeks); add --simulate to use the model")  # fmt: skip
        if a.dropout > 0 and a.dropout_mechanism != "mcar":
            raise SimulationInputError(
                "--dropout-mechanism: the closed form allows for dropout at random (mcar) "
                "only; add --simulate for mar or mnar"
            )
    elif a.arms:
        _refuse_unused(given, {"--delta", "--sd", "--rho"},
                       "--arms (the model's arms set the effect and its noise)")  # fmt: skip
    else:
        _refuse_unused(given, {"--sd", "--rho"},
                       "--simulate (the model's noise is used, not a given SD)")  # fmt: skip
    if closed_form:
        assert a.delta is not None
        if a.design == "split":
            n = closed_form_pairs(a.delta, a.sd, a.rho, a.power, a.alpha)
            approx = normal_approx_pairs(a.delta, a.sd, a.rho, a.power, a.alpha)
            raw = normal_approx_pairs_exact(a.delta, a.sd, a.rho, a.power, a.alpha)
            print(
                f"Paired t-test (exact, noncentral t): delta {a.delta:g}, SD {a.sd:g}, "
                f"rho {a.rho:g}, power {a.power:g}, alpha {a.alpha:g} -> {n} pairs"
            )
            print(
                f"  for comparison, REF B§4 normal approximation: {raw:.2f} -> {approx} pairs "
                "(rounded up; ignores that the SD is estimated)"
            )
        else:
            n = closed_form_n(a.delta, a.sd, a.power, a.alpha)
            approx = normal_approx_n(a.delta, a.sd, a.power, a.alpha)
            raw = normal_approx_n_exact(a.delta, a.sd, a.power, a.alpha)
            print(
                f"Two-sample t-test (exact, noncentral t): delta {a.delta:g}, SD {a.sd:g}, "
                f"power {a.power:g}, alpha {a.alpha:g} -> {n} per arm"
            )
            print(
                f"  for comparison, REF B§4 normal approximation: {raw:.2f} -> {approx} per arm "
                "(rounded up; ignores that the SD is estimated)"
            )
        if a.dropout > 0:
            weeks = max(a.weeks)
            kept = math.exp(-a.dropout * weeks * 7 / 365.25)
            unit = "pairs" if a.design == "split" else "per arm"
            print(
                f"Dropout {a.dropout:g} per year over {weeks:g} weeks (at random): about "
                f"{100 * (1 - kept):.0f} % lost by the last visit; enrol "
                f"{math.ceil(n / kept)} {unit} to keep {n} analysable."
            )
        return 0
    if a.arms:
        d = _design(a, a.arms, 2)
        what = f"{a.arms[1]} vs {a.arms[0]} (control)" if len(a.arms) == 2 else ", ".join(a.arms)
    else:
        d = _design(a, ("placebo", "placebo"), 2, shift=a.delta)
        what = f"placebo vs placebo shifted by {a.delta:g}/cm² (model noise)"
    res = search_sample_size(d, a.power, a.replicates, a.seed, a.n_max, workers=a.workers)
    print(
        f"Simulated sample-size search: {what}; {a.replicates} replicates per size, "
        f"target power {a.power:g}"
    )
    for n, pw in res.curve.items():
        r = res.results.get(n)
        if r is not None and r.n_valid == 0:
            print(f"  n = {n:4d}: no replicate could be analysed ({r.n_failed} failed fits)")
            continue
        extra = (
            f"  [{r.ci_low:.3f}, {r.ci_high:.3f}]"
            + (f", {r.n_failed} failed fits excluded" if r.n_failed else "")
            if r is not None
            else ""
        )
        print(f"  n = {n:4d}: power {pw:.3f}{extra}")
    if res.n_per_arm is None:
        print(f"Target power not reached up to n = {a.n_max}; raise --n-max")
        return 1
    best = res.result_at_n
    detail = best.describe() if best is not None else f"power {res.power_at_n:.3f}"
    print(f"Smallest n per arm reaching {a.power:g}: {res.n_per_arm} ({detail})")
    print(
        "  (Monte Carlo estimate: where the interval straddles the target, n is uncertain; "
        "raise --replicates.)"
    )
    if a.delta is not None and a.design == "parallel":
        print(
            f"t-test closed form with SD {a.sd:g}: "
            f"{closed_form_n(a.delta, a.sd, a.power, a.alpha)} per arm "
            f"(REF B§4 normal approximation: {normal_approx_n(a.delta, a.sd, a.power, a.alpha)})"
        )
        print(
            "  (The two differ: the search uses the model's spread of change and an ANCOVA "
            f"on the baseline; the closed form a t-test with the SD of change {a.sd:g}.)"
        )
    _exosome_note(d.arms)
    return 0


def _cmd_forecast(a: argparse.Namespace) -> int:
    require_int_between("every", a.every, 1, 1_000)
    fc = forecast(
        canonical_stage(a.stage, a.scale),
        a.plan,
        baseline_density=a.baseline_density,
        scale=a.scale,
        region=Region(a.region),
        months=a.months,
        n_virtual=a.n_virtual,
        seed=a.seed,
    )
    print(fc.label)
    print(f"Plan: {fc.plan}; stage {fc.stage}.")
    for note in fc.notes:  # each a sentence of its own (joined with ";" they read ".;")
        print(f"  {note}")
    _exosome_note([a.plan])
    print(
        "Target-area density (hairs/cm²), predictive quantiles of a measurement "
        "(between-patient spread + measurement error):"
    )
    print(
        f"{'month':>5s} {'week':>6s} {'5%':>7s} {'25%':>7s} {'median':>7s} {'75%':>7s} "
        f"{'95%':>7s} {'mean':>7s}"
    )
    for k, row in enumerate(fc.rows()):
        if k % a.every and k != len(fc.weeks) - 1:
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
    print(f"Probability that a {a.n}-patient mean change reaches the claim under those "
          f"kinetics: {p}")  # fmt: skip
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
        if not argv:  # usage, like any argparse error, and exit 2
            _build_parser().print_help(sys.stderr)
            _error(f"a command is required: {', '.join(_COMMANDS)}")
            return 2
        if argv[0] in ("-h", "--help"):
            _build_parser().print_help()
            return 0
        args = _build_parser().parse_args(argv)
        # The options typed (not those left at their defaults): a sample-size method that does
        # not use one says so instead of answering as if it had.
        args.given = {tok.split("=", 1)[0] for tok in argv[1:] if tok.startswith("--")}
        return _COMMANDS[args.command](args)
    except SystemExit as exc:  # --help inside a subcommand
        return int(exc.code or 0)
    except ParameterError as exc:  # names the model's parameter: say which option set it
        flag = _flag_of(argv[0], exc.parameter)
        _error(f"{flag}: {exc}" if flag else str(exc))
        return 2
    except (ValueError, argparse.ArgumentTypeError) as exc:  # incl. SimulationInputError
        _error(str(exc) or type(exc).__name__)
        return 2
    except (OverflowError, ZeroDivisionError, MemoryError) as exc:  # safety net: validation
        # above should catch these first; never show a traceback.
        _error(f"{type(exc).__name__}: {exc or 'no detail'} (input out of range?)")
        return 2


# The option that sets each model parameter a ParameterError can name.
_FLAGS = {
    "n_per_arm": "--n", "n": "--n", "replicates": "--replicates", "n_virtual": "--n-virtual",
    "n_max": "--n-max", "months": "--months", "every": "--every", "workers": "--workers",
    "seed": "--seed", "spillover": "--spillover", "dropout_per_year": "--dropout",
    "power": "--power", "alpha": "--alpha", "arms": "--arms", "analysis": "--analysis",
    "scale": "--scale", "visit_weeks": "--weeks", "weeks": "--weeks", "delta": "--delta",
    "sd": "--sd", "rho": "--rho", "followup_density": "--followup", "stages": "--stages",
}  # fmt: skip


def _flag_of(command: str, parameter: str) -> str | None:
    if parameter in ("norwood_stage", "ludwig_stage"):
        return "--stage" if command == "forecast" else "--stages"
    if parameter == "baseline_density":
        return "--baseline" if command == "plausibility" else "--baseline-density"
    return _FLAGS.get(parameter)


def _error(message: str) -> None:
    lines = message.strip().splitlines()
    print(f"error: {lines[0] if lines else message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
