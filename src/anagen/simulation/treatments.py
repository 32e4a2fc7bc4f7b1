"""Treatments expressed as parameter changes over time.

Each treatment contributes *pieces*: a time interval with multiplicative phase-clock rates
(anagen, telogen, kenogen), an additive anagen-induction hazard, a multiplier on the
miniaturisation step, and an additive per-cycle thickening. A patient's response ρ (mean 1)
scales log clock rates, hazards and thickening; finasteride's halt of miniaturisation and a
transplant's shock loss (``log_anagen_fixed``: surgical trauma, not a drug response) are not
scaled. Pieces become the piecewise-constant ``Effects`` the engine consumes.

Default magnitudes are calibrated [U] so that the simulated 1 cm² target-area change matches
Olsen 2002 (REF B§3: 5 % minoxidil +18.6, 2 % +12.7, placebo +3.9 hairs/cm² at 48 weeks); the
mechanisms follow REF B§3 "Mapping onto the model". PRP and exosome magnitudes are calibrated to
REF A§7's simulation defaults (PRP +25 to +30 /cm² vs control; exosome / CM +10 to 30 %), which
rest on weak, low-certainty evidence (REF B§3: "weak evidence"; REF A§7: flagged).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .engine import Effects
from .errors import (
    ParameterError,
    SimulationInputError,
    require_nonnegative,
    require_positive,
    require_probability,
)

INF = math.inf


# Given with every output that models an exosome arm or plan (CLI, forecast panel and API;
# the web pages and PDFs also carry the clinic's notice; REF A§7 and B§3 for the evidence).
EXOSOME_NOTE = (
    "Exosome: investigational, not approved in most jurisdictions. The model's exosome effect "
    "is an assumption calibrated to low-certainty evidence (REF A§7, B§3), not a finding."
)


def models_exosome(arms: Iterable[str]) -> bool:
    """Whether any arm or plan (``a+b`` combinations included) has an exosome part."""
    return any("exosome" in str(arm).split("+") for arm in arms)


@dataclass(frozen=True)
class Piece:
    start: float
    end: float
    log_anagen: float = 0.0
    log_telogen: float = 0.0
    log_kenogen: float = 0.0
    hazard: float = 0.0
    mini_scale: float = 1.0
    thicken: float = 0.0
    log_anagen_fixed: float = 0.0


def _check_days(start: float, stop: float | None) -> None:
    require_nonnegative("start_day", start)
    if stop is not None and not stop > start:
        raise ParameterError("stop_day", stop, "must be after start_day")


@dataclass(frozen=True)
class Placebo:
    """Vehicle / trial-participation effect ("placebo drift", REF B§3: −1 to +5 /cm² over
    6–12 months; Olsen 2002 placebo +3.9 at 48 weeks; REF A§7: 0 to +4 over 16–48 weeks).
    Modelled as a mild speed-up of the kenogen clock with a slightly slower exit from anagen
    [U, calibrated]. A kenogen speed-up alone (×1.8, before 2026-12-05) gave +4 at week 48 but
    a synchronised wave of +8 around week 24; the slower anagen exit carries the effect to
    week 48 with a smaller wave (+3 / +5 / +4 at weeks 16 / 24 / 48; docs/simulation.md)."""

    start_day: float = 0.0
    stop_day: float | None = None
    kenogen_rate: float = 1.3
    anagen_rate: float = 0.86

    def __post_init__(self) -> None:
        _check_days(self.start_day, self.stop_day)
        require_positive("kenogen_rate", self.kenogen_rate)
        require_positive("anagen_rate", self.anagen_rate)

    def pieces(self) -> list[Piece]:
        end = INF if self.stop_day is None else self.stop_day
        return [
            Piece(
                self.start_day,
                end,
                log_kenogen=math.log(self.kenogen_rate),
                log_anagen=math.log(self.anagen_rate),
            )
        ]


@dataclass(frozen=True)
class Minoxidil:
    """Topical minoxidil (REF B§3): shortens telogen (rats ~20 d → 1–2 d), prolongs anagen,
    reactivates dormant (kenogen) follicles, enlarges follicles; the telogen speed-up gives the
    early shedding wave. After stopping, the gain is lost within ~24 weeks (Price 1999):
    modelled as a withdrawal period with shortened anagen. ``concentration_pct`` 5 or 2; the
    2 % effect is the 5 % effect on the log scale × 0.45 (calibrated to 12.7 vs 18.6).
    Magnitudes [U] calibrated to Olsen 2002 (see module doc)."""

    start_day: float = 0.0
    stop_day: float | None = None
    concentration_pct: float = 5.0
    anagen_rate: float = 0.7
    telogen_rate: float = 2.5
    kenogen_rate: float = 3.5
    thicken_per_cycle: float = 0.05
    withdrawal_anagen_rate: float = 2.5
    withdrawal_kenogen_rate: float = 0.6
    withdrawal_days: float = 112.0

    def __post_init__(self) -> None:
        _check_days(self.start_day, self.stop_day)
        require_positive("concentration_pct", self.concentration_pct)
        for name in (
            "anagen_rate",
            "telogen_rate",
            "kenogen_rate",
            "withdrawal_anagen_rate",
            "withdrawal_kenogen_rate",
        ):
            require_positive(name, getattr(self, name))
        require_nonnegative("withdrawal_days", self.withdrawal_days)

    @property
    def strength(self) -> float:
        return 1.0 if self.concentration_pct >= 5.0 else 0.45 * self.concentration_pct / 2.0

    def pieces(self) -> list[Piece]:
        s = self.strength
        end = INF if self.stop_day is None else self.stop_day
        out = [
            Piece(
                self.start_day,
                end,
                log_anagen=s * math.log(self.anagen_rate),
                log_telogen=s * math.log(self.telogen_rate),
                log_kenogen=s * math.log(self.kenogen_rate),
                thicken=s * self.thicken_per_cycle,
            )
        ]
        if self.stop_day is not None and self.withdrawal_days > 0:
            out.append(
                Piece(
                    self.stop_day,
                    self.stop_day + self.withdrawal_days,
                    log_anagen=s * math.log(self.withdrawal_anagen_rate),
                    log_kenogen=s * math.log(self.withdrawal_kenogen_rate),
                )
            )
        return out


@dataclass(frozen=True)
class Finasteride:
    """Finasteride 1 mg (REF B§3): per-cycle miniaturisation halted (factor → 1) plus a shift to
    anagen (A:T +47 % at 48 weeks; Van Neste 2000 net +17.3 total hairs/cm²). Slight
    thickening and kenogen exit [U].

    Rates calibrated [U] to REF A§7 "about +21 /cm² vs placebo" (Kaufman 1998: +107 per
    5.1 cm²) read both ways at week 48: against no treatment (an oral placebo has no vehicle)
    +23 and, with the model's vehicle/participation placebo in both arms, +18 (Van Neste:
    +17.3). Until 2026-12-07 (anagen 0.8, kenogen 2.0) the second reading was +13 (review)."""

    start_day: float = 0.0
    stop_day: float | None = None
    anagen_rate: float = 0.6
    kenogen_rate: float = 2.5
    thicken_per_cycle: float = 0.05

    def __post_init__(self) -> None:
        _check_days(self.start_day, self.stop_day)
        require_positive("anagen_rate", self.anagen_rate)
        require_positive("kenogen_rate", self.kenogen_rate)

    def pieces(self) -> list[Piece]:
        end = INF if self.stop_day is None else self.stop_day
        return [
            Piece(
                self.start_day,
                end,
                log_anagen=math.log(self.anagen_rate),
                log_kenogen=math.log(self.kenogen_rate),
                mini_scale=0.0,
                thicken=self.thicken_per_cycle,
            )
        ]


@dataclass(frozen=True)
class InjectionSessions:
    """PRP or exosome sessions (REF B§3): at each session an anagen-induction pulse for
    telogen/kenogen follicles with a hazard that halves every ``half_life_days`` (stepwise,
    ``steps`` steps, so it stays exact), plus anagen prolongation (anagen clock ×
    ``prolong_anagen_rate``) for ``prolong_days`` after each session; where the windows of
    successive sessions overlap their effects multiply.

    Defaults (PRP): hazard 0.035/day halving every 14 days (4 steps), anagen clock ×0.5 for
    112 days. Calibrated [U] to REF A§7's simulation default "PRP: +25 to +30 /cm² vs
    control, between-subject SD ~25" (Kieling 2024 meta-analysis +27.55 /cm², low certainty):
    with 3 monthly sessions the simulated measured change vs no treatment (stages IIIv–V,
    1 cm²) is ≈ +23 at week 12, +27 at week 24 and ≈ +26 at week 36, waning to ≈ +10 at week
    48 (REF gives no duration; the fall reflects the end of the pulses), SD of change ≈ 24.
    Weak evidence: magnitudes [U]."""

    session_days: tuple[float, ...] = (0.0, 28.0, 56.0)
    kind: str = "prp"
    hazard_per_day: float = 0.035
    half_life_days: float = 14.0
    steps: int = 4
    prolong_anagen_rate: float = 0.5
    prolong_days: float = 112.0

    def __post_init__(self) -> None:
        if self.kind not in ("prp", "exosome"):
            raise ParameterError("kind", self.kind, "must be 'prp' or 'exosome'")
        for d in self.session_days:
            require_nonnegative("session_days", d)
        require_nonnegative("hazard_per_day", self.hazard_per_day)
        require_positive("half_life_days", self.half_life_days)
        require_positive("prolong_anagen_rate", self.prolong_anagen_rate)
        require_nonnegative("prolong_days", self.prolong_days)

    def pieces(self) -> list[Piece]:
        out: list[Piece] = []
        for day in self.session_days:
            for k in range(self.steps):
                a = day + k * self.half_life_days
                out.append(Piece(a, a + self.half_life_days, hazard=self.hazard_per_day * 0.5**k))
            if self.prolong_days > 0 and self.prolong_anagen_rate != 1.0:
                out.append(
                    Piece(
                        day, day + self.prolong_days, log_anagen=math.log(self.prolong_anagen_rate)
                    )
                )
        return out


def prp(session_days: Sequence[float] = (0.0, 28.0, 56.0)) -> InjectionSessions:
    """PRP default: 3 monthly sessions (REF A§3.2)."""
    return InjectionSessions(tuple(float(d) for d in session_days), kind="prp")


def exosome(session_days: Sequence[float] = (0.0, 28.0, 56.0)) -> InjectionSessions:
    """Exosome / conditioned-medium sessions: same mechanism as PRP, low-certainty evidence.

    Hazard 0.025/day halving every 10 days (4 steps), anagen clock ×0.6 for 112 days per
    session. Calibrated [U] to the middle of REF A§7's simulation default "Exosome / CM: +10
    to 30 %" (Tak 2020 +28.1 % vs +7.1 %; Shin 2015 +16.4 %): with 3 monthly sessions the
    simulated measured change exceeds no treatment by ≈ 14 % of baseline at week 12 and ≈ 18 %
    at week 24, waning to ≈ 7 % at week 48.
    """
    return InjectionSessions(
        tuple(float(d) for d in session_days),
        kind="exosome",
        hazard_per_day=0.025,
        half_life_days=10.0,
        prolong_anagen_rate=0.6,
        prolong_days=112.0,
    )


@dataclass(frozen=True)
class Transplant:
    """Hair transplant (REF B§3): adds non-susceptible (occipital-type) follicles with graft
    survival and shock loss. Graft survival 93.5–96.6 % after FUE megasessions (REF A§7) →
    default 0.95; hairs per graft and implanted density [U]; transplanted hairs shed and
    regrow after ~3–4 months [U].

    Shock loss (REF B§3 names it, values [U]): the surgery pushes native hairs of the
    recipient area out of anagen. Modelled as an anagen clock running ``shock_anagen_rate``
    times faster for ``shock_days`` after the surgery, which ends the anagen of every native
    follicle with less than about (rate − 1) × days = 90 days of it left: about 90 / mean
    anagen length of the follicles, so miniaturised follicles (short anagen) are shed more
    often than terminal ones. They pass through catagen and telogen and regrow months later.
    Not scaled by the patient's treatment response. ``shock_anagen_rate = 1`` turns it off."""

    day: float = 0.0
    grafts_per_cm2: float = 30.0
    hairs_per_graft: float = 2.2
    survival: float = 0.95
    regrowth_mean_days: float = 100.0
    regrowth_cv: float = 0.3
    shock_anagen_rate: float = 7.0
    shock_days: float = 15.0

    def __post_init__(self) -> None:
        require_nonnegative("day", self.day)
        require_nonnegative("grafts_per_cm2", self.grafts_per_cm2)
        require_positive("hairs_per_graft", self.hairs_per_graft)
        require_probability("survival", self.survival)
        require_positive("regrowth_mean_days", self.regrowth_mean_days)
        require_nonnegative("regrowth_cv", self.regrowth_cv)
        if not self.shock_anagen_rate >= 1.0:
            raise ParameterError(
                "shock_anagen_rate", self.shock_anagen_rate, "must be at least 1 (1: no shock loss)"
            )
        require_positive("shock_days", self.shock_days)

    def pieces(self) -> list[Piece]:
        if self.shock_anagen_rate == 1.0:
            return []
        return [
            Piece(
                self.day,
                self.day + self.shock_days,
                log_anagen_fixed=math.log(self.shock_anagen_rate),
            )
        ]


