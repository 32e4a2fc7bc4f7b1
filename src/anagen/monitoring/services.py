"""Writes of monitoring data: validation, transactions and audit in one place.

Every function validates everything first and raises MonitoringError (field → messages)
before anything is written, so a refused input stores nothing, files included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import IO, Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.accounts.roles import allowed as role_allows
from anagen.accounts.services import display_name, recorded_by_at
from anagen.assessment import scales
from anagen.assessment import services as assessment_services
from anagen.assessment.labels import modality_label
from anagen.assessment.models import TreatmentPlan
from anagen.core.checks import FieldErrors, Refusal, read_date, read_number, read_text, read_whole
from anagen.core.history import save_with_history
from anagen.core.locks import lock_names
from anagen.core.text import long_date
from anagen.monitoring import ctcae, decision, schedule, session_link, uploads
from anagen.monitoring.models import (
    DENSITY_PER_CM2_MAX,
    DIAMETER_UM_RANGE,
    HAIR_COUNT_MAX,
    HGQ_ITEMS,
    PULL_TEST_HAIRS_MAX,
    TARGET_AREA_CM2_RANGE,
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
from anagen.patients.models import Patient
from anagen.patients.services import lock_patient
from anagen.treatments.models import TreatmentSession

MEASUREMENT_FIELDS = (
    "target_area_cm2",
    "hair_count",
    "density_per_cm2",
    "mean_diameter_um",
    "terminal_pct",
    "vellus_pct",
    "anagen_pct",
)
VISIT_FIELDS = (
    "visit_date",
    "is_baseline",
    "global_assessment",
    "pull_test",
    "pull_test_hairs",
    "pull_test_hairs_grasped",
    "notes",
    *(name for name, _ in HGQ_ITEMS),
)
AE_FIELDS = (
    "term_key",
    "grade",
    "description",
    "onset_date",
    "resolution_date",
    "seriousness",
    "relatedness",
    "related_session_date",
    "product_lot_number",
    "action_taken",
    "outcome",
    "meddra_code",
    "meddra_version",
    "visit_id",
)
# terminal % + vellus % may exceed 100 only by rounding of the two figures.
PCT_SUM_TOLERANCE = 0.5
# Density given with count and area must be count ÷ area within 2 % or 1 hair/cm²,
# whichever is larger (rounding of a density typed with no or one decimal).
DENSITY_TOLERANCE_PCT = 2.0
# Density left blank with count and area given is stored as count ÷ area, to this many
# decimals (a density is typed with no or one decimal; the tolerance above covers it).
DERIVED_DENSITY_DECIMALS = 1
DERIVED_DENSITY_NOTE = "density derived as hair count ÷ target area"
MAX_TEXT = 5000


class MonitoringError(Refusal):
    """A write was refused; ``errors`` maps field name → list of messages."""


class _Errors(FieldErrors):
    def raise_if_any(self) -> None:
        if self:
            raise MonitoringError(dict(self))


def _text(err: _Errors, field: str, value: Any, max_len: int = MAX_TEXT) -> str:
    return read_text(err, field, value, max_len=max_len)


def _not_future(err: _Errors, field: str, value: date | None, what: str) -> None:
    if value is not None and value > timezone.localdate():
        err.add(field, f"{what} cannot be in the future.")


def _unknown(err: _Errors, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        err.add("__all__", f"Unknown field(s): {', '.join(sorted(unknown))}.")


def _writable(obj: Any, what: str) -> None:
    if getattr(obj, "is_voided", False):
        raise MonitoringError({"__all__": [f"This {what} is voided and cannot be changed."]})
    patient = getattr(obj, "patient", obj)
    if isinstance(patient, Patient) and patient.is_voided:
        raise MonitoringError({"__all__": ["The patient record is voided."]})


# --- settings -------------------------------------------------------------------------------


def clinic_settings(clinic: Clinic) -> MonitoringSettings:
    """The clinic's settings row, created with the documented defaults on first use."""
    obj, _ = MonitoringSettings.objects.get_or_create(clinic=clinic)
    return obj


def save_settings(clinic: Clinic, user: User, data: Mapping[str, Any]) -> MonitoringSettings:
    err = _Errors()
    allowed = (*MonitoringSettings.THRESHOLD_FIELDS, "overdue_grace_days")
    _unknown(err, data, allowed)
    current = clinic_settings(clinic)
    values = {f: getattr(current, f) for f in allowed}
    ints = {
        "min_global",
        "response_global",
        "stop_ae_grade",
        "max_extra_sessions",
        "maintenance_interval_months",
        "overdue_grace_days",
    }
    bounds = {
        "min_density_pct": (0, 100),
        "response_density_pct": (0, 100),
        "min_diameter_um": (0, 50),
        "min_global": (1, 3),
        "response_global": (1, 3),
        "stop_ae_grade": (1, 5),
        "max_extra_sessions": (0, 12),
        "maintenance_interval_months": (1, 36),
        "overdue_grace_days": (0, 90),
    }
    for f in allowed:
        if f in data:
            if data[f] is None or data[f] == "":
                err.add(f, "This field is required.")
                continue
            v = read_number(err, f, data[f], *bounds[f], integer=f in ints)
            if v is not None:
                values[f] = v
    err.raise_if_any()
    try:
        decision.Thresholds(**{f: values[f] for f in MonitoringSettings.THRESHOLD_FIELDS})
    except decision.DecisionInputError as exc:
        words = {
            "response_density_pct": "The density gain that makes a response must not be below "
            "the least gain that counts.",
            "response_global": "The global assessment that makes a response must not be below "
            "the least one that counts.",
        }
        raise MonitoringError({exc.field: [words.get(exc.field, exc.message)]}) from exc
    with transaction.atomic():
        fresh = MonitoringSettings.objects.select_for_update().get(pk=current.pk)
        for f, v in values.items():
            setattr(fresh, f, v)
        save_with_history(fresh, user, "thresholds changed")  # nothing changed: not saved
    return fresh


# --- schedule -------------------------------------------------------------------------------


def create_follow_up_plan(
    patient: Patient,
    user: User,
    *,
    first_session_date: date | str | None,
    sessions_planned: int | str | None,
    interval_weeks: float | str | None,
    follow_up_weeks: str | Iterable[int] = schedule.DEFAULT_FOLLOW_UP_WEEKS,
    protocol_key: str = "",
) -> FollowUpPlan:
    """Create a course's follow-up schedule: baseline, pre-session and follow-up visits."""
    _writable(patient, "patient")
    with transaction.atomic():
        # Under the patient's lock: the "already has a schedule" check reads, then the
        # course is written; a form sent twice at once booked the course twice.
        _writable(lock_patient(patient), "patient")  # voided meanwhile?
        return _create_follow_up_plan(
            patient,
            user,
            first_session_date=first_session_date,
            sessions_planned=sessions_planned,
            interval_weeks=interval_weeks,
            follow_up_weeks=follow_up_weeks,
            protocol_key=protocol_key,
        )


def _create_follow_up_plan(
    patient: Patient,
    user: User,
    *,
    first_session_date: date | str | None,
    sessions_planned: int | str | None,
    interval_weeks: float | str | None,
    follow_up_weeks: str | Iterable[int],
    protocol_key: str,
) -> FollowUpPlan:
    err = _Errors()
    first = read_date(err, "first_session_date", first_session_date, required=True)
    n = read_whole(err, "sessions_planned", sessions_planned, 1, schedule.MAX_SESSIONS)
    if sessions_planned in (None, ""):
        err.add("sessions_planned", "This field is required.")
    interval = read_number(err, "interval_weeks", interval_weeks, 0, 52)
    if interval_weeks in (None, ""):
        interval = 0.0 if n == 1 else None
        if n != 1:
            err.add("interval_weeks", "This field is required.")
    protocol_key = _text(err, "protocol_key", protocol_key, 40)
    weeks: tuple[int, ...] = ()
    try:
        weeks = (
            schedule.parse_weeks(follow_up_weeks)
            if isinstance(follow_up_weeks, str)
            else schedule._check_weeks(follow_up_weeks)
        )
    except schedule.ScheduleError as exc:
        err.add(exc.field, exc.message)
    if protocol_key and not err.get("protocol_key"):
        from anagen.monitoring import selectors  # selectors reads what services write

        known = selectors.protocol_modalities(patient.clinic)
        if protocol_key not in known:
            err.add(
                "protocol_key",
                f"Unknown protocol {protocol_key!r}; choose one of: {', '.join(sorted(known))}.",
            )
    if first is not None:
        _schedule_error(err, schedule.check_first_session, first, timezone.localdate())
    if first is not None and not err.get("first_session_date") and not err.get("protocol_key"):
        _check_plan_start(patient, first, protocol_key, err)
    # A second course booked over an open one would double every visit (two baselines, two
    # "before session 2"); the open visits are cancelled or moved first.
    open_visits = ScheduledVisit.objects.filter(
        patient=patient,
        plan__isnull=False,
        status=ScheduledVisit.Status.PLANNED,
        voided_at__isnull=True,
    ).order_by("due_date", "id")
    following = open_visits.first()
    if following is not None:
        err.add(
            "__all__",
            f"This patient already has a follow-up schedule with {open_visits.count()} planned "
            f"visit(s) (next: {following.label} on {following.due_date:%Y-%m-%d}). End that course "
            "first (its planned visits are cancelled with one reason), then book the new one.",
        )
    err.raise_if_any()
    assert first is not None and n is not None and interval is not None
    try:
        visits = schedule.build_schedule(first, int(n), float(interval), weeks)
    except schedule.ScheduleError as exc:
        raise MonitoringError({exc.field: [exc.message]}) from exc
    with transaction.atomic():
        plan = FollowUpPlan(
            clinic=patient.clinic,
            patient=patient,
            protocol_key=protocol_key,
            first_session_date=first,
            sessions_planned=int(n),
            interval_weeks=float(interval),
            follow_up_weeks=",".join(str(w) for w in weeks),
            created_by=user,
        )
        save_with_history(plan, user, "follow-up plan created")
        for v in visits:
            sv = ScheduledVisit(
                clinic=patient.clinic,
                patient=patient,
                plan=plan,
                due_date=v.due_date,
                original_due_date=v.due_date,
                kind=v.kind,
                label=v.label,
                week=v.week,
                session_number=v.session_number,
            )
            save_with_history(sv, user, "scheduled from protocol")
            _close_with_recorded_visit(sv, user)
    return plan


def _close_with_recorded_visit(sv: ScheduledVisit, user: User) -> None:
    """A visit the schedule books on a day the patient already had that visit recorded (the
    baseline measured before the schedule was made) is that visit: it is linked and done, not
    left "planned" beside the recorded one on the timeline and in the agenda."""
    baseline = sv.kind == ScheduledVisit.Kind.BASELINE
    recorded = (
        Visit.objects.filter(
            patient=sv.patient,
            visit_date=sv.due_date,
            is_baseline=baseline,
            voided_at__isnull=True,
            scheduled_visit__isnull=True,
        )
        .order_by("id")
        .first()
    )
    if recorded is None:
        return
    recorded.scheduled_visit = sv
    save_with_history(recorded, user, f"linked to its appointment “{sv.label}”")
    sv.status = ScheduledVisit.Status.DONE
    save_with_history(sv, user, "done: the visit was recorded before the schedule was made")


