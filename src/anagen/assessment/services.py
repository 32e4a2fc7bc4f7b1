"""Writes of consultation data: validation, transactions and audit in one place.

Each function takes the acting user, validates its input with the pure modules
(``scales``, ``screening``, ``coding``, ``protocols``), and raises :class:`AssessmentError`
(field name -> messages) before anything is stored. History rows get the user and a
reason (django-simple-history). Views and the API call these; they hold no rules.

The pre-session checklist (treatments) calls :func:`has_valid_consent` and
:func:`screening_staleness`.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.assessment import coding, protocols, scales, screening
from anagen.assessment.labels import in_sentence
from anagen.assessment.models import (
    MODALITY_LABELS,
    Consent,
    ConsentForm,
    ConsentWithdrawal,
    Diagnosis,
    MedicalHistory,
    ProtocolTemplate,
    ScalpExam,
    Screening,
    ScreeningOverride,
    ScreeningRuleOverride,
    TreatmentPlan,
    patient_sex,
)
from anagen.core.checks import Refusal, hidden_text_problem
from anagen.core.history import save_with_history
from anagen.core.text import ascii_digits, long_date
from anagen.patients.models import Patient
from anagen.patients.services import lock_patient

MIN_REASON_CHARS = 10  # a written reason, not "ok"
# Medical-history answers older than this are not current enough to screen on.
MAX_HISTORY_AGE_DAYS = 365
# Free text (history notes, exam findings, diagnosis and plan notes): a long page at most, as
# elsewhere (treatments.MAX_TEXT). 50,000 characters of notes were stored and shown.
MAX_TEXT_CHARS = 5000
MAX_SIGNATURE_BYTES = 300_000
# A diagnosis's stage is stored as its scale's code (Diagnosis.stage); it may be typed after
# the scale's name, as the pages show it ("Norwood–Hamilton IIIv").
MAX_STAGE_CHARS = 10
MAX_STAGE_TYPED_CHARS = 30
MAX_SIGNATURE_SIDE_PX = 2000

# coding.py leaves code-system versions to the deployment (REFERENCE.md states none).
# WHO ICD-10 was last revised in 2019; SNOMED CT is recorded as the International Edition
# module URI. A deployment that licenses a national edition sets these two settings.
ICD10_VERSION = getattr(settings, "ANAGEN_ICD10_VERSION", "2019")
ICD11_VERSION = getattr(settings, "ANAGEN_ICD11_VERSION", "2025-01")
SNOMED_VERSION = getattr(
    settings, "ANAGEN_SNOMED_VERSION", "http://snomed.info/sct/900000000000207008"
)


class AssessmentError(Refusal):
    """A write was refused; ``errors`` maps field name -> list of messages."""


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _today() -> date:
    return timezone.localdate()


def _check_date(errors: dict[str, list[str]], field: str, value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            _add(errors, field, "Enter a real date as YYYY-MM-DD.")
            return None
    if not isinstance(value, date):
        _add(errors, field, "Enter a real date as YYYY-MM-DD.")
        return None
    if value > _today():
        _add(errors, field, "Cannot be in the future.")
        return None
    if value.year < 1900:
        _add(errors, field, "Check the year.")
        return None
    return value


def _no_hidden_characters(errors: dict[str, list[str]], field: str, text: str) -> str:
    """Text as the other apps take it (core.checks.read_text): line breaks and tabs kept, no
    NUL or other control characters and no bidirectional overrides (a right-to-left override
    shows a note's words in another order than they are stored)."""
    if problem := hidden_text_problem(text):
        _add(errors, field, problem)
    return text


def _text_limit(errors: dict[str, list[str]], field: str, text: str) -> str:
    """Free text (see :func:`_no_hidden_characters`) of at most a long page."""
    _no_hidden_characters(errors, field, text)
    if len(text) > MAX_TEXT_CHARS:
        _add(errors, field, f"At most {MAX_TEXT_CHARS} characters (this has {len(text)}).")
    return text


def _not_before_birth(
    errors: dict[str, list[str]], field: str, value: date | None, patient: Patient
) -> date | None:
    """``value`` unless it lies before the patient's birth (then an error names the date)."""
    born = patient.date_of_birth
    if value is not None and value < born:
        _add(
            errors,
            field,
            f"Before the patient's date of birth ({born.isoformat()}); check the date.",
        )
        return None
    return value


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# --- medical history -----------------------------------------------------------------------

# The answers of the questionnaire; each gets a date in MedicalHistory.answered_on.
ANSWER_FIELDS = (
    "conditions",
    "other_conditions",
    "medications",
    "allergies",
    "pregnant",
    "lactating",
    "malignancy",
    "malignancy_details",
    "autoimmune_disease",
    "bleeding_disorder",
    "platelet_count_10e9_per_l",
    "keloid",
    "scalp_conditions",
    "prior_treatments",
    "notes",
)
_LIST_FIELDS = ("conditions", "allergies", "scalp_conditions", "medications", "prior_treatments")
_TEXT_FIELDS = ("other_conditions", "malignancy_details", "notes")
_BOOL_FIELDS = ("autoimmune_disease", "bleeding_disorder", "keloid")


def _after_answers(day: date, answered: date) -> str:
    return (
        f"{day.isoformat()} is after the day these answers were given "
        f"({answered.isoformat()}): record the answers as of {day.isoformat()} or later."
    )


def _clean_history(patient: Patient, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(ANSWER_FIELDS) - {"recorded_on"}
    if unknown:
        _add(errors, "__all__", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    clean: dict[str, Any] = {}
    for f in _LIST_FIELDS:
        value = data.get(f) or []
        if not isinstance(value, list | tuple):
            _add(errors, f, "Must be a list.")
            value = []
        clean[f] = list(value)
    for f in ("conditions", "scalp_conditions"):
        # A code given twice is one answer (["sepsis", "sepsis"] was stored as given).
        clean[f] = list(dict.fromkeys(c for c in clean[f] if isinstance(c, str))) + [
            c for c in clean[f] if not isinstance(c, str)
        ]
    for f in _TEXT_FIELDS:
        value = data.get(f) or ""
        clean[f] = _text_limit(errors, f, value.strip() if isinstance(value, str) else str(value))
    for f in _BOOL_FIELDS:
        clean[f] = bool(data.get(f, False))
    for f in ("pregnant", "lactating"):
        value = data.get(f)
        clean[f] = None if value is None else bool(value)
    clean["malignancy"] = data.get("malignancy") or "none"
    platelets = data.get("platelet_count_10e9_per_l")
    if platelets is not None and (
        isinstance(platelets, bool)
        or not isinstance(platelets, int | float)
        or not math.isfinite(platelets)
    ):
        _add(errors, "platelet_count_10e9_per_l", "Must be a number.")
        platelets = None
    clean["platelet_count_10e9_per_l"] = platelets
    clean["recorded_on"] = _check_date(errors, "recorded_on", data.get("recorded_on") or _today())
    # Else the screening engine refuses the negative age under its own field name, "age".
    clean["recorded_on"] = _not_before_birth(errors, "recorded_on", clean["recorded_on"], patient)
    if clean["recorded_on"] is not None and clean["recorded_on"] < _today() - timedelta(
        days=MAX_HISTORY_AGE_DAYS
    ):
        # A history is screened on the day its answers were given: answers typed with a year
        # of 1990 screened a 41-year-old as a minor and blocked the treatment.
        _add(
            errors,
            "recorded_on",
            f"{clean['recorded_on'].isoformat()} is more than a year ago: answers that old "
            "cannot screen the patient for treatment now. Check the date, or ask again and "
            "record today's answers.",
        )
        clean["recorded_on"] = None

    allergies = []
    for a in clean["allergies"]:
        if not isinstance(a, str) or not a.strip() or len(a) > 200:
            _add(errors, "allergies", "Each allergy is a substance name (at most 200 characters).")
            break
        allergies.append(_no_hidden_characters(errors, "allergies", a.strip()))
    clean["allergies"] = allergies

    meds = []
    for i, m in enumerate(clean["medications"]):
        if not isinstance(m, dict):
            _add(errors, "medications", f"Medication {i + 1}: expected an object.")
            continue
        start = _not_before_birth(
            errors,
            f"medications[{i}].start",
            _check_date(errors, f"medications[{i}].start", m.get("start")),
            patient,
        )
        stop = _check_date(errors, f"medications[{i}].stop", m.get("stop"))
        name = m.get("name") or ""
        if not isinstance(name, str) or len(name) > 200:
            _add(errors, f"medications[{i}].name", "At most 200 characters.")
            name = ""
        _no_hidden_characters(errors, f"medications[{i}].name", name)
        meds.append(
            {
                "drug_class": m.get("drug_class"),
                "name": name.strip(),
                "start": start.isoformat() if start else None,
                "stop": stop.isoformat() if stop else None,
            }
        )
    clean["medications"] = meds

    priors = []
    for i, p in enumerate(clean["prior_treatments"]):
        if not isinstance(p, dict):
            _add(errors, "prior_treatments", f"Treatment {i + 1}: expected an object.")
            continue
        on = _not_before_birth(
            errors,
            f"prior_treatments[{i}].on",
            _check_date(errors, f"prior_treatments[{i}].on", p.get("on")),
            patient,
        )
        if on is None and f"prior_treatments[{i}].on" not in errors:
            _add(errors, f"prior_treatments[{i}].on", "Give the date of the treatment.")
        notes = p.get("notes") or ""
        notes = notes.strip() if isinstance(notes, str) else ""
        priors.append(
            {
                "modality": p.get("modality"),
                "on": on.isoformat() if on else None,
                # Checked as the history's other notes are (they were stored unchecked).
                "notes": _text_limit(errors, f"prior_treatments[{i}].notes", notes),
            }
        )
    clean["prior_treatments"] = priors
    answered = clean["recorded_on"]
    if answered is not None:
        # Answers given on one day cannot know of a drug begun or a treatment had after it:
        # screened as of that day they were missed (a history dated June listing an
        # anticoagulant begun in November screened PRP as OK).
        for i, m in enumerate(meds):
            start = date.fromisoformat(m["start"]) if m["start"] else None
            if start is not None and start > answered:
                _add(errors, f"medications[{i}].start", _after_answers(start, answered))
        for i, p in enumerate(priors):
            on = date.fromisoformat(p["on"]) if p["on"] else None
            if on is not None and on > answered:
                _add(errors, f"prior_treatments[{i}].on", _after_answers(on, answered))
    if errors:
        raise AssessmentError(errors)
    # The engine knows the vocabulary (conditions, drug classes, modalities, sex vs
    # pregnancy): building its input is the validation, so the two cannot disagree.
    try:
        engine_history(clean, patient, clean["recorded_on"])
    except screening.ScreeningInputError as exc:
        field = exc.field.split("[")[0].split(".")[0]
        raise AssessmentError({field: [exc.message]}) from exc
    return clean


def engine_history(answers: dict[str, Any] | MedicalHistory, patient: Patient, on: date):
    """The screening engine's input for stored (or cleaned) answers, age taken on ``on``."""
    get = (
        answers.get
        if isinstance(answers, dict)
        else (lambda name, default=None: getattr(answers, name, default))
    )

    def d(v: str | None) -> date | None:
        return date.fromisoformat(v) if v else None

    return screening.MedicalHistory(
        age=age_on(patient.date_of_birth, on),
        sex=patient_sex(patient),
        conditions=tuple(get("conditions") or ()),
        medications=tuple(
            screening.Medication(m["drug_class"], m.get("name") or "", d(m["start"]), d(m["stop"]))
            for m in get("medications") or ()
        ),
        allergies=tuple(get("allergies") or ()),
        pregnant=get("pregnant"),
        lactating=get("lactating"),
        malignancy=get("malignancy") or "none",
        autoimmune_disease=bool(get("autoimmune_disease")),
        bleeding_disorder=bool(get("bleeding_disorder")),
        platelet_count_10e9_per_l=get("platelet_count_10e9_per_l"),
        keloid=bool(get("keloid")),
        scalp_conditions=tuple(get("scalp_conditions") or ()),
        prior_treatments=tuple(
            screening.PriorTreatment(p["modality"], date.fromisoformat(p["on"]))
            for p in get("prior_treatments") or ()
        ),
    )


def _refuse_voided(patient: Patient) -> None:
    """A voided patient (entered in error) takes no new clinical records."""
    if patient.is_voided:
        raise AssessmentError({"__all__": ["This record is voided."]})


def record_history(patient: Patient, user: User, data: dict[str, Any]) -> MedicalHistory:
    """Store a new version of the questionnaire and screen it at once.

    Screening runs in the same transaction so that the newest history always has a
    result: a plan can never be based on answers nobody screened.
    """
    _refuse_voided(patient)
    clean = _clean_history(patient, data)
    recorded_on = clean.pop("recorded_on")
    with transaction.atomic():
        previous = (
            MedicalHistory.objects.select_for_update().filter(patient=patient).order_by("-version")
        ).first()
        if previous is not None and recorded_on < previous.recorded_on:
            # The newest version is the current history: a back-dated one would replace
            # answers given later.
            raise AssessmentError(
                {
                    "recorded_on": [
                        f"Before the latest history (version {previous.version}, recorded "
                        f"{previous.recorded_on.isoformat()}); a new version is dated on or "
                        "after it."
                    ]
                }
            )
        answered_on = {}
        for f in ANSWER_FIELDS:
            if previous is not None and getattr(previous, f) == clean[f]:
                answered_on[f] = previous.answered_on.get(f, recorded_on.isoformat())
            else:
                answered_on[f] = recorded_on.isoformat()
        history = MedicalHistory(
            clinic=patient.clinic,
            patient=patient,
            version=(previous.version + 1) if previous else 1,
            recorded_on=recorded_on,
            recorded_by=user,
            answered_on=answered_on,
            **clean,
        )
        try:
            save_with_history(history, user, f"history v{history.version}")
        except IntegrityError as exc:  # two people saving the same version at once
            raise AssessmentError(
                {"__all__": ["Someone saved the history at the same time; reload and retry."]}
            ) from exc
        run_screening(patient, user, on=recorded_on)
    return history


# --- screening -----------------------------------------------------------------------------


def active_rule_overrides(clinic: Clinic) -> list[ScreeningRuleOverride]:
    return list(
        ScreeningRuleOverride.objects.filter(clinic=clinic, retired_at__isnull=True).order_by(
            "created_at", "id"
        )
    )


def effective_ruleset(clinic: Clinic) -> screening.Ruleset:
    """Shipped rules plus the clinic's active overrides, in the order they were made."""
    return screening.apply_overrides(
        screening.load_default_ruleset(), [o.as_override() for o in active_rule_overrides(clinic)]
    )


def run_screening(
    patient: Patient,
    user: User,
    *,
    on: date | None = None,
    product_components: list[str] | tuple[str, ...] = (),
) -> Screening:
    """Screen the latest medical history on ``on`` (today) with the clinic's rules."""
    _refuse_voided(patient)
    errors: dict[str, list[str]] = {}
    on = _check_date(errors, "on", on or _today())
    components = []
    for c in product_components:
        if not isinstance(c, str) or not c.strip() or len(c) > 200:
            _add(errors, "product_components", "Each component is a name (≤200 characters).")
            break
        components.append(c.strip())
    history = MedicalHistory.objects.filter(patient=patient).order_by("-version").first()
    if history is None:
        _add(errors, "__all__", "Record the medical history first.")
    if errors:
        raise AssessmentError(errors)
    assert history is not None and on is not None  # else an error was added above
    overrides = active_rule_overrides(patient.clinic)
    ruleset = screening.apply_overrides(
        screening.load_default_ruleset(), [o.as_override() for o in overrides]
    )
    try:
        engine_input = engine_history(history, patient, on)
    except screening.ScreeningInputError as exc:
        # The patient record changed after the answers (e.g. sex at birth set to male over a
        # history that records a pregnancy): the stored answers no longer fit the patient.
        raise AssessmentError(
            {
                "__all__": [
                    f"The latest medical history (version {history.version}) no longer fits "
                    f"the patient record: {exc.message}. Record a new history version, "
                    "then screen again."
                ]
            }
        ) from exc
    result = screening.screen(
        engine_input,
        on=on,
        ruleset=ruleset,
        product_components=components,
    )
    row = Screening(
        clinic=patient.clinic,
        patient=patient,
        medical_history=history,
        screened_on=on,
        ruleset_version=result.ruleset_version,
        rule_overrides=[
            {"rule_id": o.rule_id, "action": o.action, "outcome": o.outcome, "reason": o.reason}
            for o in overrides
        ],
        product_components=components,
        result=result.to_dict(),
        created_by=user,
    )
    save_with_history(
        row, user, f"screened history v{history.version} with rules {result.ruleset_version}"
    )
    return row


def locked_block_rules(screening_row: Screening, modality: str) -> list[str]:
    """The locked rules behind the screening's BLOCK of ``modality``: no override lifts them
    (the lock is the shipped rule's; a clinic cannot unlock it)."""
    blocking = [f["rule_id"] for f in screening_row.findings(modality) if f["outcome"] == "BLOCK"]
    return screening.locked_rule_ids(screening.load_default_ruleset(), blocking)


def standing_overrides(
    screening_row: Screening, overrides: Iterable[ScreeningOverride] | None = None
) -> dict[str, ScreeningOverride]:
    """The screening's BLOCK overrides that lift their BLOCK, by modality. An override stored
    before its rule was locked (an earlier release of the shipped rules) lifts nothing now:
    the lock forbids what one patient's override would do, whenever it was written.
    ``overrides``: the screening's overrides when the caller has already read them; else
    they are read, from the prefetch of selectors.latest_screening where it was used."""
    if overrides is None:
        overrides = screening_row.overrides.all()
    return {o.modality: o for o in overrides if not locked_block_rules(screening_row, o.modality)}


def override_block(
    screening_row: Screening, user: User, modality: str, reason: str
) -> ScreeningOverride:
    """A clinician lets plans with ``modality`` go ahead despite its BLOCK, with a reason."""
    _refuse_voided(screening_row.patient)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if modality not in screening.MODALITIES:
        _add(errors, "modality", f"Unknown modality {modality!r}.")
    elif screening_row.outcome(modality) != "BLOCK":
        what = in_sentence(MODALITY_LABELS.get(modality, modality))
        _add(errors, "modality", f"This screening does not BLOCK {what}.")
    elif locked := locked_block_rules(screening_row, modality):
        # The lock is what the clinic may not weaken; one patient's override would. (Asked
        # before "already overridden": an override written before the lock lifts nothing.)
        what = in_sentence(MODALITY_LABELS.get(modality, modality))
        _add(
            errors,
            "modality",
            f"The BLOCK of {what} comes from locked rule {', '.join(locked)}, which no "
            "override may lift: treat or rule out the cause, record the history again "
            "and screen again.",
        )
    elif ScreeningOverride.objects.filter(screening=screening_row, modality=modality).exists():
        what = in_sentence(MODALITY_LABELS.get(modality, modality))
        _add(errors, "modality", f"The BLOCK of {what} is already overridden.")
    if len(reason) < MIN_REASON_CHARS:
        _add(errors, "reason", f"Write the clinical reason (at least {MIN_REASON_CHARS} chars).")
    latest = Screening.objects.filter(patient=screening_row.patient).order_by("-created_at", "-id")
    if latest.first() != screening_row:
        _add(errors, "__all__", "Only the latest screening can be overridden.")
    if errors:
        raise AssessmentError(errors)
    rule_ids = [f["rule_id"] for f in screening_row.findings(modality) if f["outcome"] == "BLOCK"]
    row = ScreeningOverride(
        clinic=screening_row.clinic,
        screening=screening_row,
        modality=modality,
        rule_ids=rule_ids,
        reason=reason,
        overridden_by=user,
    )
    save_with_history(row, user, f"BLOCK override ({', '.join(rule_ids)}): {reason}")
    return row


def add_rule_override(
    clinic: Clinic, user: User, rule_id: str, action: str, outcome: str, reason: str
) -> ScreeningRuleOverride:
    """A clinic-wide change to one screening rule; refused if the engine refuses it."""
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    base = screening.load_default_ruleset()
    if rule_id not in {r.id for r in base.rules}:
        _add(errors, "rule_id", f"Unknown rule {rule_id!r}.")
    if action not in ("set_outcome", "disable"):
        _add(errors, "action", "Choose set_outcome or disable.")
    if action == "set_outcome" and outcome not in ("WARN", "REFER", "BLOCK"):
        _add(errors, "outcome", "Choose WARN, REFER or BLOCK.")
    if len(reason) < MIN_REASON_CHARS:
        _add(errors, "reason", f"Give the reason (at least {MIN_REASON_CHARS} characters).")
    with transaction.atomic():
        # The clinic's row locked (PostgreSQL; SQLite serialises writers): a double submission
        # waits here, then finds the first override active and is refused.
        Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
        return _add_rule_override(clinic, user, rule_id, action, outcome, reason, errors, base)


def _add_rule_override(
    clinic: Clinic,
    user: User,
    rule_id: str,
    action: str,
    outcome: str,
    reason: str,
    errors: dict[str, list[str]],
    base: screening.Ruleset,
) -> ScreeningRuleOverride:
    if not errors:
        # One active override per rule, so what a rule does is read off one row.
        earlier = ScreeningRuleOverride.objects.filter(
            clinic=clinic, rule_id=rule_id, retired_at__isnull=True
        ).first()
        if earlier is not None:
            _add(
                errors,
                "rule_id",
                f"{rule_id} already has an active override ({earlier.get_action_display()}"
                f"{' to ' + earlier.outcome if earlier.outcome else ''}, "
                f"{long_date(timezone.localdate(earlier.created_at))}); retire it first.",
            )
        elif action == "set_outcome" and base.rule(rule_id).outcome == outcome:
            _add(errors, "outcome", f"{rule_id} is already {outcome}; nothing would change.")
    if not errors:
        row = ScreeningRuleOverride(
            clinic=clinic,
            rule_id=rule_id,
            action=action,
            outcome=outcome if action == "set_outcome" else "",
            reason=reason,
            created_by=user,
        )
        try:
            screening.apply_overrides(
                effective_ruleset(clinic), [row.as_override()]
            )  # locked rules may not be weakened
        except screening.OverrideError as exc:
            _add(errors, "action" if action == "disable" else "outcome", str(exc))
    if errors:
        raise AssessmentError(errors)
    save_with_history(row, user, f"rule override {rule_id} {action} {outcome}: {reason}")
    return row


def retire_rule_override(
    row: ScreeningRuleOverride, user: User, reason: str
) -> ScreeningRuleOverride:
    reason = (reason or "").strip()
    if row.retired_at is not None:
        raise AssessmentError({"__all__": ["This override is already retired."]})
    if len(reason) < MIN_REASON_CHARS:
        raise AssessmentError({"reason": [f"Give the reason (≥{MIN_REASON_CHARS} characters)."]})
    # The rules page posts the reason without a form: a NUL was a 500 on PostgreSQL, an
    # escape sequence was stored and shown in the audit trail.
    errors: dict[str, list[str]] = {}
    _no_hidden_characters(errors, "reason", reason)
    if errors:
        raise AssessmentError(errors)
    row.retired_at = timezone.now()
    row.retired_by = user
    row.retire_reason = reason
    save_with_history(row, user, f"retired: {reason}")
    return row


# --- scalp examination ---------------------------------------------------------------------

EXAM_FIELDS = (
    "examined_on",
    "norwood_hamilton",
    "ludwig",
    "sinclair",
    "female_pattern_confirmed",
    "basp_basic",
    "basp_f",
    "basp_v",
    "salt_top",
    "salt_posterior",
    "salt_right",
    "salt_left",
    "aa_qol_impact",
    "aa_brow_or_lash_loss",
    "aa_months_failed_treatment",
    "aa_rapid_loss",
    "aa_diffuse_pull_test",
    "pull_hairs_pulled",
    "pull_hairs_out",
    "trichoscopy_signs",
    "findings",
)
SALT_REGIONS = ("salt_top", "salt_posterior", "salt_right", "salt_left")


# scales.py names its arguments; the exam form and API name the stored fields.
_SCALE_FIELD = {
    "qol_impact": "aa_qol_impact",
    "months_of_failed_treatment": "aa_months_failed_treatment",
    "hairs_pulled": "pull_hairs_pulled",
    "hairs_out": "pull_hairs_out",
    "basp": "basp_basic",
    "salt_score": "salt_top",
    "sex": "__all__",
}


def _scale(errors: dict[str, list[str]], fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except scales.ScaleError as exc:
        _add(errors, _SCALE_FIELD.get(exc.field, exc.field), exc.message)
        return None


def record_exam(patient: Patient, user: User, data: dict[str, Any]) -> ScalpExam:
    """Validate every scale with ``scales`` and store the exam with its derived values."""
    _refuse_voided(patient)
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(EXAM_FIELDS)
    if unknown:
        _add(errors, "__all__", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    get = {f: data.get(f) for f in EXAM_FIELDS}
    for f in ("norwood_hamilton", "ludwig", "basp_basic", "basp_f", "basp_v", "findings"):
        v = get[f]
        get[f] = v.strip() if isinstance(v, str) else ("" if v is None else v)
    sex = patient_sex(patient)
    exam = ScalpExam(clinic=patient.clinic, patient=patient, examined_by=user)
    # None only with an error added, and then nothing is stored.
    exam.examined_on = (
        _not_before_birth(
            errors,
            "examined_on",
            _check_date(errors, "examined_on", get["examined_on"] or _today()),
            patient,
        )
        or _today()
    )
    exam.female_pattern_confirmed = bool(get["female_pattern_confirmed"])
    exam.findings = _text_limit(
        errors, "findings", get["findings"] if isinstance(get["findings"], str) else ""
    )
    if get["norwood_hamilton"]:
        exam.norwood_hamilton = _scale(errors, scales.norwood_hamilton, get["norwood_hamilton"])
    if get["ludwig"]:
        exam.ludwig = _scale(
            errors, scales.ludwig, get["ludwig"], sex=sex,
            allow_in_male=exam.female_pattern_confirmed,
        ) or ""  # fmt: skip
    if get["sinclair"] not in (None, ""):
        exam.sinclair = _scale(
            errors, scales.sinclair, get["sinclair"], sex=sex,
            allow_in_male=exam.female_pattern_confirmed,
        )  # fmt: skip
    if get["basp_basic"] or get["basp_f"] or get["basp_v"]:
        if not get["basp_basic"]:
            _add(errors, "basp_basic", "Give the basic type (L, M0–M3, C0–C3, U1–U3).")
        else:
            b = _scale(errors, scales.basp, get["basp_basic"], get["basp_f"], get["basp_v"])
            if b is not None:
                exam.basp_basic, exam.basp_f, exam.basp_v = b.basic, b.f or "", b.v or ""
                exam.basp_final = b.final

    regions = {f: get[f] for f in SALT_REGIONS}
    given = {f: v for f, v in regions.items() if v not in (None, "")}
    if given and len(given) < 4:
        for f in SALT_REGIONS:
            if f not in given:
                _add(errors, f, "Enter all four regions for SALT (0 if no loss there).")
    aa_months = get["aa_months_failed_treatment"]
    if aa_months is not None and (
        isinstance(aa_months, bool)
        or not isinstance(aa_months, int | float)
        or not math.isfinite(aa_months)
        or not 0 <= aa_months <= 1200
    ):
        _add(errors, "aa_months_failed_treatment", "Must be a number of months, 0 or more.")
        aa_months = None
    aa_inputs = any(
        get[f] for f in ("aa_qol_impact", "aa_brow_or_lash_loss", "aa_months_failed_treatment",
                         "aa_rapid_loss", "aa_diffuse_pull_test")
    )  # fmt: skip
    # Each region on its own first, so that every wrong one is named at once (the score
    # stopped at the first, one round trip per region).
    checked = [_scale(errors, scales.check_percent, f, v) for f, v in given.items()]
    regions_ok = all(c is not None for c in checked)
    if len(given) == 4 and regions_ok:
        result = _scale(
            errors,
            scales.salt,
            regions["salt_top"],
            regions["salt_posterior"],
            regions["salt_right"],
            regions["salt_left"],
        )
        if result is not None:
            for f in SALT_REGIONS:
                setattr(exam, f, float(regions[f] or 0))  # all four given when result
            exam.salt_score, exam.salt_band, exam.aa_iga = result.score, result.band, result.aa_iga
            # King 2022 upgrades for a DIFFUSE positive pull test; a positive test at one
            # patch edge does not count, so the clinician ticks it rather than us inferring.
            pull_diffuse = bool(get["aa_diffuse_pull_test"])
            aa = _scale(
                errors,
                scales.aa_scale,
                result.score,
                qol_impact=get["aa_qol_impact"],
                brow_or_lash_loss=bool(get["aa_brow_or_lash_loss"]),
                months_of_failed_treatment=aa_months,
                diffuse_positive_pull_test=pull_diffuse,
                rapid_loss=bool(get["aa_rapid_loss"]),
            )
            if aa is not None:
                exam.aa_scale_base, exam.aa_scale_severity = aa.base.value, aa.severity.value
                exam.aa_qol_impact = get["aa_qol_impact"]
                exam.aa_brow_or_lash_loss = bool(get["aa_brow_or_lash_loss"])
                exam.aa_months_failed_treatment = aa_months
                exam.aa_rapid_loss = bool(get["aa_rapid_loss"])
                exam.aa_diffuse_pull_test = pull_diffuse
    elif aa_inputs and not given:
        _add(errors, "salt_top", "The AA Scale needs a SALT score: enter the four regions.")

    pulled, out = get["pull_hairs_pulled"], get["pull_hairs_out"]
    if (pulled is None) != (out is None):
        _add(
            errors,
            "pull_hairs_out" if out is None else "pull_hairs_pulled",
            "Enter both the hairs grasped and the hairs that came out.",
        )
    elif pulled is not None:
        pt = _scale(errors, scales.pull_test, pulled, out)
        if pt is not None:
            if pulled > 10_000:
                _add(errors, "pull_hairs_pulled", "A pull test grasps 40–60 hairs.")
            exam.pull_hairs_pulled, exam.pull_hairs_out = pulled, out
            exam.pull_test_positive = pt.positive
    signs = get["trichoscopy_signs"] or []
    if not isinstance(signs, list | tuple):
        _add(errors, "trichoscopy_signs", "Must be a list of sign codes.")
        signs = []
    exam.trichoscopy_signs = list(_scale(errors, scales.trichoscopy_signs, signs) or ())
    recorded = any(
        (
            exam.norwood_hamilton,
            exam.ludwig,
            exam.sinclair,
            exam.basp_final,
            exam.salt_score is not None,
            exam.pull_hairs_pulled is not None,
            exam.trichoscopy_signs,
            exam.findings,
        )
    )
    if not recorded and not errors:
        _add(errors, "__all__", "Record at least one scale, test, sign or finding.")
    if errors:
        raise AssessmentError(errors)
    with transaction.atomic():
        lock_patient(patient)
        twin = _same_as_recorded(exam, ScalpExam.objects.filter(patient=patient))
        if twin is not None:
            raise _already_recorded("exam", twin.examined_by, twin.examined_on)
        save_with_history(exam, user, "scalp exam recorded")
    return exam


def _same_as_recorded(row: Any, recorded: Any) -> Any:
    """The stored row of ``recorded`` (a queryset) that ``row``, not yet saved, repeats in
    every value (the same person, date and findings), or None. Such a row is a form or
    request sent twice (a retry, Back then Save), never a second observation; exams and
    diagnoses cannot be voided, so a copy would stay in the record and the counts."""
    fields = [f.attname for f in row._meta.concrete_fields if f.attname not in ("id", "created_at")]
    wanted = {name: getattr(row, name) for name in fields}
    for other in recorded.filter(**{k: v for k, v in wanted.items() if k.endswith("_on")}):
        if all(getattr(other, name) == value for name, value in wanted.items()):
            return other
    return None


def _already_recorded(what: str, by: User, on: date) -> AssessmentError:
    name = by.get_full_name() or by.get_username()
    return AssessmentError(
        {
            "__all__": [
                f"This {what} is already recorded (by {name} on {on.isoformat()}): a form or "
                "request sent twice is stored once."
            ]
        }
    )


# --- diagnosis -----------------------------------------------------------------------------


def _female_pattern_missing(exam: ScalpExam | None, on: date | None) -> str:
    """What the exam behind a female-pattern diagnosis on a male record lacks ("" if
    nothing): the box ticked and a Ludwig or Sinclair grade, on or before the date."""
    if exam is None:
        return (
            f"there is no scalp exam on or before {on.isoformat()}"
            if on is not None
            else "there is no scalp exam"
        )
    lacks = []
    if not exam.female_pattern_confirmed:
        lacks.append("does not confirm a female-type pattern")
    if not (exam.ludwig or exam.sinclair):
        lacks.append("records no Ludwig or Sinclair grade")
    if not lacks:
        return ""
    return f"the scalp exam of {exam.examined_on.isoformat()} " + " and ".join(lacks)


# Alopecia areata totalis is the loss of all scalp hair, universalis of all scalp and body
# hair: SALT 100, band S5 (REFERENCE.md §1.4 [C]). Near-total loss (SALT 95–100, AA-IGA 4)
# is still coded so in practice; less is patchy (or ophiasis) alopecia areata.
AA_TOTAL = {
    "aa_totalis": "the loss of all scalp hair",
    "aa_universalis": "the loss of all scalp and body hair",
}
AA_TOTAL_MIN_SALT = 95.0  # AA-IGA 4 = SALT 95–100 (Wyrwich 2020, REFERENCE.md §1.4 [C])
# Bands wholly below it (S3 = 50–74); S4 = 75–99 holds 95–99, so it is not refused.
AA_TOTAL_REFUSED_BANDS = ("S0", "S1", "S2", "S3")


# Patterns of partial loss: SALT 100 (band S5, every scalp hair lost) is totalis by definition.
AA_PARTIAL = ("aa_patchy", "aa_ophiasis")


def _aa_total_mismatch(
    errors: dict[str, list[str]], key: str, stage: str, exam: ScalpExam | None
) -> None:
    """A totalis or universalis diagnosis whose exam SALT score or typed S band is below
    near-total loss: a coding mistake (patchy AA coded as totalis: L63.0 for L63.9). And the
    reverse: a patchy or ophiasis diagnosis over SALT 100 (totalis coded as patchy)."""
    if key in AA_PARTIAL:
        label = coding.DIAGNOSES[key].label
        what = (
            f"{label} is a partial loss, but SALT 100 (band S5) is the loss of all scalp "
            "hair, which is alopecia areata totalis (or universalis with body hair lost)"
        )
        if exam is not None and exam.salt_score is not None and exam.salt_score >= 100:
            _add(
                errors,
                "condition",
                f"{what}; the scalp exam of {long_date(exam.examined_on)} records SALT "
                f"{exam.salt_score:g} (band {exam.salt_band}): choose alopecia areata totalis "
                "or universalis, or record a new scalp exam first.",
            )
        elif stage == "S5":
            _add(errors, "stage", f"{what}, and the stage given is S5: check the stage.")
        return
    if key not in AA_TOTAL:
        return
    label = coding.DIAGNOSES[key].label
    what = (
        f"{label} is {AA_TOTAL[key]} (SALT 100, band S5; near-total loss, SALT "
        f"{AA_TOTAL_MIN_SALT:g}–100, is AA-IGA 4)"
    )
    if exam is not None and exam.salt_score is not None and exam.salt_score < AA_TOTAL_MIN_SALT:
        _add(
            errors,
            "condition",
            f"{what}, but the scalp exam of {long_date(exam.examined_on)} records SALT "
            f"{exam.salt_score:g} (band {exam.salt_band}): choose patchy alopecia areata, or "
            "record a new scalp exam first.",
        )
    elif stage in AA_TOTAL_REFUSED_BANDS:
        _add(errors, "stage", f"{what}, but the stage given is {stage}: check the stage.")


def record_diagnosis(patient: Patient, user: User, data: dict[str, Any]) -> Diagnosis:
    """Store a coded diagnosis; codes come from ``coding`` (manual only for "other")."""
    _refuse_voided(patient)
    errors: dict[str, list[str]] = {}
    key = data.get("condition") or ""
    stage = (data.get("stage") or "").strip() if isinstance(data.get("stage"), str) else ""
    notes = data.get("notes") or ""
    diagnosed_on = _not_before_birth(
        errors,
        "diagnosed_on",
        _check_date(errors, "diagnosed_on", data.get("diagnosed_on") or _today()),
        patient,
    )
    if key not in coding.DIAGNOSES:
        _add(errors, "condition", f"Choose one of: {', '.join(coding.DIAGNOSES)}.")
        raise AssessmentError(errors)
    dx = coding.DIAGNOSES[key]
    # The exam the diagnosis rests on: the latest one on or before its date (an exam
    # recorded after the date cannot support, stage or unlock it).
    exams = ScalpExam.objects.filter(patient=patient)
    if diagnosed_on is not None:
        exams = exams.filter(examined_on__lte=diagnosed_on)
    exam = exams.order_by("-examined_on", "-id").first()
    if key in coding.FEMALE_PATTERN and patient_sex(patient) == "male":
        # As the exam refuses Ludwig/Sinclair on a male record (scales): almost always a
        # coding mistake, allowed once that exam confirms a female-type pattern and grades
        # it on Ludwig or Sinclair (a Norwood-only exam is no female-pattern evidence).
        # Only "male" restricts; "other"/"unknown" and male-pattern AGA in women are allowed.
        missing = _female_pattern_missing(exam, diagnosed_on)
        if missing:
            _add(
                errors,
                "condition",
                "Female-pattern diagnosis on a male record; choose male-pattern androgenetic "
                "alopecia, or confirm a female-type pattern with a Ludwig or Sinclair grade "
                f"on the scalp exam first: {missing}.",
            )
            raise AssessmentError(errors)
    # A bare grade ("II") is read on Ludwig/Sinclair for a female-pattern diagnosis and on
    # Norwood otherwise, whatever the sex; proposals() reads the stored code the same way.
    female_pattern = key in coding.FEMALE_PATTERN
    from_exam = False
    if len(stage) > MAX_STAGE_TYPED_CHARS:
        _add(errors, "stage", f"At most {MAX_STAGE_TYPED_CHARS} characters (e.g. IIIv, Ludwig II).")
    else:
        if not stage and exam is not None and dx.group == "aga":
            # The exam's stage, named by the scale it was recorded on, unless the clinician
            # gives another.
            stage, from_exam = exam.named_stage(female_pattern=female_pattern), True
        try:
            # propose_plans validates the stage for the diagnosis and sex (pure module).
            sex = patient_sex(patient)
            protocols.propose_plans(key, stage or None, sex, None, female_pattern=female_pattern)
            scale = protocols.stage_scale(key, stage or None, sex, female_pattern=female_pattern)
            if female_pattern and scale == "norwood":
                # Never a Norwood stage on a female pattern (the exam's never is: named_stage).
                raise scales.ScaleError(
                    "stage",
                    f"{stage!r} is a Norwood stage; a female-pattern diagnosis is staged on "
                    "Ludwig (I–III) or Sinclair (1–5), or BASP",
                )
            stage = protocols.stage_code(key, stage or None, sex, female_pattern=female_pattern)
            if len(stage) > MAX_STAGE_CHARS:  # a free-text stage ("other") is stored as typed
                _add(errors, "stage", "At most 10 characters (e.g. III, IIIv, I, M2V1).")
        except scales.ScaleError as exc:
            _add(
                errors,
                "stage",
                f"The scalp exam records {stage}, but {exc.message}; give the stage or change "
                "the diagnosis."
                if from_exam
                else exc.message,
            )
    if not errors.get("stage"):
        _aa_total_mismatch(errors, key, stage, exam)
    row = Diagnosis(
        clinic=patient.clinic,
        patient=patient,
        exam=exam,
        diagnosed_on=diagnosed_on or _today(),  # None only with an error added: not stored
        diagnosed_by=user,
        condition=key,
        label=dx.label,
        stage=stage,
        notes=_text_limit(errors, "notes", notes.strip() if isinstance(notes, str) else ""),
    )
    if dx.icd10:
        row.icd10_code, row.icd10_system, row.icd10_version = (
            dx.icd10,
            coding.ICD10_SYSTEM,
            ICD10_VERSION,
        )
    if dx.icd11:
        row.icd11_code, row.icd11_system, row.icd11_version = (
            dx.icd11,
            coding.ICD11_SYSTEM,
            ICD11_VERSION,
        )
    if dx.snomed:
        row.snomed_code, row.snomed_system, row.snomed_version = (
            dx.snomed,
            coding.SNOMED_SYSTEM,
            SNOMED_VERSION,
        )
    if key != "other":
        # The codes come from the condition: a code sent with it was replaced unseen.
        for field in ("label", "icd10_code", "snomed_code"):
            sent = data.get(field)
            if isinstance(sent, str) and sent.strip() and sent.strip() != getattr(row, field):
                _add(
                    errors,
                    field,
                    f"Given by the condition ({dx.label}); enter it only for 'Other'.",
                )
    if key == "other":
        # coding.py has no code for "other": the clinician codes it by hand.
        label = (data.get("label") or "").strip()
        icd10 = (data.get("icd10_code") or "").strip().upper()
        snomed = (data.get("snomed_code") or "").strip()
        if not label:
            _add(errors, "label", "Name the condition.")
        if not icd10:
            _add(errors, "icd10_code", "Give the ICD-10 code (e.g. L65.9).")
        elif not (3 <= len(icd10) <= 7 and icd10[0].isalpha() and ascii_digits(icd10[1:3])):
            _add(errors, "icd10_code", "Not an ICD-10 code (letter, two digits, e.g. L65.9).")
        if snomed and not (ascii_digits(snomed) and 6 <= len(snomed) <= 18):
            _add(errors, "snomed_code", "A SNOMED CT concept id is 6–18 digits.")
        row.label = label[:200]
        row.icd10_code, row.icd10_system, row.icd10_version = (
            icd10,
            coding.ICD10_SYSTEM,
            ICD10_VERSION,
        )
        if snomed:
            row.snomed_code, row.snomed_system, row.snomed_version = (
                snomed,
                coding.SNOMED_SYSTEM,
                SNOMED_VERSION,
            )
    if errors:
        raise AssessmentError(errors)
    with transaction.atomic():
        lock_patient(patient)
        twin = _same_as_recorded(row, Diagnosis.objects.filter(patient=patient))
        if twin is not None:
            raise _already_recorded("diagnosis", twin.diagnosed_by, twin.diagnosed_on)
        save_with_history(row, user, f"diagnosis {key}")
    return row


# --- protocol templates --------------------------------------------------------------------

_PARAMETER_FIELDS = (
    "volume_ml_per_session",
    "max_volume_ml_per_session",
    "dose_ml_per_cm2",
    "needle_gauge",
    "depth_mm",
    "point_spacing_cm",
    "response_review_weeks",
)


def _template_row(clinic: Clinic, t: protocols.ProtocolTemplate) -> ProtocolTemplate:
    return ProtocolTemplate(
        clinic=clinic,
        key=t.key,
        title=t.title,
        modality=t.modality,
        sessions_min=t.sessions_min,
        sessions_max=t.sessions_max,
        interval_weeks_min=t.interval_weeks_min,
        interval_weeks_max=t.interval_weeks_max,
        maintenance_interval_months=t.maintenance_interval_months,
        schedule=t.schedule,
        parameters={
            f: (list(v) if isinstance(v, tuple) else v)
            for f in _PARAMETER_FIELDS
            if (v := getattr(t, f)) is not None
        },
        investigational=t.investigational,
        source=t.source,
    )


def default_template(clinic: Clinic, key: str) -> ProtocolTemplate:
    """An unsaved row with the shipped defaults (what a clinic starts from)."""
    return _template_row(clinic, protocols.TEMPLATES[key])


def ensure_protocol_templates(clinic: Clinic, user: User | None = None) -> None:
    """Copy the shipped templates into the clinic once; existing rows are left as edited."""
    existing = set(ProtocolTemplate.objects.filter(clinic=clinic).values_list("key", flat=True))
    for key, t in protocols.TEMPLATES.items():
        if key in existing:
            continue
        row = _template_row(clinic, t)
        save_with_history(row, user, "seeded from protocols.py")


def update_protocol_template(
    template: ProtocolTemplate, user: User, data: dict[str, Any]
) -> ProtocolTemplate:
    """Edit a clinic's template. The investigational flag of exosome templates stays on."""
    errors: dict[str, list[str]] = {}
    allowed = {
        "title",
        "sessions_min",
        "sessions_max",
        "interval_weeks_min",
        "interval_weeks_max",
        "maintenance_interval_months",
        "schedule",
        "active",
    }
    unknown = set(data) - allowed
    if unknown:
        _add(errors, "__all__", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    values = {k: data[k] for k in allowed if k in data}
    for f in ("title", "schedule"):
        if f in values and not (isinstance(values[f], str) and values[f].strip()):
            _add(errors, f, "This field is required.")
    # A template's course becomes a new plan's default: the limits a plan has (an interval
    # of 0.1 weeks was kept here and given to every new plan, which refuses it when typed).
    weeks = protocols.COURSE_INTERVAL_WEEKS
    for f, lo, hi in (
        ("sessions_min", None, protocols.COURSE_MAX_SESSIONS),
        ("sessions_max", None, protocols.COURSE_MAX_SESSIONS),
        ("interval_weeks_min", weeks[0], weeks[1]),
        ("interval_weeks_max", weeks[0], weeks[1]),
        ("maintenance_interval_months", None, 60),
    ):
        v = values.get(f, getattr(template, f))
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
            or not (v > 0 if lo is None else v >= lo) or v > hi
        ):  # fmt: skip
            _add(
                errors,
                f,
                f"Must be more than 0 and at most {hi:g}."
                if lo is None
                else f"Must be at least {lo:g} and at most {hi:g}.",
            )
    values = {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}
    if not errors and all(getattr(template, f) == v for f, v in values.items()):
        return template  # nothing changed: no history entry, no audit line
    if not errors:
        # Checked on the values it would have, before any is set: a refused edit left the
        # caller's template object holding them (a page re-shown from it showed them).
        for low_field, high_field in (
            ("sessions_min", "sessions_max"),
            ("interval_weeks_min", "interval_weeks_max"),
        ):
            a = values.get(low_field, getattr(template, low_field))
            b = values.get(high_field, getattr(template, high_field))
            if a is not None and b is not None and a > b:
                _add(errors, high_field, "Must not be below the minimum.")
    if errors:
        raise AssessmentError(errors)
    for f, v in values.items():
        setattr(template, f, v)
    template.updated_by = user
    save_with_history(template, user, "protocol template edited")
    return template


def clinic_template(clinic: Clinic, key: str) -> ProtocolTemplate:
    """The clinic's template for ``key`` (its edited row, else the shipped default)."""
    row = ProtocolTemplate.objects.filter(clinic=clinic, key=key).first()
    return row if row is not None else default_template(clinic, key)


# --- proposals and plans -------------------------------------------------------------------


@dataclass
class Proposal:
    """A proposal from ``protocols.propose_plans`` with the clinic's templates and blocks."""

    key: str
    title: str
    modalities: tuple[str, ...]
    reasons: tuple[str, ...]
    flags: tuple[str, ...]
    notices: tuple[str, ...]
    screening_outcome: str | None
    protocols: list[dict[str, Any]]
    blocked_modalities: list[str]  # BLOCK and not overridden
    overridden_modalities: list[str]
    inactive_templates: list[str]
    # Of blocked_modalities, those a locked rule BLOCKs: no override can lift them.
    locked_modalities: list[str] = dc_field(default_factory=list)

    @property
    def can_accept(self) -> bool:
        return not self.blocked_modalities and not self.inactive_templates

    @property
    def has_sessions(self) -> bool:
        """A course of sessions is part of the plan (not only a daily topical therapy), so
        the clinician sets their number, interval and first date."""
        return any(t.get("sessions_min") is not None for t in self.protocols)


HISTORY_CHANGED = "The history changed after the last screening: screen again."
PATIENT_CHANGED = (
    "The patient record (date of birth or sex) changed after the last screening and now gives "
    "a different result: screen again."
)
RULES_CHANGED = (
    "The clinic's screening rules changed after the last screening and now give a different "
    "result: screen again."
)


def screening_staleness(patient: Patient, row: Screening | None) -> str | None:
    """Why ``row`` no longer stands for the patient (None while it does).

    It stands while it screened the newest history version and screening that history again,
    on the same date with the same product, gives the same result: under the rules in force
    now (the shipped rules with the clinic's active overrides) and the patient record as it is
    now (age and sex feed rules). A rule made stricter after the screening (a WARN raised to
    BLOCK), or a corrected date of birth that makes the patient a minor, must not be missed
    until someone presses "Screen again"; a change that alters nothing keeps it.
    """
    if row is None:
        return "Record the medical history (it is screened at once)."
    latest = MedicalHistory.objects.filter(patient=patient).order_by("-version").first()
    if latest is None or row.medical_history_id != latest.pk:
        return HISTORY_CHANGED
    exam = ScalpExam.objects.filter(patient=patient).order_by("-examined_on", "-id").first()
    unrecorded = {
        condition: signs
        for condition, signs in scales.refer_scalp_conditions(
            exam.trichoscopy_signs if exam else ()
        ).items()
        if condition not in latest.scalp_conditions
    }
    if exam is not None and unrecorded:
        # The screening reads the questionnaire; signs of infection or scarring seen at the
        # exam (REFERENCE A.3.1: pus or scarring → REFER) must reach it.
        signs = ", ".join(
            scales.TRICHOSCOPY_SIGNS[c].label.lower() for v in unrecorded.values() for c in v
        )
        return (
            f"The scalp exam of {exam.examined_on.isoformat()} found {signs}: record "
            f"{' and '.join(unrecorded)} among the history's scalp conditions (the screening "
            "refers them to a dermatologist), or record a new exam without them."
        )
    if latest.recorded_on < _today() - timedelta(days=MAX_HISTORY_AGE_DAYS):
        # The rule the answers met when recorded, applied while they are relied on.
        return (
            f"The answers were given on {latest.recorded_on.isoformat()}, more than a year "
            "ago: ask again and record today's answers."
        )
    overrides = active_rule_overrides(patient.clinic)
    default = screening.load_default_ruleset()
    same_rules = row.ruleset_version.split("+")[0] == default.version and [
        (o.rule_id, o.action, o.outcome) for o in overrides
    ] == [(o["rule_id"], o["action"], o["outcome"]) for o in row.rule_overrides]
    try:
        again = screening.screen(
            engine_history(latest, patient, row.screened_on),
            on=row.screened_on,
            ruleset=screening.apply_overrides(default, [o.as_override() for o in overrides]),
            product_components=row.product_components,
        ).to_dict()["modalities"]
    except screening.ScreeningInputError:
        return PATIENT_CHANGED  # the record no longer fits the answers; run_screening says why

    def outcomes(result: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
        return {
            m: (r["outcome"], sorted(f["rule_id"] for f in r["findings"]))
            for m, r in result.items()
        }

    if outcomes(again) == outcomes(row.result["modalities"]):
        return None
    return PATIENT_CHANGED if same_rules else RULES_CHANGED


def screening_is_current(patient: Patient, row: Screening | None) -> bool:
    """The screening was of the newest history version, under rules that still give its
    result (:func:`screening_staleness`)."""
    return screening_staleness(patient, row) is None


def proposals(patient: Patient) -> tuple[list[Proposal], list[str]]:
    """Plans proposed for the latest diagnosis and screening, and what is still missing."""
    missing = []
    dx = Diagnosis.objects.filter(patient=patient).order_by("-diagnosed_on", "-id").first()
    scr = Screening.objects.filter(patient=patient).order_by("-created_at", "-id").first()
    stale = screening_staleness(patient, scr)
    if stale is not None:
        missing.append(stale)
    if dx is None:
        missing.append("Record a diagnosis.")
    if missing:
        return [], missing
    assert scr is not None and dx is not None  # else something is missing
    overridden = set(standing_overrides(scr))
    out = []
    for p in protocols.propose_plans(
        dx.condition,
        dx.stage or None,
        patient_sex(patient),
        scr.as_result(),
        include_blocked=True,
        female_pattern=dx.condition in coding.FEMALE_PATTERN,  # as record_diagnosis read it
    ):
        templates = [clinic_template(patient.clinic, t.key) for t in p.templates]
        blocked = [m for m in p.modalities if scr.outcome(m) == "BLOCK"]
        out.append(
            Proposal(
                key=p.key,
                title=p.title,
                modalities=p.modalities,
                reasons=p.reasons,
                flags=p.flags,
                notices=p.notices,
                screening_outcome=str(p.screening_outcome) if p.screening_outcome else None,
                protocols=[t.snapshot() for t in templates],
                blocked_modalities=[m for m in blocked if m not in overridden],
                overridden_modalities=[m for m in blocked if m in overridden],
                inactive_templates=[t.key for t in templates if not t.active],
                locked_modalities=[
                    m for m in blocked if m not in overridden and locked_block_rules(scr, m)
                ],
            )
        )
    return out, []


PLAN_FIELDS = ("sessions_planned", "interval_weeks", "start_on", "notes")
# Asked when the weeks between sessions lie outside the protocol's range
# (protocols.interval_warnings), as a session outside its course is (treatments).
CONFIRM_SCHEDULE = "confirm_schedule"
CONFIRM_SCHEDULE_HINT = (
    "If this interval is right for this patient, tick the confirmation and save again; the "
    "warning stays on the plan."
)


def _check_interval(
    errors: dict[str, list[str]],
    snapshots: list[dict[str, Any]],
    fields: dict[str, Any],
    data: dict[str, Any],
) -> list[str]:
    """The warnings for a new interval outside a protocol's range; unless ``data`` confirms
    them, an error asking for the confirmation."""
    if "interval_weeks" not in fields or errors.get("interval_weeks"):
        return []
    warnings = protocols.interval_warnings(snapshots, fields["interval_weeks"])
    if warnings and data.get(CONFIRM_SCHEDULE) is not True:
        errors[CONFIRM_SCHEDULE] = [*warnings, CONFIRM_SCHEDULE_HINT]
    return warnings


PLAN_START_MAX_DAYS_AHEAD = 730


def _clean_plan_fields(
    data: dict[str, Any], errors: dict[str, list[str]], *, current_start: date | None = None
) -> dict[str, Any]:
    """Checked plan fields. ``current_start`` is the stored start date of a plan being
    edited: re-sending it unchanged is no new start, so it may lie in the past."""
    out: dict[str, Any] = {}
    if "sessions_planned" in data:
        v = data["sessions_planned"]
        top = protocols.COURSE_MAX_SESSIONS
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top):
            _add(errors, "sessions_planned", f"A whole number of sessions, 1–{top}.")
        out["sessions_planned"] = v
    if "interval_weeks" in data:
        v = data["interval_weeks"]
        lo, hi = protocols.COURSE_INTERVAL_WEEKS
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
            or not lo <= v <= hi
        ):  # fmt: skip
            _add(errors, "interval_weeks", f"Weeks between sessions, {lo:g} to {hi:g}.")
        out["interval_weeks"] = v
    if "start_on" in data:
        v = data["start_on"]
        if isinstance(v, str):
            try:
                v = date.fromisoformat(v) if v else None
            except ValueError:
                _add(errors, "start_on", "Enter a real date as YYYY-MM-DD.")
                v = None
        if v is not None and v == current_start:
            pass  # unchanged (an edit form re-sends it); checked when it was set
        elif v is not None and v < _today():
            _add(errors, "start_on", "A plan cannot start in the past.")
        elif v is not None and v > _today() + timedelta(days=PLAN_START_MAX_DAYS_AHEAD):
            # 9999-12-31 was accepted; once consented, such a plan could never have a session.
            _add(errors, "start_on", "A plan starts within two years from today; check the year.")
        out["start_on"] = v
    if "notes" in data:
        v = data["notes"] or ""
        out["notes"] = _text_limit(errors, "notes", v.strip() if isinstance(v, str) else "")
    return out


def session_days() -> Count:
    """A plan's sessions given, as an annotation counting days: two entries on one day are
    one session of the course (as for the follow-up decision)."""
    return Count(
        "sessions__performed_on", filter=Q(sessions__voided_at__isnull=True), distinct=True
    )


def active_plan_conflicts(
    patient: Patient, modalities: list[str] | tuple[str, ...], proposal_key: str = ""
) -> list[str]:
    """Why a new plan with ``modalities`` would duplicate one of the patient's active plans.

    Plans of different modalities run together (PRP with minoxidil, exosome with a separate
    minoxidil plan); two active plans sharing a modality (two exosome courses, a second
    minoxidil prescription) would split the sessions, consents and follow-up schedule
    between them, so the clinician cancels or edits the existing plan instead. Only active
    plans count: a cancelled plan (the app's "stopped"/"voided" state) does not, nor a course
    whose planned sessions have all been given (a new course is then a new plan).
    """
    wanted = set(modalities)
    if not wanted and not proposal_key:
        return []
    out = []
    active = (
        TreatmentPlan.objects.filter(patient=patient, status="active")
        .annotate(given=session_days())
        .order_by("created_at")
    )
    for plan in active:
        if plan.sessions_planned and plan.given >= plan.sessions_planned:
            continue  # the course is complete
        shared = [m for m in plan.modalities if m in wanted]
        if wanted and not shared:
            continue
        if not wanted and (plan.modalities or plan.proposal_key != proposal_key):
            continue  # a plan without a procedure (finasteride, a referral) is one of a kind
        what = " and ".join(in_sentence(MODALITY_LABELS.get(m, m)) for m in shared)
        if plan.start_on is not None:
            when = ("starting " if plan.start_on > _today() else "started ") + long_date(
                plan.start_on
            )
        else:
            when = "accepted " + long_date(timezone.localdate(plan.created_at))
        which = f"an active {what} plan" if shared else "this plan, active"
        out.append(
            f"This patient already has {which} (“{plan.title}”, "
            f"{when}); cancel that plan first (with a reason) or change it, rather than "
            "accept a second one."
        )
    return out


def session_protocol(snapshots: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The protocol whose course gives a plan its default session count and interval: the
    only one with sessions (PRP, not the daily minoxidil beside it); None when none or
    several have sessions (then the clinician enters them)."""
    with_sessions = [p for p in snapshots if p.get("sessions_max") is not None]
    return with_sessions[0] if len(with_sessions) == 1 else None


def accept_plan(patient: Patient, user: User, data: dict[str, Any]) -> TreatmentPlan:
    """The clinician accepts a proposal (optionally edited). A BLOCK stops it unless a
    clinician has overridden that modality's BLOCK on this screening. A plan sharing a
    modality with an active plan of the patient is refused (:func:`active_plan_conflicts`),
    re-checked under a lock so two simultaneous submissions cannot both pass."""
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(PLAN_FIELDS) - {"proposal_key", CONFIRM_SCHEDULE}
    if unknown:
        _add(errors, "__all__", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    if patient.is_voided:
        _add(errors, "__all__", "This record is voided.")
    found, missing = proposals(patient)
    for m in missing:
        _add(errors, "__all__", m)
    key = data.get("proposal_key")
    chosen = next((p for p in found if p.key == key), None)
    if not missing and chosen is None:
        _add(errors, "proposal_key", f"Choose one of: {', '.join(p.key for p in found)}.")
    if chosen is not None:
        scr = Screening.objects.filter(patient=patient).order_by("-created_at", "-id").first()
        for m in chosen.blocked_modalities:
            locked = locked_block_rules(scr, m) if scr is not None else []
            _add(
                errors,
                "proposal_key",
                f"Screening BLOCKs {in_sentence(MODALITY_LABELS.get(m, m))} by locked rule "
                f"{', '.join(locked)}, which no override may lift: this plan cannot be "
                "accepted while it holds."
                if locked
                else f"Screening BLOCKs {in_sentence(MODALITY_LABELS.get(m, m))}; a clinician "
                "must override the BLOCK with a written reason before this plan can be accepted.",
            )
        for t in chosen.inactive_templates:
            _add(errors, "proposal_key", f"The clinic has switched off template {t}.")
        for message in active_plan_conflicts(patient, chosen.modalities, chosen.key):
            _add(errors, "proposal_key", message)
    fields = _clean_plan_fields(data, errors)
    outside = _check_interval(errors, chosen.protocols if chosen else [], fields, data)
    if errors:
        raise AssessmentError(errors)
    dx = Diagnosis.objects.filter(patient=patient).order_by("-diagnosed_on", "-id").first()
    scr = Screening.objects.filter(patient=patient).order_by("-created_at", "-id").first()
    assert chosen is not None and scr is not None  # proposals() found both, else an error
    flags = list(chosen.flags)
    standing = standing_overrides(scr)
    for m in chosen.overridden_modalities:
        ov = standing[m]
        flags.append(
            f"{MODALITY_LABELS.get(m, m)}: BLOCK overridden by {ov.overridden_by.username}: "
            f"{ov.reason}"
        )
    with transaction.atomic():
        # Lock the patient row (PostgreSQL; SQLite transactions are IMMEDIATE) and check
        # again: a double submission or a second clinician waits here, then sees this plan.
        if lock_patient(patient).is_voided:  # voided meanwhile
            raise AssessmentError({"__all__": ["This record is voided."]})
        conflicts = active_plan_conflicts(patient, chosen.modalities, chosen.key)
        if conflicts:
            raise AssessmentError({"proposal_key": conflicts})
        ensure_protocol_templates(patient.clinic, user)
        plan = TreatmentPlan(
            clinic=patient.clinic,
            patient=patient,
            diagnosis=dx,
            screening=scr,
            proposal_key=chosen.key,
            title=chosen.title,
            modalities=list(chosen.modalities),
            protocols=chosen.protocols,
            reasons=list(chosen.reasons),
            flags=flags,
            notices=list(chosen.notices),
            created_by=user,
            **fields,
        )
        course = session_protocol(chosen.protocols)
        if plan.sessions_planned is None and course is not None:
            plan.sessions_planned = course["sessions_max"]
        if plan.interval_weeks is None and course is not None:
            plan.interval_weeks = course["interval_weeks_min"]
        why = f"plan accepted: {chosen.key}"
        save_with_history(plan, user, f"{why}; confirmed: {' '.join(outside)}" if outside else why)
    return plan


def _has_live_consent(plan: TreatmentPlan) -> bool:
    return plan.consents.filter(withdrawal__isnull=True).exists()


def update_plan(plan: TreatmentPlan, user: User, data: dict[str, Any]) -> TreatmentPlan:
    """Edit sessions, interval, start and notes while nobody has consented to the plan."""
    _refuse_voided(plan.patient)
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(PLAN_FIELDS) - {CONFIRM_SCHEDULE}
    if unknown:
        _add(errors, "__all__", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    if not plan.is_active:
        _add(errors, "__all__", "This plan is cancelled.")
    elif _has_live_consent(plan):
        # The patient consented to this plan as it stands; a change needs a new plan.
        _add(
            errors,
            "__all__",
            "The patient has consented to this plan; cancel it (with a reason) and make a new "
            "plan.",
        )
    fresh = TreatmentPlan.objects.get(pk=plan.pk)
    fields = _clean_plan_fields(data, errors, current_start=fresh.start_on)
    if fields.get("interval_weeks") == fresh.interval_weeks:
        fields.pop("interval_weeks", None)  # re-sent unchanged: confirmed when it was set
    outside = _check_interval(errors, fresh.protocols, fields, data)
    if errors:
        raise AssessmentError(errors)
    for f, v in fields.items():
        setattr(fresh, f, v)
    why = f"plan edited; confirmed: {' '.join(outside)}" if outside else "plan edited"
    save_with_history(fresh, user, why)  # nothing changed: not saved
    return fresh


def cancel_plan(plan: TreatmentPlan, user: User, reason: str) -> TreatmentPlan:
    # A voided record is not changed (restored first, if voided in error), as ending its
    # follow-up course is refused.
    _refuse_voided(plan.patient)
    reason = (reason or "").strip()
    if not plan.is_active:
        raise AssessmentError({"__all__": ["This plan is already cancelled."]})
    if len(reason) < MIN_REASON_CHARS:
        raise AssessmentError({"reason": [f"Give the reason (≥{MIN_REASON_CHARS} characters)."]})
    fresh = TreatmentPlan.objects.get(pk=plan.pk)
    fresh.status, fresh.cancel_reason = "cancelled", reason
    save_with_history(fresh, user, f"plan cancelled: {reason}")
    return fresh


# --- consent -------------------------------------------------------------------------------

_CONSENT_BODY = {
    "exosome": (
        "I have been told what exosome / extracellular-vesicle injections into the scalp "
        "involve: {schedule}. Expected effects are uncertain; small studies report gains in "
        "hair density, with low-certainty evidence. Possible side effects include pain, "
        "redness and swelling at the injection points, headache, bruising, infection and "
        "allergic reaction; unknown long-term risks cannot be excluded. I have been told the "
        "alternatives, including approved treatments suited to my diagnosis and no treatment; "
        "who makes the product and where it comes from; and what the course costs me. I may "
        "withdraw at any time without giving a reason and without affecting my other care."
    ),
    "prp": (
        "I have been told what platelet-rich plasma (PRP) treatment involves: a blood draw, "
        "preparation of my own plasma and injections into the scalp ({schedule}). Results vary; "
        "a meta-analysis reports an average gain in hair density with low certainty. Possible "
        "side effects include pain, redness, swelling, bruising, headache and infection. I "
        "have been told the alternatives, including no treatment, and what the course costs "
        "me. I may withdraw at any time."
    ),
    "minoxidil": (
        "I have been told how to use topical minoxidil ({schedule}), that benefit is lost when "
        "I stop, and that shedding in the first weeks, scalp irritation, unwanted facial hair "
        "and, rarely, dizziness or palpitations can occur. I have been told the alternatives, "
        "including no treatment. I will not use it while pregnant or breastfeeding."
    ),
    "transplant": (
        "I agree to a surgical hair-transplant consultation (donor assessment and planning). "
        "Surgery itself needs a separate consent."
    ),
    "microneedling": (
        "I have been told what scalp microneedling involves, and its risks: pain, redness, "
        "pinpoint bleeding, infection and, rarely, scarring. I have been told the "
        "alternatives, including no treatment, and what the course costs me. I may withdraw at "
        "any time."
    ),
    "lllt": (
        "I have been told what low-level laser therapy involves, that results vary, and that "
        "I must protect my eyes during treatment. I have been told the alternatives, including "
        "no treatment, and what the course costs me. I may withdraw at any time."
    ),
}


def default_consent_form(clinic: Clinic, modality: str) -> ConsentForm:
    """Version 1 of a modality's consent text (unsaved), built from the protocol template."""
    template = next((t for t in protocols.TEMPLATES.values() if t.modality == modality), None)
    # The patient reads the schedule, not the protocol's note to the clinic ("configurable;
    # there is no standard regimen" was printed in a signed consent; clinician review). The
    # plan's own sessions and interval are shown with the text when it is signed.
    schedule = (
        f"{template.schedule.split(' (')[0]}, or as set out in my treatment plan"
        if template
        else "as explained by the clinician"
    )
    return ConsentForm(
        clinic=clinic,
        modality=modality,
        version=1,
        title=f"Consent to {in_sentence(MODALITY_LABELS[modality])}",
        body=_CONSENT_BODY[modality].format(schedule=schedule),
        investigational_clause=protocols.INVESTIGATIONAL_NOTICE if modality == "exosome" else "",
    )


def ensure_consent_forms(clinic: Clinic) -> None:
    """Version 1 of each modality's consent text, once per clinic."""
    have = set(ConsentForm.objects.filter(clinic=clinic).values_list("modality", flat=True))
    for m in screening.MODALITIES:
        if m not in have:
            save_with_history(default_consent_form(clinic, m), None, "shipped default text")


def current_consent_form(clinic: Clinic, modality: str) -> ConsentForm:
    """The newest text for ``modality`` (the shipped default, unsaved, if none is stored)."""
    row = ConsentForm.objects.filter(clinic=clinic, modality=modality).order_by("-version").first()
    return row if row is not None else default_consent_form(clinic, modality)


def add_consent_form_version(
    clinic: Clinic, user: User, modality: str, title: str, body: str
) -> ConsentForm:
    """New text = new version; signed consents keep pointing at the text they signed."""
    errors: dict[str, list[str]] = {}
    if modality not in screening.MODALITIES:
        _add(errors, "modality", "Unknown modality.")
    if not (title or "").strip():
        _add(errors, "title", "This field is required.")
    if len((body or "").strip()) < 50:
        _add(errors, "body", "Write the full consent text (at least 50 characters).")
    if errors:
        raise AssessmentError(errors)
    ensure_consent_forms(clinic)
    with transaction.atomic():
        current = (
            ConsentForm.objects.select_for_update()
            .filter(clinic=clinic, modality=modality)
            .order_by("-version")
            .first()
        )
        if current and (current.title, current.body) == (title.strip(), body.strip()):
            # A version is what patients sign: an identical one would only blur which text
            # a signature refers to.
            raise AssessmentError(
                {"body": [f"Nothing changed: this is the text of version {current.version}."]}
            )
        last = current.version if current else None
        row = ConsentForm(
            clinic=clinic,
            modality=modality,
            version=(last or 0) + 1,
            title=title.strip(),
            body=body.strip(),
            # The investigational clause is not editable: it is the regulator's position.
            investigational_clause=(
                protocols.INVESTIGATIONAL_NOTICE if modality == "exosome" else ""
            ),
            created_by=user,
        )
        save_with_history(row, user, f"consent text v{row.version}")
    return row


def _check_signature(errors: dict[str, list[str]], data_url: str) -> str:
    """A drawn signature: a PNG data URL, checked by content, size and dimensions."""
    if not data_url:
        return ""
    prefix = "data:image/png;base64,"
    if not isinstance(data_url, str) or not data_url.startswith(prefix):
        _add(errors, "signature_png", "The drawn signature must be a PNG image.")
        return ""
    if len(data_url) > MAX_SIGNATURE_BYTES * 4 // 3 + len(prefix) + 4:
        _add(errors, "signature_png", "The drawn signature is too large.")
        return ""
    try:
        raw = base64.b64decode(data_url[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        _add(errors, "signature_png", "The drawn signature is not valid base64.")
        return ""
    if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
        _add(errors, "signature_png", "The drawn signature is not a PNG image.")
        return ""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as img:
            width, height = img.size
            img.verify()
    except Image.DecompressionBombError:
        # A few bytes can declare a huge canvas; Pillow refuses before decoding it.
        _add(errors, "signature_png", "The drawn signature image is too large.")
        return ""
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        _add(errors, "signature_png", "The drawn signature image is damaged.")
        return ""
    if max(width, height) > MAX_SIGNATURE_SIDE_PX:
        _add(errors, "signature_png", "The drawn signature image is too large.")
        return ""
    return data_url


def _norm_name(text: str) -> str:
    return " ".join(text.casefold().split())


def record_consent(
    plan: TreatmentPlan,
    user: User,
    *,
    modality: str,
    signed_name: str,
    signed_on: date | str | None,
    signature_png: str = "",
    form_version: int | None = None,
) -> Consent:
    """Store the patient's signature on the current consent text for ``modality``;
    ``form_version``, the version the patient was shown, must still be the current one."""
    _refuse_voided(plan.patient)
    errors: dict[str, list[str]] = {}
    signed_name = (signed_name or "").strip() if isinstance(signed_name, str) else ""
    if not plan.is_active:
        _add(errors, "__all__", "This plan is cancelled.")
    if modality not in plan.modalities:
        _add(errors, "modality", f"The plan has no {modality!r} treatment.")
    elif plan.consents.filter(modality=modality, withdrawal__isnull=True).exists():
        _add(errors, "modality", f"Consent to {modality} is already recorded for this plan.")
    if not signed_name:
        _add(errors, "signed_name", "The patient types their full name.")
    elif _norm_name(signed_name) != _norm_name(plan.patient.full_name):
        _add(
            errors,
            "signed_name",
            f"The typed name must be the patient's name as registered ({plan.patient.full_name}).",
        )
    if signed_on in (None, ""):
        _add(errors, "signed_on", "Give the date of signing.")
        on = None
    else:
        on = _check_date(errors, "signed_on", signed_on)
    made_on = timezone.localdate(plan.created_at)  # the clinic's day, not UTC's
    if on is not None and on < made_on:
        _add(errors, "signed_on", f"Cannot be before the plan was made ({long_date(made_on)}).")
    signature = _check_signature(errors, signature_png)
    if errors:
        raise AssessmentError(errors)
    assert on is not None  # else an error was added above
    with transaction.atomic():
        ensure_consent_forms(plan.clinic)
        form = current_consent_form(plan.clinic, modality)
        if form_version is not None and form_version != form.version:
            raise AssessmentError(
                {
                    "form_version": [
                        f"The consent text changed after it was shown (version {form_version} "
                        f"was shown; version {form.version} is current): show the patient "
                        "the current text, then record the signature again."
                    ]
                }
            )
        row = Consent(
            clinic=plan.clinic,
            patient=plan.patient,
            plan=plan,
            modality=modality,
            form=form,
            signed_name=signed_name,
            signed_on=on,
            signature_png=signature,
            recorded_by=user,
        )
        save_with_history(row, user, f"consent to {modality} (form v{form.version})")
    return row


def _last_session_under(consent: Consent) -> date | None:
    """The date of the latest session (not voided) given under ``consent``: of its modality
    on its plan, on or after the day it was signed."""
    from anagen.treatments.models import TreatmentSession  # treatments reads assessment

    return (
        TreatmentSession.objects.filter(
            plan_id=consent.plan_id,
            modality=consent.modality,
            performed_on__gte=consent.signed_on,
            voided_at__isnull=True,
        )
        .order_by("-performed_on")
        .values_list("performed_on", flat=True)
        .first()
    )


def withdraw_consent(
    consent: Consent, user: User, reason: str, withdrawn_on: date | str | None = None
) -> ConsentWithdrawal:
    _refuse_voided(consent.patient)
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if consent.withdrawn:
        _add(errors, "__all__", "This consent is already withdrawn.")
    if len(reason) < MIN_REASON_CHARS:
        _add(errors, "reason", f"Give the reason (at least {MIN_REASON_CHARS} characters).")
    on = _check_date(errors, "withdrawn_on", withdrawn_on or _today())
    if on is not None and on < consent.signed_on:
        _add(errors, "withdrawn_on", "Cannot be before the consent was signed.")
    elif on is not None and (given := _last_session_under(consent)) is not None and on < given:
        # A withdrawal stops what comes after it; dated before a session already given, it
        # would leave that session on record as given without consent (has_valid_consent
        # on its date turns false). A session on the day of withdrawal stays covered.
        _add(
            errors,
            "withdrawn_on",
            f"A session of {in_sentence(MODALITY_LABELS[consent.modality])} was given under "
            f"this consent on {long_date(given)}: the withdrawal cannot be dated before it. If "
            "that session was entered in error, void it first.",
        )
    if errors:
        raise AssessmentError(errors)
    assert on is not None  # else an error was added above
    row = ConsentWithdrawal(
        clinic=consent.clinic, consent=consent, withdrawn_on=on, reason=reason, recorded_by=user
    )
    save_with_history(row, user, f"consent withdrawn: {reason}")
    return row


def has_valid_consent(plan: TreatmentPlan, modality: str, on_date: date) -> bool:
    """True when the patient had signed consent to ``modality`` of ``plan`` on ``on_date``
    and had not withdrawn it by then, and the plan is active."""
    if not plan.is_active or modality not in plan.modalities:
        return False
    for c in plan.consents.filter(modality=modality, signed_on__lte=on_date).select_related(
        "withdrawal"
    ):
        if not c.withdrawn or c.withdrawal.withdrawn_on > on_date:
            return True
    return False
