"""Reads of monitoring data, always scoped to one clinic (and, for nested objects, one patient).

An object of another clinic, or of another patient than the one in the URL, is
indistinguishable from one that does not exist: Http404.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Case, DateField, F, Min, Model, Q, QuerySet, When
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from anagen.accounts.models import Clinic
from anagen.assessment import protocols
from anagen.assessment import selectors as assessment_selectors
from anagen.assessment.models import (
    MODALITY_LABELS,
    Consent,
    Diagnosis,
    MedicalHistory,
    ProtocolTemplate,
    ScalpExam,
    Screening,
    TreatmentPlan,
)
from anagen.core.text import MAX_DB_ID, round_half_up, signed_grade
from anagen.monitoring import decision, schedule
from anagen.monitoring.models import (
    VIEWS,
    AdverseEvent,
    FollowUpPlan,
    Measurement,
    MonitoringSettings,
    Photo,
    ScheduledVisit,
    TreatmentDecision,
    Visit,
    Voidable,
)
from anagen.monitoring.session_link import SessionUse
from anagen.outcomes.sources import same_source_pair
from anagen.patients.models import Patient
from anagen.patients.selectors import get_patient
from anagen.treatments import scalp_zones
from anagen.treatments import selectors as treatment_selectors
from anagen.treatments.models import Modality, TreatmentSession

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


# Treatments not given as a course of repeated sessions: no maintenance interval, no extra
# sessions (decision.Progress.repeated_sessions).
NOT_IN_SESSIONS = {Modality.MINOXIDIL.value, Modality.TRANSPLANT.value}


def settings_changes(settings_row: MonitoringSettings, limit: int = 10) -> list[dict[str, Any]]:
    """The latest changes of the clinic's thresholds, newest first: when, who, and each
    value changed (field, old, new). They drive every proposal, so the page shows them."""
    if settings_row.pk is None:
        return []
    records = list(
        settings_row.history.select_related("history_user").order_by(
            "-history_date", "-history_id"
        )[: limit + 1]
    )
    rows = []
    for record, previous in zip(records, records[1:], strict=False):
        changes = [(c.field, c.old, c.new) for c in record.diff_against(previous).changes]
        if changes:
            rows.append({"when": record.history_date, "user": record.history_user,
                         "changes": changes})  # fmt: skip
    return rows[:limit]


# --- per patient ---------------------------------------------------------------------------


def visits_of(patient: Patient, *, include_voided: bool = False) -> QuerySet[Visit]:
    qs = Visit.objects.filter(clinic=patient.clinic, patient=patient)
    return qs if include_voided else qs.filter(voided_at__isnull=True)


def visit_label(visit: Visit) -> str:
    """What kind of visit it was, in words: the appointment it fulfilled ("Week 4
    follow-up"), else "Baseline" or "Unscheduled visit"."""
    if visit.scheduled_visit is not None and visit.scheduled_visit.label:
        return visit.scheduled_visit.label
    return "Baseline" if visit.is_baseline else "Unscheduled visit"


def visit_choices(patient: Patient) -> list[tuple[int, str]]:
    """The patient's visits, newest first, as (id, "2026-12-04 · Week 4 follow-up"); two
    visits that would still read the same get their record number."""
    visits = list(
        visits_of(patient).select_related("scheduled_visit").order_by("-visit_date", "-id")
    )
    labels = [f"{v.visit_date:%Y-%m-%d} · {visit_label(v)}" for v in visits]
    return [
        (v.pk, label if labels.count(label) == 1 else f"{label} (visit #{v.pk})")
        for v, label in zip(visits, labels, strict=True)
    ]


def session_uses(patient: Patient) -> list[SessionUse]:
    """The patient's non-voided treatment sessions, newest first, each with the lot numbers
    of the vials it used (lots of the patient's clinic only), by the rule the patient PDF,
    the FHIR export and the cohort analysis use (``treatment_selectors.draws_used_by``: draws
    naming it, else its day's draws naming no session); two queries. What an adverse event
    may name as its session and lot (see session_link.py)."""
    sessions = list(
        TreatmentSession.objects.filter(
            clinic=patient.clinic, patient=patient, voided_at__isnull=True
        ).order_by("-performed_on", "-id")
    )
    draws = (
        treatment_selectors.given_draws(patient.clinic, patient)
        .filter(lot__clinic=patient.clinic)
        .select_related("lot")
        .order_by("drawn_at", "id")
    )
    used = treatment_selectors.draws_used_by(sessions, draws)
    labels = dict(Modality.choices)
    out = []
    for s in sessions:
        lots: list[str] = []
        for d in used.get(s.pk, []):
            if d.lot.lot_number not in lots:
                lots.append(d.lot.lot_number)
        out.append(SessionUse(s.performed_on, str(labels.get(s.modality, s.modality)), tuple(lots)))
    return out


def get_visit(patient: Patient, visit_id: int) -> Visit:
    return _get(
        Visit.objects.filter(clinic=patient.clinic, patient=patient).select_related(
            "scheduled_visit", "recorded_by", "voided_by"
        ),
        visit_id,
        "visit",
    )


def get_photo(patient: Patient, photo_id: int) -> Photo:
    return _get(Photo.objects.filter(clinic=patient.clinic, patient=patient), photo_id, "photo")


def get_measurement(patient: Patient, measurement_id: int) -> Measurement:
    return _get(
        Measurement.objects.filter(clinic=patient.clinic, patient=patient),
        measurement_id,
        "measurement",
    )


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


@dataclass(frozen=True)
class OpenCourse:
    """A follow-up course with visits still planned, and those visits in date order."""

    plan: FollowUpPlan
    planned: list[ScheduledVisit]


def open_course(patient: Patient) -> OpenCourse | None:
    """The patient's course with planned visits left (a new course is refused while one is
    open, so there is at most one; the newest is taken should older data hold two)."""
    planned = list(
        ScheduledVisit.objects.filter(
            clinic=patient.clinic,
            patient=patient,
            plan__isnull=False,
            plan__voided_at__isnull=True,
            status=ScheduledVisit.Status.PLANNED,
            voided_at__isnull=True,
        )
        .select_related("plan")
        .order_by("due_date", "id")
    )
    if not planned:
        return None
    plans = [sv.plan for sv in planned if sv.plan is not None]  # plan__isnull=False above
    plan = max(plans, key=lambda p: (p.first_session_date, p.pk))
    return OpenCourse(plan=plan, planned=[sv for sv in planned if sv.plan_id == plan.pk])


def course_follows_plan(course: FollowUpPlan, plan: TreatmentPlan) -> bool:
    """Whether the follow-up ``course`` follows treatment ``plan``: its protocol's modality
    is one of the plan's (a course without a known protocol follows any plan)."""
    modality = course_modality(course)
    return not modality or modality in (plan.modalities or [])


def get_follow_up_plan(patient: Patient, plan_id: int) -> FollowUpPlan:
    return _get(
        FollowUpPlan.objects.filter(clinic=patient.clinic, patient=patient),
        plan_id,
        "follow-up schedule",
    )


def get_decision(patient: Patient, decision_id: int) -> TreatmentDecision:
    return _get(
        TreatmentDecision.objects.filter(clinic=patient.clinic, patient=patient).select_related(
            "visit"
        ),
        decision_id,
        "decision",
    )


def live_decisions(patient: Patient) -> QuerySet[TreatmentDecision]:
    """The patient's decisions that count: not voided, and at a visit not voided."""
    return TreatmentDecision.objects.filter(
        clinic=patient.clinic,
        patient=patient,
        voided_at__isnull=True,
        visit__voided_at__isnull=True,
    )


def stop_in_force(patient: Patient, on_date: date | None = None) -> TreatmentDecision | None:
    """The patient's latest live decision (at a visit on or before ``on_date``, where given)
    when it is to stop treatment; None when the latest is not a stop, or there is none."""
    decided = live_decisions(patient)
    if on_date is not None:
        decided = decided.filter(visit__visit_date__lte=on_date)
    latest = (
        decided.select_related("visit", "decided_by")
        .order_by("-visit__visit_date", "-decided_at", "-id")
        .first()
    )
    return latest if latest is not None and latest.decision in decision.STOPS else None


@dataclass(frozen=True)
class StoppingEvent:
    """An adverse event recorded with the action “Treatment stopped”, and when that action
    was set (recorded so, or changed to it)."""

    event: AdverseEvent
    stopped_at: datetime


def stopping_event(patient: Patient, on_date: date) -> StoppingEvent | None:
    """The newest live adverse event of the patient begun by ``on_date`` whose action is
    “Treatment stopped”, unless a clinician has decided at a visit (on or before
    ``on_date``) since the action was set: the decision, stop or not, then rules
    (``stop_in_force``). None when no such event holds."""
    events = (
        adverse_events_of(patient)
        .filter(action_taken=AdverseEvent.Action.TREATMENT_STOPPED, onset_date__lte=on_date)
        .select_related("reported_by")
        .order_by("-onset_date", "-id")
    )
    for event in events:
        stopped_at = event.created_at
        for row in event.history.order_by("-history_date", "-history_id"):
            if row.action_taken != AdverseEvent.Action.TREATMENT_STOPPED:
                break
            stopped_at = row.history_date
        decided_since = live_decisions(patient).filter(
            visit__visit_date__lte=on_date, decided_at__gt=stopped_at
        )
        if not decided_since.exists():
            return StoppingEvent(event, stopped_at)
    return None


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


def last_target_area(patient: Patient) -> tuple[float, date] | None:
    """The target area (cm²) given with a hand count at the patient's latest visit that gave
    one, and that visit's date; None where no visit gave one. Offered on the next visit's form
    so the same marked area is counted again; image analyses (their field of view) and voided
    visits or measurements are left out."""
    row = (
        Measurement.objects.filter(
            clinic=patient.clinic,
            patient=patient,
            source=Measurement.Source.MANUAL,
            voided_at__isnull=True,
            visit__voided_at__isnull=True,
            target_area_cm2__isnull=False,
        )
        .order_by("-visit__visit_date", "-created_at", "-pk")
        .values_list("target_area_cm2", "visit__visit_date")
        .first()
    )
    if row is None or row[0] is None:  # filtered out above; says so to the type checker
        return None
    return row[0], row[1]


def measurements_closed(visit: Visit) -> str:
    """Why the measurements of ``visit`` count nowhere and can no longer be corrected (its
    visit or patient record is voided), in words; "" where they count."""
    for what, voided in (("patient record", visit.patient.is_voided), ("visit", visit.is_voided)):
        if voided:
            return (
                f"This {what} is voided: its measurements are kept for the record; they count "
                "in no change from baseline and can no longer be corrected."
            )
    return ""


@dataclass
class VoidedEntry:
    """A record of a visit voided after entry, as the visit page lists it."""

    kind: str
    title: str
    voided_at: Any
    voided_by: Any
    reason: str


def voided_at_visit(visit: Visit) -> list[VoidedEntry]:
    """The photos, measurements, adverse events and decisions of ``visit`` voided, oldest
    voiding first (who, when and why: the same facts the change history records)."""
    rows: list[Voidable] = [
        *visit.photos.filter(voided_at__isnull=False).select_related("voided_by"),
        *visit.measurements.filter(voided_at__isnull=False).select_related("voided_by"),
        *visit.adverse_events.filter(voided_at__isnull=False).select_related("voided_by"),
        *visit.decisions.filter(voided_at__isnull=False).select_related("voided_by"),
    ]
    out = []
    for r in rows:
        if isinstance(r, Photo):
            where = r.get_view_display() or r.target_area
            title = f"{r.get_kind_display()} — {where}" if where else r.get_kind_display()
        elif isinstance(r, Measurement):
            density = (
                f"{r.density_per_cm2:.1f} /cm²" if r.density_per_cm2 is not None else "no density"
            )
            title = f"Measurement ({r.get_source_display().lower()}, {density})"
        elif isinstance(r, TreatmentDecision):
            title = f"Decision: {r.get_decision_display()} (proposed: {r.get_proposal_display()})"
        else:
            title = f"Adverse event: {r}"
        out.append(VoidedEntry(type(r).__name__, title, r.voided_at, r.voided_by, r.void_reason))
    return sorted(out, key=lambda e: e.voided_at)


def baseline_visit(patient: Patient) -> Visit | None:
    """The patient's first baseline: the earliest visit marked baseline; if none is marked,
    the earliest visit. The patient-level views (progress, cohort) measure from it."""
    visits = visits_of(patient)
    return (
        visits.filter(is_baseline=True).order_by("visit_date", "id").first()
        or visits.order_by("visit_date", "id").first()
    )


def stand_in_baseline_note(
    patient: Patient, base: Visit | None, *, with_sessions: bool = True
) -> str:
    """Why the baseline used is a visit not marked baseline, in words ("" when it is marked,
    or there is none): no visit is marked, or the marked one was voided, and the earliest
    remaining visit stands in. Said where change is shown: a stand-in after the first
    session measured the change from an already treated scalp, with nothing on the visit
    page to say so. ``with_sessions=False``: the first sentence only (the progress page
    says itself when the baseline came after the first session)."""
    if base is None or base.is_baseline:
        return ""
    voided = (
        visits_of(patient, include_voided=True)
        .filter(is_baseline=True, voided_at__isnull=False)
        .order_by("visit_date", "id")
        .first()
    )
    why = (
        f"The baseline visit of {voided.visit_date:%Y-%m-%d} was voided"
        if voided is not None
        else "No visit is marked baseline"
    )
    text = (
        f"{why}: the earliest remaining visit, {base.visit_date:%Y-%m-%d}, stands in as the "
        "baseline."
    )
    if not with_sessions:
        return text
    first = (
        TreatmentSession.objects.filter(
            clinic=patient.clinic, patient=patient, voided_at__isnull=True
        )
        .order_by("performed_on")
        .values_list("performed_on", flat=True)
        .first()
    )
    if first is not None and first < base.visit_date:
        text += (
            f" It came after the first treatment session ({first:%Y-%m-%d}): change is "
            "measured from an already treated scalp. Mark the visit that is the baseline if "
            "there is one."
        )
    return text


def baseline_for(visit: Visit) -> Visit | None:
    """The baseline ``visit`` is compared with: that of its course, the latest visit marked
    baseline on or before it (a patient back for a new course gets a new baseline);
    else the patient's first baseline."""
    course_base = (
        visits_of(visit.patient)
        .filter(is_baseline=True, visit_date__lte=visit.visit_date)
        .order_by("-visit_date", "-id")
        .first()
    )
    if course_base is not None:
        return course_base
    first = baseline_visit(visit.patient)
    # A visit dated before every baseline has none: it was compared with a later one.
    if first is not None and first.visit_date > visit.visit_date:
        return None
    return first


def course_start(visit: Visit) -> date | None:
    """The day a later course began for ``visit``: its baseline's date when that is not the
    patient's first baseline (sessions before it belong to an earlier course); None for
    the first course, whose sessions all count."""
    base = baseline_for(visit)
    first = baseline_visit(visit.patient)
    if base is None or first is None or base.pk == first.pk:
        return None
    return base.visit_date


def plan_for(visit: Visit) -> FollowUpPlan | None:
    """The follow-up course ``visit`` belongs to: the latest one started on or before its
    date; else the patient's newest (a visit before any course began)."""
    started = (
        FollowUpPlan.objects.filter(
            clinic=visit.clinic,
            patient=visit.patient,
            voided_at__isnull=True,
            first_session_date__lte=visit.visit_date,
        )
        .order_by("-first_session_date", "-id")
        .first()
    )
    return started or active_plan(visit.patient)


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
    # Why a value has no change: the baseline has no value of the value's source ("" if not).
    note: str = ""


def latest_by_source(visit: Visit) -> dict[str, Measurement]:
    """The visit's latest non-voided measurement of each source (as ``measurement_of``)."""
    out: dict[str, Measurement] = {}
    for m in sorted(visit.measurements.all(), key=lambda m: (m.created_at, m.pk)):
        if m.voided_at is None:
            out[str(m.source)] = m
    return out


def _same_source(
    now: dict[str, Measurement], ref: dict[str, Measurement], field: str
) -> tuple[str, float | None, float | None]:
    """(source, value, baseline value) of one measure, taken within one source: manual
    against manual, else image analysis against image analysis (as the cohort analysis); a
    value without a baseline value of its source has baseline None."""
    return same_source_pair(
        {s: getattr(m, field) for s, m in now.items()},
        {s: getattr(m, field) for s, m in ref.items()},
    )


def _imaging_site(m: Measurement) -> str | None:
    """The marked target area of the trichoscopy photo an image-analysis measurement came
    from, spaces tidied ("" when the photo names none); None when no photo made it."""
    site = Photo.objects.filter(analysis__measurement=m).values_list("target_area", flat=True)
    return None if not site else " ".join((site[0] or "").split())


def _other_imaging_site(now: dict[str, Measurement], ref: dict[str, Measurement]) -> str:
    """Why the visit's image analysis is not compared with the baseline's: their photos show
    different marked target areas, compared as the image comparison, the progress page and
    the cohort analysis compare them (``imaging.services.site_key``: spaces and case aside;
    a site not named is not a named one); "" when the sites are one, or not known."""
    from anagen.imaging.services import site_key  # imaging builds on monitoring

    src = Measurement.Source.IMAGING
    if src not in now or src not in ref:
        return ""
    here, there = _imaging_site(now[src]), _imaging_site(ref[src])
    if here is None or there is None or site_key(here) == site_key(there):
        return ""
    return (
        f"No change: the image analysis at this visit is of another target area "
        f"({here or 'not named'}) than the baseline's ({there or 'not named'}); densities of "
        "different scalp sites are not compared."
    )


def change_from_baseline(visit: Visit) -> Change:
    """Density and diameter at ``visit`` against the baseline visit, each within one
    measurement source (a manual count of 1 cm² and an image-analysis field are not
    compared: a visit measured only by a source the baseline lacks has no change). The
    baseline is that of the visit's course (``baseline_for``)."""
    base = baseline_for(visit)
    now = latest_by_source(visit)
    ref = latest_by_source(base) if base is not None and base.pk != visit.pk else {}
    other_site = _other_imaging_site(now, ref)
    if other_site:
        # Another scalp site is another density (AGA spares the occiput, thins the vertex):
        # a -40 % "change" proposed stopping a course that was working.
        ref = {s: m for s, m in ref.items() if s != Measurement.Source.IMAGING}
    src_d, d, d0 = _same_source(now, ref, "density_per_cm2")
    src_dia, dia, dia0 = _same_source(now, ref, "mean_diameter_um")
    pct = None
    if d is not None and d0:  # a baseline of 0/cm² has no relative change
        pct = round_half_up((d - d0) / d0 * 100, 1)  # as the progress page rounds
    dd = round_half_up(dia - dia0, 1) if dia is not None and dia0 is not None else None
    missing = sorted(
        {
            str(Measurement.Source(s).label).lower()
            for s, x, x0, f in ((src_d, d, d0, "density_per_cm2"),
                                (src_dia, dia, dia0, "mean_diameter_um"))
            if x is not None and x0 is None
            and any(getattr(m, f) is not None for m in ref.values())
        }
    )  # fmt: skip
    note = ""
    if base is None:
        first = baseline_visit(visit.patient)
        if first is not None:
            note = (
                f"No change: this visit is before the baseline visit of "
                f"{first.visit_date:%Y-%m-%d}, and change is taken from a baseline on or "
                "before the visit."
            )
    if missing:
        words = " and ".join(missing)
        note = (
            f"No change: the baseline visit has no {words} value, and change is taken only "
            "within one measurement source."
        )
    if (
        other_site
        and Measurement.Source.IMAGING in (src_d, src_dia)
        and (
            (src_d == Measurement.Source.IMAGING and d0 is None)
            or (src_dia == Measurement.Source.IMAGING and dia0 is None)
        )
    ):
        note = other_site
    if stand_in := stand_in_baseline_note(visit.patient, base):
        note = f"{note} {stand_in}" if note else stand_in
    return Change(
        base.visit_date if base else None,
        d,
        d0,
        pct,
        dia,
        dia0,
        dd,
        visit.global_assessment,
        note,
    )


def planned_session_dates(plan: FollowUpPlan, booked: dict[int, date] | None = None) -> list[date]:
    """The course's session days: the protocol's (first session + interval), or the day of
    the visit booked before that session (``booked``: session number -> due date) where the
    course has one, so that a session follows its appointment when that is moved."""
    booked = booked or {}
    return [
        booked.get(
            i + 1, plan.first_session_date + timedelta(days=round(i * plan.interval_weeks * 7))
        )
        for i in range(plan.sessions_planned)
    ]


def _booked_session_days(plans: list[FollowUpPlan]) -> dict[int, dict[int, date]]:
    """Per course, the due date of the (not voided) visit booked before each session."""
    out: dict[int, dict[int, date]] = {}
    rows = ScheduledVisit.objects.filter(
        plan__in=plans, session_number__isnull=False, voided_at__isnull=True
    ).values_list("plan_id", "session_number", "due_date")
    for plan_id, number, due in rows:
        if plan_id is not None and number is not None:  # both filtered above
            out.setdefault(plan_id, {})[number] = due
    return out


def protocol_modalities(clinic: Clinic) -> dict[str, str]:
    """Protocol template key → modality: the built-in templates and the clinic's (one query)."""
    known = {key: t.modality for key, t in protocols.TEMPLATES.items()}
    known.update(ProtocolTemplate.objects.filter(clinic=clinic).values_list("key", "modality"))
    return known


def _protocol_modalities_and_titles(clinic: Clinic) -> tuple[dict[str, str], dict[str, str]]:
    """protocol_modalities and protocol_titles together, in one query."""
    modalities = {key: t.modality for key, t in protocols.TEMPLATES.items()}
    titles = {key: t.title for key, t in protocols.TEMPLATES.items()}
    for key, modality, title in ProtocolTemplate.objects.filter(clinic=clinic).values_list(
        "key", "modality", "title"
    ):
        modalities[key], titles[key] = modality, title
    return modalities, titles


def protocol_titles(clinic: Clinic) -> dict[str, str]:
    """Protocol template key → title, the built-in templates and the clinic's copies."""
    known = {key: t.title for key, t in protocols.TEMPLATES.items()}
    known.update(ProtocolTemplate.objects.filter(clinic=clinic).values_list("key", "title"))
    return known


def schedule_defaults(patient: Patient) -> dict[str, Any]:
    """The follow-up schedule form's starting values from the patient's active treatment
    plan with a course of sessions (its sessions, interval, start and the first protocol with
    sessions), the newest such plan where there are several: a minoxidil prescription
    accepted after an exosome course has no sessions to schedule. ``plan_title`` names the
    plan used; empty when the patient has no active plan."""
    plans = assessment_selectors.active_plans(patient)
    if not plans:
        return {}

    def sessions_of(p: Any) -> list[dict[str, Any]]:
        return [t for t in p.protocols if t.get("sessions_min") is not None]

    plan = next((p for p in plans if sessions_of(p) or p.sessions_planned), plans[0])
    initial: dict[str, Any] = {"plan_title": plan.title}
    if plan.sessions_planned:
        initial["sessions_planned"] = plan.sessions_planned
    if plan.interval_weeks is not None:
        initial["interval_weeks"] = plan.interval_weeks
    if plan.start_on:
        initial["first_session_date"] = plan.start_on
    if sessions_of(plan):
        initial["protocol_key"] = sessions_of(plan)[0].get("key", "")
    return initial


def course_modality(plan: FollowUpPlan | None, known: dict[str, str] | None = None) -> str:
    """The modality whose sessions make up the course a follow-up plan follows: its
    protocol's ("" when the plan names no known protocol: then every session counts).

    An exosome course that starts minoxidil on the first day, or a minoxidil course
    followed by a transplant, counts only the sessions of the protocol followed.
    """
    if plan is None or not plan.protocol_key:
        return ""
    if known is None:
        known = protocol_modalities(plan.clinic)
    return known.get(plan.protocol_key, "")


def sessions_done_before(
    patient: Patient, on: date, modality: str = "", since: date | None = None
) -> int:
    """Treatment sessions recorded before ``on`` (voided sessions do not count), of
    ``modality`` if given, on or after ``since`` if given (``course_start``). Counted as
    treatment days (two entries on one day are one session); a session on ``on`` itself is
    after the visit: measurements come first.
    """
    return treatment_selectors.treatment_days_before(patient, on, modality or None, since)


def days_since_first_session(
    patient: Patient, on: date, modality: str = "", since: date | None = None
) -> int:
    """Days from the first recorded session (of ``modality`` if given; on or after ``since``
    if given) before ``on`` to ``on``; 0 when none was done before (a session on ``on``
    itself comes after the visit)."""
    qs = TreatmentSession.objects.filter(
        patient=patient, clinic=patient.clinic, voided_at__isnull=True, performed_on__lt=on
    )
    if since is not None:
        qs = qs.filter(performed_on__gte=since)
    if modality:
        qs = qs.filter(modality=modality)
    first = qs.aggregate(first=Min("performed_on"))["first"]
    return (on - first).days if first is not None else 0


SESSIONS_RECORDED = "recorded"  # inputs["sessions_done_source"]: counted from the sessions
SESSIONS_ENTERED = "entered"  # given by the clinician on the decision form / API


@dataclass(frozen=True)
class AeSummary:
    """Adverse events up to a visit that the previous decision did not weigh (_unseen_by),
    for the proposal.

    ``max_grade`` is the highest grade among events related to treatment or whose
    relatedness is not assessed, and ``related`` that grade's relatedness (True when any
    event of that grade is related, None when none is but one is not assessed);
    ``max_unrelated_grade`` is the highest grade among events judged unrelated. They are
    kept apart so that an unrelated event of a higher grade cannot hide a related one.
    """

    max_grade: int = 0
    related: bool | None = None
    max_unrelated_grade: int = 0
    # ICH E2A criteria met by the events related or not assessed (decision.Progress).
    serious: tuple[str, ...] = ()


def _ae_summary(patient: Patient, visit: Visit) -> AeSummary:
    """The adverse events up to this visit not weighed by the previous decision (AeSummary)."""
    last = (
        live_decisions(patient)
        .filter(visit__visit_date__lt=visit.visit_date)
        .order_by("-visit__visit_date")
        .first()
    )
    events = list(adverse_events_of(patient).filter(onset_date__lte=visit.visit_date))
    if last is not None:
        events = [e for e in events if _unseen_by(e, last)]
    unrelated = max((e.grade for e in events if e.is_related is False), default=0)
    possibly_related = [e for e in events if e.is_related is not False]
    if not possibly_related:
        return AeSummary(max_unrelated_grade=unrelated)
    top = max(e.grade for e in possibly_related)
    related = any(e.is_related is True for e in possibly_related if e.grade == top)
    serious = tuple(sorted({c for e in possibly_related for c in e.serious_criteria}))
    return AeSummary(top, True if related else None, unrelated, serious)


def _unseen_by(event: AdverseEvent, last: TreatmentDecision) -> bool:
    """Whether ``event`` is news since the decision ``last``: it began after that decision's
    visit, or it was recorded after the decision (reported late, its onset earlier), or its
    grade was raised, its relatedness turned from unrelated or a seriousness criterion was
    added since. Counting events by onset alone left out a grade-3 event reported a day
    after the decision: no proposal ever weighed it."""
    if event.onset_date > last.visit.visit_date or event.created_at > last.decided_at:
        return True
    try:
        seen = event.history.as_of(last.decided_at)
    except AdverseEvent.DoesNotExist:
        return True  # no record of it by then
    return (
        event.grade > seen.grade
        or (seen.is_related is False and event.is_related is not False)
        # The criteria met then and now, implied ones included (as _ae_summary weighs
        # them): an edit that stores the criterion an old "Hospitalised" or grade-4 event
        # implied added nothing the decision had not weighed.
        or not set(event.serious_criteria) <= set(seen.serious_criteria)
    )


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

    @property
    def response_label(self) -> str:
        return decision.response_label(self.decision.response.value) if self.decision else ""

    @property
    def sessions_basis(self) -> str:
        """Where the session counts came from, in words (shown with the proposal)."""
        done, planned = self.inputs.get("sessions_done"), self.inputs.get("sessions_planned")
        if done is None:
            return ""
        if self.inputs.get("sessions_done_source") == SESSIONS_ENTERED:
            text = f"Sessions done: {done}, as entered with the decision"
        else:
            before = self.inputs.get("sessions_counted_before", "")
            modality = self.inputs.get("sessions_modality") or ""
            of = f" of {MODALITY_LABELS.get(modality, modality)}" if modality else ""
            since = self.inputs.get("sessions_counted_from")
            text = (
                f"Sessions done: {done} recorded treatment session{'s' if done != 1 else ''}"
                f"{of}{f' since this course’s baseline on {since}' if since else ''} before "
                f"this visit{f' on {before}' if before else ''} (voided sessions are not "
                "counted; entries on the same day count as one session)"
            )
        if planned is not None:
            text += f"; planned: {planned} (follow-up plan)"
        return text + "."


def sessions_recorded_for(visit: Visit) -> int:
    """The sessions of the visit's course recorded before it, as the proposal counts them."""
    plan = plan_for(visit)
    return sessions_done_before(
        visit.patient, visit.visit_date, course_modality(plan), course_start(visit)
    )


def proposal_for(
    visit: Visit, *, sessions_done: int | None = None, sessions_planned: int | None = None
) -> ProposalView:
    """The further-treatment proposal at a visit, from change from baseline and AEs."""
    patient = visit.patient
    change = change_from_baseline(visit)
    plan = plan_for(visit)
    if sessions_planned is None and plan is not None:
        sessions_planned = plan.sessions_planned
    modality = course_modality(plan)
    since = course_start(visit)  # a later course counts its own sessions only
    source = SESSIONS_ENTERED
    if sessions_done is None:
        sessions_done = sessions_done_before(patient, visit.visit_date, modality, since)
        source = SESSIONS_RECORDED
    events = _ae_summary(patient, visit)
    days_treated = days_since_first_session(patient, visit.visit_date, modality, since)
    settings_row = thresholds_for(visit.clinic)
    thresholds = settings_row.thresholds()
    # Injections, microneedling and laser repeat at an interval; daily minoxidil and a
    # transplant do not. An unknown protocol ("") is taken as sessions.
    repeated = modality not in NOT_IN_SESSIONS
    inputs = {
        "sessions_done": sessions_done,
        "sessions_done_source": source,
        "sessions_modality": modality,
        "repeated_sessions": repeated,
        "sessions_counted_before": visit.visit_date.isoformat(),
        "sessions_counted_from": since.isoformat() if since else None,
        "sessions_planned": sessions_planned,
        "density_change_pct": change.density_change_pct,
        "diameter_change_um": change.diameter_change_um,
        "global_assessment": change.global_assessment,
        "max_ae_grade": events.max_grade,
        "ae_related": events.related,
        "max_unrelated_ae_grade": events.max_unrelated_grade,
        "ae_serious": list(events.serious),
        "days_since_first_session": days_treated,
        "thresholds": {f: getattr(settings_row, f) for f in MonitoringSettings.THRESHOLD_FIELDS},
    }
    if sessions_planned is None or sessions_done is None:
        return ProposalView(
            None,
            change,
            inputs,
            "This patient has no follow-up schedule yet, so the sessions planned are not "
            "known: give the sessions done and planned here, or set up the course with "
            "“Follow-up schedule” on the patient's timeline."
            if plan is None
            else "The follow-up schedule gives no number of sessions: give the sessions done "
            "and planned.",
            "sessions_planned",
        )
    progress = decision.Progress(
        sessions_done=sessions_done,
        sessions_planned=sessions_planned,
        density_change_pct=change.density_change_pct,
        diameter_change_um=change.diameter_change_um,
        global_assessment=change.global_assessment,
        max_ae_grade=events.max_grade,
        ae_related=events.related,
        max_unrelated_ae_grade=events.max_unrelated_grade,
        ae_serious=events.serious,
        days_since_first_session=days_treated,
        repeated_sessions=repeated,
    )
    try:
        result = decision.propose_next_step(progress, thresholds)
    except decision.DecisionInputError as exc:
        return ProposalView(None, change, inputs, exc.message, exc.field)
    return ProposalView(result, change, inputs)


def decisions_of(visit: Visit) -> list[TreatmentDecision]:
    """The visit's live decision (a list: at most one), voided ones left out."""
    return list(
        visit.decisions.filter(voided_at__isnull=True)
        .select_related("decided_by")
        .order_by("-decided_at", "-id")
    )


def proposal_now(decided: TreatmentDecision) -> ProposalView:
    """The proposal at the decision's visit recomputed on today's data, with the session
    counts the clinician entered with the decision where the records had none (no follow-up
    schedule): without them no proposal could be made, and the page warned of a change that
    was not one."""
    entered = decided.inputs.get("sessions_done_source") == SESSIONS_ENTERED
    plan = plan_for(decided.visit)
    planned_known = plan is not None and plan.sessions_planned is not None
    return proposal_for(
        decided.visit,
        sessions_done=decided.inputs.get("sessions_done") if entered else None,
        sessions_planned=None if planned_known else decided.inputs.get("sessions_planned"),
    )


def proposal_change_since(decided: TreatmentDecision, now: ProposalView) -> str:
    """ "" when the proposal recomputed now is the one stored with ``decided``; otherwise a
    sentence saying what it would be now. The proposal stored with a decision is what the
    app advised on the data then; an adverse event recorded later with an earlier onset, a
    voided measurement or changed thresholds can change the recomputed one."""
    if now.decision is None:
        if not now.error:
            return ""
        return f"The data changed since the decision: no proposal can be made now ({now.error})."
    if now.decision.proposal.value == decided.proposal:
        return ""
    reasons = "; ".join(now.decision.reasons)
    return (
        f"The data changed since the decision: the proposal now would be {now.label}"
        + (f" ({reasons})" if reasons else "")
        + "."
    )


# --- per clinic ----------------------------------------------------------------------------


def agenda(clinic: Clinic, start: date, end: date) -> QuerySet[ScheduledVisit]:
    """Appointments from ``start`` to ``end`` (inclusive) of active patients, each on its
    ``on_date``: the day of the visit that kept it, else its due date. A visit recorded on
    the 6th for an appointment moved to the 12th showed as done on the 12th and was missing
    from the 6th (nurse review)."""
    on_date = Case(
        When(
            status=ScheduledVisit.Status.DONE,
            visit__isnull=False,
            visit__voided_at__isnull=True,
            then=F("visit__visit_date"),
        ),
        default=F("due_date"),
        output_field=DateField(),
    )
    return (
        ScheduledVisit.objects.filter(
            clinic=clinic,
            voided_at__isnull=True,
            patient__voided_at__isnull=True,
        )
        .exclude(status=ScheduledVisit.Status.CANCELLED)
        .annotate(on_date=on_date)
        .filter(on_date__gte=start, on_date__lte=end)
        .select_related("patient")
        .order_by("on_date", "patient__family_name", "id")
    )


def _planned(clinic: Clinic) -> QuerySet[ScheduledVisit]:
    """Appointments still to happen: planned, of an active patient, not voided."""
    return ScheduledVisit.objects.filter(
        clinic=clinic,
        voided_at__isnull=True,
        patient__voided_at__isnull=True,
        status=ScheduledVisit.Status.PLANNED,
    )


def overdue(clinic: Clinic, today: date | None = None) -> QuerySet[ScheduledVisit]:
    """Planned appointments past their due date plus the clinic's grace days."""
    today = today or timezone.localdate()
    grace = thresholds_for(clinic).overdue_grace_days
    return (
        _planned(clinic)
        .filter(due_date__lt=today - timedelta(days=grace))
        .select_related("patient")
        .order_by("due_date", "id")
    )


def reminders(clinic: Clinic, today: date, days: int) -> QuerySet[ScheduledVisit]:
    """Every planned (not done, missed or cancelled) appointment of an active patient due on
    or before ``today + days``: the upcoming ones, those just past their due date (within
    the grace days) and the overdue ones alike, oldest first."""
    return (
        _planned(clinic)
        .filter(due_date__lte=today + timedelta(days=days))
        .select_related("patient")
        .order_by("due_date", "patient__family_name", "id")
    )


def reportable_events(clinic: Clinic) -> QuerySet[AdverseEvent]:
    """Serious or grade ≥ 3 adverse events for regulatory reporting, newest first; none of
    a voided patient record (entered in error: the dashboard card already left them out).
    An event "Hospitalised" is serious (AdverseEvent.is_serious_or_high_grade) also when it
    was stored, flag off, before the services made it so; grades 4-5 are ≥ 3 anyway."""
    return (
        AdverseEvent.objects.filter(
            Q(serious_or_high_grade=True) | Q(action_taken=AdverseEvent.Action.HOSPITALISED),
            clinic=clinic,
            voided_at__isnull=True,
            patient__voided_at__isnull=True,
        )
        .select_related("patient", "reported_by")
        .order_by("-onset_date", "-id")
    )


def is_overdue(sv: ScheduledVisit, today: date, grace_days: int) -> bool:
    """schedule.is_overdue for a stored visit: only a planned one can be overdue."""
    done = sv.status != ScheduledVisit.Status.PLANNED
    return schedule.is_overdue(sv.due_date, today, done=done, grace_days=grace_days)


def mark_overdue(
    clinic: Clinic, rows: list[ScheduledVisit], today: date | None = None
) -> list[ScheduledVisit]:
    """Set ``overdue`` on each visit by the clinic's grace period; returns ``rows``."""
    today = today or timezone.localdate()
    grace = thresholds_for(clinic).overdue_grace_days
    for sv in rows:
        sv.overdue = is_overdue(sv, today, grace)
    return rows


# --- timeline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineImage:
    url: str
    alt: str


@dataclass(frozen=True)
class TimelineEntry:
    when: date
    # registered, consultation, scheduled, visit, measurement, photo, decision, session,
    # planned_session, course_ended, adverse_event
    kind: str
    title: str
    detail: str = ""
    url: str = ""
    flag: str = ""  # "serious", "overdue", "warning"
    obj: Model | None = None
    planned: bool = False  # not happened yet: a scheduled visit or a planned session
    restricted: bool = False  # the role may not see the clinical detail: date and kind only
    thumbnail: str = ""  # the session's injection map (SVG, escaped by scalp_zones)
    images: tuple[TimelineImage, ...] = ()


# Same day: consultation before the visit, measurements before the decision, the decision
# before the injection, reactions after it.
KIND_ORDER = {
    k: i
    for i, k in enumerate(
        ["registered", "consultation", "scheduled", "visit", "measurement", "photo", "decision",
         "session", "planned_session", "course_ended", "adverse_event"]
    )
}  # fmt: skip
TIMELINE_PHOTOS_PER_VISIT = 6
_VIEW_ORDER = {code: i for i, (code, _) in enumerate(VIEWS)}


def density_series(patient: Patient) -> list[tuple[date, float]]:
    points = []
    for v in visits_of(patient).prefetch_related("measurements").order_by("visit_date", "id"):
        m = measurement_of(v)
        if m is not None and m.density_per_cm2 is not None:
            points.append((v.visit_date, float(m.density_per_cm2)))
    return points


def _name(user: Any) -> str:
    return user.get_full_name() or user.username


def _stage_words(exam: ScalpExam) -> str:
    if exam.norwood_hamilton:
        return f"Norwood–Hamilton {exam.norwood_hamilton}"
    if exam.ludwig:
        return f"Ludwig {exam.ludwig}"
    if exam.sinclair:
        return f"Sinclair {exam.sinclair}"
    if exam.basp_final:
        return f"BASP {exam.basp_final}"
    return ""


def _screening_words(sc: Screening) -> str:
    by_outcome: dict[str, list[str]] = {}
    for modality, r in (sc.result.get("modalities") or {}).items():
        by_outcome.setdefault(r.get("outcome", ""), []).append(modality)
    parts = [
        f"{outcome}: {', '.join(sorted(by_outcome[outcome]))}"
        for outcome in ("BLOCK", "REFER", "WARN")
        if by_outcome.get(outcome)
    ]
    return "; ".join(parts) or "no contraindication found"


def _consultation_entries(patient: Patient, *, detail: bool) -> list[TimelineEntry]:
    """Consultation steps in step order per day; one undetailed entry per day without
    ``consultation.view``. Six queries whatever the number of steps."""
    flow = reverse("assessment:flow", args=[patient.pk])
    rows: list[tuple[date, int, int, str, str, str]] = []  # day, step, id, title, detail, url
    scope = {"patient": patient, "clinic": patient.clinic}
    for h in MedicalHistory.objects.filter(**scope).select_related("recorded_by"):
        rows.append((h.recorded_on, 0, h.pk, f"Medical history, version {h.version}",
                     f"recorded by {_name(h.recorded_by)}",
                     reverse("assessment:history_versions", args=[patient.pk])))  # fmt: skip
    for sc in Screening.objects.filter(**scope):
        rows.append((sc.screened_on, 1, sc.pk, "Contraindication screening",
                     _screening_words(sc), f"{flow}#step-screening"))  # fmt: skip
    for ex in ScalpExam.objects.filter(**scope).select_related("examined_by"):
        words = ", ".join(w for w in (_stage_words(ex), f"by {_name(ex.examined_by)}") if w)
        rows.append((ex.examined_on, 2, ex.pk, "Scalp examination", words, f"{flow}#step-exam"))
    for d in Diagnosis.objects.filter(**scope).select_related("patient"):
        words = ", ".join(
            w for w in (d.named_stage if d.stage else "", d.icd10_code and
                        f"ICD-10 {d.icd10_code}") if w
        )  # fmt: skip
        rows.append((d.diagnosed_on, 3, d.pk, f"Diagnosis: {d.label}", words,
                     f"{flow}#step-diagnosis"))  # fmt: skip
    for plan in TreatmentPlan.objects.filter(**scope):
        parts = []
        if plan.sessions_planned:
            n = plan.sessions_planned
            parts.append(f"{n} session{'s' if n != 1 else ''} planned")
        if plan.start_on:
            parts.append(f"from {plan.start_on.isoformat()}")
        if not plan.is_active:
            parts.append("since cancelled")
        rows.append((timezone.localdate(plan.created_at), 4, plan.pk,
                     f"Treatment plan accepted: {plan.title}", ", ".join(parts),
                     f"{flow}#step-plan"))  # fmt: skip
    for c in Consent.objects.filter(**scope).select_related("form", "withdrawal"):
        label = MODALITY_LABELS.get(c.modality, c.modality)
        rows.append((c.signed_on, 5, c.pk, f"Consent signed: {label}",
                     f"form version {c.form.version}", f"{flow}#step-consent"))  # fmt: skip
        if c.withdrawn:
            w = c.withdrawal
            rows.append((w.withdrawn_on, 6, w.pk, f"Consent withdrawn: {label}", w.reason,
                         f"{flow}#step-consent"))  # fmt: skip
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    if not detail:
        days = sorted({r[0] for r in rows})
        return [TimelineEntry(d, "consultation", "Consultation", restricted=True) for d in days]
    return [TimelineEntry(day, "consultation", title, words, url)
            for day, _, _, title, words, url in rows]  # fmt: skip


def _session_entries(
    patient: Patient, *, detail: bool, thumbnails: bool
) -> tuple[list[TimelineEntry], dict[str, list[date]]]:
    """Recorded (non-voided) sessions, numbered per modality by treatment day as the
    proposal counts them, and the treatment days per modality ("" = any modality).
    Four queries whatever the number of sessions."""
    sessions = list(treatment_selectors.recorded_sessions(patient))
    days: dict[str, list[date]] = {"": []}
    for s in sessions:
        for key in ("", s.modality):
            seen = days.setdefault(key, [])
            if s.performed_on not in seen:
                seen.append(s.performed_on)
    if not detail:
        entries = [
            TimelineEntry(day, "session", "Treatment session", restricted=True) for day in days[""]
        ]
        return entries, days
    draws = treatment_selectors.vial_draws_of(sessions)
    # Two records of one modality on one day count as one treatment day (the proposal's
    # count); the title says which record of that day each one is.
    same_day = Counter((s.modality, s.performed_on) for s in sessions)
    seen_day: Counter[tuple[str, date]] = Counter()
    entries = []
    for s in sessions:
        day = (s.modality, s.performed_on)
        seen_day[day] += 1
        sitting = (
            f" (record {seen_day[day]} of {same_day[day]} that day)" if same_day[day] > 1 else ""
        )
        words = [f"by {_name(s.clinician)}"]
        if s.total_points or s.total_volume_ml:
            words.append(f"{s.total_points} points, {float(s.total_volume_ml):g} mL")
        grafts = list(s.grafts.all())
        if grafts:
            techniques = "/".join(sorted({g.technique for g in grafts}))
            words.append(f"{sum(g.grafts for g in grafts)} grafts ({techniques})")
        lots = [
            f"lot {d.lot.lot_number} × {d.quantity} vial{'s' if d.quantity != 1 else ''}"
            for d in draws.get(s.pk, [])
        ]
        if lots:
            words.append(", ".join(lots))
        map_rows = [e.as_map_entry() for e in s.map_entries.all()]
        svg = ""
        if thumbnails and map_rows:
            # Built by scalp_zones from zone codes and numbers only, escaped there.
            svg = mark_safe(  # noqa: S308
                scalp_zones.render_scalp_svg(map_rows, "top", id_suffix=f"s{s.pk}")
            )
        entries.append(
            TimelineEntry(
                s.performed_on,
                "session",
                f"Session {days[s.modality].index(s.performed_on) + 1}{sitting}: "
                f"{s.get_modality_display()}",
                " · ".join(words),
                reverse("treatments:detail", args=[patient.pk, s.pk]),
                "warning" if s.limit_warnings else "",
                s,
                thumbnail=svg,
            )
        )
    return entries, days


def _planned_session_entries(
    patient: Patient,
    treatment_days: dict[str, list[date]],
    *,
    detail: bool,
    today: date,
    grace: int,
) -> list[TimelineEntry]:
    """The follow-up plans' session dates not yet matched by a recorded session of the
    plan's protocol modality (course_modality, as the proposal counts them). A session is
    dated by the visit booked before it (``planned_session_dates``): a course moved later
    moves its sessions with it.

    Each plan owns the treatment days from its first session date up to the next plan's
    (the first plan also those before: a session given a few days early still counts).
    Sessions planned after a decision to stop are not listed, nor those of a course ended
    early (``end_course``): that course's end is listed instead.
    """
    known, titles = _protocol_modalities_and_titles(patient.clinic)
    plans = list(
        FollowUpPlan.objects.filter(
            patient=patient, clinic=patient.clinic, voided_at__isnull=True
        ).order_by("first_session_date", "id")
    )
    stops = [
        d.visit.visit_date
        for d in live_decisions(patient).filter(decision__in=decision.STOPS).select_related("visit")
    ]
    booked = _booked_session_days(plans)
    out = []
    for k, plan in enumerate(plans):
        start = plan.first_session_date if k else date.min
        end = plans[k + 1].first_session_date if k + 1 < len(plans) else date.max
        course_days = treatment_days.get(course_modality(plan, known), [])
        done = sum(1 for d in course_days if start <= d < end)
        if plan.ended_on is not None:
            reason = f": {plan.end_reason}" if detail and plan.end_reason else ""
            given = f"{min(done, plan.sessions_planned)} of {plan.sessions_planned} sessions given"
            out.append(TimelineEntry(plan.ended_on, "course_ended", "Course ended early",
                                     f"{given}{reason}"))  # fmt: skip
            continue
        for i, day in enumerate(planned_session_dates(plan, booked.get(plan.pk)), start=1):
            if i <= done or any(plan.first_session_date <= s < day for s in stops):
                continue
            out.append(
                TimelineEntry(
                    day,
                    "planned_session",
                    f"Session {i} of {plan.sessions_planned} (planned)",
                    titles.get(plan.protocol_key, plan.protocol_key) if detail else "",
                    flag="overdue" if day < today - timedelta(days=grace) else "",
                    planned=True,
                )
            )
    return out


def timeline(
    patient: Patient,
    *,
    show_sessions: bool = False,
    show_consultation: bool = False,
    thumbnails: bool = False,
    edit_adverse_events: bool = False,
    show_adverse_events: bool = False,
) -> list[TimelineEntry]:
    """Everything that happened to the patient, oldest first, and what is still planned.

    Recorded treatment sessions (details, lots and map thumbnail only with
    ``show_sessions``, i.e. ``session.view``), consultation steps (only with
    ``show_consultation``, i.e. ``consultation.view``; otherwise one entry per consultation
    day without detail), visits with measurements and photos, adverse events (term and grade
    only with ``show_adverse_events``, i.e. ``adverse_event.view``), decisions, and
    the planned sessions and appointments, marked planned. A bounded number of queries,
    whatever the number of sessions, visits or steps.
    """
    today = timezone.localdate()
    grace = thresholds_for(patient.clinic).overdue_grace_days
    out: list[TimelineEntry] = [
        TimelineEntry(
            timezone.localdate(patient.created_at),
            "registered",
            "Registered",
            url=reverse("patients:detail", args=[patient.pk]),
        )
    ]
    out += _consultation_entries(patient, detail=show_consultation)
    sessions, treatment_days = _session_entries(
        patient, detail=show_sessions, thumbnails=thumbnails
    )
    out += sessions
    out += _planned_session_entries(
        patient, treatment_days, detail=show_sessions, today=today, grace=grace
    )
    for sv in schedule_of(patient):
        if sv.status == ScheduledVisit.Status.DONE:
            continue  # the visit itself is listed
        is_planned = sv.status == ScheduledVisit.Status.PLANNED
        flag = "overdue" if is_overdue(sv, today, grace) else ""
        out.append(
            TimelineEntry(
                sv.due_date, "scheduled", sv.label,
                "" if is_planned else sv.get_status_display(),  # the badge says "planned"
                flag=flag, obj=sv, planned=is_planned,
            )
        )  # fmt: skip
    visits = (
        visits_of(patient).prefetch_related("measurements", "photos").order_by("visit_date", "id")
    )
    for v in visits:
        url = reverse("monitoring:visit_detail", args=[patient.pk, v.pk])
        words = []
        if v.is_baseline:
            words.append("baseline")
        if v.global_assessment is not None:
            words.append(f"global {signed_grade(v.global_assessment)}")
        out.append(TimelineEntry(v.visit_date, "visit", "Visit", ", ".join(words), url, obj=v))
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
        photos = sorted(
            (p for p in v.photos.all() if p.voided_at is None),
            key=lambda p: (p.kind != Photo.Kind.GLOBAL, _VIEW_ORDER.get(p.view, 99), p.pk),
        )
        if photos:
            glob = sum(1 for p in photos if p.kind == Photo.Kind.GLOBAL)
            images = tuple(
                TimelineImage(
                    reverse("monitoring:photo_image", args=[patient.pk, p.pk]),
                    (
                        f"{p.get_view_display()} view"
                        if p.kind == Photo.Kind.GLOBAL
                        else f"Trichoscopy, {p.target_area or 'target area'}"
                    )
                    + f", {v.visit_date.isoformat()}",
                )  # fmt: skip
                for p in photos[:TIMELINE_PHOTOS_PER_VISIT]
            )
            out.append(
                TimelineEntry(
                    v.visit_date,
                    "photo",
                    "Photos",
                    f"{glob} global, {len(photos) - glob} trichoscopy",
                    url,
                    images=images,
                )
            )
    for e in adverse_events_of(patient):
        if not show_adverse_events:
            # Front desk: that an event was recorded that day, not what it was.
            out.append(TimelineEntry(e.onset_date, "adverse_event", "Adverse event",
                                     restricted=True))  # fmt: skip
            continue
        flag = "serious" if e.is_serious_or_high_grade else ""
        # What the clinician wrote; the grade's CTCAE definition only when nothing was: it
        # read as the patient's findings ("grade 2: Pain; lipodystrophy; edema; phlebitis").
        if e.description.strip():
            detail = f"grade {e.grade}: {Truncator(e.description.strip()).chars(160)}"
        else:
            detail = f"grade {e.grade} (CTCAE grade {e.grade}: {e.grade_text})"
        if e.resolution_date:
            detail += f"; resolved {e.resolution_date.isoformat()}"
        # The entry links to the event's form only for roles that may update it.
        edit = (
            reverse("monitoring:adverse_event_edit", args=[patient.pk, e.pk])
            if edit_adverse_events
            else ""
        )
        out.append(
            TimelineEntry(e.onset_date, "adverse_event", f"Adverse event: {e.term_name}", detail,
                          edit, flag, e)
        )  # fmt: skip
    decisions = live_decisions(patient).select_related("visit")
    for dcs in decisions:
        if not show_consultation:
            # The decision is clinical reasoning: its date and kind only, as for sessions.
            out.append(TimelineEntry(dcs.visit.visit_date, "decision", "Decision on further "
                                     "sessions", restricted=True))  # fmt: skip
            continue
        out.append(
            TimelineEntry(
                dcs.visit.visit_date,
                "decision",
                f"Decision: {dcs.get_decision_display()}",
                f"proposed: {dcs.get_proposal_display()}",
                reverse("monitoring:visit_detail", args=[patient.pk, dcs.visit_id]),
                obj=dcs,
            )
        )
    # Stable sort: within a kind and day the order built above stays.
    out.sort(key=lambda e: (e.when, KIND_ORDER.get(e.kind, 99)))
    return out
