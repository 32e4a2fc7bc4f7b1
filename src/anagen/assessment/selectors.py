"""Reads of consultation data, always scoped to one clinic (through its patient).

Nested objects are looked up through the patient, and the patient through the clinic
(``patients.selectors.get_patient``), so an id of another clinic's object is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from anagen.accounts.models import Clinic
from anagen.assessment import screening, services
from anagen.assessment.models import (
    Consent,
    ConsentForm,
    Diagnosis,
    MedicalHistory,
    ProtocolTemplate,
    ScalpExam,
    Screening,
    ScreeningRuleOverride,
    TreatmentPlan,
)
from anagen.core.text import MAX_DB_ID
from anagen.patients.models import Patient


def _valid_id(value: Any) -> bool:
    return isinstance(value, int) and 0 < value <= MAX_DB_ID


def histories(patient: Patient) -> QuerySet[MedicalHistory]:
    return MedicalHistory.objects.filter(patient=patient).select_related("recorded_by")


def latest_history(patient: Patient) -> MedicalHistory | None:
    return histories(patient).order_by("-version").first()


def latest_screening(patient: Patient) -> Screening | None:
    return (
        Screening.objects.filter(patient=patient)
        .select_related("medical_history", "created_by")
        .prefetch_related("overrides__overridden_by")
        .order_by("-created_at", "-id")
        .first()
    )


def exams(patient: Patient) -> QuerySet[ScalpExam]:
    return ScalpExam.objects.filter(patient=patient).select_related("examined_by")


def latest_exam(patient: Patient) -> ScalpExam | None:
    return exams(patient).order_by("-examined_on", "-id").first()


def diagnoses(patient: Patient) -> QuerySet[Diagnosis]:
    return Diagnosis.objects.filter(patient=patient).select_related("diagnosed_by")


def latest_diagnosis(patient: Patient) -> Diagnosis | None:
    return diagnoses(patient).order_by("-diagnosed_on", "-id").first()


def plans(patient: Patient) -> QuerySet[TreatmentPlan]:
    return (
        TreatmentPlan.objects.filter(patient=patient)
        .select_related("created_by", "diagnosis")
        .prefetch_related("consents__withdrawal", "consents__form")
        .order_by("-created_at", "-id")
    )


def current_plan(patient: Patient) -> TreatmentPlan | None:
    return plans(patient).filter(status="active").first()


def active_plans(patient: Patient) -> list[TreatmentPlan]:
    """The patient's active plans, newest first, each with ``sessions_given``: the days with
    a session not voided (two entries on one day are one session of the course, as for the
    follow-up decision). Plans of different treatments run side by side (an exosome course
    and a minoxidil prescription), as may a finished course and the next one."""
    given = services.session_days()
    return list(plans(patient).filter(status="active").annotate(sessions_given=given))


def get_plan(patient: Patient, plan_id: int) -> TreatmentPlan:
    if not _valid_id(plan_id):
        raise Http404("No such plan.")
    plan = plans(patient).filter(pk=plan_id).first()
    if plan is None:
        raise Http404("No such plan.")
    return plan


def get_consent(patient: Patient, consent_id: int) -> Consent:
    if not _valid_id(consent_id):
        raise Http404("No such consent.")
    consent = (
        Consent.objects.filter(patient=patient, pk=consent_id)
        .select_related("plan", "form", "recorded_by")
        .first()
    )
    if consent is None:
        raise Http404("No such consent.")
    return consent


def consents(patient: Patient) -> QuerySet[Consent]:
    return Consent.objects.filter(patient=patient).select_related(
        "form", "recorded_by", "withdrawal", "plan"
    )


# --- clinic-level data ---------------------------------------------------------------------


def rule_overrides(clinic: Clinic, *, include_retired: bool = False) -> QuerySet:
    qs = ScreeningRuleOverride.objects.filter(clinic=clinic).select_related(
        "created_by", "retired_by"
    )
    return qs if include_retired else qs.filter(retired_at__isnull=True)


def get_rule_override(clinic: Clinic, override_id: int) -> ScreeningRuleOverride:
    if not _valid_id(override_id):
        raise Http404("No such override.")
    row = rule_overrides(clinic).filter(pk=override_id).first()
    if row is None:
        raise Http404("No such override.")
    return row


def effective_rules(clinic: Clinic) -> list[screening.Rule]:
    return list(services.effective_ruleset(clinic).rules)


def protocol_templates(clinic: Clinic) -> list[ProtocolTemplate]:
    """The clinic's templates; shipped defaults (unsaved) where it has no row yet."""
    rows = {t.key: t for t in ProtocolTemplate.objects.filter(clinic=clinic)}
    from anagen.assessment.protocols import TEMPLATES

    out = [rows.pop(k) if k in rows else services.default_template(clinic, k) for k in TEMPLATES]
    return out + sorted(rows.values(), key=lambda t: t.key)


