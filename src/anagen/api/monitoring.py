"""Monitoring API: follow-up schedule, visits with measurements, adverse events, decisions.

Request bodies declare every field optional on purpose: the patient in the path is looked
up first (another clinic's patient → 404 before any body check), then services.py applies
the rules and names the field in a 400. Photos are uploaded through the pages (the API
accepts JSON bodies only); their metadata is listed here.
"""

from datetime import date, datetime, timedelta
from typing import Any, cast

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination, paginate

from anagen.accounts.permissions import can
from anagen.accounts.roles import allowed
from anagen.api.auth import guard
from anagen.api.errors import refuse, refuse_nulls
from anagen.api.pagination import BoundedPagination
from anagen.api.schemas import InputSchema
from anagen.core.http import ClinicRequest
from anagen.monitoring import schedule, selectors, services
from anagen.monitoring.models import (
    AdverseEvent,
    Measurement,
    Photo,
    ScheduledVisit,
    TreatmentDecision,
    Visit,
)
from anagen.patients.models import Patient

router = Router(tags=["monitoring"])

Num = float | None


def _patient(request: ClinicRequest, patient_id: int) -> Patient:
    return selectors.get_patient(request.clinic, patient_id)


# --- schemas -------------------------------------------------------------------------------


class ScheduledVisitOut(Schema):
    id: int
    patient_id: int
    due_date: date
    original_due_date: date
    kind: str
    label: str
    week: int | None
    session_number: int | None
    status: str
    reschedule_count: int
    overdue: bool = False
    visit_id: int | None = None

    @staticmethod
    def resolve_visit_id(obj: ScheduledVisit) -> int | None:
        visit = getattr(obj, "visit", None)
        return visit.pk if visit is not None else None


class SchedulePlanIn(InputSchema):
    first_session_date: date | None = None
    sessions_planned: int | None = Field(None, ge=1, le=24)
    interval_weeks: float | None = Field(None, allow_inf_nan=False)
    follow_up_weeks: list[int] | None = Field(None, max_length=50, description="Default 4,12,24,48")
    protocol_key: str = Field("", max_length=40)


class SchedulePlanOut(Schema):
    id: int
    first_session_date: date
    sessions_planned: int
    interval_weeks: float
    follow_up_weeks: str
    protocol_key: str
    visits: list[ScheduledVisitOut]

    @staticmethod
    def resolve_visits(obj: Any) -> list[ScheduledVisit]:
        # Appointments voided as booked in error are not part of the schedule.
        return list(obj.visits.filter(voided_at__isnull=True).order_by("due_date", "id"))


class CourseEndIn(InputSchema):
    reason: str = Field("", max_length=2000)


class CourseEndOut(Schema):
    cancelled: int = Field(description="Planned visits due today or later, now cancelled")
    missed: int = Field(description="Planned visits already past their date, now missed")
    plan: SchedulePlanOut


class RescheduleIn(InputSchema):
    due_date: date | None = None
    reason: str = Field("", max_length=500)
    move_later: bool = Field(
        False,
        description="Move the later planned visits of the course by as many days (needed to "
        "move a course visit past the next one)",
    )


class AppointmentIn(InputSchema):
    due_date: date | None = None
    label: str = Field("Consultation", max_length=120, description="What it is for")


class VisitStatusIn(InputSchema):
    status: str = Field(..., description="missed, cancelled or planned")
    reason: str = Field("", max_length=500)


class MeasurementOut(Schema):
    id: int
    source: str
    target_area_cm2: float | None  # null: not given with the count
    hair_count: int | None
    density_per_cm2: float | None
    mean_diameter_um: float | None
    terminal_pct: float | None
    vellus_pct: float | None
    anagen_pct: float | None


class PhotoOut(Schema):
    id: int
    kind: str
    view: str
    target_area: str
    width_px: int | None
    height_px: int | None
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime
    url: str

    @staticmethod
    def resolve_url(obj: Photo) -> str:
        return f"/monitoring/{obj.patient_id}/photos/{obj.pk}/"


