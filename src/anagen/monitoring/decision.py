"""Further-treatment proposal after a course or a visit (pure; no Django).

Input: change from baseline, sessions done vs planned, adverse events, clinic thresholds.
Output: one proposal with plain-words reasons. It is advice for the clinician, who decides.

Order of the decision (each step explained in the reasons):
1. A related (or possibly related) adverse event at or above ``stop_ae_grade``, or one that
   is serious (an ICH E2A criterion, whatever its grade), stops treatment, whatever the
   response. An unrelated event is only noted for review: an
   unrelated event of a higher grade never hides a related one (the two are given apart).
2. Before the planned sessions are done, continue: response is judged at the end of the
   course, and early shedding after starting treatment is common.
   No response class is given before ``MIN_RESPONSE_WEEKS`` after the first session
   ("too early to judge"): a course finished before then continues to the next follow-up.
3. At or after the end of the course: responder → maintenance; partial responder → add
   sessions (up to ``max_extra_sessions``), then switch or combine; non-responder →
   switch or combine after the planned course, stop after an extended course. A density
   or diameter loss beyond the noise floor is no response, whatever the global rating.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from anagen.core.text import signed_grade
from anagen.monitoring.ctcae import SERIOUSNESS_CRITERIA

# Response to treatment is judged from the first visit at least 12 weeks after the first
# session of the course. REFERENCE.md states no minimum interval, so the choice rests on what
# it does state: telogen lasts about 3 (2–4) months (Part B §2), so hairs a treatment moves
# into anagen take about that long to show; early shedding after starting treatment is common
# (Part B, minoxidil); the suggested default follow-up visits are weeks 0, 12, 24, 48
# (Part A §2). A change seen earlier (a week-4 follow-up, or a global assessment at the
# baseline visit) is shown, but not classified.
MIN_RESPONSE_WEEKS = 12


class DecisionInputError(ValueError):
    """Invalid decision input; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Proposal(StrEnum):
    CONTINUE = "continue_as_planned"
    ADD_SESSIONS = "add_sessions"
    SWITCH_OR_COMBINE = "switch_or_combine"
    STOP_NON_RESPONSE = "stop_non_response"
    STOP_ADVERSE_EVENT = "stop_adverse_event"
    MAINTENANCE = "maintenance"


# The decisions that end treatment: no further session on the plan they were made for.
STOPS = frozenset({Proposal.STOP_ADVERSE_EVENT.value, Proposal.STOP_NON_RESPONSE.value})


class Response(StrEnum):
    RESPONDER = "responder"
    PARTIAL = "partial"
    NON_RESPONDER = "non_responder"
    NOT_ASSESSED = "not_assessed"
    TOO_EARLY = "too_early"


# The words shown to people for each response class (the codes are stored and sent by the API).
RESPONSE_LABELS: dict[str, str] = {
    Response.RESPONDER.value: "Responder",
    Response.PARTIAL.value: "Partial response",
    Response.NON_RESPONDER.value: "No response",
    Response.NOT_ASSESSED.value: "Not assessed (no measurement)",
    Response.TOO_EARLY.value: "Too early to judge",
}


def response_label(code: str) -> str:
    """The human label of a response code; an unknown code is shown as it is stored."""
    return RESPONSE_LABELS.get(code, code)


