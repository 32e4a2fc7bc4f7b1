"""Consultation API: /api/v1/consultation/… — the same data and rules as the pages.

Paths start with the patient id. The patient is resolved in the caller's clinic during
authentication, before the permission check, so another clinic's patient is a 404
("No such patient.") for every role and endpoint; nested objects are then looked up
through that patient. Writes go through ``anagen.assessment.services``; a refused write
is a 400 whose ``detail`` names the field.
"""

from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict

from anagen.accounts.roles import PERMISSIONS
from anagen.api.auth import BearerToken, SessionCookie, check_permission
from anagen.api.errors import refuse_nulls
from anagen.api.schemas import InputSchema
from anagen.assessment import selectors, services
from anagen.assessment.models import (
    Consent,
    Diagnosis,
    MedicalHistory,
    ScalpExam,
    Screening,
    TreatmentPlan,
)
from anagen.core.http import ClinicRequest
from anagen.monitoring import services as monitoring_services
from anagen.patients.models import Patient
from anagen.patients.selectors import get_patient

router = Router(tags=["consultation"])


# --- authentication: tenancy first, then the permission table -----------------------------


def _tenancy_then_permission(request: ClinicRequest, permission: str) -> None:
    match = getattr(request, "resolver_match", None)
    raw = match.kwargs.get("patient_id") if match is not None else None
    if raw is not None:
        try:
            patient_id = int(raw)
        except (TypeError, ValueError):
            patient_id = None  # not a number: ninja's validation answers 422
        if patient_id is not None:
            get_patient(request.clinic, patient_id)  # Http404 "No such patient."
    check_permission(request, permission)


class _PatientBearer(BearerToken):
    def check(self, request: ClinicRequest) -> None:
        _tenancy_then_permission(request, self.permission)


class _PatientSession(SessionCookie):
    def check(self, request: ClinicRequest) -> None:
        _tenancy_then_permission(request, self.permission)