class VisitIn(InputSchema):
    visit_date: date | None = None
    is_baseline: bool = False
    confirm_same_day: bool = Field(
        False,
        description="True to record a second visit for the patient on the same date (a "
        "separate visit, not the same one entered again); without it such a visit is refused "
        "with 400 on visit_date. The confirmation is kept in the visit's notes and history.",
    )
    same_day_seen: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="With confirm_same_day: how many visits that day the refusal named. The "
        "confirmation then holds only while that is still the number, so the same request "
        "sent again (a retry) is refused instead of recording a third visit.",
    )
    scheduled_visit_id: int | None = Field(None, ge=1, le=2**63 - 1)
    confirm_early: bool = Field(
        False,
        description="True to let a visit stand for its appointment (scheduled_visit_id) "
        "although it is before the analysis window of its week (14 days, or a quarter of "
        "the time since the first session when that is longer); without it such a visit "
        "is refused with 400 on confirm_early. The confirmation is kept in the visit's "
        "notes and history.",
    )
    global_assessment: int | None = None
    pull_test: str | None = Field(None, max_length=10)
    pull_test_hairs: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    pull_test_hairs_grasped: int | None = Field(
        None,
        ge=-(2**31),
        le=2**31 - 1,
        description="Hairs grasped (standard 40-60): the test is positive when more than "
        "10 % of them came out; without it the standard grasp decides, and 5 or 6 hairs out "
        "may be recorded either way",
    )
    notes: str = Field("", max_length=5000)
    hgq_appearance_hairline: int | None = None
    hgq_appearance_vertex: int | None = None
    hgq_appearance_overall: int | None = None
    hgq_growth: int | None = None
    hgq_bald_spot: int | None = Field(
        None,
        description="−3 (greatly larger) … +3 (greatly smaller): higher is better, as for "
        "every HGQ item (until 2026-12-05 the scale ran the other way; stored answers were "
        "turned)",
    )
    hgq_slowing_loss: int | None = None
    hgq_satisfaction: int | None = None
    target_area_cm2: Num = Field(None, allow_inf_nan=False)
    hair_count: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    density_per_cm2: Num = Field(None, allow_inf_nan=False)
    mean_diameter_um: Num = Field(None, allow_inf_nan=False)
    terminal_pct: Num = Field(None, allow_inf_nan=False)
    vellus_pct: Num = Field(None, allow_inf_nan=False)
    anagen_pct: Num = Field(None, allow_inf_nan=False)


class BaselineChangeOut(Schema):
    baseline_date: date | None
    density_per_cm2: float | None
    baseline_density_per_cm2: float | None
    density_change_pct: float | None
    mean_diameter_um: float | None
    baseline_mean_diameter_um: float | None
    diameter_change_um: float | None
    global_assessment: int | None
    note: str = Field(
        "", description="Why a value has no change (the baseline has no value of its source)"
    )


class VisitOut(Schema):
    id: int
    patient_id: int
    visit_date: date
    is_baseline: bool
    scheduled_visit_id: int | None
    global_assessment: int | None
    pull_test: str
    pull_test_hairs: int | None
    pull_test_hairs_grasped: int | None
    notes: str = Field(
        description="Free text; empty for roles without consultation.view (front desk): a "
        "clinician may write about history or reactions in it (see notes_withheld)"
    )
    notes_withheld: bool = Field(
        description="True when the visit has notes that this role is not shown"
    )
    hgq: dict[str, int | None]
    measurements: list[MeasurementOut]
    photos: list[PhotoOut]
    voided: bool

    @staticmethod
    def resolve_notes(obj: Visit, context: dict[str, Any]) -> str:
        return obj.notes if can(context["request"], "consultation.view") else ""

    @staticmethod
    def resolve_notes_withheld(obj: Visit, context: dict[str, Any]) -> bool:
        return bool(obj.notes) and not can(context["request"], "consultation.view")

    @staticmethod
    def resolve_hgq(obj: Visit) -> dict[str, int | None]:
        return {
            name: getattr(obj, name) for name in services.VISIT_FIELDS if name.startswith("hgq_")
        }

    @staticmethod
    def resolve_measurements(obj: Visit) -> list[Measurement]:
        return [m for m in obj.measurements.all() if m.voided_at is None]

    @staticmethod
    def resolve_photos(obj: Visit) -> list[Photo]:
        return [p for p in obj.photos.all() if p.voided_at is None]

    @staticmethod
    def resolve_voided(obj: Visit) -> bool:
        return obj.is_voided