def _check_plan_start(patient: Patient, first: date, protocol_key: str, err: _Errors) -> None:
    """A course cannot start before the accepted plan it follows: sessions before a plan's
    start are refused, so such a schedule could never be kept. The plans looked at are the
    active ones with the protocol's modality (every active plan without a protocol)."""
    from anagen.assessment import selectors as assessment_selectors
    from anagen.monitoring import selectors  # selectors reads what services write

    modality = selectors.protocol_modalities(patient.clinic).get(protocol_key, "")
    active = list(assessment_selectors.active_plans(patient))
    plans = [p for p in active if not modality or modality in (p.modalities or [])]
    if modality and active and not plans:
        # The course would follow another treatment than the one planned: the visit page
        # then counted the sessions of the wrong treatment (a review). With no plan yet a
        # course may be booked ahead of it; its sessions wait for the plan.
        which = "; ".join(f"“{p.title}”" for p in active)
        err.add(
            "protocol_key",
            f"No active treatment plan of this patient includes "
            f"{modality_label(modality)} (active plans: {which}). Choose the protocol "
            "of the plan being followed, or accept a plan for this treatment first.",
        )
        return
    if plans and all(p.start_on is not None and p.start_on > first for p in plans):
        plan = min(plans, key=lambda p: p.start_on or first)
        err.add(
            "first_session_date",
            f"The treatment plan “{plan.title}” starts on {plan.start_on:%Y-%m-%d}: sessions "
            "before it are refused, so the course cannot start earlier. Start it on or after "
            "that day, or change the plan's start in the consultation.",
        )


def _schedule_error(err: _Errors, check: Callable[..., None], *args: Any) -> None:
    """Run a schedule.py check; its ScheduleError becomes a field error."""
    try:
        check(*args)
    except schedule.ScheduleError as exc:
        err.add(exc.field, exc.message)


def add_scheduled_visit(
    patient: Patient, user: User, *, due_date: date | str | None, label: str = "Extra visit"
) -> ScheduledVisit:
    _writable(patient, "patient")
    err = _Errors()
    due = read_date(err, "due_date", due_date, required=True)
    label = _text(err, "label", label, 120) or "Extra visit"
    if due is not None and due < timezone.localdate():
        # A visit that already took place is recorded as a visit, not booked afterwards.
        err.add(
            "due_date",
            f"{long_date(due)} is in the past: book today or later (record a visit that took "
            "place as a visit).",
        )
    elif due is not None:
        _schedule_error(err, schedule.check_date_window, "due_date", due, timezone.localdate())
    err.raise_if_any()
    assert due is not None  # required: an error was added otherwise
    sv = ScheduledVisit(
        clinic=patient.clinic,
        patient=patient,
        due_date=due,
        original_due_date=due,
        kind=ScheduledVisit.Kind.EXTRA,
        label=label,
    )
    with transaction.atomic():
        # Under the patient's lock: the same form sent twice booked the patient twice (two
        # reminders).
        _writable(lock_patient(patient), "patient")  # voided meanwhile?
        same = (
            ScheduledVisit.objects.filter(
                patient=patient,
                due_date=due,
                label__iexact=label,
                status=ScheduledVisit.Status.PLANNED,
                voided_at__isnull=True,
            )
            .order_by("id")
            .first()
        )
        if same is not None:
            raise MonitoringError(
                {
                    "due_date": [
                        f"“{same.label}” on {long_date(due)} is already booked for this "
                        "patient: move or cancel that appointment instead of booking it again."
                    ]
                }
            )
        save_with_history(sv, user, "appointment booked")
    return sv


def _course_neighbours(
    sv: ScheduledVisit,
) -> tuple[ScheduledVisit | None, list[ScheduledVisit]]:
    """The planned visit of ``sv``'s course just before it, and those after it, in the
    course's own order (as booked: original due dates)."""
    if sv.plan_id is None:
        return None, []
    others = ScheduledVisit.objects.filter(
        plan_id=sv.plan_id, status=ScheduledVisit.Status.PLANNED, voided_at__isnull=True
    ).exclude(pk=sv.pk)
    key = (sv.original_due_date, sv.pk)
    ordered = sorted(others, key=lambda v: (v.original_due_date, v.pk))
    before = [v for v in ordered if (v.original_due_date, v.pk) < key]
    after = [v for v in ordered if (v.original_due_date, v.pk) > key]
    return (before[-1] if before else None), after


def reschedule_visit(
    scheduled: ScheduledVisit,
    user: User,
    *,
    new_date: date | str | None,
    reason: str,
    move_later: bool = False,
) -> ScheduledVisit:
    """Move an appointment; the old and new dates and the reason stay in the history.

    A visit of a course keeps its place in the course: moved past the next planned visit it
    is refused unless ``move_later``, which moves every later planned visit of the course by
    as many days (a patient who delays the course delays all of it). Moved before the
    previous planned visit it is refused."""
    _writable(scheduled, "appointment")
    err = _Errors()
    new = read_date(err, "due_date", new_date, required=True)
    reason = _text(err, "reason", reason, 500)
    if len(reason) < 5:
        err.add("reason", "Give the reason for moving the visit (at least 5 characters).")
    if scheduled.status != ScheduledVisit.Status.PLANNED:
        err.add("__all__", f"Only planned visits can be moved (this one is {scheduled.status}).")
    if new is not None and new == scheduled.due_date:
        err.add("due_date", f"The appointment is already on {long_date(new)}: choose another date.")
    elif new is not None and new < timezone.localdate():
        err.add("due_date", f"{long_date(new)} is in the past: move the visit to today or later.")
    elif new is not None:
        # The window of a new schedule: 9999-12-31 would break every overdue check.
        _schedule_error(err, schedule.check_date_window, "due_date", new, timezone.localdate())
    err.raise_if_any()
    assert new is not None  # required: an error was added otherwise
    with transaction.atomic():
        fresh = ScheduledVisit.objects.select_for_update().get(pk=scheduled.pk)
        if fresh.status != ScheduledVisit.Status.PLANNED or fresh.is_voided:
            # Its visit recorded (or it was closed or voided) since the form was read: the
            # checks above were of the old state, and a visit that took place is not moved.
            state = "voided" if fresh.is_voided else fresh.get_status_display().lower()
            raise MonitoringError(
                {"__all__": [f"The visit changed meanwhile (now {state}); look at it again."]}
            )
        previous, later = _course_neighbours(fresh)
        # A later visit already past its date is overdue itself: it is rebooked or marked
        # missed in turn, and does not hold this one back.
        upcoming = [v for v in later if v.due_date >= timezone.localdate()]
        if previous is not None and new < previous.due_date:
            err.add(
                "due_date",
                f"{long_date(new)} is before “{previous.label}” of the same course "
                f"({long_date(previous.due_date)}): the course's visits keep their order. "
                "Choose a later date, or move that visit first.",
            )
        elif upcoming and new > upcoming[0].due_date and not move_later:
            err.add(
                "due_date",
                f"{long_date(new)} is after “{upcoming[0].label}” of the same course "
                f"({long_date(upcoming[0].due_date)}): the course's visits keep their order. "
                "Choose an earlier date, or move the later visits of the course too.",
            )
        if move_later and later and new > fresh.due_date:
            last = max(v.due_date for v in later) + (new - fresh.due_date)
            _schedule_error(err, schedule.check_date_window, "due_date", last, timezone.localdate())
        err.raise_if_any()
        old = fresh.due_date
        fresh.due_date = new
        fresh.reschedule_count += 1
        save_with_history(fresh, user, f"rescheduled {old} → {new}: {reason}")
        if move_later and new > old:
            delay = new - old
            for v in ScheduledVisit.objects.select_for_update().filter(
                pk__in=[v.pk for v in later]
            ):
                was = v.due_date
                v.due_date = was + delay
                v.reschedule_count += 1
                save_with_history(
                    v, user, f"rescheduled {was} → {v.due_date} with “{fresh.label}”: {reason}"
                )
    return fresh


def set_visit_status(
    scheduled: ScheduledVisit, user: User, status: str, reason: str
) -> ScheduledVisit:
    """Mark a planned visit missed or cancelled (with a reason), or back to planned."""
    _writable(scheduled, "appointment")
    err = _Errors()
    allowed = {
        ScheduledVisit.Status.MISSED,
        ScheduledVisit.Status.CANCELLED,
        ScheduledVisit.Status.PLANNED,
    }
    if status not in allowed:
        err.add("status", "Choose planned, missed or cancelled.")
    reason = _text(err, "reason", reason, 500)
    if len(reason) < 5:
        err.add("reason", "Give a reason (at least 5 characters).")
    if scheduled.status == ScheduledVisit.Status.DONE:
        err.add("__all__", "This visit took place; void the visit instead.")
    elif status == scheduled.status:
        err.add("status", f"The visit is already {scheduled.get_status_display().lower()}.")
    elif status == ScheduledVisit.Status.MISSED and scheduled.due_date > timezone.localdate():
        err.add(
            "status",
            f"The visit is due on {long_date(scheduled.due_date)}: it cannot be missed yet "
            "(cancel it if it will not take place).",
        )
    err.raise_if_any()
    with transaction.atomic():
        fresh = ScheduledVisit.objects.select_for_update().get(pk=scheduled.pk)
        if status == ScheduledVisit.Status.PLANNED:
            _refuse_ended_course(fresh)
        if (fresh.status, fresh.due_date) != (scheduled.status, scheduled.due_date):
            # Changed by someone else since it was read (a visit recorded, another status):
            # the checks above were of the old state.
            raise MonitoringError(
                {
                    "__all__": [
                        f"The visit changed meanwhile (now {fresh.get_status_display().lower()}, "
                        f"due {long_date(fresh.due_date)}); look at it again."
                    ]
                }
            )
        fresh.status = status
        save_with_history(fresh, user, f"{status}: {reason}")
    return fresh


def _refuse_ended_course(scheduled: ScheduledVisit) -> None:
    """A visit of a course that was ended is not planned again: ending the course stopped the
    patient's treatment (a clinician's call, plan.edit), and planning its visits one by one
    (schedule.manage: the front desk too) would restart it behind that decision."""
    if scheduled.plan_id is None:
        return
    ended_on = (
        FollowUpPlan.objects.filter(pk=scheduled.plan_id).values_list("ended_on", flat=True).first()
    )
    if ended_on is not None:
        raise MonitoringError(
            {
                "status": [
                    f"Its course was ended on {long_date(ended_on)} (the patient's "
                    "treatment stopped): the visit is not planned again. Book an appointment, "
                    "or a new follow-up schedule."
                ]
            }
        )


END_REASON_MAX = 2100


@dataclass(frozen=True)
class CourseEnded:
    """What ending a course did to its planned visits."""

    cancelled: int
    missed: int

    def summary(self) -> str:
        parts = []
        if self.cancelled:
            parts.append(f"{self.cancelled} planned visit(s) cancelled")
        if self.missed:
            parts.append(f"{self.missed} past visit(s) marked missed")
        return " and ".join(parts)