def guard(permission: str) -> list:
    """Like ``anagen.api.auth.guard``, but another clinic's patient is 404 before 403."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return [_PatientBearer(permission), _PatientSession(permission)]


def _patient(request: ClinicRequest, patient_id: int) -> Patient:
    return get_patient(request.clinic, patient_id)


# --- schemas -------------------------------------------------------------------------------

Modality = Literal["exosome", "prp", "minoxidil", "transplant", "microneedling", "lllt"]


class MedicationIn(InputSchema):
    drug_class: str = Field(max_length=40)
    name: str = Field("", max_length=200)
    start: date | None = None
    stop: date | None = Field(None, description="Empty = still taking")


class PriorTreatmentIn(InputSchema):
    modality: str = Field(max_length=40)
    on: date
    notes: str = Field("", max_length=2000)


class HistoryIn(InputSchema):
    """A new version of the whole questionnaire; it replaces the previous version.

    Every answer is required: an omitted field would otherwise read as "no" (no allergies,
    no medications) and erase what the previous version recorded. Send ``[]`` or ``false``
    for "no", ``null`` for an unknown pregnancy, breastfeeding or platelet count, and the
    previous answers (GET ``/history``) for what did not change. Only ``recorded_on``
    (today) and ``notes`` may be left out.
    """

    recorded_on: date | None = Field(None, description="Date the answers were given (today)")
    conditions: list[str] = Field(..., max_length=50, description="[] for none")
    other_conditions: str = Field(..., max_length=5000, description='"" for none')
    medications: list[MedicationIn] = Field(..., max_length=50, description="[] for none")
    allergies: list[str] = Field(
        ..., max_length=100, description="Substances, incl. products; [] for none"
    )
    pregnant: bool | None = Field(..., description="null = not recorded (not asked)")
    lactating: bool | None = Field(..., description="null = not recorded (not asked)")
    malignancy: Literal["none", "active", "past"] = Field(...)
    malignancy_details: str = Field(..., max_length=5000, description='"" for none')
    autoimmune_disease: bool = Field(...)
    bleeding_disorder: bool = Field(...)
    platelet_count_10e9_per_l: float | None = Field(
        ..., ge=0, le=5000, allow_inf_nan=False, description="null = not measured"
    )
    keloid: bool = Field(...)
    scalp_conditions: list[str] = Field(..., max_length=20, description="[] for none")
    prior_treatments: list[PriorTreatmentIn] = Field(..., max_length=50, description="[] for none")
    notes: str = Field("", max_length=5000)


class MedicalHistoryOut(Schema):
    id: int
    version: int
    recorded_on: date
    recorded_by: str
    created_at: datetime
    conditions: list[str]
    other_conditions: str
    medications: list[dict[str, Any]]
    allergies: list[str]
    pregnant: bool | None
    lactating: bool | None
    malignancy: str
    malignancy_details: str
    autoimmune_disease: bool
    bleeding_disorder: bool
    platelet_count_10e9_per_l: float | None
    keloid: bool
    scalp_conditions: list[str]
    prior_treatments: list[dict[str, Any]]
    notes: str
    answered_on: dict[str, str]

    @staticmethod
    def resolve_recorded_by(obj: MedicalHistory) -> str:
        return obj.recorded_by.username


class OverrideOut(Schema):
    modality: str
    rule_ids: list[str]
    reason: str
    overridden_by: str
    created_at: datetime

    @staticmethod
    def resolve_overridden_by(obj: Any) -> str:
        return obj.overridden_by.username


class ScreeningOut(Schema):
    id: int
    history_version: int
    screened_on: date
    ruleset_version: str
    rule_overrides: list[dict[str, Any]]
    product_components: list[str]
    result: dict[str, Any]
    overrides: list[OverrideOut]
    current: bool = Field(
        description="False when the history changed after this screening, or when the rules "
        "in force or the patient record (age, sex) now give a different result: screen again"
    )

    @staticmethod
    def resolve_history_version(obj: Screening) -> int:
        return obj.medical_history.version

    @staticmethod
    def resolve_overrides(obj: Screening) -> list:
        return list(obj.overrides.all())

    @staticmethod
    def resolve_current(obj: Screening) -> bool:
        return services.screening_is_current(obj.patient, obj)


class ScreenIn(InputSchema):
    product_components: list[str] = Field([], max_length=50)


class OverrideIn(InputSchema):
    modality: Modality
    reason: str = Field(max_length=2000)


class ExamIn(InputSchema):
    examined_on: date | None = None
    norwood_hamilton: str = Field("", max_length=12)
    ludwig: str = Field("", max_length=5)
    sinclair: int | None = None
    female_pattern_confirmed: bool = False
    basp_basic: str = Field("", max_length=4)
    basp_f: str = Field("", max_length=4)
    basp_v: str = Field("", max_length=4)
    salt_top: float | None = Field(None, description="% of hair lost in the region, 0–100")
    salt_posterior: float | None = None
    salt_right: float | None = None
    salt_left: float | None = None
    aa_qol_impact: int | None = None
    aa_brow_or_lash_loss: bool = False
    aa_months_failed_treatment: float | None = None
    aa_rapid_loss: bool = False
    aa_diffuse_pull_test: bool = False
    pull_hairs_pulled: int | None = None
    pull_hairs_out: int | None = None
    trichoscopy_signs: list[str] = Field([], max_length=30)
    findings: str = Field("", max_length=10000)


class ExamOut(Schema):
    id: int
    examined_on: date
    examined_by: str
    norwood_hamilton: str
    ludwig: str
    sinclair: int | None
    female_pattern_confirmed: bool
    basp_final: str
    salt_top: float | None
    salt_posterior: float | None
    salt_right: float | None
    salt_left: float | None
    salt_score: float | None
    salt_band: str
    aa_iga: int | None
    aa_scale_base: str
    aa_scale_severity: str
    # The AA Scale's inputs and what moved it up a level (King 2022).
    aa_qol_impact: int | None
    aa_brow_or_lash_loss: bool
    aa_months_failed_treatment: float | None
    aa_rapid_loss: bool
    aa_diffuse_pull_test: bool
    aa_scale_upgrade_reasons: list[str]
    pull_hairs_pulled: int | None
    pull_hairs_out: int | None
    pull_test_positive: bool | None
    trichoscopy_signs: list[str]
    findings: str
    stage: str

    @staticmethod
    def resolve_examined_by(obj: ScalpExam) -> str:
        return obj.examined_by.username


class DiagnosisIn(InputSchema):
    condition: str = Field(max_length=20)
    stage: str = Field("", max_length=30, description="The code, alone or after the scale's name")
    diagnosed_on: date | None = None
    label: str = Field("", max_length=200, description="Only for condition 'other'")
    icd10_code: str = Field("", max_length=10, description="Only for condition 'other'")
    snomed_code: str = Field("", max_length=20, description="Only for condition 'other'")
    notes: str = Field("", max_length=5000)


class CodingOut(Schema):
    system: str
    code: str
    version: str


class DiagnosisOut(Schema):
    id: int
    condition: str
    label: str
    stage: str
    diagnosed_on: date
    diagnosed_by: str
    codings: list[CodingOut]
    notes: str

    @staticmethod
    def resolve_diagnosed_by(obj: Diagnosis) -> str:
        return obj.diagnosed_by.username

    @staticmethod
    def resolve_codings(obj: Diagnosis) -> list[dict[str, str]]:
        return [
            {"system": s, "code": c, "version": v}
            for c, s, v in (
                (obj.icd10_code, obj.icd10_system, obj.icd10_version),
                (obj.icd11_code, obj.icd11_system, obj.icd11_version),
                (obj.snomed_code, obj.snomed_system, obj.snomed_version),
            )
            if c
        ]


class ProposalOut(Schema):
    key: str
    title: str
    modalities: list[str]
    reasons: list[str]
    flags: list[str]
    notices: list[str]
    screening_outcome: str | None
    protocols: list[dict[str, Any]]
    blocked_modalities: list[str]
    overridden_modalities: list[str]
    can_accept: bool


class ProposalsOut(Schema):
    proposals: list[ProposalOut]
    missing: list[str]


class PlanIn(InputSchema):
    proposal_key: str = Field(max_length=40)
    sessions_planned: int | None = None
    interval_weeks: float | None = None
    start_on: date | None = None
    notes: str = Field("", max_length=5000)
    confirm_schedule: bool = Field(
        False,
        description="true once the warnings of an interval outside the protocol's range were "
        "read (the plan keeps them in schedule_warnings)",
    )


def _notes_not_nullable(schema: dict[str, Any]) -> None:
    """null notes are refused (400, see update_plan), so the document offers text only; null
    stays offered for the fields it clears."""
    notes = schema["properties"]["notes"]
    options = [o for o in notes.pop("anyOf", []) if o.get("type") != "null"]
    notes.update(options[0])
    notes.pop("default", None)


class PlanPatch(InputSchema):
    """Send only the fields to change. null clears sessions_planned, interval_weeks and
    start_on; notes are cleared with "" (null is refused)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_notes_not_nullable)

    sessions_planned: int | None = None
    interval_weeks: float | None = None
    start_on: date | None = None
    notes: str | None = Field(None, max_length=5000)
    confirm_schedule: bool = Field(
        False,
        description="true once the warnings of an interval outside the protocol's range were "
        "read (the plan keeps them in schedule_warnings)",
    )