class VisitDetailOut(VisitOut):
    change_from_baseline: BaselineChangeOut | None = Field(
        None, description="Null for roles without progress.view (front desk)"
    )


class AdverseEventIn(InputSchema):
    term_key: str | None = Field(None, max_length=60, description="CTCAE term key or name")
    grade: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    onset_date: date | None = None
    resolution_date: date | None = None
    description: str | None = Field(None, max_length=5000)
    seriousness: list[str] | None = Field(None, max_length=10)
    relatedness: str | None = Field(None, max_length=20)
    related_session_date: date | None = None
    product_lot_number: str | None = Field(None, max_length=60)
    action_taken: str | None = Field(None, max_length=20)
    outcome: str | None = Field(None, max_length=20)
    meddra_code: str | None = Field(None, max_length=12)
    meddra_version: str | None = Field(None, max_length=10)
    visit_id: int | None = Field(None, ge=1, le=2**63 - 1)
    change_reason: str | None = Field(
        None,
        max_length=2000,
        description="Updates only: needed when the change lowers the event (a lower grade, "
        "another term, seriousness removed, related → not related); lowering a serious or "
        "grade ≥ 3 event also needs adverse_event.lower",
    )


class AdverseEventOut(Schema):
    id: int
    patient_id: int
    visit_id: int | None
    term_key: str
    term_name: str
    ctcae_version: str
    grade: int
    grade_text: str
    description: str
    onset_date: date
    resolution_date: date | None
    seriousness: list[str] = Field(
        description="ICH E2A criteria met: those recorded and those the grade or the action "
        "imply (grade 5 death, grade 4 life-threatening, hospitalised), also for an event "
        "stored before the services added them"
    )
    serious_or_high_grade: bool
    relatedness: str
    related_session_date: date | None
    product_lot_number: str
    action_taken: str
    outcome: str
    meddra_code: str
    meddra_version: str

    @staticmethod
    def resolve_seriousness(obj: AdverseEvent) -> list[str]:
        # As the FHIR export, the PDF and the reportable page read it (stored + implied).
        return obj.serious_criteria

    @staticmethod
    def resolve_serious_or_high_grade(obj: AdverseEvent) -> bool:
        return obj.is_serious_or_high_grade


class DecisionProposalOut(Schema):
    proposal: str | None
    label: str
    response: str | None
    reasons: list[str]
    extra_sessions: int | None
    maintenance_interval_months: int | None
    inputs: dict[str, Any]
    change_from_baseline: BaselineChangeOut
    error: str


class DecisionIn(InputSchema):
    decision: str | None = Field(None, max_length=30)
    rationale: str = Field("", max_length=5000)
    sessions_done: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    sessions_planned: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    extra_sessions: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    maintenance_interval_months: int | None = Field(None, ge=-(2**31), le=2**31 - 1)


class DecisionOut(Schema):
    id: int
    visit_id: int
    proposal: str
    response: str
    proposal_reasons: list[str]
    inputs: dict[str, Any]
    decision: str
    extra_sessions: int | None
    maintenance_interval_months: int | None
    rationale: str
    decided_by: str
    decided_at: datetime
    follows_proposal: bool

    @staticmethod
    def resolve_decided_by(obj: TreatmentDecision) -> str:
        return obj.decided_by.username


class TimelineOut(Schema):
    when: date
    kind: str
    title: str
    detail: str
    url: str
    flag: str
    planned: bool = False
    restricted: bool = False