def consent_forms(clinic: Clinic) -> list[ConsentForm]:
    """The current text per modality (defaults, unsaved, where none is stored)."""
    return [services.current_consent_form(clinic, m) for m in screening.MODALITIES]


# --- the consultation as a whole -----------------------------------------------------------


@dataclass
class Step:
    key: str
    title: str
    done: bool
    summary: str = ""


@dataclass
class PlanCard:
    """One active plan on the consultation page, with a consent row per treatment in it."""

    plan: TreatmentPlan
    consent_rows: list[dict[str, Any]] = field(default_factory=list)
    # Treatments of the plan that the latest screening BLOCKs with no clinician override
    # (a later history or a stricter rule): the plan was accepted before that.
    blocked: list[str] = field(default_factory=list)
    # The latest diagnosis, where it names another condition than the one the plan was
    # accepted for (a plan for androgenetic alopecia after a revision to alopecia areata).
    diagnosis_changed: Diagnosis | None = None

    @property
    def consented(self) -> bool:
        """The patient consented to the plan as it stands (a consent not withdrawn): it can
        no longer be edited, only cancelled and replaced."""
        return any(not c.withdrawn for c in self.plan.consents.all())

    @property
    def fully_consented(self) -> bool:
        return all(r["consent"] for r in self.consent_rows)

    @property
    def course_given(self) -> bool:
        """Every planned session has been given (the course is complete)."""
        planned = self.plan.sessions_planned
        if not planned:
            return False
        return bool(getattr(self.plan, "sessions_given", 0) >= planned)


@dataclass
class Consultation:
    patient: Patient
    history: MedicalHistory | None
    screening: Screening | None
    screening_current: bool
    exam: ScalpExam | None
    diagnosis: Diagnosis | None
    plan: TreatmentPlan | None  # the newest active plan
    plans: list[PlanCard] = field(default_factory=list)  # every active plan, newest first
    screening_stale: str | None = None  # why the screening must be run again
    proposals: list[services.Proposal] = field(default_factory=list)
    proposals_missing: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @property
    def blocked_modalities(self) -> list[str]:
        if self.screening is None:
            return []
        overridden = services.standing_overrides(self.screening)
        return [
            m
            for m, r in self.screening.modality_results()
            if r["outcome"] == "BLOCK" and m not in overridden
        ]

    @property
    def next_step(self) -> str | None:
        return next((s.key for s in self.steps if not s.done), None)


def consultation(patient: Patient) -> Consultation:
    """Everything the consultation page, the patient panel and the API summary show."""
    scr = latest_screening(patient)
    stale = services.screening_staleness(patient, scr)
    c = Consultation(
        patient=patient,
        history=latest_history(patient),
        screening=scr,
        screening_current=stale is None,
        screening_stale=stale,
        exam=latest_exam(patient),
        diagnosis=latest_diagnosis(patient),
        plan=None,
    )
    c.proposals, c.proposals_missing = services.proposals(patient)
    blocked_now = set(c.blocked_modalities)
    for plan in active_plans(patient):
        card = PlanCard(plan, blocked=[m for m in plan.modalities if m in blocked_now])
        if (
            c.diagnosis is not None
            and plan.diagnosis is not None
            and c.diagnosis.condition != plan.diagnosis.condition
        ):
            card.diagnosis_changed = c.diagnosis
        for m in plan.modalities:
            live = [x for x in plan.consents.all() if x.modality == m and not x.withdrawn]
            card.consent_rows.append(
                {
                    "modality": m,
                    "consent": live[0] if live else None,
                    "form": services.current_consent_form(patient.clinic, m),
                }
            )
        c.plans.append(card)
    c.plan = c.plans[0].plan if c.plans else None
    consented = bool(c.plans) and all(card.fully_consented for card in c.plans)
    # A plan without a procedure (a prescription, a referral) has nothing to sign here.
    needs_consent = any(card.consent_rows for card in c.plans)
    consent_summary = (
        ("signed" if needs_consent else "none needed (no procedure)") if consented else ""
    )
    worst = ""
    if scr is not None:
        outcomes = [r["outcome"] for r in scr.result["modalities"].values()]
        worst = max(outcomes, key=lambda o: screening.Outcome(o).severity, default="OK")
    c.steps = [
        Step("history", "Medical history", c.history is not None,
             f"v{c.history.version}, {c.history.recorded_on}" if c.history else ""),
        Step("screening", "Screening", c.screening_current,
             f"worst outcome {worst}" if scr else ""),
        Step("exam", "Scalp exam", c.exam is not None,
             f"{c.exam.examined_on}" if c.exam else ""),
        Step("diagnosis", "Diagnosis", c.diagnosis is not None,
             c.diagnosis.label if c.diagnosis else ""),
        Step("plan", "Plan", c.plan is not None,
             "; ".join(card.plan.title for card in c.plans)),
        Step("consent", "Consent", consented, consent_summary),
    ]  # fmt: skip
    return c