@dataclass(frozen=True)
class Thresholds:
    """Clinic-adjustable thresholds. Defaults and why:

    - ``min_density_pct`` 5 %: repeat phototrichograms vary by 2.6–9.8 % (headband method,
      REFERENCE.md Part C §1), so a smaller change cannot be told from measurement noise.
    - ``response_density_pct`` 10 %: twice that noise floor, and about the mean gain of
      minoxidil 5 % (+18.6/cm² on a ~150/cm² baseline, Olsen 2002, A.7).
    - ``min_diameter_um`` 5 µm: the diameter-error target of the imaging module (Part C §6).
    - ``response_global`` +2 / ``min_global`` +1 on the 7-point −3..+3 global photographic
      assessment (A.2): +2 "moderately increased" counts as response, +1 as partial.
    - ``stop_ae_grade`` 3: CTCAE grade 3 is "severe" (A.4).
    - ``max_extra_sessions`` 2: extend a course at most this much before switching.
    - ``maintenance_interval_months`` 6: PRP maintenance every 6 months (A.3.2).
    """

    min_density_pct: float = 5.0
    response_density_pct: float = 10.0
    min_diameter_um: float = 5.0
    min_global: int = 1
    response_global: int = 2
    stop_ae_grade: int = 3
    max_extra_sessions: int = 2
    maintenance_interval_months: int = 6

    def __post_init__(self) -> None:
        if not 0 <= self.min_density_pct <= self.response_density_pct:
            raise DecisionInputError(
                "response_density_pct", "need 0 ≤ min_density_pct ≤ response_density_pct"
            )
        if not 1 <= self.min_global <= self.response_global <= 3:
            raise DecisionInputError("response_global", "need 1 ≤ min_global ≤ response_global ≤ 3")
        if not 1 <= self.stop_ae_grade <= 5:
            raise DecisionInputError("stop_ae_grade", "must be a CTCAE grade 1–5")
        if self.max_extra_sessions < 0 or self.min_diameter_um < 0:
            raise DecisionInputError("max_extra_sessions", "must not be negative")
        if self.maintenance_interval_months < 1:
            raise DecisionInputError("maintenance_interval_months", "must be at least 1")


@dataclass(frozen=True)
class Progress:
    sessions_done: int
    sessions_planned: int
    density_change_pct: float | None = None  # % change from baseline
    diameter_change_um: float | None = None  # change in mean diameter, µm
    global_assessment: int | None = None  # −3 (greatly decreased) … +3 (greatly increased)
    # Highest CTCAE grade since the last decision among events related to treatment or whose
    # relatedness is not assessed; 0 = none. ``ae_related`` is that event's relatedness
    # (None = not assessed, treated as related; False = the event is unrelated).
    max_ae_grade: int = 0
    ae_related: bool | None = None
    # Highest CTCAE grade since the last decision among events judged unrelated; 0 = none.
    # Given apart so that an unrelated event of a higher grade cannot hide a related one.
    max_unrelated_ae_grade: int = 0
    # Days from the first session of the course to this visit; 0 when no session was done
    # before the visit. None: not known, the interval is not checked (pure callers and tests
    # that give only changes).
    days_since_first_session: int | None = None
    # Whether the course is a series of sessions repeated at an interval (injections: exosome,
    # PRP). A daily home treatment (minoxidil) or a one-off procedure (transplant) is not:
    # "maintenance every 6 months" and "add sessions" mean nothing for it.
    repeated_sessions: bool = True
    # The ICH E2A seriousness criteria (ctcae.SERIOUSNESS_CRITERIA) met by events related to
    # treatment or whose relatedness is not assessed, since the last decision. Seriousness is
    # not severity: a grade-2 reaction that disabled the patient is serious.
    ae_serious: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    proposal: Proposal
    response: Response
    reasons: tuple[str, ...]
    extra_sessions: int = 0  # for ADD_SESSIONS
    maintenance_interval_months: int | None = None  # for MAINTENANCE


def _validate(p: Progress) -> None:
    for name in ("sessions_done", "sessions_planned", "max_ae_grade", "max_unrelated_ae_grade"):
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise DecisionInputError(name, f"must be a whole number ≥ 0, got {v!r}")
    if p.sessions_planned < 1:
        raise DecisionInputError("sessions_planned", "at least one session must be planned")
    for name in ("max_ae_grade", "max_unrelated_ae_grade"):
        if getattr(p, name) > 5:
            raise DecisionInputError(name, "CTCAE grades are 1–5 (0 = no event)")
    if not isinstance(p.ae_serious, tuple) or not set(p.ae_serious) <= SERIOUSNESS_CRITERIA:
        raise DecisionInputError(
            "ae_serious", f"must be ICH E2A seriousness criteria, got {p.ae_serious!r}"
        )
    g = p.global_assessment
    if g is not None and (isinstance(g, bool) or not isinstance(g, int) or not -3 <= g <= 3):
        raise DecisionInputError("global_assessment", f"must be an integer −3..+3, got {g!r}")
    if p.density_change_pct is not None and p.density_change_pct < -100:
        raise DecisionInputError("density_change_pct", "cannot fall by more than 100 %")
    days = p.days_since_first_session
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
        raise DecisionInputError(
            "days_since_first_session", f"must be a whole number ≥ 0, got {days!r}"
        )