class MonitoringVoidIn(InputSchema):
    reason: str = Field(
        "", max_length=1000, description="Why the record is void (at least 5 characters)"
    )


class VoidOut(Schema):
    id: int
    kind: str
    voided: bool
    voided_at: datetime
    voided_by: str
    void_reason: str

    @staticmethod
    def resolve_kind(obj: Any) -> str:
        names = {
            "AdverseEvent": "adverse_event",
            "TreatmentDecision": "decision",
            "ScheduledVisit": "appointment",
        }
        return names.get(type(obj).__name__, type(obj).__name__.lower())

    @staticmethod
    def resolve_voided(obj: Any) -> bool:
        return obj.voided_at is not None

    @staticmethod
    def resolve_voided_by(obj: Any) -> str:
        return obj.voided_by.username


class AgendaFilter(Schema):
    start: date | None = None
    end: date | None = None


# --- clinic-wide ---------------------------------------------------------------------------


def _mark_overdue(request: ClinicRequest, rows: list[ScheduledVisit]) -> list[ScheduledVisit]:
    return selectors.mark_overdue(request.clinic, rows)


class AppointmentPagination(BoundedPagination):
    """Limit/offset paging of appointments; the page's rows are marked overdue by the
    clinic's grace days (after slicing: only the rows answered are read)."""

    def paginate_queryset(
        self, queryset: QuerySet, pagination: LimitOffsetPagination.Input, request: HttpRequest,
        **params: Any,
    ) -> Any:  # fmt: skip
        page = super().paginate_queryset(queryset, pagination, request, **params)
        # The guard made the request a ClinicRequest.
        rows = list(page[self.items_attribute])
        page[self.items_attribute] = _mark_overdue(cast(ClinicRequest, request), rows)
        return page


# These lists were cut at 1000 rows without a word; they page as every other list does:
# `limit` (at most pagination.MAX_PAGE_SIZE) and `offset`, with the total as `count`.


@router.get(
    "/agenda",
    response=list[ScheduledVisitOut],
    summary="Appointments in a date range (default: the next 6 weeks, at most 1 year), "
    "paged with limit/offset and the total as count",
    auth=guard("visit.view"),
)
@paginate(AppointmentPagination)
def agenda(request: ClinicRequest, filters: Query[AgendaFilter]):
    today = timezone.localdate()
    for name in ("start", "end"):
        value = getattr(filters, name)
        if value is not None:
            try:
                schedule.check_date_window(name, value, today)
            except schedule.ScheduleError as exc:
                raise HttpError(400, str(exc)) from exc
    start = filters.start or today
    end = filters.end or start + timedelta(days=42)
    if end < start:
        raise HttpError(400, "end: must not be before start")
    if (end - start).days > 366:
        raise HttpError(400, "end: at most one year after start")
    return selectors.agenda(request.clinic, start, end)


@router.get(
    "/overdue",
    response=list[ScheduledVisitOut],
    summary="Overdue planned visits, oldest first, paged with limit/offset and the total as count",
    auth=guard("visit.view"),
)
@paginate(AppointmentPagination)
def overdue(request: ClinicRequest):
    return selectors.overdue(request.clinic)


@router.get(
    "/adverse-events/reportable",
    response=list[AdverseEventOut],
    summary="Serious or grade ≥3 adverse events (regulatory reporting), newest first, paged "
    "with limit/offset and the total as count",
    auth=guard("adverse_event.view"),
)
@paginate(BoundedPagination)
def reportable(request: ClinicRequest):
    return selectors.reportable_events(request.clinic)


# --- per patient ---------------------------------------------------------------------------


@router.get(
    "/patients/{int:patient_id}/schedule",
    response=list[ScheduledVisitOut],
    summary="The patient's appointments",
    auth=guard("visit.view"),
)
def patient_schedule(request: ClinicRequest, patient_id: int):
    patient = _patient(request, patient_id)
    return _mark_overdue(request, list(selectors.schedule_of(patient)))