class PlanCancelIn(InputSchema):
    reason: str = Field(max_length=2000)
    end_course: bool = Field(
        False,
        description="Also end the patient's follow-up course: its planned visits are "
        "cancelled (missed when past) with this reason",
    )


class ConsentIn(InputSchema):
    modality: Modality
    signed_name: str = Field(max_length=200)
    signed_on: date
    signature_png: str = Field("", max_length=500_000, description="data:image/png;base64,…")
    form_version: int | None = Field(
        None,
        ge=1,
        description="The version of the consent text the patient read (GET …/consent-forms): "
        "refused with 400 when the clinic has replaced it since. Without it the current "
        "version is recorded.",
    )


class WithdrawIn(InputSchema):
    reason: str = Field(max_length=2000)
    withdrawn_on: date | None = None


class ConsentOut(Schema):
    id: int
    plan_id: int
    modality: str
    form_version: int
    form_title: str
    signed_name: str
    signed_on: date
    has_drawn_signature: bool
    recorded_by: str
    recorded_at: datetime
    withdrawn_on: date | None

    @staticmethod
    def resolve_form_version(obj: Consent) -> int:
        return obj.form.version

    @staticmethod
    def resolve_form_title(obj: Consent) -> str:
        return obj.form.title

    @staticmethod
    def resolve_has_drawn_signature(obj: Consent) -> bool:
        return bool(obj.signature_png)

    @staticmethod
    def resolve_recorded_by(obj: Consent) -> str:
        return obj.recorded_by.username

    @staticmethod
    def resolve_withdrawn_on(obj: Consent) -> date | None:
        return obj.withdrawal.withdrawn_on if obj.withdrawn else None


