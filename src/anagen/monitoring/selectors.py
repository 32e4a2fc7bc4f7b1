"""Reads of monitoring data, always scoped to one clinic (and, for nested objects, one patient).

An object of another clinic, or of another patient than the one in the URL, is
indistinguishable from one that does not exist: Http404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils import timezone

from anagen.accounts.models import Clinic
from anagen.monitoring import decision
from anagen.monitoring.models import (
    AdverseEvent,
    FollowUpPlan,
    Measurement,
    MonitoringSettings,
    Photo,
    ScheduledVisit,
    TreatmentDecision,
    Visit,
)
from anagen.patients.models import Patient
from anagen.patients.selectors import MAX_DB_ID, get_patient

__all__ = ["get_patient"]


def _get(qs: QuerySet, pk: int, what: str) -> Any:
    if not isinstance(pk, int) or not 0 < pk <= MAX_DB_ID:
        raise Http404(f"No such {what}.")
    try:
        return qs.get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise Http404(f"No such {what}.") from exc


def thresholds_for(clinic: Clinic) -> MonitoringSettings:
    """The clinic's settings, or unsaved defaults (reads never write)."""
    return MonitoringSettings.objects.filter(clinic=clinic).first() or MonitoringSettings(
        clinic=clinic
    )


# --- per patient ---------------------------------------------------------------------------


def visits_of(patient: Patient, *, include_voided: bool = False) -> QuerySet[Visit]:
    qs = Visit.objects.filter(clinic=patient.clinic, patient=patient)
    return qs if include_voided else qs.filter(voided_at__isnull=True)


def get_visit(patient: Patient, visit_id: int) -> Visit:
    return _get(
        Visit.objects.filter(clinic=patient.clinic, patient=patient).select_related(
            "scheduled_visit", "recorded_by"
        ),
        visit_id,
        "visit",
    )


def get_photo(patient: Patient, photo_id: int) -> Photo:
    return _get(Photo.objects.filter(clinic=patient.clinic, patient=patient), photo_id, "photo")


def get_adverse_event(patient: Patient, event_id: int) -> AdverseEvent:
    return _get(
        AdverseEvent.objects.filter(clinic=patient.clinic, patient=patient),
        event_id,
        "adverse event",
    )


def get_scheduled_visit(patient: Patient, scheduled_id: int) -> ScheduledVisit:
    return _get(
        ScheduledVisit.objects.filter(clinic=patient.clinic, patient=patient),
        scheduled_id,
        "appointment",
    )


def schedule_of(patient: Patient) -> QuerySet[ScheduledVisit]:
    return (
        ScheduledVisit.objects.filter(
            clinic=patient.clinic, patient=patient, voided_at__isnull=True
        )
        .select_related("visit")
        .order_by("due_date", "id")
    )


def active_plan(patient: Patient) -> FollowUpPlan | None:
    return (
        FollowUpPlan.objects.filter(clinic=patient.clinic, patient=patient, voided_at__isnull=True)
        .order_by("-first_session_date", "-id")
        .first()
    )


def adverse_events_of(patient: Patient) -> QuerySet[AdverseEvent]:
    return AdverseEvent.objects.filter(
        clinic=patient.clinic, patient=patient, voided_at__isnull=True
    ).order_by("-onset_date", "-id")


def photos_of(visit: Visit) -> list[Photo]:
    return list(visit.photos.filter(voided_at__isnull=True).order_by("kind", "view", "id"))


def measurement_of(visit: Visit) -> Measurement | None:
    """The visit's measurement used for outcomes: the latest manual one, else image analysis."""
    rows = [m for m in visit.measurements.all() if m.voided_at is None]
    manual = [m for m in rows if m.source == Measurement.Source.MANUAL]
    pick = manual or rows
    return max(pick, key=lambda m: (m.created_at, m.pk)) if pick else None


def baseline_visit(patient: Patient) -> Visit | None:
    """The visit marked baseline; if none is marked, the earliest visit."""
    visits = visits_of(patient)
    return (
        visits.filter(is_baseline=True).order_by("visit_date", "id").first()
        or visits.order_by("visit_date", "id").first()
    )


@dataclass(frozen=True)
class Change:
    baseline_date: date | None
    density_per_cm2: float | None
    baseline_density_per_cm2: float | None
    density_change_pct: float | None
    mean_diameter_um: float | None
    baseline_mean_diameter_um: float | None
    diameter_change_um: float | None
    global_assessment: int | None


def change_from_baseline(visit: Visit) -> Change:
    base = baseline_visit(visit.patient)
    now = measurement_of(visit)
    ref = measurement_of(base) if base is not None and base.pk != visit.pk else None
    d = now.density_per_cm2 if now else None
    d0 = ref.density_per_cm2 if ref else None
    dia = now.mean_diameter_um if now else None
    dia0 = ref.mean_diameter_um if ref else None
    pct = None
    if d is not None and d0:  # a baseline of 0/cm² has no relative change
        pct = round((d - d0) / d0 * 100, 1)
    dd = round(dia - dia0, 1) if dia is not None and dia0 is not None else None
    return Change(
        base.visit_date if base else None, d, d0, pct, dia, dia0, dd, visit.global_assessment
    )