@router.post(
    "/patients/{int:patient_id}/schedule",
    response={201: SchedulePlanOut},
    summary="Create a follow-up schedule from the protocol",
    auth=guard("schedule.manage"),
)
def create_plan(request: ClinicRequest, patient_id: int, payload: SchedulePlanIn):
    patient = _patient(request, patient_id)
    kwargs: dict[str, Any] = {
        "first_session_date": payload.first_session_date,
        "sessions_planned": payload.sessions_planned,
        "interval_weeks": payload.interval_weeks,
        "protocol_key": payload.protocol_key,
    }
    if payload.follow_up_weeks is not None:
        kwargs["follow_up_weeks"] = payload.follow_up_weeks
    plan = services.create_follow_up_plan(patient, request.user, **kwargs)
    return Status(201, plan)


@router.post(
    "/patients/{int:patient_id}/schedule/{int:scheduled_id}/reschedule",
    response=ScheduledVisitOut,
    summary="Move an appointment (audited with the reason)",
    auth=guard("schedule.manage"),
)
def reschedule(request: ClinicRequest, patient_id: int, scheduled_id: int, payload: RescheduleIn):
    patient = _patient(request, patient_id)
    sv = selectors.get_scheduled_visit(patient, scheduled_id)
    moved = services.reschedule_visit(
        sv, request.user, new_date=payload.due_date, reason=payload.reason,
        move_later=payload.move_later,
    )  # fmt: skip
    return _mark_overdue(request, [moved])[0]


@router.post(
    "/patients/{int:patient_id}/courses/{int:plan_id}/end",
    response=CourseEndOut,
    summary="End a course early: its planned visits are cancelled, or missed when past "
    "(audited with the reason)",
    auth=guard("plan.edit"),
)
def end_course(request: ClinicRequest, patient_id: int, plan_id: int, payload: CourseEndIn):
    patient = _patient(request, patient_id)
    plan = selectors.get_follow_up_plan(patient, plan_id)
    ended = services.end_course(plan, request.user, payload.reason)
    return {"cancelled": ended.cancelled, "missed": ended.missed, "plan": plan}


@router.post(
    "/patients/{int:patient_id}/appointments",
    response={201: ScheduledVisitOut},
    summary="Book one appointment (a consultation, a review) outside a treatment course",
    auth=guard("schedule.manage"),
)
def book_appointment(request: ClinicRequest, patient_id: int, payload: AppointmentIn):
    patient = _patient(request, patient_id)
    sv = services.add_scheduled_visit(
        patient, request.user, due_date=payload.due_date, label=payload.label
    )
    return Status(201, _mark_overdue(request, [sv])[0])


@router.post(
    "/patients/{int:patient_id}/schedule/{int:scheduled_id}/status",
    response=ScheduledVisitOut,
    summary="Mark an appointment missed or cancelled, or planned again (audited with the reason)",
    auth=guard("schedule.manage"),
)
def visit_status(
    request: ClinicRequest, patient_id: int, scheduled_id: int, payload: VisitStatusIn
):
    patient = _patient(request, patient_id)
    sv = selectors.get_scheduled_visit(patient, scheduled_id)
    changed = services.set_visit_status(sv, request.user, payload.status, payload.reason)
    return _mark_overdue(request, [changed])[0]


def _visits_qs(patient: Patient):
    return selectors.visits_of(patient).prefetch_related("measurements", "photos")


@router.get(
    "/patients/{int:patient_id}/visits",
    response=list[VisitOut],
    summary="The patient's visits with measurements and photo metadata",
    auth=guard("visit.view"),
)
def list_visits(request: ClinicRequest, patient_id: int):
    patient = _patient(request, patient_id)
    return list(_visits_qs(patient).order_by("visit_date", "id"))


