"""Contraindication screening engine (pure; no Django).

The rules are data (``screening_rules.yaml``, shipped as package data); this module only
knows how to evaluate the small condition language documented at the top of that file.
A clinic may override rules (change an outcome, disable a rule) with a recorded reason;
:func:`apply_overrides` turns the base ruleset plus overrides into the effective ruleset,
which the Django side stores and audits.

Per modality the result is the worst outcome of the rules that fired
(BLOCK > REFER > WARN > OK), and every finding is listed so the clinician sees all reasons.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import yaml

MODALITIES = ("exosome", "prp", "minoxidil", "transplant", "microneedling", "lllt")


class Outcome(StrEnum):
    OK = "OK"
    WARN = "WARN"
    REFER = "REFER"
    BLOCK = "BLOCK"

    @property
    def severity(self) -> int:
        # REFER ranks above WARN: it means "do not decide here", WARN means "decide with care".
        return _SEVERITY[self]


_SEVERITY = {Outcome.OK: 0, Outcome.WARN: 1, Outcome.REFER: 2, Outcome.BLOCK: 3}


class ScreeningInputError(ValueError):
    """Invalid medical-history input; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RulesetError(ValueError):
    """A malformed rule or override (bad YAML, unknown predicate, unknown rule id …)."""


# --- input vocabulary ----------------------------------------------------------------------

CONDITIONS = frozenset(
    {
        "sepsis",
        "acute_infection",
        "chronic_infection",
        "platelet_dysfunction",
        "thrombocytopenia",
        "hypofibrinogenemia",
        "liver_disease",
        "hemodynamic_instability",
        "systemic_disorder",  # uncontrolled systemic disease not listed elsewhere
        "immunodeficiency",  # immunosuppression by disease (drug-induced comes from medications)
        "cardiovascular_disease",
        "hypotension",
        "photosensitivity_disorder",  # includes photosensitising drugs
    }
)
SCALP_CONDITIONS = frozenset(
    {
        "active_infection",
        "open_wound",
        "active_dermatosis",
        "patchy_loss",
        "scalp_pain",
        "pus",
        "scarring",
    }
)
MEDICATION_CLASSES = frozenset(
    {
        "anticoagulant",
        "antiplatelet",  # aspirin included
        "nsaid",
        "immunosuppressant",
        "chemotherapy",
        "isotretinoin",
        "finasteride",
        "dutasteride",
        "minoxidil",
        "other",
    }
)
SEXES = frozenset({"male", "female", "other", "unknown"})
MALIGNANCY = frozenset({"none", "active", "past"})


@dataclass(frozen=True)
class Medication:
    drug_class: str
    name: str = ""
    start: date | None = None
    stop: date | None = None  # None = still taking

    def taken_within(self, on: date, days: int) -> bool:
        """Taken on ``on``, or stopped at most ``days`` days before it (a hold window)."""
        if self.start is not None and self.start > on:
            return False  # planned, not yet started
        if self.stop is None:
            return True
        return self.stop >= on - timedelta(days=days)


@dataclass(frozen=True)
class PriorTreatment:
    modality: str
    on: date