def planned_session_dates(plan: FollowUpPlan) -> list[date]:
    return [
        plan.first_session_date + timedelta(days=round(i * plan.interval_weeks * 7))
        for i in range(plan.sessions_planned)
    ]


def sessions_done_before(patient: Patient, on: date) -> int | None:
    """Sessions before ``on`` according to the follow-up plan.

    The treatment-session half of the workflow will count recorded sessions instead;
    until then the plan's session dates stand in (a visit on a session day is before it).
    """
    plan = active_plan(patient)
    if plan is None:
        return None
    return sum(1 for d in planned_session_dates(plan) if d < on)


def _ae_summary(patient: Patient, visit: Visit) -> tuple[int, bool | None]:
    """Highest grade since the previous decision up to this visit, and its relatedness."""
    last = (
        TreatmentDecision.objects.filter(patient=patient, visit__visit_date__lt=visit.visit_date)
        .order_by("-visit__visit_date")
        .first()
    )
    events = adverse_events_of(patient).filter(onset_date__lte=visit.visit_date)
    if last is not None:
        events = events.filter(onset_date__gt=last.visit.visit_date)
    events = list(events)
    if not events:
        return 0, None
    top = max(e.grade for e in events)
    related = [e.is_related for e in events if e.grade == top]
    if any(r is True for r in related):
        return top, True
    if any(r is None for r in related):
        return top, None
    return top, False


@dataclass
class ProposalView:
    decision: decision.Decision | None
    change: Change
    inputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_field: str = ""

    @property
    def label(self) -> str:
        if self.decision is None:
            return ""
        return dict(TreatmentDecision.PROPOSAL_CHOICES)[self.decision.proposal.value]


def proposal_for(
    visit: Visit, *, sessions_done: int | None = None, sessions_planned: int | None = None
) -> ProposalView:
    """The further-treatment proposal at a visit, from change from baseline and AEs."""
    patient = visit.patient
    change = change_from_baseline(visit)
    plan = active_plan(patient)
    if sessions_planned is None and plan is not None:
        sessions_planned = plan.sessions_planned
    if sessions_done is None:
        sessions_done = sessions_done_before(patient, visit.visit_date)
    max_grade, related = _ae_summary(patient, visit)
    settings_row = thresholds_for(visit.clinic)
    thresholds = settings_row.thresholds()
    inputs = {
        "sessions_done": sessions_done,
        "sessions_planned": sessions_planned,
        "density_change_pct": change.density_change_pct,
        "diameter_change_um": change.diameter_change_um,
        "global_assessment": change.global_assessment,
        "max_ae_grade": max_grade,
        "ae_related": related,
        "thresholds": {f: getattr(settings_row, f) for f in MonitoringSettings.THRESHOLD_FIELDS},
    }
    if sessions_planned is None or sessions_done is None:
        return ProposalView(
            None,
            change,
            inputs,
            "No follow-up plan: give the sessions done and planned.",
            "sessions_planned",
        )
    progress = decision.Progress(
        sessions_done=sessions_done,
        sessions_planned=sessions_planned,
        density_change_pct=change.density_change_pct,
        diameter_change_um=change.diameter_change_um,
        global_assessment=change.global_assessment,
        max_ae_grade=max_grade,
        ae_related=related,
    )
    try:
        result = decision.propose_next_step(progress, thresholds)
    except decision.DecisionInputError as exc:
        return ProposalView(None, change, inputs, exc.message, exc.field)
    return ProposalView(result, change, inputs)


def decisions_of(visit: Visit) -> list[TreatmentDecision]:
    return list(visit.decisions.select_related("decided_by").order_by("-decided_at", "-id"))


# --- per clinic ----------------------------------------------------------------------------


def agenda(clinic: Clinic, start: date, end: date) -> QuerySet[ScheduledVisit]:
    """Appointments from ``start`` to ``end`` (inclusive) of active patients."""
    return (
        ScheduledVisit.objects.filter(
            clinic=clinic,
            voided_at__isnull=True,
            patient__voided_at__isnull=True,
            due_date__gte=start,
            due_date__lte=end,
        )
        .exclude(status=ScheduledVisit.Status.CANCELLED)
        .select_related("patient")
        .order_by("due_date", "patient__family_name", "id")
    )


def overdue(clinic: Clinic, today: date | None = None) -> QuerySet[ScheduledVisit]:
    """Planned appointments past their due date plus the clinic's grace days."""
    today = today or timezone.localdate()
    grace = thresholds_for(clinic).overdue_grace_days
    return (
        ScheduledVisit.objects.filter(
            clinic=clinic,
            voided_at__isnull=True,
            patient__voided_at__isnull=True,
            status=ScheduledVisit.Status.PLANNED,
            due_date__lt=today - timedelta(days=grace),
        )
        .select_related("patient")
        .order_by("due_date", "id")
    )


