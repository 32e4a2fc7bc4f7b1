"""Treatment protocol templates (data) and plan proposals (pure).

Templates follow REFERENCE.md A.3.2 (PRP) and A.3.3 (exosome / conditioned medium). A
clinic may copy a template and change it; the defaults here are the starting point.
:func:`propose_plans` suggests plans for a diagnosis and stage and applies the screening
result: a plan containing a BLOCKed modality is left out (or returned marked ``blocked``
when asked), WARN and REFER findings travel with the plan as flags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from anagen.assessment import scales
from anagen.assessment.coding import DIAGNOSES, FEMALE_PATTERN
from anagen.assessment.labels import modality_label
from anagen.assessment.screening import Outcome, ScreeningResult
from anagen.core.text import ascii_digits

# The limits of one course, shared by plans, protocol templates and the follow-up schedule
# (monitoring.schedule), so that a plan never fills the schedule form with values it refuses.
# Far above any published regimen (REFERENCE.md A.3: 3–6 sessions, 2–12 weeks apart).
COURSE_MAX_SESSIONS = 24
COURSE_INTERVAL_WEEKS = (0.5, 52.0)

# Shown with every exosome proposal. Facts from REFERENCE.md A.6.3 [C].
INVESTIGATIONAL_NOTICE = (
    "Investigational — not approved. There are no FDA-approved exosome products (FDA Public "
    "Safety Notification, 6 Dec 2019); exosome products used to treat disease are regulated "
    "as drugs/biologics and need premarket approval. In the EU/UK therapeutic extracellular "
    "vesicles are medicinal products. Evidence for hair loss is limited and of low certainty. "
    "Use only within a clinical trial or the legal framework that applies where you practise, "
    "with specific informed consent."
)


@dataclass(frozen=True)
class ProtocolTemplate:
    key: str
    title: str
    modality: str  # one of screening.MODALITIES
    sessions_min: int | None  # None for continuous daily therapy
    sessions_max: int | None
    interval_weeks_min: float | None
    interval_weeks_max: float | None
    maintenance_interval_months: int | None
    schedule: str  # plain words for the plan and the consent form
    volume_ml_per_session: tuple[float, float] | None = None
    max_volume_ml_per_session: float | None = None  # used by scalp_zones.check_limits
    dose_ml_per_cm2: tuple[float, float] | None = None
    needle_gauge: int | None = None
    depth_mm: tuple[float, float] | None = None
    point_spacing_cm: float | None = None
    response_review_weeks: int | None = None
    investigational: bool = False
    source: str = ""


TEMPLATES: dict[str, ProtocolTemplate] = {
    t.key: t
    for t in (
        ProtocolTemplate(
            key="exosome_standard",
            title="Exosome / EV injections",
            modality="exosome",
            sessions_min=3,
            sessions_max=4,
            interval_weeks_min=2,
            interval_weeks_max=4,
            maintenance_interval_months=None,  # no published maintenance schedule
            schedule="3–4 sessions every 2–4 weeks (configurable; there is no standard regimen)",
            needle_gauge=30,
            point_spacing_cm=1.0,
            response_review_weeks=12,
            investigational=True,
            source="No standard regimen; published regimens every 2–5 weeks (NCT05658094, "
            "Fukuoka 2015) [C]; configurable default 3–4 sessions every 2–4 weeks; "
            "30 G, 1 cm apart from NCT05296863; review at week 12 (exosome trials 4/12/24 weeks)",
        ),
        ProtocolTemplate(
            key="prp_standard",
            title="Platelet-rich plasma injections",
            modality="prp",
            sessions_min=3,
            sessions_max=3,
            interval_weeks_min=4,
            interval_weeks_max=4,
            maintenance_interval_months=6,
            schedule="3 monthly sessions, then maintenance every 6 months",
            volume_ml_per_session=(5.0, 7.0),
            max_volume_ml_per_session=7.0,
            dose_ml_per_cm2=(0.05, 0.1),
            needle_gauge=30,
            depth_mm=(2.0, 4.0),
            point_spacing_cm=1.0,
            response_review_weeks=12,  # +3 months after the last session (A.2)
            source="Consensus-style summary, primary source not identified [?]: double spin, "
            "1–1.5×10⁶ platelets/µL, not activated, 5–7 mL at 0.05–0.1 mL/cm², "
            "30 G, 2–4 mm, 1 cm apart",
        ),
        ProtocolTemplate(
            key="minoxidil_5",
            title="Topical minoxidil 5 %",
            modality="minoxidil",
            sessions_min=None,
            sessions_max=None,
            interval_weeks_min=None,
            interval_weeks_max=None,
            maintenance_interval_months=None,
            schedule="Topical minoxidil 5 % daily, continuing; benefit is lost when stopped",
            response_review_weeks=16,
            source="Olsen 2002 JAAD 47:377 (5 % solution, 48 weeks) and Olsen 2007 (5 % foam, "
            "16 weeks) [C]; with PRP per the consensus-style PRP default [?]",
        ),
        ProtocolTemplate(
            key="transplant_consult",
            title="Hair-transplant surgical consultation",
            modality="transplant",
            sessions_min=1,
            sessions_max=1,
            interval_weeks_min=None,
            interval_weeks_max=None,
            maintenance_interval_months=None,
            schedule="Surgical consultation: donor assessment and planning",
            source="Clinical practice; FUE graft survival 93.5–96.6 % (FUE megasession, JCD "
            "2019 [C])",
        ),
    )
}


@dataclass(frozen=True)
class PlanProposal:
    key: str
    title: str
    modalities: tuple[str, ...]
    templates: tuple[ProtocolTemplate, ...]
    reasons: tuple[str, ...]  # why this plan is proposed
    flags: tuple[str, ...] = ()  # what the clinician must weigh (screening WARN/REFER, stage)
    screening_outcome: Outcome | None = None  # worst over the plan's modalities; None = unscreened
    blocked: bool = False
    notices: tuple[str, ...] = ()  # texts that must be shown verbatim (investigational)


# Trial inclusion ranges for the exosome evidence (REFERENCE.md A.1.6, NCT05658094 [C]).
EXOSOME_TRIAL_NORWOOD = (3, 4)  # Norwood–Hamilton III–IV
EXOSOME_TRIAL_LUDWIG = ("I", "II")
# BASP M2–3, C2–3 or U1–3, or any specific type F/V1–3 (same trial).
EXOSOME_TRIAL_BASP_BASIC = ("M2", "M3", "C2", "C3", "U1", "U2", "U3")
_ADVANCED_NORWOOD = 5  # V and beyond: large bald areas; medical therapy mostly maintains


@dataclass(frozen=True)
class _Stage:
    scale: str | None  # norwood | ludwig | sinclair | basp | salt | other | None
    value: str | None
    rank: int | None  # 1 = earliest; comparable within a scale only


# A stage may name its scale ("Ludwig II", "NH IIIv"); the name must agree with how the
# grade is read for this diagnosis (a female-pattern "III" is Ludwig).
# "Norwood–Hamilton" is how the pages name the scale, so it is read as typed or pasted.
_SCALE_PREFIX = re.compile(
    r"^(ludwig|sinclair|norwood(?:[\s–-]*hamilton)?|nh|basp)\b[\s:.-]*(\S.*)$", re.IGNORECASE
)


def interval_warnings(snapshots: list[dict[str, Any]], interval_weeks: float | None) -> list[str]:
    """Why a plan's weeks between sessions lie outside a protocol template's range (empty
    when inside, or none is set): e.g. PRP every week, where the template gives 4 weeks
    (REFERENCE.md §3.2, 3 monthly sessions; §3.3, exosome every 2–4 weeks). The plan takes it
    once the clinician confirms, as a session outside the course is recorded once confirmed."""
    if interval_weeks is None:
        return []
    out = []
    for p in snapshots:
        lo, hi = p.get("interval_weeks_min"), p.get("interval_weeks_max")
        if lo is None and hi is None:
            continue
        if (lo is not None and interval_weeks < lo) or (hi is not None and interval_weeks > hi):
            if lo is not None and hi is not None:
                span = f"{lo:g} weeks" if lo == hi else f"{lo:g}–{hi:g} weeks"
            else:
                span = f"at least {lo:g} weeks" if lo is not None else f"at most {hi:g} weeks"
            out.append(
                f"Sessions every {interval_weeks:g} week{'' if interval_weeks == 1 else 's'}: "
                f"outside the {span} between sessions of the protocol "
                f"{p.get('title') or p.get('key', '')}."
            )
    return out


def reads_female_scales(sex: str, female_pattern: bool | None) -> bool:
    """Whether a bare grade ("II", "3") is read on Ludwig/Sinclair before Norwood.

    ``female_pattern`` says which pattern was diagnosed (female-pattern AGA, whatever the
    sex on the record: a man whose exam confirmed a female-type pattern is staged on
    Ludwig/Sinclair, a woman with male-pattern loss on Norwood). ``None`` (pattern not
    known to the caller) falls back to the sex: female scales first for women only.
    """
    return sex == "female" if female_pattern is None else bool(female_pattern)


def _parse_stage(
    stage: str | None, sex: str, group: str, female_pattern: bool | None = None
) -> _Stage:
    if stage is None or not str(stage).strip():
        return _Stage(None, None, None)
    text = str(stage).strip()
    if group == "aa":
        return _salt_band(text)
    if group == "te":
        # REFERENCE A.1.5 gives tests (pull test, trichogram, wash test), no staging scale;
        # acute vs chronic is the diagnosis itself.
        raise scales.ScaleError(
            "stage",
            f"telogen effluvium has no stage ({text!r} given); leave it blank and record "
            "acute or chronic as the diagnosis, the pull test on the scalp exam",
        )
    if group != "aga":
        return _Stage("other", text, None)
    female = reads_female_scales(sex, female_pattern)
    named = _SCALE_PREFIX.match(text)
    if named:
        name = named[1].lower()
        scale = "norwood" if name == "nh" or name.startswith("norwood") else name
        parsed = _parse_stage(named[2], sex, group, female_pattern)
        if parsed.scale != scale:
            raise scales.ScaleError(
                "stage", f"{named[2]!r} is read as a {_SCALE_NAMES[parsed.scale or '']} stage "
                f"for this {'female' if female else 'male'}-pattern diagnosis, not {named[1]}"
            )  # fmt: skip
        return parsed
    # Female scales first for a female pattern (Ludwig "I"–"III" would otherwise read as
    # Norwood). The pattern was diagnosed, so a male record does not refuse them here.
    if female:
        if text.upper() in scales.LUDWIG:
            code = scales.ludwig(text, sex=sex, allow_in_male=True)
            return _Stage("ludwig", code, list(scales.LUDWIG).index(code) + 1)
        if ascii_digits(text):
            grade = scales.sinclair(int(text), sex=sex, allow_in_male=True)
            return _Stage("sinclair", str(grade), grade)
    try:
        code = scales.norwood_hamilton(text)
        return _Stage("norwood", code, scales.NORWOOD_ORDER[code])
    except scales.ScaleError:
        pass
    try:
        return _Stage("basp", scales.parse_basp(text).final, None)
    except scales.ScaleError:
        pass
    if not female and ascii_digits(text) and 1 <= int(text) <= 5:
        raise scales.ScaleError(
            "stage",
            f"{text!r} is a Sinclair grade, which grades female-pattern loss; give a Norwood "
            "stage or BASP type, or diagnose female-pattern androgenetic alopecia (on a male "
            "record once the scalp exam confirms a female-type pattern)",
        )
    raise scales.ScaleError(
        "stage",
        f"{stage!r} is not a Norwood, Ludwig, Sinclair or BASP stage; give the grade, "
        "alone or after its scale's name (e.g. IIIv, Ludwig II, Sinclair 3, M2V1)",
    )


_SCALE_NAMES = {
    "norwood": "Norwood",
    "ludwig": "Ludwig",
    "sinclair": "Sinclair",
    "basp": "BASP",
    "": "known",
}
# SALT S bands (REFERENCE A.1.4 [C]): S0 = 0, S1 = 1–24, S2 = 25–49, S3 = 50–74, S4 = 75–99,
# S5 = 100 % scalp hair loss. S4a/S4b and the B (body) modifiers are not confirmed: refused.
_SALT_BANDS = ("S0", "S1", "S2", "S3", "S4", "S5")


def _salt_band(text: str) -> _Stage:
    code = re.sub(r"^salt\b[\s:.-]*", "", text, flags=re.IGNORECASE).strip().upper()
    if code not in _SALT_BANDS:
        raise scales.ScaleError(
            "stage",
            f"{text!r} is not a SALT band; alopecia areata is staged S0–S5 (S1 = 1–24 % loss, "
            "S5 = 100 %) or left blank with the SALT score on the scalp exam",
        )
    return _Stage("salt", code, _SALT_BANDS.index(code))


def _screening(
    modalities: tuple[str, ...], result: ScreeningResult | None
) -> tuple[Outcome | None, bool, list[str]]:
    if result is None:
        return None, False, ["Screening not done: complete contraindication screening first."]
    flags: list[str] = []
    worst = Outcome.OK
    for m in modalities:
        mod = result.modalities.get(m)
        if mod is None:
            flags.append(f"{modality_label(m)}: not screened; screen before treatment.")
            continue
        if mod.outcome.severity > worst.severity:
            worst = mod.outcome
        for f in mod.findings:
            # The rule id stays so the finding can be traced to the clinic's rule list.
            flags.append(f"{modality_label(m)}: {f.outcome} — {f.reason} (rule {f.rule_id})")
    return worst, worst is Outcome.BLOCK, flags


def _make(
    key: str,
    title: str,
    template_keys: tuple[str, ...],
    reasons: list[str],
    stage_flags: list[str],
    result: ScreeningResult | None,
) -> PlanProposal:
    templates = tuple(TEMPLATES[k] for k in template_keys)
    modalities = tuple(t.modality for t in templates)
    worst, blocked, flags = _screening(modalities, result)
    notices = (INVESTIGATIONAL_NOTICE,) if any(t.investigational for t in templates) else ()
    return PlanProposal(
        key=key,
        title=title,
        modalities=modalities,
        templates=templates,
        reasons=tuple(reasons),
        flags=tuple(stage_flags + flags),
        screening_outcome=worst,
        blocked=blocked,
        notices=notices,
    )


def stage_code(
    diagnosis: str, stage: str | None, sex: str, *, female_pattern: bool | None = None
) -> str:
    """The stage as stored: the scale's own code ("Ludwig II" -> "II"), so one stage is one
    value in lists and filters; ScaleError when it is not a stage of that diagnosis.

    ``female_pattern`` as in :func:`reads_female_scales`; pass the same value when the
    stored code is read back (:func:`propose_plans`), so "II" means the same scale."""
    if diagnosis not in DIAGNOSES:
        raise scales.ScaleError("diagnosis", f"unknown diagnosis {diagnosis!r}")
    return _parse_stage(stage, sex, DIAGNOSES[diagnosis].group, female_pattern).value or ""


def stage_scale(
    diagnosis: str, stage: str | None, sex: str, *, female_pattern: bool | None = None
) -> str | None:
    """The scale a stage is read on for this diagnosis ("norwood", "ludwig", "sinclair",
    "basp", "salt", "other"; None without a stage), read as :func:`stage_code` reads it."""
    if diagnosis not in DIAGNOSES:
        raise scales.ScaleError("diagnosis", f"unknown diagnosis {diagnosis!r}")
    return _parse_stage(stage, sex, DIAGNOSES[diagnosis].group, female_pattern).scale


# How a diagnosis's stage is named, by the scale stage_scale reads it on.
STAGE_SCALE_NAMES = {
    "norwood": "Norwood–Hamilton",
    "ludwig": "Ludwig",
    "sinclair": "Sinclair",
    "basp": "BASP",
    "salt": "SALT",
}


def scale_sex(sex_at_birth: str) -> str:
    """A patient's recorded sex at birth in the vocabulary of ``scales``/``screening``."""
    return {"male": "male", "female": "female", "intersex": "other"}.get(sex_at_birth, "unknown")