@dataclass(frozen=True)
class MedicalHistory:
    """Everything the screening rules look at. Collections may be given as lists."""

    age: int | None = None
    sex: str = "unknown"
    conditions: tuple[str, ...] = ()
    medications: tuple[Medication, ...] = ()
    allergies: tuple[str, ...] = ()  # substances, free text; matched case-insensitively
    pregnant: bool | None = None  # None = not recorded
    lactating: bool | None = None
    malignancy: str = "none"  # none | active | past
    autoimmune_disease: bool = False
    bleeding_disorder: bool = False
    platelet_count_10e9_per_l: float | None = None
    keloid: bool = False
    scalp_conditions: tuple[str, ...] = ()
    prior_treatments: tuple[PriorTreatment, ...] = ()

    def __post_init__(self) -> None:
        # Unknown codes are refused rather than ignored: an unrecognised condition could not
        # match any rule, so it would silently screen as OK.
        for name in ("conditions", "medications", "allergies", "scalp_conditions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "prior_treatments", tuple(self.prior_treatments))
        if self.age is not None and (
            isinstance(self.age, bool) or not isinstance(self.age, int) or not 0 <= self.age <= 130
        ):
            raise ScreeningInputError("age", f"must be a whole number 0–130, got {self.age!r}")
        if self.sex not in SEXES:
            raise ScreeningInputError("sex", f"unknown sex {self.sex!r}")
        for code in self.conditions:
            if code not in CONDITIONS:
                raise ScreeningInputError("conditions", f"unknown condition {code!r}")
        for code in self.scalp_conditions:
            if code not in SCALP_CONDITIONS:
                raise ScreeningInputError("scalp_conditions", f"unknown scalp condition {code!r}")
        for i, med in enumerate(self.medications):
            if not isinstance(med, Medication) or med.drug_class not in MEDICATION_CLASSES:
                shown = med.drug_class if isinstance(med, Medication) else med
                known = ", ".join(sorted(MEDICATION_CLASSES))
                raise ScreeningInputError(
                    f"medications[{i}]", f"unknown medication class {shown!r}; one of: {known}"
                )
            if med.start and med.stop and med.stop < med.start:
                raise ScreeningInputError(f"medications[{i}].stop", "stop date before start date")
        for i, prior in enumerate(self.prior_treatments):
            if not isinstance(prior, PriorTreatment):
                raise ScreeningInputError(f"prior_treatments[{i}]", "expected a prior treatment")
            if prior.modality not in MODALITIES:
                known = ", ".join(sorted(MODALITIES))
                raise ScreeningInputError(
                    f"prior_treatments[{i}].modality",
                    f"unknown treatment {prior.modality!r}; one of: {known}",
                )
        if self.malignancy not in MALIGNANCY:
            raise ScreeningInputError(
                "malignancy", f"expected none, active or past; got {self.malignancy!r}"
            )
        if self.platelet_count_10e9_per_l is not None and not (
            0 <= self.platelet_count_10e9_per_l <= 5000
        ):
            raise ScreeningInputError(
                "platelet_count_10e9_per_l",
                f"A platelet count of {self.platelet_count_10e9_per_l:g} × 10⁹/L is not "
                "possible: give a value from 0 to 5000 × 10⁹/L (a count per µL, such as "
                "250000, is 250 × 10⁹/L).",
            )
        if self.sex == "male" and (self.pregnant or self.lactating):
            raise ScreeningInputError(
                "pregnant",
                "Pregnancy or breastfeeding cannot apply to a patient whose sex at birth is "
                "recorded as male: leave it unanswered, or correct the patient's record.",
            )


# --- rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: str
    modality: str
    when: Mapping[str, Any]
    outcome: Outcome
    reason: str
    source: str
    locked: bool = False
    enabled: bool = True
    override_reason: str | None = None  # set when a clinic override changed this rule


@dataclass(frozen=True)
class Ruleset:
    version: str
    rules: tuple[Rule, ...]
    overrides: tuple[Override, ...] = ()

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    @property
    def effective_version(self) -> str:
        # Screening results store this, so a result can be traced to base rules + overrides.
        return self.version if not self.overrides else f"{self.version}+{len(self.overrides)}ov"


@dataclass(frozen=True)
class Override:
    """A clinic's change to one rule. ``action`` is "set_outcome" or "disable"."""

    rule_id: str
    action: str
    reason: str
    outcome: Outcome | None = None


_PREDICATES = {
    "scalp",
    "condition",
    "flag",
    "unknown",
    "malignancy",
    "medication",
    "platelets_below",
    "allergy",
    "allergy_to_product",
    "age_below",
    "age_above",
    "sex",
    "prior_treatment",
    "any",
    "all",
    "not",
}
_FLAGS = {"pregnant", "lactating", "autoimmune_disease", "bleeding_disorder", "keloid"}
_UNKNOWABLE = {"pregnant", "lactating", "age", "platelet_count_10e9_per_l"}


def _check_condition(cond: Any, rule_id: str) -> None:
    """Validate a condition tree at load time so that evaluation can never fail on it."""
    if not isinstance(cond, Mapping) or len(cond) != 1:
        raise RulesetError(f"{rule_id}: each condition must be a mapping with one key: {cond!r}")
    ((key, arg),) = cond.items()
    if key not in _PREDICATES:
        raise RulesetError(f"{rule_id}: unknown predicate {key!r}")
    if key in ("any", "all"):
        if not isinstance(arg, list) or not arg:
            raise RulesetError(f"{rule_id}: {key} needs a non-empty list")
        for sub in arg:
            _check_condition(sub, rule_id)
    elif key == "not":
        _check_condition(arg, rule_id)
    elif key == "scalp":
        _check_codes(arg, SCALP_CONDITIONS, rule_id, key)
    elif key == "condition":
        _check_codes(arg, CONDITIONS, rule_id, key)
    elif key == "sex":
        _check_codes(arg, SEXES, rule_id, key)
    elif key == "flag" and arg not in _FLAGS:
        raise RulesetError(f"{rule_id}: unknown flag {arg!r}")
    elif key == "unknown" and arg not in _UNKNOWABLE:
        raise RulesetError(f"{rule_id}: unknown field {arg!r}")
    elif key == "malignancy" and arg not in ("active", "past"):
        raise RulesetError(f"{rule_id}: malignancy must be active or past")
    elif key == "medication":
        if not isinstance(arg, Mapping) or set(arg) != {"classes", "within_days"}:
            raise RulesetError(f"{rule_id}: medication needs classes and within_days")
        _check_codes(arg["classes"], MEDICATION_CLASSES, rule_id, key)
        _check_number(arg["within_days"], rule_id, key)
    elif key == "prior_treatment":
        if not isinstance(arg, Mapping) or set(arg) != {"modalities", "within_days"}:
            raise RulesetError(f"{rule_id}: prior_treatment needs modalities and within_days")
        _check_codes(arg["modalities"], frozenset(MODALITIES), rule_id, key)
        _check_number(arg["within_days"], rule_id, key)
    elif key in ("platelets_below", "age_below", "age_above"):
        _check_number(arg, rule_id, key)
    elif key == "allergy":
        if not isinstance(arg, list) or not all(isinstance(a, str) and a for a in arg):
            raise RulesetError(f"{rule_id}: allergy needs a list of substances")
    elif key == "allergy_to_product" and arg is not True:
        raise RulesetError(f"{rule_id}: allergy_to_product must be true")


def _check_codes(arg: Any, allowed: frozenset[str], rule_id: str, key: str) -> None:
    if not isinstance(arg, list) or not arg or any(a not in allowed for a in arg):
        raise RulesetError(f"{rule_id}: {key} needs a list drawn from {sorted(allowed)}")


def _check_number(arg: Any, rule_id: str, key: str) -> None:
    if isinstance(arg, bool) or not isinstance(arg, int | float) or arg < 0:
        raise RulesetError(f"{rule_id}: {key} needs a non-negative number")


# British and international names of one substance (BAN → INN) and British spellings, so
# that "lignocaine" matches the lidocaine rule and "local anaesthetic" the anesthetic one.
_SAME_WORD = {
    "lignocaine": "lidocaine",
    "adrenaline": "epinephrine",
    "anaesthetic": "anesthetic",
    "anaesthesia": "anesthesia",
    "aluminium": "aluminum",
    "sulphate": "sulfate",
}


# Brand names of local anaesthetics used for scalp procedures, read as the substances they
# contain (the products' labels), so that an allergy to lidocaine stops "Xylocaine spray" and
# "EMLA cream" as it stops "lignocaine cream". A brand not listed here is not recognised.
_BRAND_SUBSTANCES = {
    "xylocaine": ("lidocaine",),
    "xylocain": ("lidocaine",),
    "lidoderm": ("lidocaine",),
    "lmx4": ("lidocaine",),
    "lmx5": ("lidocaine",),
    "emla": ("lidocaine", "prilocaine"),
    "pliaglis": ("lidocaine", "tetracaine"),
    "citanest": ("prilocaine",),
    "marcaine": ("bupivacaine",),
    "sensorcaine": ("bupivacaine",),
    "carbocaine": ("mepivacaine",),
    "polocaine": ("mepivacaine",),
    "naropin": ("ropivacaine",),
    "ametop": ("tetracaine",),
}


def _word(token: str) -> str:
    """One word as compared: accents folded ("lidocaïne"), a plural -s dropped
    ("anaesthetics"), and one spelling for a substance's names (:data:`_SAME_WORD`)."""
    bare = "".join(
        ch for ch in unicodedata.normalize("NFKD", token) if not unicodedata.combining(ch)
    )
    if len(bare) > 4 and bare.endswith("s") and not bare.endswith(("ss", "us", "is")):
        bare = bare[:-1]
    return _SAME_WORD.get(bare, bare)


def _words(text: str) -> frozenset[str]:
    """The word tokens of a substance name, case-folded: "Bovine serum albumin (BSA)" ->
    {bovine, serum, albumin, bsa}. Punctuation, hyphens and underscores separate words."""
    words = [_word(t) for t in re.findall(r"[^\W_]+", text.casefold())]
    return frozenset(w for word in words for w in _BRAND_SUBSTANCES.get(word, (word,)))


def substances_match(a: str, b: str) -> bool:
    """Whether two substance names name the same thing, on whole words: all the words of
    one appear in the other ("bovine serum albumin" and "Bovine serum albumin (BSA)";
    "lidocaine" and "lidocaine hydrochloride"), never a part of a word ("BSA" alone does not
    match "bovine serum albumin", nor "glycol" match "glycolic acid")."""
    wa, wb = _words(a), _words(b)
    return bool(wa) and bool(wb) and (wa <= wb or wb <= wa)


@dataclass(frozen=True)
class _Context:
    history: MedicalHistory
    on: date
    product_components: tuple[str, ...]


def _holds(cond: Mapping[str, Any], ctx: _Context) -> bool:
    ((key, arg),) = cond.items()
    h = ctx.history
    match key:
        case "any":
            return any(_holds(c, ctx) for c in arg)
        case "all":
            return all(_holds(c, ctx) for c in arg)
        case "not":
            return not _holds(arg, ctx)
        case "scalp":
            return bool(set(arg) & set(h.scalp_conditions))
        case "condition":
            return bool(set(arg) & set(h.conditions))
        case "flag":
            return getattr(h, arg) is True
        case "unknown":
            return getattr(h, arg) is None
        case "malignancy":
            return h.malignancy == arg
        case "medication":
            return any(
                m.drug_class in arg["classes"] and m.taken_within(ctx.on, int(arg["within_days"]))
                for m in h.medications
            )
        case "platelets_below":
            return h.platelet_count_10e9_per_l is not None and h.platelet_count_10e9_per_l < arg
        case "allergy":
            return any(substances_match(a, w) for a in h.allergies for w in arg)
        case "allergy_to_product":
            return any(substances_match(a, c) for a in h.allergies for c in ctx.product_components)
        case "age_below":
            return h.age is not None and h.age < arg
        case "age_above":
            return h.age is not None and h.age > arg
        case "sex":
            return h.sex in arg
        case "prior_treatment":
            since = ctx.on - timedelta(days=int(arg["within_days"]))
            return any(
                p.modality in arg["modalities"] and since <= p.on <= ctx.on
                for p in h.prior_treatments
            )
    raise RulesetError(f"unknown predicate {key!r}")  # unreachable after load-time checks


def condition_holds(
    rule: Rule, history: MedicalHistory, on: date, product_components: Iterable[str] = ()
) -> bool:
    """Whether ``rule``'s condition holds for ``history`` (ignores ``enabled``)."""
    ctx = _Context(history, on, tuple(product_components))
    return _holds(rule.when, ctx)


# --- loading and overrides -----------------------------------------------------------------


def parse_ruleset(data: Mapping[str, Any]) -> Ruleset:
    """Build and validate a :class:`Ruleset` from the YAML structure."""
    if not isinstance(data, Mapping) or "version" not in data or "rules" not in data:
        raise RulesetError("ruleset needs 'version' and 'rules'")
    rules: list[Rule] = []
    seen: set[str] = set()
    for raw in data["rules"]:
        rid = raw.get("id")
        if not rid or rid in seen:
            raise RulesetError(f"missing or duplicate rule id {rid!r}")
        seen.add(rid)
        missing = {"modality", "when", "outcome", "reason", "source"} - set(raw)
        if missing:
            raise RulesetError(f"{rid}: missing {sorted(missing)}")
        if raw["modality"] not in MODALITIES:
            raise RulesetError(f"{rid}: unknown modality {raw['modality']!r}")
        try:
            outcome = Outcome(raw["outcome"])
        except ValueError:
            raise RulesetError(f"{rid}: unknown outcome {raw['outcome']!r}") from None
        if outcome is Outcome.OK:
            raise RulesetError(f"{rid}: a rule cannot have outcome OK (disable it instead)")
        _check_condition(raw["when"], rid)
        rules.append(
            Rule(
                id=rid,
                modality=raw["modality"],
                when=raw["when"],
                outcome=outcome,
                reason=str(raw["reason"]).strip(),
                source=str(raw["source"]).strip(),
                locked=bool(raw.get("locked", False)),
            )
        )
    return Ruleset(version=str(data["version"]), rules=tuple(rules))


@functools.cache
def load_default_ruleset() -> Ruleset:
    """The shipped ruleset (``screening_rules.yaml``), parsed once per process.

    The returned object is shared: treat it as read-only (overrides build a new one).
    """
    text = (
        importlib.resources.files("anagen.assessment")
        .joinpath("screening_rules.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_ruleset(yaml.safe_load(text))


def locked_rule_ids(ruleset: Ruleset, rule_ids: Iterable[str]) -> list[str]:
    """The ``rule_ids`` that are locked in ``ruleset`` (unknown ids are not locked).

    A locked BLOCK guards against direct harm (infection, pregnancy, anaphylaxis, cancer),
    so neither a clinic override nor a clinician's per-patient override may lift it.
    """
    locked = {r.id for r in ruleset.rules if r.locked}
    return [rid for rid in rule_ids if rid in locked]


class OverrideError(RulesetError):
    """An override that is malformed or would weaken a locked rule."""


def apply_overrides(base: Ruleset, overrides: Sequence[Override]) -> Ruleset:
    """Effective ruleset = ``base`` with the clinic's ``overrides`` applied in order.

    Locked rules may be made stricter but not weaker or disabled. Every override needs a
    reason; the rule keeps it in ``override_reason`` so findings can show why it differs.
    """
    rules = {r.id: r for r in base.rules}
    for ov in overrides:
        if ov.rule_id not in rules:
            raise OverrideError(f"override for unknown rule {ov.rule_id!r}")
        if not ov.reason or not ov.reason.strip():
            raise OverrideError(f"override of {ov.rule_id} needs a reason")
        rule = rules[ov.rule_id]
        if ov.action == "disable":
            if rule.locked:
                raise OverrideError(f"{rule.id} is locked and cannot be disabled")
            rules[rule.id] = replace(rule, enabled=False, override_reason=ov.reason.strip())
        elif ov.action == "set_outcome":
            if ov.outcome not in ("WARN", "REFER", "BLOCK"):  # Outcome is a StrEnum
                raise OverrideError(
                    f"override of {rule.id}: set_outcome needs WARN, REFER or BLOCK "
                    "(use disable to switch a rule off)"
                )
            new = Outcome(ov.outcome)
            if rule.locked and new.severity < rule.outcome.severity:
                raise OverrideError(f"{rule.id} is locked and cannot be weakened to {new}")
            rules[rule.id] = replace(rule, outcome=new, override_reason=ov.reason.strip())
        else:
            raise OverrideError(f"unknown override action {ov.action!r}")
    return Ruleset(
        version=base.version,
        rules=tuple(rules[r.id] for r in base.rules),
        overrides=base.overrides + tuple(overrides),
    )


# --- screening -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    rule_id: str
    modality: str
    outcome: Outcome
    reason: str
    source: str
    override_reason: str | None = None


@dataclass(frozen=True)
class ModalityResult:
    modality: str
    outcome: Outcome
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class ScreeningResult:
    ruleset_version: str
    on: date
    modalities: dict[str, ModalityResult] = field(default_factory=dict)

    def outcome(self, modality: str) -> Outcome:
        return self.modalities[modality].outcome

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for storage with the consultation."""
        return {
            "ruleset_version": self.ruleset_version,
            "on": self.on.isoformat(),
            "modalities": {
                m: {
                    "outcome": str(r.outcome),
                    "findings": [
                        {
                            f.name: str(getattr(x, f.name))
                            if f.name == "outcome"
                            else getattr(x, f.name)
                            for f in fields(Finding)
                        }
                        for x in r.findings
                    ],
                }
                for m, r in self.modalities.items()
            },
        }


def screen(
    history: MedicalHistory,
    *,
    on: date,
    ruleset: Ruleset | None = None,
    modalities: Iterable[str] = MODALITIES,
    product_components: Iterable[str] = (),
) -> ScreeningResult:
    """Screen ``history`` on date ``on`` for each modality.

    ``product_components`` are the components of the product to be used (for the
    hypersensitivity rule); the date is explicit so the function is deterministic and
    medication hold windows are measured from the treatment date, not from "today".
    """
    rs = ruleset if ruleset is not None else load_default_ruleset()
    ctx = _Context(history, on, tuple(product_components))
    wanted = tuple(modalities)
    for m in wanted:
        if m not in MODALITIES:
            raise ScreeningInputError("modalities", f"unknown modality {m!r}")
    results: dict[str, ModalityResult] = {}
    for m in wanted:
        findings = tuple(
            Finding(r.id, r.modality, r.outcome, r.reason, r.source, r.override_reason)
            for r in rs.rules
            if r.modality == m and r.enabled and _holds(r.when, ctx)
        )
        worst = max((f.outcome for f in findings), key=lambda o: o.severity, default=Outcome.OK)
        # Worst first, so the first line shown is the one that decides.
        ordered = tuple(sorted(findings, key=lambda f: -f.outcome.severity))
        results[m] = ModalityResult(m, worst, ordered)
    return ScreeningResult(rs.effective_version, on, results)