def too_early(p: Progress) -> bool:
    """Whether the visit is before the minimum follow-up for judging response."""
    days = p.days_since_first_session
    return days is not None and days < MIN_RESPONSE_WEEKS * 7


def classify_response(p: Progress, t: Thresholds) -> tuple[Response, list[str]]:
    """Response class with the measurements that decided it."""
    d, dia, g = p.density_change_pct, p.diameter_change_um, p.global_assessment
    if too_early(p):
        days = p.days_since_first_session or 0
        since = (
            f"{days // 7} week{'s' if days // 7 != 1 else ''} after the first session"
            if days
            else "no session before this visit"
        )
        return Response.TOO_EARLY, [
            f"Too early to judge response ({since}): response is judged from "
            f"{MIN_RESPONSE_WEEKS} weeks after the first session."
        ]
    if d is None and dia is None and g is None:
        return Response.NOT_ASSESSED, ["No change-from-baseline measurement recorded."]
    seen = []
    if d is not None:
        seen.append(f"density {d:+.1f} %")
    if dia is not None:
        seen.append(f"diameter {dia:+.1f} µm")
    if g is not None:
        seen.append(f"global assessment {signed_grade(g)}")
    summary = ", ".join(seen)
    if d is not None and d >= t.response_density_pct:
        return Response.RESPONDER, [
            f"Response ({summary}): density ≥ {t.response_density_pct:g} % or global ≥ "
            f"+{t.response_global}."
        ]
    # A measured loss beyond the noise floor is no response, whatever the global rating: a
    # density of -12 % with global +2 read "partial response, add sessions" (review).
    lost = []
    if d is not None and d <= -t.min_density_pct:
        lost.append(f"density {d:+.1f} %")
    if dia is not None and dia <= -t.min_diameter_um:
        lost.append(f"diameter {dia:+.1f} µm")
    if lost:
        return Response.NON_RESPONDER, [
            f"No response ({summary}): {' and '.join(lost)} fell beyond the measurement-noise "
            f"floor ({t.min_density_pct:g} %, {t.min_diameter_um:g} µm); a better global "
            "rating does not outweigh a measured loss."
        ]
    # A good global rating does not count as response when density has fallen.
    if g is not None and g >= t.response_global and (d is None or d >= 0):
        return Response.RESPONDER, [
            f"Response ({summary}): density ≥ {t.response_density_pct:g} % or global ≥ "
            f"+{t.response_global}."
        ]
    if (
        (d is not None and d >= t.min_density_pct)
        or (g is not None and g >= t.min_global)
        or (dia is not None and dia >= t.min_diameter_um)
    ):
        return Response.PARTIAL, [
            f"Partial response ({summary}): above the measurement-noise floor "
            f"(density ≥ {t.min_density_pct:g} %, diameter ≥ {t.min_diameter_um:g} µm or global "
            f"≥ +{t.min_global}) but below the response threshold."
        ]
    return Response.NON_RESPONDER, [
        f"No response ({summary}): change within measurement noise or worse."
    ]