def end_course(plan: FollowUpPlan, user: User, reason: str) -> CourseEnded:
    """End a course early (the plan was cancelled, the patient stopped): every visit of it
    still planned is closed with the reason in its history. Those due today or later are
    cancelled; those already past their date are marked missed, because they were due and
    did not take place (follow-up attrition counts them). Visits that took place stay."""
    _writable(plan, "follow-up schedule")
    err = _Errors()
    # Room for a plan's cancellation reason (2,000 characters) with its "plan cancelled: ".
    reason = _text(err, "reason", reason, END_REASON_MAX)
    if len(reason) < 5:
        err.add("reason", "Give the reason for ending the course (at least 5 characters).")
    err.raise_if_any()
    today = timezone.localdate()
    cancelled = missed = 0
    with transaction.atomic():
        fresh = FollowUpPlan.objects.select_for_update().get(pk=plan.pk)
        still_planned = ScheduledVisit.objects.select_for_update().filter(
            plan=plan, status=ScheduledVisit.Status.PLANNED, voided_at__isnull=True
        )
        for sv in still_planned.order_by("due_date", "id"):
            if sv.due_date < today:
                sv.status, missed = ScheduledVisit.Status.MISSED, missed + 1
            else:
                sv.status, cancelled = ScheduledVisit.Status.CANCELLED, cancelled + 1
            save_with_history(sv, user, f"{sv.status} (course ended): {reason}")
        if not (cancelled or missed):
            raise MonitoringError(
                {"__all__": ["This course has no planned visits left; nothing was changed."]}
            )
        # The course itself records the end: its sessions not given are no longer planned,
        # and the timeline shows when and why it ended.
        fresh.ended_on, fresh.ended_by, fresh.end_reason = today, user, reason
        save_with_history(fresh, user, f"course ended: {reason}")
    return CourseEnded(cancelled=cancelled, missed=missed)


def cancel_plan_and_end_course(
    plan: TreatmentPlan, user: User, reason: str
) -> tuple[TreatmentPlan, CourseEnded]:
    """Cancel a treatment plan and end the patient's open follow-up course with the same
    reason, in one step: both happen or neither (a plan cancelled with its visits still
    booked leaves the patient called in for sessions that will not be given)."""
    from anagen.monitoring import selectors  # selectors reads what services write

    with transaction.atomic():
        cancelled = assessment_services.cancel_plan(plan, user, reason)
        course = selectors.open_course(plan.patient)
        if course is None:
            raise MonitoringError(
                {"end_course": ["This patient has no follow-up course with visits planned."]}
            )
        if not selectors.course_follows_plan(course.plan, plan):
            raise MonitoringError(
                {
                    "end_course": [
                        "The open follow-up course follows another treatment than this plan; "
                        "it is not ended with it (end it on the schedule page if it should end)."
                    ]
                }
            )
        ended = end_course(course.plan, user, f"plan cancelled: {reason.strip()}")
    return cancelled, ended


# --- visits and measurements ---------------------------------------------------------------


def validate_measurements(data: Mapping[str, Any]) -> dict[str, Any]:
    """Cleaned measurement values, or MonitoringError naming each impossible value."""
    return clean_measurements(data)[0]