def named_stage(diagnosis: str, stage: str, sex_at_birth: str) -> str:
    """A diagnosis's stage after its scale's name ("Ludwig III", "Norwood–Hamilton III"):
    a bare "III" is the mildest recession on one scale and the widest female loss on the
    other, so lists, filters and exports that pool bare stages pool both (reviews). A stage
    no rule reads (stored before a rule changed) comes back as stored."""
    if not stage:
        return ""
    try:
        scale = stage_scale(
            diagnosis, stage, scale_sex(sex_at_birth), female_pattern=diagnosis in FEMALE_PATTERN
        )
    except scales.ScaleError:
        return stage
    name = STAGE_SCALE_NAMES.get(scale or "", "")
    return f"{name} {stage}" if name else stage


def propose_plans(
    diagnosis: str,
    stage: str | None,
    sex: str,
    screening_result: ScreeningResult | None,
    *,
    include_blocked: bool = False,
    female_pattern: bool | None = None,
) -> list[PlanProposal]:
    """Proposed plans for a diagnosis (key from ``coding.DIAGNOSES``) and stage.

    ``stage`` is a Norwood–Hamilton code, a Ludwig or Sinclair grade, or a BASP type, or
    None; a bare grade ("II", "3") is read on Ludwig/Sinclair first when ``female_pattern``
    (see :func:`reads_female_scales`; by default for women only). Plans with a BLOCKed
    modality are left out unless ``include_blocked`` (then they come back with
    ``blocked=True`` and the blocking reasons in ``flags``). A proposal is a suggestion for
    the clinician, never an order.
    """
    if diagnosis not in DIAGNOSES:
        raise scales.ScaleError("diagnosis", f"unknown diagnosis {diagnosis!r}")
    if sex not in scales.SEXES:
        raise scales.ScaleError("sex", f"unknown sex {sex!r}")
    group = DIAGNOSES[diagnosis].group
    # Only AGA plans depend on the stage. AA and TE stages are validated when recorded
    # (stage_code); a free-text stage stored before that check must not break proposals.
    st = (
        _parse_stage(stage, sex, group, female_pattern)
        if group == "aga"
        else _Stage(None, None, None)
    )
    plans: list[PlanProposal] = []

    if group == "aga":
        stage_flags: list[str] = []
        if st.scale is None:
            stage_flags.append("Stage not recorded; record Norwood/Ludwig/BASP before treating.")
        plans.append(
            _make(
                "minoxidil",
                "Topical minoxidil 5 %",
                ("minoxidil_5",),
                ["First-line medical therapy for androgenetic alopecia (Olsen 2002/2007)."],
                stage_flags,
                screening_result,
            )
        )
        if sex == "male":
            plans.append(
                PlanProposal(
                    key="finasteride",
                    title="Oral finasteride 1 mg daily (prescribed; men)",
                    modalities=(),
                    templates=(),
                    reasons=(
                        "The other approved first-line medical therapy for male pattern hair "
                        "loss: +107 hairs per 5.1 cm² at 1 year against placebo (Kaufman 1998, "
                        "1,553 men); alone or with any plan here.",
                        "A prescription medicine: the prescriber checks its contraindications "
                        "and discusses its side effects from the product's label. Record it in "
                        "the medical history as a current medication, so that screening and "
                        "the outcome analyses know of it; a patient already taking finasteride "
                        "or dutasteride continues it.",
                    ),
                )
            )
        prp_combo = _make(
            "prp_minoxidil",
            "PRP (3 monthly sessions, maintenance every 6 months) plus minoxidil 5 %",
            ("prp_standard", "minoxidil_5"),
            ["PRP default protocol includes topical minoxidil 5 % (consensus-style default).",
             "PRP meta-analysis: +27.55 hairs/cm², low certainty (Kieling 2024)."],
            stage_flags,
            screening_result,
        )  # fmt: skip
        plans.append(prp_combo)
        minox_blocked = (
            screening_result is not None
            and "minoxidil" in screening_result.modalities
            and screening_result.outcome("minoxidil") is Outcome.BLOCK
        )
        if minox_blocked:
            # Minoxidil alone is blocked (e.g. allergy): offer PRP without it.
            plans.append(
                _make(
                    "prp",
                    "PRP alone (minoxidil not possible)",
                    ("prp_standard",),
                    ["Minoxidil is blocked by screening, so PRP is proposed without it."],
                    stage_flags,
                    screening_result,
                )
            )
        exo_flags = list(stage_flags)
        if st.scale == "norwood" and not (
            EXOSOME_TRIAL_NORWOOD[0] <= (st.rank or 0) <= EXOSOME_TRIAL_NORWOOD[1]
        ):
            exo_flags.append(
                f"Norwood {st.value} is outside the III–IV range studied (NCT05658094)."
            )
        if st.scale == "ludwig" and st.value not in EXOSOME_TRIAL_LUDWIG:
            exo_flags.append(f"Ludwig {st.value} is outside the I–II range studied (NCT05658094).")
        if st.scale == "sinclair":
            # The trial enrolled women by Ludwig I–II (REFERENCE.md §1.6), not on the Sinclair
            # scale, and REFERENCE gives no Sinclair–Ludwig correspondence: whether a Sinclair
            # grade lies in the range studied is unknown, so it is flagged as one outside is.
            exo_flags.append(
                f"Sinclair {st.value} is not on the scale NCT05658094 enrolled by (Ludwig I–II): "
                "whether it is in the range studied is not known; grade on Ludwig to compare."
            )
        if st.scale == "basp" and st.value:
            basp = scales.parse_basp(st.value)
            if basp.basic not in EXOSOME_TRIAL_BASP_BASIC and not (basp.f or basp.v):
                exo_flags.append(
                    f"BASP {st.value} is outside the range studied (M2–3, C2–3, U1–3 or "
                    "F/V1–3; NCT05658094)."
                )
        plans.append(
            _make(
                "exosome",
                "Exosome / EV injections (investigational)",
                ("exosome_standard",),
                ["Investigational option; small studies report density gains, "
                 "low-certainty evidence."],
                exo_flags,
                screening_result,
            )
        )  # fmt: skip
        advanced = (
            (st.scale == "norwood" and (st.rank or 0) >= _ADVANCED_NORWOOD)
            or (st.scale == "ludwig" and st.value == "III")
            or (st.scale == "sinclair" and (st.rank or 0) >= 4)
        )
        if advanced:
            named = f"{_SCALE_NAMES[st.scale or '']} {st.value}"
            plans.append(
                _make(
                    "transplant",
                    "Hair-transplant consultation",
                    ("transplant_consult",),
                    [f"Advanced stage ({named}): medical and injection therapy "
                     "mainly preserve hair; surgery may restore coverage if the donor area "
                     "allows."],
                    [],
                    screening_result,
                )
            )  # fmt: skip
    elif diagnosis == "te_chronic":
        plans.append(
            _make(
                "minoxidil",
                "Topical minoxidil 5 % and work-up of causes",
                ("minoxidil_5",),
                ["Chronic telogen effluvium (>6 months): look for a persisting trigger "
                 "(iron, thyroid, drugs, diet) and consider minoxidil."],
                [],
                screening_result,
            )
        )  # fmt: skip
    elif diagnosis == "te_acute":
        plans.append(
            PlanProposal(
                key="observe",
                title="Identify and remove the trigger; review in 3 months",
                modalities=(),
                templates=(),
                reasons=(
                    "Acute telogen effluvium usually recovers once the trigger is removed; "
                    "injection therapy is not indicated.",
                ),
            )
        )
    else:
        reason = (
            "Alopecia areata is autoimmune; the regenerative protocols here are designed for "
            "androgenetic alopecia. Refer for dermatological treatment (JAK-inhibitor trials "
            "enrol SALT ≥50)."
            if group == "aa"
            else "Diagnosis outside the protocols here; refer to a dermatologist."
        )
        plans.append(
            PlanProposal(
                key="refer_dermatology",
                title="Refer to dermatology",
                modalities=(),
                templates=(),
                reasons=(reason,),
            )
        )
    return [p for p in plans if include_blocked or not p.blocked]