def propose_next_step(progress: Progress, thresholds: Thresholds | None = None) -> Decision:
    """Proposal for the next step of treatment, with reasons."""
    t = thresholds if thresholds is not None else Thresholds()
    _validate(progress)
    p = progress
    reasons: list[str] = []
    response, why = classify_response(p, t)

    if p.max_ae_grade >= t.stop_ae_grade and p.ae_related is not False:
        related = "related" if p.ae_related else "possibly related (relatedness not assessed)"
        return Decision(
            Proposal.STOP_ADVERSE_EVENT,
            response,
            (
                f"Grade {p.max_ae_grade} adverse event {related} to treatment "
                f"(stop at grade ≥ {t.stop_ae_grade}).",
                *why,
            ),
        )
    if p.ae_serious:
        # A serious event below the stop grade (a grade-2 reaction that is an important
        # medical event) was proposed "continue as planned".
        words = ", ".join(c.replace("_", " ") for c in sorted(p.ae_serious))
        return Decision(
            Proposal.STOP_ADVERSE_EVENT,
            response,
            (
                f"Serious adverse event ({words}) related or possibly related to treatment: "
                "stop and review before any further session.",
                *why,
            ),
        )
    unrelated = max(p.max_unrelated_ae_grade, p.max_ae_grade if p.ae_related is False else 0)
    if unrelated >= t.stop_ae_grade:
        reasons.append(
            f"Grade {unrelated} adverse event judged unrelated: review before the next session."
        )
    if p.ae_related is not False and 2 <= p.max_ae_grade < t.stop_ae_grade:
        reasons.append(f"Grade {p.max_ae_grade} adverse event: continue with caution.")

    if p.sessions_done < p.sessions_planned:
        return Decision(
            Proposal.CONTINUE,
            response,
            (
                f"{p.sessions_done} of {p.sessions_planned} planned sessions done; response is "
                "judged at the end of the course (early shedding is common).",
                *reasons,
                *why,
            ),
        )

    if response is Response.TOO_EARLY:
        return Decision(
            Proposal.CONTINUE,
            response,
            (
                f"{p.sessions_done} of {p.sessions_planned} planned sessions done; reassess "
                f"at the first follow-up from week {MIN_RESPONSE_WEEKS}.",
                *reasons,
                *why,
            ),
        )
    if response is Response.NOT_ASSESSED:
        raise DecisionInputError(
            "density_change_pct",
            "course complete, but no change from baseline can be measured: density and "
            "diameter are compared only with a baseline measured the same way (by hand or by "
            "image analysis), and the global assessment needs a baseline too. Record one "
            "that matches the baseline to decide",
        )
    if not p.repeated_sessions:
        return _not_in_sessions(response, why, reasons)
    extra_used = p.sessions_done - p.sessions_planned
    extra_left = t.max_extra_sessions - extra_used
    if response is Response.RESPONDER:
        return Decision(
            Proposal.MAINTENANCE,
            response,
            (
                *why,
                f"Move to maintenance every {t.maintenance_interval_months} months.",
                *reasons,
            ),
            maintenance_interval_months=t.maintenance_interval_months,
        )
    if response is Response.PARTIAL:
        if extra_left > 0:
            return Decision(
                Proposal.ADD_SESSIONS,
                response,
                (*why, f"Add up to {extra_left} session(s) and reassess.", *reasons),
                extra_sessions=extra_left,
            )
        return Decision(
            Proposal.SWITCH_OR_COMBINE,
            response,
            (
                *why,
                f"Still partial after {extra_used} extra session(s): switch or combine modality.",
                *reasons,
            ),
        )
    if extra_used > 0:
        return Decision(
            Proposal.STOP_NON_RESPONSE,
            response,
            (*why, f"No response after an extended course ({p.sessions_done} sessions).", *reasons),
        )
    return Decision(
        Proposal.SWITCH_OR_COMBINE,
        response,
        (*why, "No response after the planned course: switch or combine modality.", *reasons),
    )


def _not_in_sessions(response: Response, why: list[str], reasons: list[str]) -> Decision:
    """The proposal for a treatment not given in repeated sessions (daily minoxidil, a
    transplant): keep it while it works, otherwise switch or combine."""
    if response is Response.RESPONDER:
        return Decision(
            Proposal.CONTINUE,
            response,
            (*why, "Continue the treatment and reassess at the next follow-up.", *reasons),
        )
    words = "Partial response" if response is Response.PARTIAL else "No response"
    return Decision(
        Proposal.SWITCH_OR_COMBINE,
        response,
        (*why, f"{words}: consider switching or combining modality.", *reasons),
    )