@router.post(
    "/patients/{int:patient_id}/visits",
    response={201: VisitOut},
    summary="Record a visit with manual measurements",
    auth=guard("visit.record"),
)
def create_visit(request: ClinicRequest, patient_id: int, payload: VisitIn):
    patient = _patient(request, patient_id)
    data = payload.dict()
    scheduled_id = data.pop("scheduled_visit_id")
    sv = None
    if scheduled_id:
        # A field of the body, not the path: an unknown one is a 400 naming it, not a 404.
        sv = ScheduledVisit.objects.filter(
            clinic=patient.clinic, patient=patient, pk=scheduled_id
        ).first()
        if sv is None:
            refuse({"scheduled_visit_id": ["No such appointment for this patient."]})
    if data.get("pull_test") is None:
        data.pop("pull_test")
    visit = services.record_visit(patient, request.user, data, scheduled_visit=sv)
    return Status(201, visit)


def _visit(request: ClinicRequest, patient_id: int, visit_id: int) -> Visit:
    patient = _patient(request, patient_id)
    return selectors.get_visit(patient, visit_id)


@router.get(
    "/patients/{int:patient_id}/visits/{int:visit_id}",
    response=VisitDetailOut,
    summary="One visit with change from baseline",
    auth=guard("visit.view"),
)
def get_visit(request: ClinicRequest, patient_id: int, visit_id: int):
    visit = _visit(request, patient_id, visit_id)
    # Treatment progress is progress.view's (front desk books visits, it does not read results).
    change = selectors.change_from_baseline(visit) if can(request, "progress.view") else None
    visit.change_from_baseline = change  # type: ignore[attr-defined]  # response only
    return visit


class VisitCorrectionIn(InputSchema):
    """The visit fields a correction may change (leave a field out to keep it; null empties
    a number or an answer). Date and baseline status are corrected by voiding the visit and
    recording it again; a manual measurement by its own PATCH."""

    change_reason: str = Field(
        max_length=500, description="Why (at least 5 characters); kept in the visit's history"
    )
    global_assessment: int | None = None
    pull_test: str | None = Field(None, max_length=10)
    pull_test_hairs: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    pull_test_hairs_grasped: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    notes: str = Field("", max_length=5000)
    hgq_appearance_hairline: int | None = None
    hgq_appearance_vertex: int | None = None
    hgq_appearance_overall: int | None = None
    hgq_growth: int | None = None
    hgq_bald_spot: int | None = None
    hgq_slowing_loss: int | None = None
    hgq_satisfaction: int | None = None


def _correction(payload: Schema) -> tuple[dict[str, Any], str]:
    """The fields a correction sends and its reason; an empty correction is refused."""
    data = payload.dict(exclude_unset=True)
    reason = data.pop("change_reason")
    if not data:
        refuse({"__all__": ["Nothing to correct: send at least one field to change."]})
    return data, reason


@router.patch(
    "/patients/{int:patient_id}/visits/{int:visit_id}",
    response=VisitDetailOut,
    summary="Correct a visit's assessments or notes (with a reason; the history keeps the "
    "values before)",
    auth=guard("visit.record"),
)
def correct_visit(
    request: ClinicRequest, patient_id: int, visit_id: int, payload: VisitCorrectionIn
):
    visit = _visit(request, patient_id, visit_id)
    data, reason = _correction(payload)
    services.amend_visit(visit, request.user, data, reason)
    return get_visit(request, patient_id, visit_id)


@router.get(
    "/patients/{int:patient_id}/visits/{int:visit_id}/proposal",
    response=DecisionProposalOut,
    summary="The further-treatment proposal at this visit (clinical staff)",
    auth=guard("consultation.view"),
)
def get_proposal(request: ClinicRequest, patient_id: int, visit_id: int):
    visit = _visit(request, patient_id, visit_id)
    return _proposal_out(selectors.proposal_for(visit))


def _proposal_out(p: selectors.ProposalView) -> dict[str, Any]:
    d = p.decision
    return {
        "proposal": d.proposal.value if d else None,
        "label": p.label,
        "response": d.response.value if d else None,
        "reasons": list(d.reasons) if d else [],
        "extra_sessions": d.extra_sessions if d and d.extra_sessions else None,
        "maintenance_interval_months": d.maintenance_interval_months if d else None,
        "inputs": p.inputs,
        "change_from_baseline": p.change,
        "error": p.error,
    }