def _scaled_piece(p: Piece, s: float) -> Piece:
    """An effect at ``s`` of its strength (0: none, 1: full)."""
    return replace(
        p,
        log_anagen=s * p.log_anagen,
        log_telogen=s * p.log_telogen,
        log_kenogen=s * p.log_kenogen,
        hazard=s * p.hazard,
        mini_scale=1.0 - s * (1.0 - p.mini_scale),
        thicken=s * p.thicken,
    )


@dataclass(frozen=True)
class Spilled:
    """Another treatment reaching the control side of a split scalp at ``scale`` of its
    effect (spill-over); ``combine`` keeps a scaled plan's treatments this way."""

    treatment: Placebo | Minoxidil | Finasteride | InjectionSessions
    scale: float

    def __post_init__(self) -> None:
        require_probability("spillover", self.scale)

    def pieces(self) -> list[Piece]:
        return [_scaled_piece(p, self.scale) for p in self.treatment.pieces()]


Treatment = Placebo | Minoxidil | Finasteride | InjectionSessions | Transplant | Spilled


@dataclass(frozen=True)
class Plan:
    """A set of concurrent treatments. ``scale`` < 1 weakens all effects (split-scalp
    spill-over onto the control side)."""

    treatments: tuple[Treatment, ...] = ()
    name: str = "none"
    scale: float = 1.0

    def pieces(self) -> list[Piece]:
        out: list[Piece] = []
        for t in self.treatments:
            # The control side of a split scalp gets no grafts, so no shock loss either.
            if self.scale != 1.0 and isinstance(t, Transplant):
                continue
            out.extend(t.pieces())
        if self.scale != 1.0:
            out = [_scaled_piece(p, self.scale) for p in out]
        return out

    def transplants(self) -> list[Transplant]:
        if self.scale != 1.0:
            return []
        return [t for t in self.treatments if isinstance(t, Transplant)]

    def scaled(self, scale: float) -> Plan:
        require_probability("spillover", scale)
        return replace(self, scale=scale, name=f"{self.name}×{scale:g}")