def clean_measurements(data: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Cleaned measurement values and whether the density was derived, or MonitoringError
    naming each impossible value.

    A density left blank, with a hair count and a target area given, is count ÷ area (the
    second item is then true, for the history). A count without an area keeps the density
    and the area blank: no area is presented as measured.
    """
    err = _Errors()
    out: dict[str, Any] = {}
    out["target_area_cm2"] = read_number(
        err, "target_area_cm2", data.get("target_area_cm2"), *TARGET_AREA_CM2_RANGE, label="cm²"
    )
    out["hair_count"] = read_number(
        err, "hair_count", data.get("hair_count"), 0, HAIR_COUNT_MAX, integer=True,
        label="hairs",
    )  # fmt: skip
    out["density_per_cm2"] = read_number(
        err, "density_per_cm2", data.get("density_per_cm2"), 0, DENSITY_PER_CM2_MAX,
        label="hairs/cm²",
    )  # fmt: skip
    out["mean_diameter_um"] = read_number(
        err, "mean_diameter_um", data.get("mean_diameter_um"), *DIAMETER_UM_RANGE, label="µm"
    )
    for f in ("terminal_pct", "vellus_pct", "anagen_pct"):
        out[f] = read_number(err, f, data.get(f), 0, 100, label="%")
    t, v = out["terminal_pct"], out["vellus_pct"]
    if t is not None and v is not None and t + v > 100 + PCT_SUM_TOLERANCE:
        err.add("vellus_pct", f"Terminal % + vellus % is {t + v:g}; together at most 100.")
    area, count, density = out["target_area_cm2"], out["hair_count"], out["density_per_cm2"]
    derived = False
    if area is not None and count is not None and density is not None:
        expected = count / area
        if abs(density - expected) > max(DENSITY_TOLERANCE_PCT / 100 * expected, 1.0):
            err.add(
                "density_per_cm2",
                f"Density is hair count ÷ target area: {count} hairs in {area:g} cm² is "
                f"{expected:.1f}/cm², not {density:g}/cm². Check the three values.",
            )
    elif area is not None and count is not None:
        expected = round(count / area, DERIVED_DENSITY_DECIMALS)
        if expected > DENSITY_PER_CM2_MAX:
            err.add(
                "hair_count",
                f"{count} hairs in {area:g} cm² is {expected:g}/cm², more than the plausible "
                f"{DENSITY_PER_CM2_MAX:g}/cm². Check the count and the target area.",
            )
        else:
            out["density_per_cm2"], derived = expected, True
    err.raise_if_any()
    return out, derived


def _has_measurement(values: Mapping[str, Any]) -> bool:
    return any(values.get(f) is not None for f in MEASUREMENT_FIELDS if f != "target_area_cm2")


@dataclass(frozen=True)
class PhotoUpload:
    """One file to store with a visit: a global view or a trichoscopy image."""

    file: IO[bytes]
    kind: str  # Photo.Kind
    view: str = ""
    target_area: str = ""
    field: str = "image"  # the form field to name in errors
    size: int | None = None
    # Already checked and cleaned by ``acceptable_photos`` in this process (a page that
    # checked it first, or a photo held from a refused try): not decoded again.
    clean: uploads.CleanImage | None = None


def _clean_photos(
    err: _Errors, photos: Iterable[PhotoUpload]
) -> list[tuple[PhotoUpload, uploads.CleanImage]]:
    views = {v for v, _ in VIEWS}
    cleaned = []
    for p in photos:
        if p.kind not in Photo.Kind.values:
            err.add(p.field, "Choose global photo or trichoscopy.")
            continue
        if p.kind == Photo.Kind.GLOBAL and p.view not in views:
            # Under the view's own field where the form has one (the photo form's "image").
            where = "view" if p.field == "image" else p.field
            err.add(where, f"A global photo needs a view: {', '.join(sorted(views))}.")
            continue
        if p.kind == Photo.Kind.TRICHOSCOPY and p.view:
            err.add(p.field, "Trichoscopy images have no global view.")
            continue
        target = _text(err, p.field, p.target_area, 80)
        if p.clean is not None:
            cleaned.append((PhotoUpload(p.file, p.kind, p.view, target, p.field, p.size), p.clean))
            continue
        try:
            cleaned.append(
                (
                    PhotoUpload(p.file, p.kind, p.view, target, p.field, p.size),
                    uploads.clean_image(
                        p.file,
                        size=p.size,
                        min_side_px=uploads.TRICHOSCOPY_MIN_SIDE_PX
                        if p.kind == Photo.Kind.TRICHOSCOPY
                        else uploads.MIN_SIDE_PX,
                        max_megapixels=uploads.TRICHOSCOPY_MAX_MEGAPIXELS
                        if p.kind == Photo.Kind.TRICHOSCOPY
                        else None,
                    ),  # fmt: skip
                )
            )
        except uploads.UploadError as exc:
            err.add(p.field, str(exc))
    return cleaned


def acceptable_photos(photos: Iterable[PhotoUpload]) -> dict[str, uploads.CleanImage]:
    """The photos that pass their own checks (image, size, view), cleaned, by form field:
    a page checks the chosen files once, passes each clean image on with its upload
    (``PhotoUpload.clean``) and may hold them if the visit is refused."""
    return {upload.field: clean for upload, clean in _clean_photos(_Errors(), photos)}


def _store_photo(visit: Visit, user: User, upload: PhotoUpload, clean: uploads.CleanImage) -> Photo:
    photo = Photo(
        clinic=visit.clinic,
        patient=visit.patient,
        visit=visit,
        kind=upload.kind,
        view=upload.view,
        target_area=upload.target_area,
        content_type=clean.content_type,
        size_bytes=len(clean.content),
        sha256=clean.sha256,
        width_px=clean.width_px,
        height_px=clean.height_px,
        uploaded_by=user,
    )
    photo.image.save(f"photo.{clean.extension}", ContentFile(clean.content), save=False)
    save_with_history(photo, user, "photo uploaded")
    if photo.kind == Photo.Kind.TRICHOSCOPY:
        from anagen.imaging.services import on_trichoscopy_photo_stored  # imaging depends on us

        on_trichoscopy_photo_stored(photo, user)  # queued after commit; never raises
    return photo


def _clean_visit(patient: Patient, data: Mapping[str, Any], err: _Errors) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["visit_date"] = read_date(err, "visit_date", data.get("visit_date"), required=True)
    _not_future(err, "visit_date", out["visit_date"], "The visit date")
    if out["visit_date"] is not None and out["visit_date"] < patient.date_of_birth:
        err.add("visit_date", "The visit date is before the patient's date of birth.")
    elif out["visit_date"] is not None and out["visit_date"].year < schedule.EARLIEST_YEAR:
        # As appointments: a 1999 visit is a typing slip (it showed at study day -9824).
        err.add("visit_date", f"Check the year: visits from {schedule.EARLIEST_YEAR} on.")
    out["is_baseline"] = bool(data.get("is_baseline", False))
    for name in ("global_assessment", *(n for n, _ in HGQ_ITEMS)):
        out[name] = read_number(err, name, data.get(name), -3, 3, integer=True)
    pull = data.get("pull_test") or Visit.PullTest.NOT_DONE
    if pull not in Visit.PullTest.values:
        err.add("pull_test", "Choose not done, negative or positive.")
    out["pull_test"] = pull
    hairs = read_number(
        err, "pull_test_hairs", data.get("pull_test_hairs"), 0, PULL_TEST_HAIRS_MAX, integer=True
    )
    grasped = read_number(
        err,
        "pull_test_hairs_grasped",
        data.get("pull_test_hairs_grasped"),
        1,
        PULL_TEST_HAIRS_MAX,
        integer=True,
    )
    if grasped is not None and hairs is None and "pull_test_hairs" not in err:
        err.add("pull_test_hairs", "Give the hairs that came out of the hairs grasped.")
    elif hairs is not None and grasped is not None and hairs > grasped:
        err.add("pull_test_hairs", f"{hairs} hairs came out of only {grasped} grasped.")
    elif hairs is not None and "pull_test_hairs_grasped" not in err:
        if pull == Visit.PullTest.NOT_DONE:
            err.add(
                "pull_test", "Hairs were counted: record the pull test as negative or positive."
            )
        else:
            _check_pull_result(
                err,
                pull == Visit.PullTest.POSITIVE,
                int(hairs),
                None if grasped is None else int(grasped),
            )
    out["pull_test_hairs"] = hairs
    out["pull_test_hairs_grasped"] = grasped
    out["notes"] = _text(err, "notes", data.get("notes"))
    return out


def _check_pull_result(err: _Errors, positive: bool, hairs: int, grasped: int | None) -> None:
    """The recorded result must be what the hairs out say: more than 10 % of the hairs
    grasped is positive (REFERENCE A.1.5). Without the grasp counted, the standard 40-60
    hairs decide, and 5 or 6 hairs out may be either (a review found 5 of 40 refused as
    positive when the rule was a fixed count)."""
    expected = scales.pull_test_outcome(hairs, grasped)
    if expected is None or expected == positive:
        return
    word = "positive" if expected else "negative"
    if grasped is not None:
        err.add(
            "pull_test_hairs",
            f"{hairs} of {grasped} hairs grasped is a {word} pull test (positive above 10 %).",
        )
    else:
        err.add(
            "pull_test_hairs",
            f"{hairs} hairs is a {word} pull test for the standard grasp of 40-60 hairs "
            "(positive above 10 %); give the hairs grasped if it was not standard.",
        )


def _same_day_appointment(
    patient: Patient, visit_values: Mapping[str, Any]
) -> ScheduledVisit | None:
    """The appointment a visit recorded without one is for: the patient's only planned
    appointment due that day, if it fits what was entered (a baseline appointment for a
    visit marked baseline, another one for a visit that is not, not before its course's
    first session). Left open otherwise (it would show overdue and, when the course ends,
    missed, although the visit took place)."""
    on = visit_values.get("visit_date")
    if on is None:
        return None
    due = list(
        ScheduledVisit.objects.filter(
            patient=patient,
            due_date=on,
            status=ScheduledVisit.Status.PLANNED,
            voided_at__isnull=True,
        ).select_related("plan")[:2]
    )
    if len(due) != 1:
        return None
    sv = due[0]
    is_baseline = bool(visit_values.get("is_baseline"))
    if (sv.kind == ScheduledVisit.Kind.BASELINE) != is_baseline:
        return None
    if sv.plan is not None and not is_baseline and on < sv.plan.first_session_date:
        return None
    return sv


# A new course's baseline is taken at most this long before its first session.
BASELINE_LEAD_DAYS = 60


def _no_change_rated_at_baseline(values: dict[str, Any], err: _Errors) -> None:
    """The global assessment and the questionnaire rate change since baseline: at the
    baseline there is none (a +2 was stored there and shown as the baseline's rating)."""
    for name in ("global_assessment", *(n for n, _ in HGQ_ITEMS)):
        if values.get(name) is not None:
            err.add(
                name,
                "A baseline visit has no change to rate: leave this empty (it rates change "
                "since the baseline, from the next visit on).",
            )


def _check_new_baseline(patient: Patient, on: date | None, err: _Errors) -> None:
    """One baseline per course: a further baseline is accepted for a patient back for a new
    course only: a course booked to start after the latest baseline, treatment given since
    that baseline, and the new one dated after it and at most BASELINE_LEAD_DAYS before the
    new course's first session. Each visit is compared with its course's baseline."""
    latest = (
        Visit.objects.filter(patient=patient, is_baseline=True, voided_at__isnull=True)
        .order_by("-visit_date", "-id")
        .first()
    )
    if latest is None or on is None:
        return
    newer_course = (
        FollowUpPlan.objects.filter(
            patient=patient, voided_at__isnull=True, first_session_date__gt=latest.visit_date
        )
        .order_by("first_session_date", "id")
        .first()
    )
    current = f"This patient already has a baseline visit ({latest.visit_date:%Y-%m-%d})"
    if newer_course is None:
        err.add(
            "is_baseline",
            f"{current}, and no course starts after it: that is the current course's "
            "baseline. A new baseline goes with a new course booked to start after it; a "
            "baseline entered in error is voided instead.",
        )
    elif on <= latest.visit_date:
        err.add(
            "visit_date",
            f"A new course's baseline comes after the current baseline "
            f"({latest.visit_date:%Y-%m-%d}).",
        )
    elif on < newer_course.first_session_date - timedelta(days=BASELINE_LEAD_DAYS):
        earliest = newer_course.first_session_date - timedelta(days=BASELINE_LEAD_DAYS)
        err.add(
            "visit_date",
            f"The new course starts on {newer_course.first_session_date:%Y-%m-%d}; its baseline "
            f"is taken shortly before (from {earliest:%Y-%m-%d}). A visit on "
            f"{on:%Y-%m-%d} belongs to the previous course.",
        )
    elif not TreatmentSession.objects.filter(
        patient=patient,
        voided_at__isnull=True,
        performed_on__gt=latest.visit_date,
        performed_on__lt=on,
    ).exists():
        err.add(
            "is_baseline",
            f"{current} and no treatment has been given since: it is still the baseline of "
            "this course. A baseline entered in error is voided instead.",
        )


def same_day_visits(patient: Patient, on_date: date) -> list[Visit]:
    """The patient's visits on this date that are not voided."""
    return list(
        Visit.objects.filter(patient=patient, visit_date=on_date, voided_at__isnull=True)
        .select_related("recorded_by")
        .order_by("created_at", "id")
    )


def same_day_message(earlier: list[Visit]) -> str:
    """Why a second visit on the same day is held back, and what to do."""
    first = earlier[0]
    recorded = recorded_by_at((v.recorded_by, v.created_at) for v in earlier)
    visits = "a visit" if len(earlier) == 1 else f"{len(earlier)} visits"
    return (
        f"This patient already has {visits} on {long_date(first.visit_date)} "
        f"(recorded by {recorded}). Do not record the same visit twice. If this is a "
        "separate visit, confirm that it is (the box “This is a separate visit on the same "
        f"day”; in the API, confirm_same_day: true with same_day_seen: {len(earlier)})."
    )


def _same_day_check(
    patient: Patient, on_date: date | None, confirmed: bool, err: _Errors, seen: int | None
) -> list[Visit]:
    """The earlier visits that day; adds the refusal on ``visit_date`` when not confirmed, or
    confirmed against another number of them (``seen``) than there are now."""
    if on_date is None:
        return []
    earlier = same_day_visits(patient, on_date)
    if seen is not None and seen != len(earlier):
        confirmed = False
    if earlier and not confirmed:
        err.add("visit_date", same_day_message(earlier))
    return earlier


def _early_for_appointment(
    sv: ScheduledVisit, on: date | None, confirmed: bool, err: _Errors
) -> str:
    """A visit well before its appointment's due date (schedule.early_window_days) is held
    back unless confirmed; returns the note kept with a confirmed one ("" when on time)."""
    if on is None or sv.kind == ScheduledVisit.Kind.BASELINE:
        return ""
    start = sv.plan.first_session_date if sv.plan is not None else None
    early = (sv.due_date - on).days
    if early <= schedule.early_window_days(start, sv.due_date):
        return ""
    what = f"“{sv.label}” (due {long_date(sv.due_date)})"
    if not confirmed:
        err.add(
            "confirm_early",
            f"This visit is {early} days before {what}, so it would not measure that time "
            "point and the appointment would no longer be asked for. Record the visit without "
            "the appointment (it stays planned), or confirm that this visit stands for it.",
        )
        return ""
    return f"this visit stands for {what}, {early} days early."


def _nearer_appointment(sv: ScheduledVisit, on: date | None) -> ScheduledVisit | None:
    """A later planned appointment of the patient that a visit recorded late for ``sv`` is
    nearer to, and could stand for without a question (within its early window): the visit
    measures that time point. A week-12 visit recorded from the overdue week-4 appointment
    marked week 4 done, which was never measured, and left week 12 planned, then overdue
    and missed at the course's end, although it was measured. Only course visits: a visit
    a few days late, within its own window, keeps its appointment unless the later one is
    due by then (a session or a consultation booked for tomorrow does not take it)."""
    unmatched = (ScheduledVisit.Kind.BASELINE, ScheduledVisit.Kind.EXTRA)
    if on is None or on <= sv.due_date or sv.kind in unmatched:
        return None
    late = (on - sv.due_date).days
    own_start = sv.plan.first_session_date if sv.plan is not None else None
    within_own = late <= schedule.early_window_days(own_start, sv.due_date)
    later = (
        ScheduledVisit.objects.filter(
            patient_id=sv.patient_id,
            due_date__gt=sv.due_date,
            status=ScheduledVisit.Status.PLANNED,
            voided_at__isnull=True,
        )
        .exclude(kind__in=unmatched)
        .select_related("plan")
    )
    best = None
    for other in later:
        start = other.plan.first_session_date if other.plan is not None else None
        gap = abs((other.due_date - on).days)
        if (other.due_date - on).days > schedule.early_window_days(start, other.due_date):
            continue
        if start is not None and on < start:  # not a visit of a course not yet begun
            continue
        if within_own and on < other.due_date:
            continue
        if gap < late and (best is None or gap < abs((best.due_date - on).days)):
            best = other
    return best


def record_visit(
    patient: Patient,
    user: User,
    data: Mapping[str, Any],
    *,
    scheduled_visit: ScheduledVisit | None = None,
    photos: Iterable[PhotoUpload] = (),
) -> Visit:
    """Record a visit with its manual measurements and photos in one transaction.

    ``data`` holds visit fields (VISIT_FIELDS) and measurement fields (MEASUREMENT_FIELDS);
    measurements are stored when at least one value is given. Photos are decoded and
    cleaned before anything is written.

    A second non-voided visit of the patient on the same date is refused (``visit_date``:
    two measurements at one time point distort the outcome analyses) unless
    ``data["confirm_same_day"]`` is True; the confirmation is then kept in the visit's
    notes and history. With ``data["same_day_seen"]``, how many visits that day the refusal
    named, the confirmation holds only while that is still the number: the same confirmed
    form sent again (a reload, a retry) is asked again instead of recording a third visit.
    """
    _writable(patient, "patient")
    err = _Errors()
    confirms = ("confirm_same_day", "same_day_seen", "confirm_early")
    _unknown(err, data, (*VISIT_FIELDS, *MEASUREMENT_FIELDS, *confirms))
    confirmed_same_day = data.get("confirm_same_day") is True
    seen = data.get("same_day_seen")
    if seen is not None and (isinstance(seen, bool) or not isinstance(seen, int) or seen < 0):
        err.add("same_day_seen", "A whole number of visits, 0 or more.")
        seen = None
    visit_values = _clean_visit(patient, data, err)
    density_derived = False
    try:
        measurement_values, density_derived = clean_measurements(data)
    except MonitoringError as exc:
        for f, msgs in exc.errors.items():
            for m in msgs:
                err.add(f, m)
        measurement_values = {}
    if scheduled_visit is None:
        scheduled_visit = _same_day_appointment(patient, visit_values)
    if scheduled_visit is not None:
        if scheduled_visit.patient_id != patient.pk:
            err.add("scheduled_visit", "This appointment belongs to another patient.")
        elif scheduled_visit.is_voided or scheduled_visit.status != ScheduledVisit.Status.PLANNED:
            state = (
                "voided"
                if scheduled_visit.is_voided
                else scheduled_visit.get_status_display().lower()
            )
            err.add(
                "scheduled_visit",
                f"This appointment is no longer open (it is {state}): record the visit without "
                "it, from the patient's timeline (“Record a visit”).",
            )
        elif scheduled_visit.kind == ScheduledVisit.Kind.BASELINE:
            visit_values["is_baseline"] = True
        elif (
            scheduled_visit.plan is not None
            and visit_values.get("visit_date") is not None
            and visit_values["visit_date"] < scheduled_visit.plan.first_session_date
        ):
            # Follow-up and pre-session visits measure the response to treatment: they
            # cannot come before the course starts (a visit before it is the baseline).
            err.add(
                "visit_date",
                f"A visit planned as “{scheduled_visit.get_kind_display().lower()}” cannot be "
                f"before the first session ({scheduled_visit.plan.first_session_date:%Y-%m-%d}); "
                "record a baseline visit instead.",
            )
    early_note = ""
    stands_for = ""
    if scheduled_visit is not None and "scheduled_visit" not in err and "visit_date" not in err:
        nearer = _nearer_appointment(scheduled_visit, visit_values.get("visit_date"))
        if nearer is not None:
            # The visit stands for the appointment nearest its date; the one it was recorded
            # from stays planned (overdue: recorded later or marked missed).
            stands_for = (
                f"stands for “{nearer.label}” (due {long_date(nearer.due_date)}), the planned "
                f"visit nearest its date, not “{scheduled_visit.label}” (due "
                f"{long_date(scheduled_visit.due_date)}), which stays planned"
            )
            scheduled_visit = nearer
        early_note = _early_for_appointment(
            scheduled_visit, visit_values.get("visit_date"), data.get("confirm_early") is True, err
        )
    if visit_values.get("is_baseline"):
        _check_new_baseline(patient, visit_values.get("visit_date"), err)
        _no_change_rated_at_baseline(visit_values, err)
    visit_date = visit_values.get("visit_date")
    _same_day_check(patient, visit_date, confirmed_same_day, err, seen)
    cleaned_photos = _clean_photos(err, photos)
    err.raise_if_any()
    with transaction.atomic():
        # Lock the patient's row (PostgreSQL; SQLite serialises writers) and look again, so
        # that two visits posted at once cannot both find the day empty.
        _writable(lock_patient(patient), "patient")  # voided meanwhile?
        recheck = _Errors()
        earlier = _same_day_check(patient, visit_date, confirmed_same_day, recheck, seen)
        if visit_values.get("is_baseline"):
            _check_new_baseline(patient, visit_date, recheck)  # two baselines posted at once
        _refuse_stored_twice(recheck, patient.clinic_id, patient.pk, None, cleaned_photos)
        recheck.raise_if_any()
        visit = Visit(clinic=patient.clinic, patient=patient, recorded_by=user, **visit_values)
        reason = "visit recorded"
        if earlier:
            # The confirmation stays with the visit: in its notes (on the page and on paper)
            # and in its history entry.
            confirmation = (
                f"Confirmed by {display_name(user)} as a separate visit on "
                f"{long_date(earlier[0].visit_date)}, besides the one recorded by "
                f"{recorded_by_at((v.recorded_by, v.created_at) for v in earlier)}."
            )
            visit.notes = f"{visit.notes}\n\n{confirmation}".strip()
            reason = f"visit recorded; {confirmation}"
        if early_note:
            early_note = f"Confirmed by {display_name(user)}: {early_note}"
            visit.notes = f"{visit.notes}\n\n{early_note}".strip()
            reason = f"{reason}; {early_note}"
        if scheduled_visit is not None:
            sv = ScheduledVisit.objects.select_for_update().get(pk=scheduled_visit.pk)
            if sv.is_voided:
                raise MonitoringError({"scheduled_visit": ["This appointment was just voided."]})
            if sv.status != ScheduledVisit.Status.PLANNED or hasattr(sv, "visit"):
                raise MonitoringError({"scheduled_visit": ["This appointment was just recorded."]})
            visit.scheduled_visit = sv
            sv.status = ScheduledVisit.Status.DONE
            save_with_history(sv, user, "visit recorded")
            if stands_for:
                reason = f"{reason}; {stands_for}"
        save_with_history(visit, user, reason)
        if _has_measurement(measurement_values):
            measurement = Measurement(
                clinic=patient.clinic,
                patient=patient,
                visit=visit,
                recorded_by=user,
                source=Measurement.Source.MANUAL,
                **measurement_values,
            )
            reason = "measured at visit"
            if density_derived:
                reason += f"; {DERIVED_DENSITY_NOTE}"
            save_with_history(measurement, user, reason)
        for upload, clean in cleaned_photos:
            _store_photo(visit, user, upload, clean)
    return visit


def _density_follows_count(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """A correction of the count or the area, the density left out, where the stored density
    is count ÷ area: it follows them (it was refused as no longer count ÷ area, and the nurse
    had never typed it)."""
    if "density_per_cm2" in sent or not {"hair_count", "target_area_cm2"} & set(sent):
        return False
    count, area, density = (
        stored.get("hair_count"), stored.get("target_area_cm2"), stored.get("density_per_cm2")
    )  # fmt: skip
    if count is None or not area or density is None:
        return False
    return round(count / float(area), DERIVED_DENSITY_DECIMALS) == round(
        float(density), DERIVED_DENSITY_DECIMALS
    )


def _area_not_measured(stored: Mapping[str, Any]) -> bool:
    """A stored hair count without a density: its area was not given (with one, the density
    is count ÷ area); any area stored with it is not a measured one."""
    return stored.get("hair_count") is not None and stored.get("density_per_cm2") is None


def _lock_visit(visit: Visit) -> Visit:
    """The visit's row, locked until the transaction ends, as it stands now: a void
    (void_record locks it too) and an addition to the visit cannot pass each other."""
    return Visit.objects.select_for_update().get(pk=visit.pk)  # the visit row only


def add_measurement(
    visit: Visit,
    user: User,
    data: Mapping[str, Any],
    *,
    source: str = Measurement.Source.MANUAL,
    why: str = "",
) -> Measurement:
    """Add a measurement to a visit (e.g. a second reading, or image analysis results);
    ``why``, where given, goes into its history entry (what made it)."""
    _writable(visit, "visit")
    err = _Errors()
    _unknown(err, data, MEASUREMENT_FIELDS)
    if source not in Measurement.Source.values:
        err.add("source", "Unknown source.")
    err.raise_if_any()
    values, density_derived = clean_measurements(data)
    if not _has_measurement(values):
        raise MonitoringError({"__all__": ["Enter at least one measurement."]})
    m = Measurement(
        clinic=visit.clinic,
        patient=visit.patient,
        visit=visit,
        recorded_by=user,
        source=source,
        **values,
    )
    with transaction.atomic():
        _writable(_lock_visit(visit), "visit")  # voided meanwhile?
        reason = f"measurement ({source})" + (f": {why}" if why else "")
        if density_derived:
            reason += f"; {DERIVED_DENSITY_NOTE}"
        save_with_history(m, user, reason)
    return m


def revise_measurement(
    measurement: Measurement,
    user: User,
    data: Mapping[str, Any],
    reason: str,
    *,
    partial: bool = False,
) -> bool:
    """Replace a measurement's values in place, for a source that recomputed them (a
    corrected image analysis) or a person correcting a slip; the history keeps the earlier
    values under ``reason``.

    Returns whether anything changed. Fields missing from ``data`` become empty, as they
    would in a new measurement, unless ``partial``: then they keep what is stored when the
    row is locked (not what was read earlier: another correction meanwhile is kept). A
    voided measurement or visit is refused."""
    _writable(measurement.visit, "visit")
    _writable(measurement, "measurement")
    err = _Errors()
    _unknown(err, data, MEASUREMENT_FIELDS)
    err.raise_if_any()
    with transaction.atomic():
        _writable(_lock_visit(measurement.visit), "visit")  # voided meanwhile?
        fresh = Measurement.objects.select_for_update().get(pk=measurement.pk)
        _writable(fresh, "measurement")  # voided by someone else since it was read
        if partial:
            stored = {f: getattr(fresh, f) for f in MEASUREMENT_FIELDS}
            if _area_not_measured(stored) and "target_area_cm2" not in data:
                # A count taken without an area: no stored area may make the count a
                # density (the area stays blank unless one is given).
                stored["target_area_cm2"] = None
            if _density_follows_count(stored, data):
                stored["density_per_cm2"] = None  # derived again from the corrected values
            data = {**stored, **data}
        values, density_derived = clean_measurements(data)
        if not _has_measurement(values):
            raise MonitoringError({"__all__": ["Enter at least one measurement."]})
        for field in MEASUREMENT_FIELDS:
            setattr(fresh, field, values.get(field))
        if density_derived:
            reason += f"; {DERIVED_DENSITY_NOTE}"
        return save_with_history(fresh, user, reason)


def correct_measurement(
    measurement: Measurement, user: User, data: Mapping[str, Any], reason: str
) -> bool:
    """A person corrects a manual measurement typed in error (a density of 0, a diameter in
    mm); the fields left out of ``data`` keep their values, the history keeps the values
    before under ``corrected: <reason>``. An image analysis's numbers are corrected on the
    analysis (its correction tool), not here. Returns whether anything changed."""
    reason = (reason or "").strip()
    if len(reason) < 5 or "\x00" in reason:
        raise MonitoringError(
            {"reason": ["Give the reason for the correction (at least 5 characters)."]}
        )
    if measurement.source != Measurement.Source.MANUAL:
        raise MonitoringError(
            {
                "__all__": [
                    "This measurement comes from an image analysis: correct the hairs on the "
                    "analysis (its correction tool), and its numbers follow."
                ]
            }
        )
    return revise_measurement(measurement, user, data, f"corrected: {reason}", partial=True)


# What a visit's record may be amended in: its assessments and notes. Its date, baseline
# status and appointment place it in the course and the analyses: a wrong one is voided
# and the visit recorded again.
AMENDABLE_VISIT_FIELDS = (
    "global_assessment",
    "pull_test",
    "pull_test_hairs",
    "pull_test_hairs_grasped",
    *(name for name, _ in HGQ_ITEMS),
    "notes",
)


def amend_visit(visit: Visit, user: User, data: Mapping[str, Any], reason: str) -> bool:
    """Correct a visit's assessments or notes in place (a slip in the pull test, an HGQ
    answer, the notes); the history keeps the earlier values under ``reason``. Fields left
    out of ``data`` keep their values. Checked as when the visit was recorded. Returns
    whether anything changed."""
    _writable(visit, "visit")
    reason = (reason or "").strip()
    with transaction.atomic():
        # Read as it stands, locked: fields left out keep what another correction stored.
        fresh = _lock_visit(visit)
        _writable(fresh, "visit")  # voided by someone else since it was read
        err = _Errors()
        if len(reason) < 5 or "\x00" in reason:
            err.add("reason", "Give the reason for the correction (at least 5 characters).")
        _unknown(err, data, AMENDABLE_VISIT_FIELDS)
        merged = {
            **{name: getattr(fresh, name) for name in AMENDABLE_VISIT_FIELDS},
            **{k: v for k, v in data.items() if k in AMENDABLE_VISIT_FIELDS},
            "visit_date": fresh.visit_date,
            "is_baseline": fresh.is_baseline,
        }
        values = _clean_visit(visit.patient, merged, err)
        if fresh.is_baseline:
            _no_change_rated_at_baseline(values, err)
        err.raise_if_any()
        for name in AMENDABLE_VISIT_FIELDS:
            setattr(fresh, name, values[name])
        changed = save_with_history(fresh, user, f"corrected: {reason}")
    for name in AMENDABLE_VISIT_FIELDS:
        setattr(visit, name, values[name])
    return changed


def add_photos(visit: Visit, user: User, photos: Iterable[PhotoUpload]) -> list[Photo]:
    _writable(visit, "visit")
    err = _Errors()
    photos = list(photos)
    if not photos:
        err.add("image", "Choose an image file.")
    cleaned = _clean_photos(err, photos)
    err.raise_if_any()
    with transaction.atomic():
        # The patient first (as record_visit): the same file sent to two of the patient's
        # visits at once is checked one after the other.
        lock_patient(visit.patient)
        _writable(_lock_visit(visit), "visit")  # voided meanwhile?
        _refuse_stored_twice(err, visit.clinic_id, visit.patient_id, visit, cleaned)
        _refuse_second_view(err, visit, cleaned)
        err.raise_if_any()
        return [_store_photo(visit, user, u, c) for u, c in cleaned]


def _refuse_second_view(
    err: _Errors, visit: Visit, cleaned: list[tuple[PhotoUpload, uploads.CleanImage]]
) -> None:
    """One global photo per view and visit: a second frontal photo was stored and never
    shown (the comparison shows one per view). Call with the visit's row locked."""
    labels = dict(VIEWS)
    stored = {
        p.view: p
        for p in Photo.objects.filter(
            visit=visit, kind=Photo.Kind.GLOBAL, voided_at__isnull=True
        ).order_by("uploaded_at")
    }
    seen: set[str] = set()
    for upload, _ in cleaned:
        if upload.kind != Photo.Kind.GLOBAL:
            continue
        label = str(labels.get(upload.view, upload.view)).lower()
        earlier = stored.get(upload.view)
        if earlier is not None:
            err.add(
                upload.field,
                f"This visit already has a {label} photo (uploaded "
                f"{timezone.localtime(earlier.uploaded_at):%Y-%m-%d %H:%M}): void it first if "
                "this one replaces it.",
            )
        elif upload.view in seen:
            err.add(upload.field, f"Two {label} photos were chosen: a visit keeps one per view.")
        seen.add(upload.view)


ANOTHER_PATIENTS_IMAGE = (
    "This image file is already filed for another patient of this clinic: check that you "
    "chose the right patient."
)


def _refuse_stored_twice(
    err: _Errors,
    clinic_id: int,
    patient_id: int,
    visit: Visit | None,
    cleaned: list[tuple[PhotoUpload, uploads.CleanImage]],
) -> None:
    """The same image stored twice for one patient is an upload sent twice, or an earlier
    visit's photo filed again: a follow-up would then show no change that was measured. The
    same image already filed for another patient of the clinic is a wrong-patient filing
    (refused without naming that patient; another clinic's files are not looked at).
    ``visit``: the visit they are added to (None: a visit being recorded). Call with the
    patient's row locked. Photos of a voided visit or patient, or voided themselves, do not
    count."""
    hashes = [c.sha256 for _, c in cleaned]
    # Two uploads of one file for two patients lock different patients: the file's content is
    # locked as well, so that the second one finds the first one's photo.
    lock_names(f"photo:{clinic_id}:{h}" for h in hashes)
    elsewhere = set(
        Photo.objects.filter(
            clinic_id=clinic_id,
            sha256__in=hashes,
            voided_at__isnull=True,
            visit__voided_at__isnull=True,
            patient__voided_at__isnull=True,
        )
        .exclude(patient_id=patient_id)
        .values_list("sha256", flat=True)
    )
    stored = {
        p.sha256: p
        for p in Photo.objects.filter(
            patient_id=patient_id,
            sha256__in=hashes,
            voided_at__isnull=True,
            visit__voided_at__isnull=True,
        ).select_related("visit")
    }
    seen: set[str] = set()
    for upload, clean in cleaned:
        earlier = stored.get(clean.sha256)
        if earlier is not None:
            where = "this visit" if visit is not None and earlier.visit_id == visit.pk else (
                f"the visit of {earlier.visit.visit_date.isoformat()}"
            )  # fmt: skip
            err.add(
                upload.field,
                f"This image is already stored for {where} ({earlier.get_kind_display().lower()}"
                f", uploaded {timezone.localtime(earlier.uploaded_at):%Y-%m-%d %H:%M}): each "
                "visit needs its own photo. Void the earlier one first if it was filed at the "
                "wrong visit.",
            )
        elif clean.sha256 in elsewhere:
            err.add(upload.field, ANOTHER_PATIENTS_IMAGE)
        elif clean.sha256 in seen:
            err.add(upload.field, "The same image was chosen twice.")
        seen.add(clean.sha256)


def void_record(
    obj: Voidable,
    user: User,
    reason: str,
    *,
    may_lower_serious: bool | None = None,
    may_decide: bool | None = None,
) -> None:
    """Void a record entered in error; it stays in the database and the history.

    What only a clinician may undo needs the role's permission (the view and API pass it;
    left out, it is the user's role in the record's clinic, never granted by default): a
    serious or grade ≥ 3 adverse event leaves the reportable list as when it is lowered
    (``may_lower_serious``: ``adverse_event.lower``); a decision on further sessions, or a
    visit that carries one, undoes that decision (``may_decide``: ``decision.record``)."""
    reason = (reason or "").strip()
    if len(reason) < 5 or "\x00" in reason:
        raise MonitoringError({"reason": ["Give the reason for voiding (at least 5 characters)."]})
    if obj.is_voided:
        raise MonitoringError({"__all__": ["This record is already voided."]})
    with transaction.atomic():
        fresh = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
        if fresh.is_voided:  # voided by someone else since it was read
            raise MonitoringError({"__all__": ["This record is already voided."]})
        if may_lower_serious is None:
            may_lower_serious = _role_holds(user, fresh, "adverse_event.lower")
        if may_decide is None:
            may_decide = _role_holds(user, fresh, "decision.record")
        _clinician_to_void(fresh, may_lower_serious=may_lower_serious, may_decide=may_decide)
        if isinstance(fresh, ScheduledVisit) and fresh.status == ScheduledVisit.Status.DONE:
            raise MonitoringError(
                {"__all__": ["This appointment's visit took place; void the visit instead."]}
            )
        fresh.voided_at = timezone.now()
        fresh.voided_by = user
        fresh.void_reason = reason
        reopened = None
        if isinstance(fresh, Visit) and fresh.scheduled_visit_id is not None:
            # The appointment did not take place after all: planned again (overdue if past),
            # to be recorded anew or marked missed. The voided visit lets go of it (a visit
            # holds one appointment, and the corrected visit needs it); its history keeps it.
            reopened = ScheduledVisit.objects.select_for_update().get(pk=fresh.scheduled_visit_id)
            fresh.scheduled_visit = None
        save_with_history(fresh, user, f"voided: {reason}")
        if reopened is not None and reopened.status == ScheduledVisit.Status.DONE:
            ended = (
                reopened.plan_id is not None
                and FollowUpPlan.objects.filter(
                    pk=reopened.plan_id, ended_on__isnull=False
                ).exists()
            )
            if ended:
                # Its course was ended (the treatment stopped): not asked for again, closed
                # as ending the course closes a visit still planned.
                past = reopened.due_date < timezone.localdate()
                reopened.status = (
                    ScheduledVisit.Status.MISSED if past else ScheduledVisit.Status.CANCELLED
                )
                note = f"{reopened.status} (course ended): its visit was voided ({reason})"
            else:
                reopened.status = ScheduledVisit.Status.PLANNED
                note = f"planned again: its visit was voided ({reason})"
            save_with_history(reopened, user, note)
        if isinstance(fresh, Photo) and fresh.kind == Photo.Kind.TRICHOSCOPY:
            # Its analysis numbers must leave the visit too; in the same transaction, so a
            # failure there keeps the photo unvoided rather than half done.
            from anagen.imaging.services import on_trichoscopy_photo_voided  # imaging needs us

            on_trichoscopy_photo_voided(fresh, user)


def _role_holds(user: User, record: Any, permission: str) -> bool:
    """Whether ``user``'s role in the clinic of ``record`` holds ``permission``: the rights a
    service call leaves out are the user's own, not granted."""
    clinic_id = getattr(record, "clinic_id", None)
    if clinic_id is None:
        clinic_id = record.patient.clinic_id
    membership = user.memberships.filter(clinic_id=clinic_id, is_active=True).first()
    return membership is not None and role_allows(membership.role, permission)


def _clinician_to_void(obj: Voidable, *, may_lower_serious: bool, may_decide: bool) -> None:
    """Refuse voiding what only a clinician may undo (see ``void_record``)."""
    why = clinician_voids(obj, may_lower_serious=may_lower_serious, may_decide=may_decide)
    if why:
        raise MonitoringError({"__all__": [why]})


def clinician_voids(obj: Voidable, *, may_lower_serious: bool, may_decide: bool) -> str:
    """Why this user may not void ``obj`` (only a clinician may undo it), in words; "" where
    they may. The pages show it instead of a "Void…" control that would always be refused."""
    if isinstance(obj, AdverseEvent) and obj.is_serious_or_high_grade and not may_lower_serious:
        return (
            f"{obj.term_name} grade {obj.grade} is a serious or grade ≥ 3 event: voiding it "
            "takes it off the reportable list, as lowering it does, so a clinician voids it."
        )
    if may_decide:
        return ""
    decided: TreatmentDecision | None
    if isinstance(obj, TreatmentDecision):
        decided = obj
    elif isinstance(obj, Visit):
        decided = obj.decisions.filter(voided_at__isnull=True).first()
    else:
        return ""
    if decided is None:
        return ""
    what = "This decision" if decided is obj else "This visit carries a decision"
    return (
        f"{what} on further sessions (“{decided.get_decision_display()}”): voiding it undoes "
        "a clinician's decision (a stop would no longer hold sessions back), so a clinician "
        "voids it."
    )


# --- adverse events ------------------------------------------------------------------------

MEDDRA_CODE = re.compile(r"^\d{8}$")  # MedDRA codes are 8-digit numbers
# A resolution date is the day the event ended: it goes with Recovered (required),
# Recovered with sequelae (required) and Fatal (optional: the date of death). An event
# still Recovering or Not recovered has not ended, and Unknown means its end is not known.
ENDLESS_OUTCOMES = (
    AdverseEvent.Outcome.RECOVERING,
    AdverseEvent.Outcome.NOT_RECOVERED,
    AdverseEvent.Outcome.UNKNOWN,
)


def _clean_event(
    patient: Patient, data: Mapping[str, Any], err: _Errors, stored: AdverseEvent | None = None
) -> dict[str, Any]:
    """The event's values, checked; ``stored`` is the event being updated, if any."""
    out: dict[str, Any] = {}
    term = data.get("term_key")
    grade = read_number(err, "grade", data.get("grade"), 1, 5, integer=True)
    if data.get("grade") in (None, ""):
        err.add("grade", "This field is required.")
    elif grade is None and not err.get("grade"):
        err.add("grade", "CTCAE grades are 1–5.")
    onset = read_date(err, "onset_date", data.get("onset_date"), required=True)
    resolved = read_date(err, "resolution_date", data.get("resolution_date"))
    _not_future(err, "onset_date", onset, "The onset date")
    _not_future(err, "resolution_date", resolved, "The resolution date")
    if onset is not None and onset < patient.date_of_birth:
        err.add("onset_date", "The onset is before the patient's date of birth.")
    if not term:
        err.add("term_key", "This field is required.")
    elif grade is not None and onset is not None:
        try:
            graded = ctcae.grade_event(str(term), int(grade), onset, resolved)
        except ctcae.CTCAEError as exc:
            field = {"term": "term_key", "onset": "onset_date", "resolved": "resolution_date"}
            err.add(field.get(exc.field, exc.field), exc.message)
        else:
            out.update(
                term_key=graded.term_key,
                term_name=graded.term_name,
                grade=graded.grade,
                grade_text=graded.grade_text,
                ctcae_version=graded.ctcae_version,
                onset_date=graded.onset,
                resolution_date=graded.resolved,
            )
    else:
        try:
            ctcae.resolve_term(str(term))
        except ctcae.CTCAEError as exc:
            err.add("term_key", exc.message)
    seriousness = data.get("seriousness") or []
    if isinstance(seriousness, str):
        seriousness = [seriousness]
    if not isinstance(seriousness, list | tuple) or not all(
        isinstance(s, str) for s in seriousness
    ):
        err.add("seriousness", "Give a list of seriousness criteria.")
        seriousness = []
    unknown = set(seriousness) - ctcae.SERIOUSNESS_CRITERIA
    if unknown:
        err.add("seriousness", f"Unknown criteria: {', '.join(sorted(unknown))}.")
    out["seriousness"] = sorted(set(seriousness) & ctcae.SERIOUSNESS_CRITERIA)
    for f, choices, default in (
        ("relatedness", AdverseEvent.Relatedness, AdverseEvent.Relatedness.NOT_ASSESSED),
        ("action_taken", AdverseEvent.Action, AdverseEvent.Action.NONE),
        ("outcome", AdverseEvent.Outcome, AdverseEvent.Outcome.RECOVERING),
    ):
        v = data.get(f) or default
        if v not in choices.values:
            err.add(f, f"Choose one of: {', '.join(choices.values)}.")
        out[f] = v
    # Checked when new or changed, as the session link: a session voided later leaves the
    # event editable.
    unchanged = stored is not None and (stored.relatedness, stored.onset_date) == (
        out["relatedness"], onset
    )  # fmt: skip
    if out["relatedness"] in _RELATED and onset and not err.get("onset_date") and not unchanged:
        _check_related_after_treatment(patient, onset, out["relatedness"], err)
    outcome = out["outcome"]
    if grade == 5 and outcome != AdverseEvent.Outcome.FATAL:
        err.add("outcome", "Grade 5 is death related to the event: the outcome is Fatal.")
    if outcome == AdverseEvent.Outcome.FATAL and grade is not None and grade != 5:
        err.add("grade", "A fatal outcome is CTCAE grade 5.")
    if "death" in out["seriousness"]:
        # ICH E2A "results in death" is CTCAE grade 5 (death related to the event), whose
        # outcome is Fatal; grade 5 ⇒ Fatal is checked above, Fatal ⇒ grade 5 too.
        if grade is not None and grade != 5:
            err.add("grade", "“Results in death” is CTCAE grade 5 (death).")
        if outcome != AdverseEvent.Outcome.FATAL and grade != 5:  # grade 5: said above
            err.add("outcome", "“Results in death”: the outcome is Fatal.")
    if (
        outcome in (AdverseEvent.Outcome.RECOVERED, AdverseEvent.Outcome.RECOVERED_SEQUELAE)
        and resolved is None
    ):
        err.add("resolution_date", "A recovered event needs its resolution date.")
    if outcome in ENDLESS_OUTCOMES and resolved is not None:
        label = AdverseEvent.Outcome(outcome).label
        err.add(
            "resolution_date",
            f"The outcome is “{label}”: the event has not ended, so it has no resolution "
            "date (record the date with the outcome Recovered, Recovered with sequelae or "
            "Fatal).",
        )
    if grade == 5 and "death" not in out["seriousness"]:
        out["seriousness"] = sorted({*out["seriousness"], "death"})
    if grade == 4:
        # CTCAE grade 4 is "life-threatening consequences", the ICH E2A criterion: left
        # unticked, a grade-4 anaphylaxis was exported (FHIR) as non-serious.
        out["seriousness"] = sorted({*out["seriousness"], "life_threatening"})
    if out["action_taken"] == AdverseEvent.Action.HOSPITALISED:
        # Admitted because of the event: serious by ICH E2A ("requires inpatient
        # hospitalisation"). Left unticked, it stayed off the reportable list.
        out["seriousness"] = sorted({*out["seriousness"], "hospitalization"})
    out["related_session_date"] = read_date(
        err, "related_session_date", data.get("related_session_date")
    )
    _not_future(err, "related_session_date", out["related_session_date"], "The session date")
    if out["related_session_date"] and onset and out["related_session_date"] > onset:
        err.add("related_session_date", "The related session is after the onset.")
    out["product_lot_number"] = _text(err, "product_lot_number", data.get("product_lot_number"), 60)
    if not err.get("related_session_date") and not err.get("product_lot_number"):
        _check_session_link(patient, out, err, stored)
    out["description"] = _text(err, "description", data.get("description"))
    code = _text(err, "meddra_code", data.get("meddra_code"), 12)
    version = _text(err, "meddra_version", data.get("meddra_version"), 10)
    if code and not MEDDRA_CODE.match(code):
        err.add("meddra_code", "A MedDRA code is 8 digits.")
    if code and not version:
        err.add("meddra_version", "Give the MedDRA version with the code (e.g. 27.1).")
    if version and not code:
        err.add("meddra_code", "Give the code with the MedDRA version.")
    out["meddra_code"], out["meddra_version"] = code, version
    out["visit"] = _event_visit(patient, data.get("visit_id"), err, stored)
    changed = stored is None or (out["visit"], onset) != (stored.visit, stored.onset_date)
    if (
        changed
        and out["visit"] is not None
        and onset is not None
        and (onset > out["visit"].visit_date)
    ):
        err.add(
            "visit_id",
            f"The event began on {long_date(onset)}, after the visit of "
            f"{long_date(out['visit'].visit_date)}: it cannot have been reported there.",
        )
    if grade is not None:
        out["serious_or_high_grade"] = ctcae.is_serious_or_high_grade(
            int(grade), seriousness=out["seriousness"]
        )
    return out


def _check_related_after_treatment(
    patient: Patient, onset: date, relatedness: str, err: _Errors
) -> None:
    """An event related to the treatment began on or after a session (an onset in 2020 for
    a patient first treated here in 2026 was stored as possibly related)."""
    first = (
        TreatmentSession.objects.filter(patient=patient, voided_at__isnull=True)
        .order_by("performed_on")
        .values_list("performed_on", flat=True)
        .first()
    )
    # No session recorded here: the treatment may have been given elsewhere (a transfer).
    if first is not None and first > onset:
        words = AdverseEvent.Relatedness(relatedness).label
        err.add(
            "relatedness",
            f"“{words}” needs a treatment before the onset, but the first session recorded "
            f"for this patient was on {long_date(first)}: check the onset date; if it followed "
            "a treatment given elsewhere, choose not assessed and say so in the description.",
        )


def _duplicate_event_message(
    patient: Patient, values: Mapping[str, Any], exclude: AdverseEvent | None = None
) -> str | None:
    """Why an event is one already recorded (a form sent twice): the same term, onset,
    session and lot, not voided. Whatever the grade: a second form at another grade recorded
    one event twice (the grade is raised on the event). ``exclude``: the event being
    updated (an update that makes it another event's twin is refused as well)."""
    onset: date = values["onset_date"]
    query = AdverseEvent.objects.filter(
        patient=patient,
        term_key=values["term_key"],
        onset_date=onset,
        related_session_date=values.get("related_session_date"),
        product_lot_number=values.get("product_lot_number", ""),
        voided_at__isnull=True,
    )
    if exclude is not None:
        query = query.exclude(pk=exclude.pk)
    same = query.select_related("reported_by").first()
    if same is None:
        return None
    return (
        f"{same.term_name} with onset on {long_date(same.onset_date)} is already recorded for "
        f"this patient (grade {same.grade}, recorded by {display_name(same.reported_by)} on "
        f"{timezone.localtime(same.created_at):%Y-%m-%d %H:%M}). "
        "Update that event (raise or lower its grade, outcome, description) instead of "
        "recording it twice."
    )


def _event_visit(
    patient: Patient, visit_id: Any, err: _Errors, stored: AdverseEvent | None
) -> Visit | None:
    """The visit an event is linked to. Checked only when the link is new or changes: an
    event whose visit was voided later keeps its link and stays editable for its other
    fields (as with the session and lot links)."""
    if visit_id in (None, ""):
        return None
    if stored is not None and stored.visit_id is not None and str(visit_id) == str(stored.visit_id):
        return stored.visit
    try:
        return Visit.objects.get(pk=int(visit_id), patient=patient, voided_at__isnull=True)
    except (Visit.DoesNotExist, ValueError, TypeError, OverflowError):
        err.add("visit_id", "No such visit of this patient.")
        return None


def _check_session_link(
    patient: Patient, out: dict[str, Any], err: _Errors, stored: AdverseEvent | None
) -> None:
    """The named session must be a non-voided session of the patient, the lot one used in
    it (in any of the patient's sessions when no date is named); ``out`` gets the lot's own
    spelling. On an update only what changes is checked: an event whose session was voided
    later stays editable for its other fields. A new session date re-checks the lot."""
    on: date | None = out["related_session_date"]
    lot: str = out["product_lot_number"]
    date_changed = stored is None or on != stored.related_session_date
    lot_changed = stored is None or session_link.lot_key(lot) != session_link.lot_key(
        stored.product_lot_number
    )
    if stored is not None and not lot_changed:
        out["product_lot_number"] = stored.product_lot_number  # as stored, not as retyped
    check_date = on is not None and date_changed
    check_lot = bool(lot) and (lot_changed or check_date)
    if not (check_date or check_lot):
        return
    from anagen.monitoring import selectors  # selectors reads what services write

    uses = selectors.session_uses(patient)
    date_ok = True
    if on is not None and check_date:
        message = session_link.session_date_error(uses, on)
        if message:
            err.add("related_session_date", message)
            date_ok = False
    if (
        check_lot
        and on is not None
        and not check_date
        and session_link.session_date_error(uses, on)
    ):
        # The stored session was voided since: the lot is checked against nothing, and the
        # refusal says so rather than "no vial was recorded in that session".
        err.add("product_lot_number", session_link.voided_session_error(on))
        return
    if check_lot:
        # Against the named session when it is real; a wrong date is said once, above.
        spelling, message = session_link.match_lot(uses, lot, on if date_ok else None)
        if message:
            err.add("product_lot_number", message)
        else:
            out["product_lot_number"] = spelling


def record_adverse_event(patient: Patient, user: User, data: Mapping[str, Any]) -> AdverseEvent:
    _writable(patient, "patient")
    err = _Errors()
    _unknown(err, data, AE_FIELDS)
    values = _clean_event(patient, data, err)
    err.raise_if_any()
    event = AdverseEvent(clinic=patient.clinic, patient=patient, reported_by=user, **values)
    with transaction.atomic():
        # Under the patient's lock: two submits of one form both passed the check.
        _writable(lock_patient(patient), "patient")  # voided meanwhile?
        duplicate = _duplicate_event_message(patient, values)
        if duplicate:
            raise MonitoringError({"term_key": [duplicate]})
        save_with_history(event, user, "adverse event recorded")
    return event


# What makes two records one event (_duplicate_event_message), whatever the grade.
_EVENT_IDENTITY = ("term_key", "onset_date", "related_session_date", "product_lot_number")

_RELATED = {
    AdverseEvent.Relatedness.POSSIBLE,
    AdverseEvent.Relatedness.PROBABLE,
    AdverseEvent.Relatedness.DEFINITE,
}


def lowered(stored: AdverseEvent, values: Mapping[str, Any]) -> list[str]:
    """How a change lowers an event's safety weight, in words: a lower grade, another term,
    seriousness criteria removed, or "related" turned into not related / not assessed."""
    out = []
    if values.get("grade", stored.grade) < stored.grade:
        out.append(f"grade {stored.grade} → {values['grade']}")
    if values.get("term_key", stored.term_key) != stored.term_key:
        out.append(f"term {stored.term_name} → {values.get('term_name', values['term_key'])}")
    # The criteria the event meets now, implied ones included (an event "Hospitalised" or
    # of grade 4 stored before the services added the criterion): taking the admission
    # back from such an event lowered it unseen.
    before = stored.serious_criteria
    removed = set(before) - set(values.get("seriousness", before))
    if removed:
        labels = dict(AdverseEvent.SERIOUSNESS_CHOICES)
        out.append("seriousness removed: " + ", ".join(labels.get(c, c) for c in sorted(removed)))
    now = values.get("relatedness", stored.relatedness)
    if stored.relatedness in _RELATED and now not in _RELATED:
        words = dict(AdverseEvent.Relatedness.choices)
        out.append(f"relatedness {words[stored.relatedness]} → {words.get(now, now)}")
    return out


# The adverse-event fields as the form names them, for the history's "updated: …" line.
AE_FIELD_WORDS = {
    "term_key": "term",
    "grade": "grade",
    "description": "description",
    "onset_date": "onset date",
    "resolution_date": "resolution date",
    "seriousness": "seriousness",
    "relatedness": "relatedness",
    "related_session_date": "related session",
    "product_lot_number": "product lot",
    "action_taken": "action taken",
    "outcome": "outcome",
    "meddra_code": "MedDRA code",
    "meddra_version": "MedDRA version",
    "visit_id": "visit",
}


def update_adverse_event(
    event: AdverseEvent,
    user: User,
    data: Mapping[str, Any],
    *,
    change_reason: str = "",
    may_lower_serious: bool | None = None,
) -> AdverseEvent:
    """Change some fields (e.g. resolution date and outcome); all rules are re-checked.

    A change that lowers the event (``lowered``) needs ``change_reason``, kept in the
    history; on a serious or grade ≥ 3 event it also needs ``may_lower_serious`` (the view
    and API pass the role's ``adverse_event.lower``; left out, it is ``user``'s role in the
    event's clinic): it takes the event off the reportable list and can undo the reason a
    treatment was stopped."""
    if may_lower_serious is None:
        may_lower_serious = _role_holds(user, event, "adverse_event.lower")
    _writable(event, "adverse event")
    err = _Errors()
    _unknown(err, data, AE_FIELDS)
    err.raise_if_any()
    merged = {f: getattr(event, f) for f in AE_FIELDS if f != "visit_id"}
    merged["visit_id"] = event.visit_id
    merged.update(data)
    values = _clean_event(event.patient, merged, err, stored=event)
    change_reason = _text(err, "change_reason", change_reason, 2000)
    err.raise_if_any()
    weaker = lowered(event, values)
    if weaker and event.is_serious_or_high_grade and not may_lower_serious:
        err.add(
            "__all__",
            f"This change lowers a serious or grade ≥ 3 event ({'; '.join(weaker)}), which "
            "takes it off the reportable list: a clinician makes it. Add what is new to the "
            "description, or ask a clinician.",
        )
    elif weaker and len(change_reason) < 5:
        err.add(
            "change_reason",
            f"This change lowers the event ({'; '.join(weaker)}): give the reason (at least "
            "5 characters); it is kept in the history.",
        )
    old_text = (event.description or "").strip()
    new_text = str(values.get("description") or "").strip()
    if (
        event.is_serious_or_high_grade
        and not may_lower_serious
        and old_text
        and not new_text.startswith(old_text)
    ):
        # "Add what is new to the description" (above) is the way round a refused lowering;
        # rewriting the account of a reportable event is a clinician's change, as lowering is.
        err.add(
            "description",
            "On a serious or grade ≥ 3 event the description is added to, not rewritten: keep "
            "what it says and write what is new after it, or ask a clinician.",
        )
    err.raise_if_any()
    with transaction.atomic():
        # The patient first, as when an event is recorded: the twin check below.
        lock_patient(event.patient)
        fresh = AdverseEvent.objects.select_for_update().get(pk=event.pk)
        changed = [f for f, v in values.items() if getattr(fresh, f) != v]
        if not changed:
            return fresh  # nothing to record: the history lists changes only
        if set(changed) & set(_EVENT_IDENTITY):
            # Another term, onset, session or lot: it may now be an event recorded already.
            duplicate = _duplicate_event_message(event.patient, values, exclude=fresh)
            if duplicate:
                raise MonitoringError({"term_key": [duplicate]})
        for f, v in values.items():
            setattr(fresh, f, v)
        # In the form's words; the values derived from them (grade text, term name, the
        # serious-or-grade-3 flag) change with them and are not named.
        named = [AE_FIELD_WORDS[f] for f in changed if f in AE_FIELD_WORDS]
        reason = "updated: " + ", ".join(named or changed)
        if weaker:
            reason += f"; lowered ({'; '.join(weaker)}): {change_reason}"
        elif change_reason:
            reason += f": {change_reason}"
        save_with_history(fresh, user, reason)
    return fresh


# --- further-treatment decision -------------------------------------------------------------


def record_decision(
    visit: Visit,
    user: User,
    *,
    decided: str,
    rationale: str = "",
    sessions_done: int | str | None = None,
    sessions_planned: int | str | None = None,
    extra_sessions: int | str | None = None,
    maintenance_interval_months: int | str | None = None,
) -> TreatmentDecision:
    """Store the clinician's decision with the app's proposal recomputed from the data now.

    The proposal is never taken from the client: it is recomputed here, so the stored
    proposal is exactly what the app advised on the stored inputs.
    """
    from anagen.monitoring import selectors

    _writable(visit, "visit")
    _no_decision_yet(visit)
    err = _Errors()
    if decided not in decision.Proposal.__members__.values() and decided not in {
        p.value for p in decision.Proposal
    }:
        err.add("decision", "Choose one of the listed decisions.")
    rationale = _text(err, "rationale", rationale)
    done = read_whole(err, "sessions_done", sessions_done, 0, schedule.MAX_SESSIONS * 2)
    planned = read_whole(err, "sessions_planned", sessions_planned, 1, schedule.MAX_SESSIONS)
    extra = read_whole(err, "extra_sessions", extra_sessions, 1, 12)
    months = read_whole(err, "maintenance_interval_months", maintenance_interval_months, 1, 36)
    err.raise_if_any()
    prop = selectors.proposal_for(visit, sessions_done=done, sessions_planned=planned)
    if prop.error:
        raise MonitoringError({prop.error_field or "__all__": [prop.error]})
    assert prop.decision is not None
    if decided == decision.Proposal.ADD_SESSIONS and extra is None:
        extra = prop.decision.extra_sessions or None
        if extra is None:
            err.add("extra_sessions", "How many sessions to add?")
    if decided == decision.Proposal.MAINTENANCE and months is None:
        months = prop.decision.maintenance_interval_months
    recorded = selectors.sessions_recorded_for(visit) if done is not None else None
    if done is not None and done != recorded and len(rationale) < 5:
        # "10 of 3 planned sessions done" was stored beside a record of 1, unexplained.
        err.add(
            "rationale",
            f"{done} sessions done were entered, but the record has {recorded} before this "
            "visit: give the reason (for example, sessions given elsewhere).",
        )
    elif decided != prop.decision.proposal.value and len(rationale) < 5:
        reasons = "; ".join(prop.decision.reasons)
        err.add(
            "rationale",
            f"The decision differs from the proposal, “{prop.label}”"
            + (f" ({reasons})" if reasons else "")
            + ": give the reason.",
        )
    elif len(rationale) < 5:
        # The proposal's own kind with other numbers contradicts it as much as another kind:
        # "add 12 sessions" beside "up to 2 extra sessions" was stored unexplained.
        offered = prop.decision
        if (
            decided == decision.Proposal.ADD_SESSIONS
            and extra is not None
            and extra > offered.extra_sessions
        ):
            err.add(
                "rationale",
                f"{extra} extra sessions were entered; the proposal is up to "
                f"{offered.extra_sessions} (the clinic's maximum of extra sessions, less those "
                "already given): give the reason.",
            )
        elif (
            decided == decision.Proposal.MAINTENANCE
            and offered.maintenance_interval_months is not None
            and months != offered.maintenance_interval_months
        ):
            err.add(
                "rationale",
                f"A maintenance interval of {months} months was entered; the proposal is every "
                f"{offered.maintenance_interval_months} months: give the reason.",
            )
    err.raise_if_any()
    row = TreatmentDecision(
        clinic=visit.clinic,
        patient=visit.patient,
        visit=visit,
        proposal=prop.decision.proposal.value,
        response=prop.decision.response.value,
        proposal_reasons=list(prop.decision.reasons),
        inputs=prop.inputs,
        decision=decided,
        extra_sessions=extra if decided == decision.Proposal.ADD_SESSIONS else None,
        maintenance_interval_months=months if decided == decision.Proposal.MAINTENANCE else None,
        rationale=rationale,
        decided_by=user,
    )
    with transaction.atomic():
        # Lock the visit (PostgreSQL; SQLite serialises writers) so that a double submit
        # cannot store two decisions.
        Visit.objects.select_for_update().filter(pk=visit.pk).first()
        _no_decision_yet(visit)
        save_with_history(row, user, "decision recorded")
    return row


def _no_decision_yet(visit: Visit) -> None:
    """One live decision per visit: a second one (a double submit, or a second clinician at
    the same time) is refused, naming the one recorded. One recorded in error is voided
    first (with a reason), which keeps it in the history."""
    existing = (
        TreatmentDecision.objects.filter(visit=visit, voided_at__isnull=True)
        .select_related("decided_by")
        .order_by("decided_at", "id")
        .first()
    )
    if existing is None:
        return
    when = timezone.localtime(existing.decided_at)
    raise MonitoringError(
        {
            "decision": [
                f"A decision is already recorded at this visit: "
                f"“{existing.get_decision_display()}”, by {display_name(existing.decided_by)} "
                f"on {long_date(when.date())} at {when:%H:%M %Z}. A visit has one decision: if "
                "that one was recorded in error, void it (with the reason) and decide again."
            ]
        }
    )