@router.post(
    "/patients/{int:patient_id}/visits/{int:visit_id}/decision",
    response={201: DecisionOut},
    summary="Record the clinician's decision (the proposal is recomputed and stored with it)",
    auth=guard("decision.record"),
)
def create_decision(request: ClinicRequest, patient_id: int, visit_id: int, payload: DecisionIn):
    visit = _visit(request, patient_id, visit_id)
    if not payload.decision:
        raise HttpError(400, "decision: This field is required.")
    row = services.record_decision(
        visit,
        request.user,
        decided=payload.decision,
        rationale=payload.rationale,
        sessions_done=payload.sessions_done,
        sessions_planned=payload.sessions_planned,
        extra_sessions=payload.extra_sessions,
        maintenance_interval_months=payload.maintenance_interval_months,
    )
    return Status(201, row)


@router.get(
    "/patients/{int:patient_id}/adverse-events",
    response=list[AdverseEventOut],
    summary="The patient's adverse events",
    auth=guard("adverse_event.view"),
)
def list_events(request: ClinicRequest, patient_id: int):
    patient = _patient(request, patient_id)
    return list(selectors.adverse_events_of(patient))


@router.post(
    "/patients/{int:patient_id}/adverse-events",
    response={201: AdverseEventOut},
    summary="Record an adverse event (CTCAE term and grade)",
    auth=guard("adverse_event.record"),
)
def create_event(request: ClinicRequest, patient_id: int, payload: AdverseEventIn):
    patient = _patient(request, patient_id)
    data = {k: v for k, v in payload.dict().items() if v is not None}
    data.pop("change_reason", None)  # a new event has nothing to change
    return Status(201, services.record_adverse_event(patient, request.user, data))


# In a PATCH, null takes these back (the event not resolved after all, no session named, no
# visit); any other field sent as null is refused rather than blanked.
AE_NULLABLE = ("resolution_date", "related_session_date", "visit_id", "change_reason")


@router.patch(
    "/patients/{int:patient_id}/adverse-events/{int:event_id}",
    response=AdverseEventOut,
    summary="Change an adverse event (e.g. resolution and outcome); rules re-checked",
    auth=guard("adverse_event.record"),
)
def update_event(request: ClinicRequest, patient_id: int, event_id: int, payload: AdverseEventIn):
    patient = _patient(request, patient_id)
    event = selectors.get_adverse_event(patient, event_id)
    data = payload.dict(exclude_unset=True)
    refuse_nulls(data, nullable=AE_NULLABLE)
    reason = data.pop("change_reason", None) or ""
    return services.update_adverse_event(
        event,
        request.user,
        data,
        change_reason=reason,
        may_lower_serious=allowed(getattr(request, "role", None), "adverse_event.lower"),
    )


@router.get(
    "/patients/{int:patient_id}/timeline",
    response=list[TimelineOut],
    summary="Everything that happened to the patient, in time order",
    auth=guard("visit.view"),
)
def timeline(request: ClinicRequest, patient_id: int):
    """Session details need ``session.view`` and consultation steps ``consultation.view``;
    without them an entry gives the date and kind only (``restricted``)."""
    patient = _patient(request, patient_id)
    role = getattr(request, "role", None)
    return selectors.timeline(
        patient,
        show_sessions=allowed(role, "session.view"),
        show_consultation=allowed(role, "consultation.view"),
        edit_adverse_events=allowed(role, "adverse_event.record"),
        show_adverse_events=allowed(role, "adverse_event.view"),
    )


# --- voiding (record.void) -----------------------------------------------------------------


def _void(request: ClinicRequest, obj: Any, reason: str) -> Any:
    role = getattr(request, "role", None)
    services.void_record(
        obj,
        request.user,
        reason,
        may_lower_serious=allowed(role, "adverse_event.lower"),
        may_decide=allowed(role, "decision.record"),
    )
    obj.refresh_from_db()
    return obj