def reportable_events(clinic: Clinic) -> QuerySet[AdverseEvent]:
    """Serious or grade ≥ 3 adverse events for regulatory reporting, newest first."""
    return (
        AdverseEvent.objects.filter(
            clinic=clinic, voided_at__isnull=True, serious_or_high_grade=True
        )
        .select_related("patient", "reported_by")
        .order_by("-onset_date", "-id")
    )


def is_overdue(sv: ScheduledVisit, today: date, grace_days: int) -> bool:
    return sv.status == ScheduledVisit.Status.PLANNED and sv.due_date < today - timedelta(
        days=grace_days
    )


# --- timeline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    when: date
    # registered, consultation, session, scheduled, visit, measurement, photo,
    # adverse_event, decision
    kind: str
    title: str
    detail: str = ""
    url: str = ""
    flag: str = ""  # "serious", "overdue", …
    obj: Model | None = None


def density_series(patient: Patient) -> list[tuple[date, float]]:
    points = []
    for v in visits_of(patient).prefetch_related("measurements").order_by("visit_date", "id"):
        m = measurement_of(v)
        if m is not None and m.density_per_cm2 is not None:
            points.append((v.visit_date, float(m.density_per_cm2)))
    return points


def timeline(patient: Patient) -> list[TimelineEntry]:
    """Everything that happened to the patient, oldest first.

    Consultations and treatment sessions appear once their apps store them (hooks below);
    until sessions are recorded, the plan's planned session dates are shown as such.
    """
    today = timezone.localdate()
    grace = thresholds_for(patient.clinic).overdue_grace_days
    base = f"/monitoring/{patient.pk}"
    out: list[TimelineEntry] = [
        TimelineEntry(
            patient.created_at.date(), "registered", "Registered", url=f"/patients/{patient.pk}/"
        )
    ]
    for plan in FollowUpPlan.objects.filter(patient=patient, voided_at__isnull=True):
        for i, d in enumerate(planned_session_dates(plan), start=1):
            out.append(
                TimelineEntry(
                    d,
                    "session",
                    f"Session {i} of {plan.sessions_planned} (planned)",
                    plan.protocol_key.replace("_", " "),
                )
            )
    for sv in schedule_of(patient):
        if sv.status == ScheduledVisit.Status.DONE:
            continue  # the visit itself is listed
        flag = "overdue" if is_overdue(sv, today, grace) else ""
        out.append(
            TimelineEntry(
                sv.due_date, "scheduled", sv.label, sv.get_status_display(), flag=flag, obj=sv
            )
        )
    visits = (
        visits_of(patient).prefetch_related("measurements", "photos").order_by("visit_date", "id")
    )
    for v in visits:
        url = f"{base}/visits/{v.pk}/"
        detail = []
        if v.is_baseline:
            detail.append("baseline")
        if v.global_assessment is not None:
            detail.append(f"global {v.global_assessment:+d}")
        out.append(TimelineEntry(v.visit_date, "visit", "Visit", ", ".join(detail), url, obj=v))
        m = measurement_of(v)
        if m is not None:
            parts = []
            if m.density_per_cm2 is not None:
                parts.append(f"{m.density_per_cm2:.0f}/cm²")
            if m.mean_diameter_um is not None:
                parts.append(f"{m.mean_diameter_um:.0f} µm")
            if m.hair_count is not None:
                parts.append(f"{m.hair_count} hairs")
            out.append(
                TimelineEntry(
                    v.visit_date, "measurement", "Measurements", ", ".join(parts), url, obj=m
                )
            )
        photos = [p for p in v.photos.all() if p.voided_at is None]
        if photos:
            glob = sum(1 for p in photos if p.kind == Photo.Kind.GLOBAL)
            out.append(
                TimelineEntry(
                    v.visit_date,
                    "photo",
                    "Photos",
                    f"{glob} global, {len(photos) - glob} trichoscopy",
                    url,
                )
            )
    for e in adverse_events_of(patient):
        flag = "serious" if e.serious_or_high_grade else ""
        detail = f"grade {e.grade}: {e.grade_text}"
        if e.resolution_date:
            detail += f"; resolved {e.resolution_date.isoformat()}"
        out.append(
            TimelineEntry(e.onset_date, "adverse_event", f"Adverse event: {e.term_name}", detail,
                          f"{base}/adverse-events/{e.pk}/edit/", flag, e)
        )  # fmt: skip
    for dcs in TreatmentDecision.objects.filter(patient=patient).select_related("visit"):
        out.append(
            TimelineEntry(
                dcs.visit.visit_date,
                "decision",
                f"Decision: {dcs.get_decision_display()}",
                f"proposed: {dcs.get_proposal_display()}",
                f"{base}/visits/{dcs.visit_id}/",
                obj=dcs,
            )
        )
    order = {k: i for i, k in enumerate(
        ["registered", "consultation", "scheduled", "visit", "measurement", "photo", "session",
         "adverse_event", "decision"]
    )}  # fmt: skip
    out.sort(key=lambda e: (e.when, order.get(e.kind, 99)))
    return out