NO_TREATMENT = Plan()

_ARM_BUILDERS = {
    "none": lambda: (),
    "observation": lambda: (),
    "placebo": lambda: (Placebo(),),
    "minoxidil5": lambda: (Placebo(), Minoxidil(concentration_pct=5.0)),
    "minoxidil2": lambda: (Placebo(), Minoxidil(concentration_pct=2.0)),
    "minoxidil": lambda: (Minoxidil(concentration_pct=5.0),),
    "finasteride": lambda: (Finasteride(),),
    "prp": lambda: (prp(),),
    "exosome": lambda: (exosome(),),
    "transplant": lambda: (Transplant(),),
}
ARM_NAMES = tuple(sorted(_ARM_BUILDERS))


def plan_from_name(name: str, field: str = "arms") -> Plan:
    """Parse an arm name such as ``placebo``, ``minoxidil5`` or ``minoxidil+finasteride``.

    ``minoxidil5``/``minoxidil2`` are the trial arms of Olsen 2002 (vehicle included); plain
    ``minoxidil`` is the drug alone, for clinical forecasts.
    """
    parts = [p.strip().lower() for p in name.split("+")]
    if not any(parts):
        raise SimulationInputError(f"{field}: empty arm name")
    if not all(parts):
        # "prp++minoxidil": a member left out by a slip, not silently dropped.
        raise SimulationInputError(f"{field}: {name!r} has an empty part between '+' signs")
    treatments: list[Treatment] = []
    for part in parts:
        if part not in _ARM_BUILDERS:
            raise SimulationInputError(
                f"arms: unknown arm {part!r}; choose from {', '.join(ARM_NAMES)} (join with +)"
            )
        for t in _ARM_BUILDERS[part]():
            if not any(type(t) is type(u) and t == u for u in treatments):
                treatments.append(t)
    return Plan(tuple(treatments), name=name)