class PlanOut(Schema):
    id: int
    proposal_key: str
    title: str
    status: str
    modalities: list[str]
    protocols: list[dict[str, Any]]
    reasons: list[str]
    flags: list[str]
    notices: list[str]
    sessions_planned: int | None
    interval_weeks: float | None
    schedule_warnings: list[str] = Field(
        description="The interval lies outside a protocol's range (confirmed when it was set)"
    )
    start_on: date | None
    notes: str
    cancel_reason: str
    diagnosis_id: int
    screening_id: int
    created_by: str
    created_at: datetime
    consents: list[ConsentOut]

    @staticmethod
    def resolve_created_by(obj: TreatmentPlan) -> str:
        return obj.created_by.username

    @staticmethod
    def resolve_consents(obj: TreatmentPlan) -> list:
        return list(obj.consents.all())


class StepOut(Schema):
    key: str
    title: str
    done: bool
    summary: str


class ConsultationOut(Schema):
    patient_id: int
    steps: list[StepOut]
    next_step: str | None
    history: MedicalHistoryOut | None
    screening: ScreeningOut | None
    exam: ExamOut | None
    diagnosis: DiagnosisOut | None
    plan: PlanOut | None = Field(description="The newest active plan (also first in plans).")
    plans: list[PlanOut] = Field(
        description="Every active plan, newest first: plans of different treatments run "
        "side by side, as may a finished course and the next."
    )


class RuleOut(Schema):
    id: str
    modality: str
    outcome: str
    enabled: bool
    locked: bool
    reason: str
    source: str
    override_reason: str | None


class RulesOut(Schema):
    ruleset_version: str
    rules: list[RuleOut]


class RuleOverrideIn(InputSchema):
    rule_id: str = Field(max_length=60)
    action: Literal["set_outcome", "disable"]
    outcome: Literal["", "WARN", "REFER", "BLOCK"] = ""
    reason: str = Field(max_length=2000)


class RuleOverrideOut(Schema):
    id: int
    rule_id: str
    action: str
    outcome: str
    reason: str
    created_at: datetime


# --- clinic rules (before "/{patient_id}", so "/rules" is not read as a patient id) ------


@router.get(
    "/rules",
    response=RulesOut,
    summary="The clinic's effective screening rules",
    auth=guard("consultation.view"),
)
def list_rules(request: ClinicRequest):
    rs = services.effective_ruleset(request.clinic)
    return {
        "ruleset_version": rs.effective_version,
        "rules": [{**r.__dict__, "outcome": str(r.outcome)} for r in rs.rules],
    }


@router.post(
    "/rules/overrides",
    response={201: RuleOverrideOut},
    summary="Override one screening rule for this clinic (reason required, audited)",
    auth=guard("protocol.manage"),
)
def add_rule_override(request: ClinicRequest, payload: RuleOverrideIn):
    return Status(
        201,
        services.add_rule_override(
            request.clinic,
            request.user,
            payload.rule_id,
            payload.action,
            payload.outcome,
            payload.reason,
        ),
    )


# --- the consultation ----------------------------------------------------------------------