@router.post(
    "/patients/{int:patient_id}/visits/{int:visit_id}/void",
    response=VoidOut,
    summary="Void a visit entered in error (kept with its history; no deletion)",
    auth=guard("record.void"),
)
def void_visit(request: ClinicRequest, patient_id: int, visit_id: int, payload: MonitoringVoidIn):
    return _void(request, _visit(request, patient_id, visit_id), payload.reason)


@router.post(
    "/patients/{int:patient_id}/photos/{int:photo_id}/void",
    response=VoidOut,
    summary="Void a photo (a trichoscopy photo takes its image-analysis measurement with it)",
    auth=guard("record.void"),
)
def void_photo(request: ClinicRequest, patient_id: int, photo_id: int, payload: MonitoringVoidIn):
    photo = selectors.get_photo(_patient(request, patient_id), photo_id)
    return _void(request, photo, payload.reason)


@router.post(
    "/patients/{int:patient_id}/measurements/{int:measurement_id}/void",
    response=VoidOut,
    summary="Void a measurement entered in error",
    auth=guard("record.void"),
)
def void_measurement(
    request: ClinicRequest, patient_id: int, measurement_id: int, payload: MonitoringVoidIn
):
    measurement = selectors.get_measurement(_patient(request, patient_id), measurement_id)
    return _void(request, measurement, payload.reason)


class MeasurementCorrectionIn(InputSchema):
    """The values to correct in a manual measurement (leave a field out to keep it; null
    empties it); checked as a new measurement."""

    change_reason: str = Field(
        max_length=500, description="Why (at least 5 characters); kept in the history"
    )
    target_area_cm2: float | None = Field(None, allow_inf_nan=False)
    hair_count: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    density_per_cm2: float | None = Field(None, allow_inf_nan=False)
    mean_diameter_um: float | None = Field(None, allow_inf_nan=False)
    terminal_pct: float | None = Field(None, allow_inf_nan=False)
    vellus_pct: float | None = Field(None, allow_inf_nan=False)
    anagen_pct: float | None = Field(None, allow_inf_nan=False)


@router.patch(
    "/patients/{int:patient_id}/measurements/{int:measurement_id}",
    response=MeasurementOut,
    summary="Correct a manual measurement typed in error (with a reason; the history keeps "
    "the values before)",
    auth=guard("visit.record"),
)
def correct_measurement(
    request: ClinicRequest, patient_id: int, measurement_id: int, payload: MeasurementCorrectionIn
):
    measurement = selectors.get_measurement(_patient(request, patient_id), measurement_id)
    data, reason = _correction(payload)
    services.correct_measurement(measurement, request.user, data, reason)
    measurement.refresh_from_db()
    return measurement


@router.post(
    "/patients/{int:patient_id}/adverse-events/{int:event_id}/void",
    response=VoidOut,
    summary="Void an adverse event entered in error",
    auth=guard("record.void"),
)
def void_event(request: ClinicRequest, patient_id: int, event_id: int, payload: MonitoringVoidIn):
    event = selectors.get_adverse_event(_patient(request, patient_id), event_id)
    return _void(request, event, payload.reason)


@router.post(
    "/patients/{int:patient_id}/decisions/{int:decision_id}/void",
    response=VoidOut,
    summary="Void a decision recorded in error; the visit can then be decided again",
    auth=guard("record.void"),
)
def void_decision(
    request: ClinicRequest, patient_id: int, decision_id: int, payload: MonitoringVoidIn
):
    row = selectors.get_decision(_patient(request, patient_id), decision_id)
    return _void(request, row, payload.reason)


@router.post(
    "/patients/{int:patient_id}/schedule/{int:scheduled_id}/void",
    response=VoidOut,
    summary="Void an appointment booked in error (one that will not take place is cancelled)",
    auth=guard("record.void"),
)
def void_appointment(
    request: ClinicRequest, patient_id: int, scheduled_id: int, payload: MonitoringVoidIn
):
    sv = selectors.get_scheduled_visit(_patient(request, patient_id), scheduled_id)
    return _void(request, sv, payload.reason)