def _effect_templates(
    plans: Sequence[Plan], last_day: float
) -> tuple[np.ndarray, dict[Plan, np.ndarray]]:
    """Breakpoints (the union of all plans' piece edges in [0, last_day + 1]) and, per plan,
        its effect on them: rows log_a, log_t, log_k, hazard, mini_keep (1 = keep), thicken, and
    log_a_fixed (not scaled by the response)."""
    pieces_by_plan: dict[Plan, list[Piece]] = {}
    for p in plans:
        if p not in pieces_by_plan:
            pieces_by_plan[p] = p.pieces()
    bps = {0.0}
    for pieces in pieces_by_plan.values():
        for pc in pieces:
            for t in (pc.start, pc.end):
                if 0.0 <= t <= last_day + 1:
                    bps.add(float(t))
    times = np.array(sorted(bps))
    n_bp = times.size
    template: dict[Plan, np.ndarray] = {}
    for plan, pieces in pieces_by_plan.items():
        m = np.zeros((7, n_bp))
        m[4] = 1.0
        for pc in pieces:
            sel = (times >= pc.start) & (times < pc.end)
            m[0, sel] += pc.log_anagen
            m[1, sel] += pc.log_telogen
            m[2, sel] += pc.log_kenogen
            m[3, sel] += pc.hazard
            m[4, sel] *= pc.mini_scale
            m[5, sel] += pc.thicken
            m[6, sel] += pc.log_anagen_fixed
        template[plan] = m
    return times, template