@router.get(
    "/{int:patient_id}",
    response=ConsultationOut,
    summary="The whole consultation: steps and the latest record of each",
    auth=guard("consultation.view"),
)
def consultation(request: ClinicRequest, patient_id: int):
    c = selectors.consultation(_patient(request, patient_id))
    return {
        "patient_id": patient_id,
        "steps": [s.__dict__ for s in c.steps],
        "next_step": c.next_step,
        "history": c.history,
        "screening": c.screening,
        "exam": c.exam,
        "diagnosis": c.diagnosis,
        "plan": c.plan,
        "plans": [card.plan for card in c.plans],
    }


@router.get(
    "/{int:patient_id}/history",
    response=list[MedicalHistoryOut],
    summary="All versions of the medical history, newest first",
    auth=guard("consultation.view"),
)
def list_history(request: ClinicRequest, patient_id: int):
    return list(selectors.histories(_patient(request, patient_id)).order_by("-version"))


@router.post(
    "/{int:patient_id}/history",
    response={201: MedicalHistoryOut},
    summary="Record a new history version (screened at once)",
    description=(
        "Send every answer (see HistoryIn): the new version replaces the previous one, so "
        'an omitted answer is refused (422 naming the field) rather than read as "no".'
    ),
    auth=guard("history.edit"),
)
def record_history(request: ClinicRequest, patient_id: int, payload: HistoryIn):
    patient = _patient(request, patient_id)
    data = payload.dict()
    data["recorded_on"] = data["recorded_on"] or None
    return Status(201, services.record_history(patient, request.user, data))


@router.get(
    "/{int:patient_id}/screening",
    response=ScreeningOut,
    summary="The latest screening result",
    auth=guard("consultation.view"),
)
def latest_screening(request: ClinicRequest, patient_id: int):
    row = selectors.latest_screening(_patient(request, patient_id))
    if row is None:
        raise HttpError(404, "No screening yet: record the medical history first.")
    return row


@router.post(
    "/{int:patient_id}/screening",
    response={201: ScreeningOut},
    summary="Screen the latest history again today",
    auth=guard("history.edit"),
)
def screen_again(request: ClinicRequest, patient_id: int, payload: ScreenIn):
    patient = _patient(request, patient_id)
    return Status(
        201,
        services.run_screening(
            patient, request.user, product_components=payload.product_components
        ),
    )


@router.post(
    "/{int:patient_id}/screening/overrides",
    response={201: OverrideOut},
    summary="Override a BLOCK of the latest screening (written reason, audited)",
    auth=guard("screening.override"),
)
def override_block(request: ClinicRequest, patient_id: int, payload: OverrideIn):
    row = selectors.latest_screening(_patient(request, patient_id))
    if row is None:
        raise HttpError(400, "modality: nothing has been screened yet.")
    return Status(201, services.override_block(row, request.user, payload.modality, payload.reason))


@router.get(
    "/{int:patient_id}/exams",
    response=list[ExamOut],
    summary="Scalp examinations, newest first",
    auth=guard("consultation.view"),
)
def list_exams(request: ClinicRequest, patient_id: int):
    return list(selectors.exams(_patient(request, patient_id)).order_by("-examined_on", "-id"))


@router.post(
    "/{int:patient_id}/exams",
    response={201: ExamOut},
    summary="Record a scalp examination",
    auth=guard("exam.edit"),
)
def record_exam(request: ClinicRequest, patient_id: int, payload: ExamIn):
    patient = _patient(request, patient_id)
    return Status(201, services.record_exam(patient, request.user, payload.dict()))


@router.get(
    "/{int:patient_id}/diagnoses",
    response=list[DiagnosisOut],
    summary="Diagnoses, newest first",
    auth=guard("consultation.view"),
)
def list_diagnoses(request: ClinicRequest, patient_id: int):
    patient = _patient(request, patient_id)
    return list(selectors.diagnoses(patient).order_by("-diagnosed_on", "-id"))


@router.post(
    "/{int:patient_id}/diagnoses",
    response={201: DiagnosisOut},
    summary="Record a coded diagnosis",
    auth=guard("diagnosis.edit"),
)
def record_diagnosis(request: ClinicRequest, patient_id: int, payload: DiagnosisIn):
    patient = _patient(request, patient_id)
    return Status(201, services.record_diagnosis(patient, request.user, payload.dict()))


@router.get(
    "/{int:patient_id}/proposals",
    response=ProposalsOut,
    summary="Plans proposed for the latest diagnosis and screening",
    auth=guard("consultation.view"),
)
def list_proposals(request: ClinicRequest, patient_id: int):
    found, missing = services.proposals(_patient(request, patient_id))
    return {
        "proposals": [{**p.__dict__, "can_accept": p.can_accept} for p in found],
        "missing": missing,
    }


@router.get(
    "/{int:patient_id}/plans",
    response=list[PlanOut],
    summary="Treatment plans, newest first",
    auth=guard("consultation.view"),
)
def list_plans(request: ClinicRequest, patient_id: int):
    return list(selectors.plans(_patient(request, patient_id)))


@router.post(
    "/{int:patient_id}/plans",
    response={201: PlanOut},
    summary="Accept a proposal (optionally edited); a BLOCK needs an override first",
    auth=guard("plan.edit"),
)
def accept_plan(request: ClinicRequest, patient_id: int, payload: PlanIn):
    patient = _patient(request, patient_id)
    return Status(201, services.accept_plan(patient, request.user, payload.dict()))


@router.patch(
    "/{int:patient_id}/plans/{int:plan_id}",
    response=PlanOut,
    summary="Edit a plan nobody has consented to yet",
    auth=guard("plan.edit"),
)
def update_plan(request: ClinicRequest, patient_id: int, plan_id: int, payload: PlanPatch):
    plan = selectors.get_plan(_patient(request, patient_id), plan_id)
    changes = payload.dict(exclude_unset=True)
    # null clears these (as an emptied field on the page does); notes are cleared with "".
    refuse_nulls(changes, nullable=("sessions_planned", "interval_weeks", "start_on"))
    return services.update_plan(plan, request.user, changes)


@router.post(
    "/{int:patient_id}/plans/{int:plan_id}/cancel",
    response=PlanOut,
    summary="Cancel a plan (reason required)",
    auth=guard("plan.edit"),
)
def cancel_plan(request: ClinicRequest, patient_id: int, plan_id: int, payload: PlanCancelIn):
    plan = selectors.get_plan(_patient(request, patient_id), plan_id)
    if not payload.end_course:
        return services.cancel_plan(plan, request.user, payload.reason)
    return monitoring_services.cancel_plan_and_end_course(plan, request.user, payload.reason)[0]


@router.post(
    "/{int:patient_id}/plans/{int:plan_id}/consents",
    response={201: ConsentOut},
    summary="Record the patient's signed consent to one treatment of the plan",
    auth=guard("consent.record"),
)
def record_consent(request: ClinicRequest, patient_id: int, plan_id: int, payload: ConsentIn):
    plan = selectors.get_plan(_patient(request, patient_id), plan_id)
    return Status(201, services.record_consent(plan, request.user, **payload.dict()))


@router.get(
    "/{int:patient_id}/consents",
    response=list[ConsentOut],
    summary="Signed consents (withdrawn ones included)",
    auth=guard("consultation.view"),
)
def list_consents(request: ClinicRequest, patient_id: int):
    return list(selectors.consents(_patient(request, patient_id)))


@router.post(
    "/{int:patient_id}/consents/{int:consent_id}/withdraw",
    response={201: ConsentOut},
    summary="Record a withdrawal of consent (the consent itself never changes)",
    auth=guard("consent.record"),
)
def withdraw_consent(request: ClinicRequest, patient_id: int, consent_id: int, payload: WithdrawIn):
    consent = selectors.get_consent(_patient(request, patient_id), consent_id)
    services.withdraw_consent(consent, request.user, payload.reason, payload.withdrawn_on)
    return Status(201, selectors.get_consent(consent.patient, consent.pk))