def build_effects(plans: Sequence[Plan], responses: np.ndarray, last_day: int) -> Effects | None:
    """Per-row piecewise-constant effects on the union of all breakpoints (None if untreated)."""
    if not any(p.pieces() for p in set(plans)):
        return None
    times, template = _effect_templates(plans, last_day)
    stack = np.stack([template[p] for p in plans])  # (rows, 7, n_bp)
    rho = np.asarray(responses, dtype=float)[:, None]
    return Effects(
        times=times,
        anagen_rate=np.exp(rho * stack[:, 0] + stack[:, 6]),
        telogen_rate=np.exp(rho * stack[:, 1]),
        kenogen_rate=np.exp(rho * stack[:, 2]),
        hazard=rho * stack[:, 3],
        mini_scale=stack[:, 4].copy(),
        thicken=rho * stack[:, 5],
    )


def same_modelled_effect(a: Plan, b: Plan, last_day: float = INF) -> bool:
    """True when two plans change the model identically from day 0 to ``last_day``: the
    same piecewise-constant effects (clock rates, induction hazard, miniaturisation,
    thickening) and the same transplants. Judged from the parameters, not the names
    ("minoxidil5" and "placebo+minoxidil5" are the same plan; "none" and "observation" too).
    """
    if a == b:
        return True
    ta, tb = a.transplants(), b.transplants()
    if sorted(map(repr, ta)) != sorted(map(repr, tb)):
        return False
    _, template = _effect_templates([a, b], last_day)
    # Same pieces summed in another order may differ in the last bits.
    return bool(np.allclose(template[a], template[b], rtol=0.0, atol=1e-12))


def describe_plan(plan: Plan) -> str:
    names = [type(t).__name__ for t in plan.treatments]
    return "+".join(names) or "none"


def all_session_days(plan: Plan) -> list[float]:
    out: list[float] = []
    for t in plan.treatments:
        if isinstance(t, InjectionSessions):
            out.extend(t.session_days)
    return sorted(out)


def combine(plans: Iterable[Plan], name: str) -> Plan:
    """One plan of several given together. A scaled plan (split-scalp spill-over) keeps its
    scale: its treatments join as ``Spilled`` (a transplant does not spill over). Before
    2026-12-05 the scale was dropped, so any spill-over put the whole treatment on the
    control side."""
    ts: list[Treatment] = []
    for p in plans:
        if p.scale == 1.0:
            ts.extend(p.treatments)
        else:
            ts.extend(
                Spilled(t, p.scale) for t in p.treatments if not isinstance(t, Transplant | Spilled)
            )
    return Plan(tuple(ts), name=name)


__all__ = [
    "ARM_NAMES",
    "Finasteride",
    "InjectionSessions",
    "Minoxidil",
    "NO_TREATMENT",
    "Piece",
    "Placebo",
    "Plan",
    "Spilled",
    "Transplant",
    "build_effects",
    "exosome",
    "plan_from_name",
    "prp",
    "same_modelled_effect",
]
