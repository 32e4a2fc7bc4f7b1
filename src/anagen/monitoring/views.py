"""Pages for monitoring. Thin: forms type the input, services decide, selectors read."""

from __future__ import annotations

import calendar
import csv
import io
from collections.abc import Callable, Collection
from datetime import date, timedelta
from functools import partial
from typing import IO, Any

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from anagen.accounts.permissions import can, require_permission
from anagen.core.history import stored_values
from anagen.core.http import ClinicRequest, query_without_page
from anagen.core.text import ascii_digits, phone_cell, spreadsheet_safe, without_api_hint
from anagen.core.voiding import VoidTarget, void_page
from anagen.monitoring import charts, ctcae, held_photos, selectors, services
from anagen.monitoring.forms import (
    AdverseEventForm,
    AgendaFilterForm,
    AppointmentForm,
    DecisionForm,
    EndCourseForm,
    MeasurementCorrectForm,
    PhotoForm,
    RescheduleForm,
    ScheduleForm,
    SettingsForm,
    VisitAmendForm,
    VisitForm,
    VisitStatusForm,
)
from anagen.monitoring.models import (
    HGQ_ITEMS,
    VIEWS,
    AdverseEvent,
    Measurement,
    Photo,
    ScheduledVisit,
    TreatmentDecision,
    Visit,
)
from anagen.monitoring.uploads import CleanImage
from anagen.patients.models import Patient
from anagen.patients.selectors import log_listed_access, log_request_access
from anagen.treatments import selectors as treatment_selectors

# Fields a service names that are not fields of the page's form: said in words.
FIELD_LABELS = {"visit_id": "Visit", "scheduled_visit": "Appointment"}


def _apply_errors(form, error: services.MonitoringError) -> None:
    for field, msgs in error.errors.items():
        target = field if field in form.fields else None
        label = FIELD_LABELS.get(field, field)
        for msg in map(without_api_hint, msgs):
            form.add_error(
                target, msg if target else f"{label}: {msg}" if field != "__all__" else msg
            )


def _status(request: ClinicRequest) -> int:
    return 400 if request.method == "POST" else 200


# --- agenda --------------------------------------------------------------------------------


def _month(value: str | None, today: date) -> date | None:
    """The first day of the month ``YYYY-MM`` (this month when none is given); None when
    ``value`` is not a month."""
    if not value:
        return today.replace(day=1)
    try:
        y, m = (int(p) for p in value.split("-"))
        if 1900 < y < 3000 and 1 <= m <= 12:
            return date(y, m, 1)
    except ValueError:
        pass
    return None


# How many overdue appointments the agenda's box lists (the oldest first).
AGENDA_OVERDUE_SHOWN = 200


@require_permission("visit.view")
def agenda(request: ClinicRequest) -> HttpResponse:
    today = timezone.localdate()
    form = AgendaFilterForm(request.GET or None)
    # The fields that could be read; one that could not is named on the page, not dropped
    # silently (a month of 2026-13 showed this month without a word).
    data: dict = {}
    if form.is_bound:
        form.is_valid()
        data = form.cleaned_data
    view = data.get("view") or "list"
    grace = selectors.thresholds_for(request.clinic).overdue_grace_days
    refused = [f"{name}: {' '.join(str(e) for e in errs)}" for name, errs in form.errors.items()]
    context: dict = {"form": form, "today": today, "view": view, "grace_days": grace}
    if view == "calendar":
        first = _month(request.GET.get("month") if "month" not in form.errors else "", today)
        if first is None:
            refused.append(f"month: {request.GET.get('month')} is not a month (YYYY-MM).")
            first = today.replace(day=1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        rows = selectors.mark_overdue(
            request.clinic, list(selectors.agenda(request.clinic, first, last)), today
        )
        by_day: dict[date, list] = {}
        for sv in rows:
            by_day.setdefault(sv.on_date, []).append(sv)  # type: ignore[attr-defined]  # agenda()
        weeks = []
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
            weeks.append([(d, d.month == first.month, by_day.get(d, [])) for d in week])
        prev_month = (first - timedelta(days=1)).replace(day=1)
        next_month = last + timedelta(days=1)
        context.update(
            month=first,
            weeks=weeks,
            prev_month=prev_month.strftime("%Y-%m"),
            next_month=next_month.strftime("%Y-%m"),
            weekdays=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        )
    else:
        start = data.get("start") or today - timedelta(days=7)
        end = data.get("end") or start + timedelta(days=42)
        if end < start:
            start, end = end, start
        end = min(end, start + timedelta(days=366))  # one year per page at most
        rows = selectors.mark_overdue(
            request.clinic, list(selectors.agenda(request.clinic, start, end)), today
        )
        context.update(rows=rows, start=start, end=end)
    # The box lists the longest overdue; a longer list is said to be cut, with its total
    # (200 of 1000 read as the whole list).
    overdue = selectors.overdue(request.clinic, today)
    context["overdue"] = list(overdue[:AGENDA_OVERDUE_SHOWN])
    context["overdue_count"] = (
        overdue.count()
        if len(context["overdue"]) == AGENDA_OVERDUE_SHOWN
        else len(context["overdue"])
    )
    context["refused"] = refused
    return render(request, "monitoring/agenda.html", context)


REMINDER_DAYS_MAX = 90


@require_permission("schedule.manage")
def reminders_csv(request: ClinicRequest) -> HttpResponse:
    """Upcoming and overdue appointments with contact details for the front desk."""
    today = timezone.localdate()
    raw = request.GET.get("days", "14").strip()
    if not ascii_digits(raw) or not 1 <= int(raw) <= REMINDER_DAYS_MAX:
        # A file download cannot carry a form error: a plain 400 that says what to send.
        return HttpResponse(
            f"days: a whole number of days ahead from 1 to {REMINDER_DAYS_MAX} (default 14), "
            f"not {raw!r}.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    days = int(raw)
    rows = selectors.mark_overdue(
        request.clinic, list(selectors.reminders(request.clinic, today, days)), today
    )
    # Names, phones and e-mails taken away in a file, as the lot's patient list gives them:
    # each patient's access log says who took it.
    log_listed_access(request, [sv.patient for sv in rows])
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="reminders-{today.isoformat()}.csv"'
    # A byte-order mark, as the recall list has: without it Excel reads "Núñez" as Latin-1.
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(
        ["due_date", "status", "visit", "mrn", "given_name", "family_name", "phone", "email"]
    )
    for sv in rows:
        p = sv.patient
        # overdue: past the clinic's grace days (as the agenda marks it); past due: within them
        status = "overdue" if sv.overdue else "past due" if sv.due_date < today else "upcoming"
        cells = [sv.label, p.medical_record_number, p.given_name, p.family_name]
        writer.writerow(
            [
                sv.due_date.isoformat(),
                status,
                *(spreadsheet_safe(c) for c in cells),
                phone_cell(p.phone),
                spreadsheet_safe(p.email),
            ]
        )
    return response


@require_permission("adverse_event.view")
def reportable_events(request: ClinicRequest) -> HttpResponse:
    # Paged as the patient list is: the first 500 were shown as if they were all.
    events = selectors.reportable_events(request.clinic)
    page = Paginator(events, settings.ANAGEN_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "events": page.object_list,
        "filter_query": query_without_page(request),
    }
    return render(request, "monitoring/reportable.html", context)


@require_permission("monitoring.settings")
@require_http_methods(["GET", "POST"])
def settings_view(request: ClinicRequest) -> HttpResponse:
    current = selectors.thresholds_for(request.clinic)
    form = SettingsForm(request.POST or None, instance=current)
    form.track_opened_values()  # a save changes only what this person changed
    if request.method == "POST" and form.is_valid() and not form.refuse_conflicts():
        changed = {f: form.cleaned_data[f] for f in form.changed_data}
        try:
            services.save_settings(request.clinic, request.user, changed)
        except services.MonitoringError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(
                request, "Response thresholds saved." if changed else "Nothing changed."
            )
            return redirect("monitoring:settings")
    changes = [
        {
            **row,
            "changes": [
                (SettingsForm.LABELS.get(f, f), old, new) for f, old, new in row["changes"]
            ],
        }
        for row in selectors.settings_changes(current)
    ]
    return render(
        request, "monitoring/settings.html", {"form": form, "changes": changes},
        status=_status(request),
    )  # fmt: skip


# --- per patient ---------------------------------------------------------------------------


@require_permission("visit.view")
def patient_timeline(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    log_request_access(request, patient)
    show_sessions = can(request, "session.view")
    show_consultation = can(request, "consultation.view")
    entries = selectors.timeline(
        patient,
        show_sessions=show_sessions,
        show_consultation=show_consultation,
        thumbnails=True,
        edit_adverse_events=can(request, "adverse_event.record"),
        show_adverse_events=can(request, "adverse_event.view"),
    )
    series = selectors.density_series(patient)
    base = selectors.baseline_visit(patient)
    base_m = selectors.measurement_of(base) if base else None
    reference = base_m.density_per_cm2 if base_m else None
    description = (
        "Hair density in the target area at each visit: "
        + "; ".join(f"{d.isoformat()} {v:g} per cm²" for d, v in series)
        if series
        else "No density measured yet."
    )
    chart = charts.line_chart_svg(
        series,
        title=f"Hair density over time, {patient.full_name}",
        description=description,
        y_label="hairs/cm²",
        chart_id="density-chart",
        reference=reference,
    )
    context = {
        "patient": patient,
        "entries": entries,
        "series": series,
        "chart": mark_safe(chart),  # noqa: S308 -- built by charts.py with every text escaped
        "reference": reference,
        "restricted": not (show_sessions and show_consultation),
        # The density chart against baseline is progress.view's (not front desk's).
        "show_progress": can(request, "progress.view"),
    }
    return render(request, "monitoring/timeline.html", context)


@require_permission("schedule.manage")
@require_http_methods(["GET", "POST"])
def schedule_create(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    defaults = selectors.schedule_defaults(patient)
    form = ScheduleForm(
        request.POST or None,
        initial=defaults,
        protocols=selectors.protocol_titles(request.clinic),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.create_follow_up_plan(patient, request.user, **form.cleaned_data)
        except services.MonitoringError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Follow-up schedule created.")
            return redirect("monitoring:timeline", patient_id=patient.pk)
    return _schedule_page(request, patient, form, EndCourseForm(), defaults)


@require_permission("plan.edit")
@require_http_methods(["POST"])
def course_end(request: ClinicRequest, patient_id: int, plan_id: int) -> HttpResponse:
    """End a course early: its planned visits are cancelled (missed when already past)."""
    patient = selectors.get_patient(request.clinic, patient_id)
    plan = selectors.get_follow_up_plan(patient, plan_id)
    end_form = EndCourseForm(request.POST)
    if end_form.is_valid():
        try:
            ended = services.end_course(plan, request.user, end_form.cleaned_data["reason"])
        except services.MonitoringError as exc:
            _apply_errors(end_form, exc)
        else:
            messages.success(request, f"Course ended: {ended.summary()}; kept in each history.")
            return redirect("monitoring:timeline", patient_id=patient.pk)
    defaults = selectors.schedule_defaults(patient)
    form = ScheduleForm(initial=defaults, protocols=selectors.protocol_titles(request.clinic))
    return _schedule_page(request, patient, form, end_form, defaults, status=400)


def _schedule_page(
    request: ClinicRequest,
    patient: Patient,
    form: ScheduleForm,
    end_form: EndCourseForm,
    defaults: dict,
    status: int | None = None,
) -> HttpResponse:
    context = {
        "form": form,
        "end_form": end_form,
        "patient": patient,
        "schedule": list(selectors.schedule_of(patient)),
        "course": selectors.open_course(patient),
        # Ending a course stops the patient's treatment: the clinician's call (plan.edit);
        # the front desk cancels single appointments.
        "can_end_course": can(request, "plan.edit"),
        "has_plan": bool(defaults),
        "plan_title": defaults.get("plan_title", ""),
    }
    return render(
        request,
        "monitoring/schedule_form.html",
        context,
        status=status if status is not None else _status(request),
    )


@require_permission("schedule.manage")
@require_http_methods(["GET", "POST"])
def appointment_create(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """Book one appointment (a consultation, a review) outside any treatment course."""
    patient = selectors.get_patient(request.clinic, patient_id)
    form = AppointmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_scheduled_visit(
                patient, request.user, due_date=form.cleaned_data["due_date"], label=form.label()
            )
        except services.MonitoringError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"{form.label()} booked.")
            return redirect("monitoring:timeline", patient_id=patient.pk)
    context = {"form": form, "patient": patient, "schedule": list(selectors.schedule_of(patient))}
    return render(request, "monitoring/appointment_form.html", context, status=_status(request))


@require_permission("schedule.manage")
@require_http_methods(["GET", "POST"])
def reschedule(request: ClinicRequest, patient_id: int, scheduled_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    sv = selectors.get_scheduled_visit(patient, scheduled_id)
    form = RescheduleForm(request.POST or None, initial={"due_date": sv.due_date})
    if sv.plan_id is None:
        del form.fields["move_later"]  # an appointment outside a course has no later visits
    if request.method == "POST" and form.is_valid():
        try:
            services.reschedule_visit(
                sv, request.user, new_date=form.cleaned_data["due_date"],
                reason=form.cleaned_data["reason"],
                move_later=form.cleaned_data.get("move_later", False),
            )  # fmt: skip
        except services.MonitoringError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Visit moved; the change is in the history.")
            return redirect("monitoring:timeline", patient_id=patient.pk)
    return _reschedule_page(request, patient, sv, form, VisitStatusForm())


@require_permission("schedule.manage")
@require_http_methods(["POST"])
def visit_status(request: ClinicRequest, patient_id: int, scheduled_id: int) -> HttpResponse:
    """Mark an appointment missed or cancelled (or planned again), with the reason."""
    patient = selectors.get_patient(request.clinic, patient_id)
    sv = selectors.get_scheduled_visit(patient, scheduled_id)
    form = VisitStatusForm(request.POST)
    if form.is_valid():
        try:
            services.set_visit_status(
                sv, request.user, form.cleaned_data["status"], form.cleaned_data["reason"]
            )
        except services.MonitoringError as exc:
            _apply_errors(form, exc)
        else:
            done = {"missed": "marked missed", "cancelled": "cancelled", "planned": "planned again"}
            messages.success(
                request, f"{sv.label} {done[form.cleaned_data['status']]}; kept in its history."
            )
            return redirect("monitoring:timeline", patient_id=patient.pk)
    reschedule_form = RescheduleForm(initial={"due_date": sv.due_date})
    return _reschedule_page(request, patient, sv, reschedule_form, form)


def _reschedule_page(
    request: ClinicRequest,
    patient: Patient,
    sv: ScheduledVisit,
    form: RescheduleForm,
    status_form: VisitStatusForm,
) -> HttpResponse:
    history = list(sv.history.select_related("history_user").order_by("-history_date"))
    context = {
        "form": form,
        "status_form": status_form,
        "patient": patient,
        "sv": sv,
        "history": history,
        "can_void": can(request, "record.void"),
    }
    return render(request, "monitoring/reschedule.html", context, status=_status(request))


PHOTO_FIELDS = (*(f"photo_{view}" for view, _ in VIEWS), "trichoscopy")


HELD_PHOTO_LOST = (
    "The photo kept from your last try is no longer kept (photos are kept for 24 hours, for "
    "the person who chose them): attach it again, or save again to record the visit without "
    "it."
)


class _VisitPhotos:
    """The photos of one try of the visit form: files chosen now (checked once here), and
    photos held from the last try (monitoring.held_photos) that are kept, left out, replaced,
    or no longer there."""

    def __init__(self, request: ClinicRequest, patient: Patient) -> None:
        self.request, self.patient = request, patient
        self.chosen: dict[str, UploadedFile] = {}
        for field in PHOTO_FIELDS:
            if f := request.FILES.get(field):
                self.chosen[field] = f
        self.clean = services.acceptable_photos(
            self._uploads_of({f: (v, v.size, None) for f, v in self.chosen.items()}, "")
        )
        self.held: dict[str, held_photos.HeldPhoto] = {}
        self.let_go: list[held_photos.HeldPhoto] = []  # left out or replaced: deleted
        self.lost: list[str] = []  # fields whose held photo is gone: the form says so
        for field in PHOTO_FIELDS:
            ticket = request.POST.get(f"held_{field}")
            if not ticket:
                continue
            leave_out = bool(request.POST.get(f"leave_out_{field}"))
            held = held_photos.redeem(ticket, request.clinic, request.user, patient)
            if held is None or held.field != field:
                if field not in self.chosen and not leave_out:
                    self.lost.append(field)
            elif field in self.chosen or leave_out:
                self.let_go.append(held)
            else:
                self.held[field] = held

    @staticmethod
    def _uploads_of(
        files: dict[str, tuple[IO[bytes], int | None, CleanImage | None]], target_area: str
    ) -> list[services.PhotoUpload]:
        """Each field's file, its size and clean image (if checked) as the service takes it."""
        out = []
        for field, (file, size, clean) in files.items():
            if field == "trichoscopy":
                kind, view, area = Photo.Kind.TRICHOSCOPY, "", target_area
            else:
                kind, view, area = Photo.Kind.GLOBAL, field.removeprefix("photo_"), ""
            out.append(services.PhotoUpload(file, kind, view, area, field, size, clean))
        return out

    def uploads(self, target_area: str) -> list[services.PhotoUpload]:
        """What this try sends: each chosen file (with its clean image when it passed), else
        the held photo."""
        files: dict[str, tuple[IO[bytes], int | None, CleanImage | None]] = {}
        for field in PHOTO_FIELDS:
            if field in self.chosen:
                f = self.chosen[field]
                f.seek(0)  # read once by the checks already
                files[field] = (f, f.size, self.clean.get(field))
            elif field in self.held:
                held = self.held[field]
                clean = held.clean_image()
                if clean is None:  # the stored bytes changed: ask for the file again
                    del self.held[field]
                    self.lost.append(field)
                    continue
                files[field] = (io.BytesIO(clean.content), held.size, clean)
        return self._uploads_of(files, target_area)

    def saved(self) -> None:
        """The visit took the photos: the held copies go."""
        for held in [*self.held.values(), *self.let_go]:
            held_photos.release(held)

    def refused(self, errors: Collection[str]) -> list[str]:
        """After a refusal with errors on the fields `errors`: hold the photos chosen now that
        passed their checks and whose field has no error, for the next try; let go of held
        photos whose field now has one (a duplicate image, say). The names of the photos not
        kept (their fields say why)."""
        for held in self.let_go:
            held_photos.release(held)
        not_kept = []
        for field, held in list(self.held.items()):
            if field in errors:
                held_photos.release(held)
                del self.held[field]
                not_kept.append(held.name)
        for field, f in self.chosen.items():
            if field in self.clean and field not in errors:
                self.held[field] = held_photos.hold(
                    self.request.clinic, self.request.user, self.patient, field,
                    f.name or "", self.clean[field],
                )  # fmt: skip
            else:
                not_kept.append(f.name or "")
        return sorted(not_kept)


@require_permission("visit.record")
@require_http_methods(["GET", "POST"])
def visit_create(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    sv = None
    scheduled = request.GET.get("scheduled") or request.POST.get("scheduled")
    if scheduled:
        try:
            sv = selectors.get_scheduled_visit(patient, int(scheduled))
        except ValueError as exc:
            raise Http404("No such appointment.") from exc
    has_baseline = selectors.visits_of(patient).filter(is_baseline=True).exists()
    initial = {
        "visit_date": timezone.localdate(),
        # A follow-up appointment's visit is not offered as the baseline (it was ticked for
        # a patient without one, and the week-24 visit became the reference).
        "is_baseline": not has_baseline and (sv is None or sv.kind == ScheduledVisit.Kind.BASELINE),
    }
    photos = _VisitPhotos(request, patient) if request.method == "POST" else None
    form = VisitForm(
        request.POST or None,
        request.FILES or None,
        initial=initial,
        held=photos.held if photos else (),
        # The target area left blank unless the patient's last visit gave one (no default).
        last_area=selectors.last_target_area(patient),
    )
    if photos is not None:
        valid = form.is_valid()
        uploads = photos.uploads(
            (form.cleaned_data.get("target_area") if valid else None)
            or request.POST.get("target_area", "")
        )
        for field in photos.lost:
            form.add_error(field, HELD_PHOTO_LOST)
        if valid and not photos.lost:
            data = {
                k: v
                for k, v in form.cleaned_data.items()
                if not k.startswith("photo_")
                and k not in ("trichoscopy", "target_area", "without_appointment")
            }
            # Held back as early for its appointment, the visit may be recorded on its own:
            # the appointment stays planned.
            appointment = None if form.cleaned_data.get("without_appointment") else sv
            try:
                visit = services.record_visit(
                    patient, request.user, data, scheduled_visit=appointment, photos=uploads
                )
            except services.MonitoringError as exc:
                _apply_errors(form, exc)
                # A second visit that day: offer the box that confirms it is a separate visit,
                # against the visits the refusal named.
                if "visit_date" in exc.errors:
                    seen = len(services.same_day_visits(patient, data["visit_date"]))
                    form.same_day_refused = bool(seen)
                    if seen:
                        posted = request.POST.copy()
                        posted["same_day_seen"] = str(seen)
                        form.data = posted
            else:
                photos.saved()
                messages.success(request, "Visit recorded.")
                if appointment is not None and visit.scheduled_visit_id != appointment.pk:
                    # Recorded late from an earlier appointment: say which one it stands for,
                    # and that the one chosen is still to be closed.
                    kept = visit.scheduled_visit
                    messages.info(
                        request,
                        f"It stands for “{kept.label if kept else ''}”, the planned visit "
                        f"nearest its date; “{appointment.label}” stays planned (mark it "
                        "missed if it did not take place).",
                    )
                return redirect("monitoring:visit_detail", patient_id=patient.pk, visit_id=visit.pk)
    # A browser cannot refill a file input: the photos that passed their checks are held for
    # the next try, and any that did not are named, so the visit is not saved without them.
    photos_not_kept = photos.refused(form.errors) if photos is not None else []
    held = [(photos.held[f], form[f].label) for f in PHOTO_FIELDS if photos and f in photos.held]
    return render(
        request,
        "monitoring/visit_form.html",
        {
            "form": form,
            "patient": patient,
            "sv": sv,
            "photos_not_kept": photos_not_kept,
            "held_photos": held,
        },
        status=_status(request),
    )


@require_permission("visit.view")
def visit_detail(request: ClinicRequest, patient_id: int, visit_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    visit = selectors.get_visit(patient, visit_id)
    log_request_access(request, patient)
    photos = selectors.photos_of(visit)
    base = selectors.baseline_for(visit)
    # Change from baseline and the photo comparison are progress.view's: front desk sees
    # the visit and its photos, not the treatment's result.
    show_change = can(request, "progress.view")
    base_photos = selectors.photos_of(base) if show_change and base and base.pk != visit.pk else []
    pairs = []
    for view, label in VIEWS:
        now = [p for p in photos if p.kind == Photo.Kind.GLOBAL and p.view == view]
        then = [p for p in base_photos if p.kind == Photo.Kind.GLOBAL and p.view == view]
        if now or then:
            pairs.append((label, then[-1] if then else None, now[-1] if now else None))
    proposal = selectors.proposal_for(visit)
    decisions = selectors.decisions_of(visit)
    # The proposal and the decision's rationale are clinical reasoning: clinical staff only,
    # as the timeline's session and consultation details.
    show_clinical = can(request, "consultation.view")
    show_events = can(request, "adverse_event.view")
    events = list(visit.adverse_events.filter(voided_at__isnull=True)) if show_events else []
    context = {
        "patient": patient,
        "visit": visit,
        # With a decision the page shows the proposal stored with it, and says so when the
        # proposal recomputed from today's data would differ.
        "proposal_now": selectors.proposal_change_since(
            decisions[0], selectors.proposal_now(decisions[0])
        )
        if decisions
        else "",
        "measurement": selectors.measurement_of(visit),
        # Every answer the patient gave (two of the seven were shown; review).
        "hgq_answers": [
            (label, getattr(visit, f"get_{name}_display")())
            for name, label in HGQ_ITEMS
            if getattr(visit, name) is not None
        ],
        "measurements": [m for m in visit.measurements.all() if not m.is_voided],
        # A voided visit's measurements are shown for the record only: none is "used", none
        # is corrected (the correction would be refused).
        "measurements_closed": selectors.measurements_closed(visit),
        "pairs": pairs,
        "trichoscopy": [p for p in photos if p.kind == Photo.Kind.TRICHOSCOPY],
        "base": base,
        # The baseline's own page has nothing to compare with (it showed "Baseline 0" beside
        # its global assessment "—", and "no baseline photo" beside its own photos).
        "own_baseline": base is not None and base.pk == visit.pk,
        "proposal": proposal,
        "decisions": decisions,
        "events": events,
        "photo_form": PhotoForm() if can(request, "visit.record") else None,
        "photos": photos,
        "voided_entries": [
            e
            for e in selectors.voided_at_visit(visit)
            if (show_clinical or e.kind != "TreatmentDecision")
            and (show_events or e.kind != "AdverseEvent")
        ],
        "can_void": can(request, "record.void") and not visit.is_voided,
        # What only a clinician voids gets the reason in place of its "Void…" control.
        "void_refusals": _void_refusals(request, visit, decisions, events),
        "show_clinical": show_clinical,
        "show_change": show_change,
    }
    return render(request, "monitoring/visit_detail.html", context)


def _void_refusals(
    request: ClinicRequest,
    visit: Visit,
    decisions: list[TreatmentDecision],
    events: list[AdverseEvent],
) -> dict[str, Any]:
    """Why the user may not void the visit or one of its entries: "visit" (a reason or ""),
    "events" and "decisions" (id → reason, only those refused)."""
    rights = _void_rights(request)

    def refused(records: list[Any]) -> dict[int, str]:
        reasons = {r.pk: services.clinician_voids(r, **rights) for r in records}
        return {pk: why for pk, why in reasons.items() if why}

    return {
        "visit": services.clinician_voids(visit, **rights),
        "events": refused(events),
        "decisions": refused(decisions),
    }


def _saved_correction(
    form: VisitAmendForm | MeasurementCorrectForm,
    initial: dict[str, Any],
    save: Callable[[dict[str, Any], str], object],
) -> bool:
    """Save what this person changed on a correction form (a field someone else corrected
    meanwhile is kept; the same field changed by both is refused); False with the form's
    errors when nothing was saved."""
    if not form.is_valid() or form.refuse_conflicts():
        return False
    changes = {n: form.cleaned_data[n] for n in form.changed_data if n in initial}
    if not changes:
        form.add_error(None, "Nothing changed: change a value, or go back to the visit.")
        return False
    try:
        save(changes, form.cleaned_data["reason"])
    except services.MonitoringError as exc:
        _apply_errors(form, exc)
        return False
    return True


@require_permission("visit.record")
@require_http_methods(["GET", "POST"])
def visit_amend(request: ClinicRequest, patient_id: int, visit_id: int) -> HttpResponse:
    """Correct a visit's assessments or notes with a reason; its date and baseline status
    are corrected by voiding the visit and recording it again (a manual measurement has its
    own correction, measurement_correct)."""
    patient = selectors.get_patient(request.clinic, patient_id)
    visit = selectors.get_visit(patient, visit_id)
    log_request_access(request, patient)
    if visit.is_voided:
        messages.error(request, "This visit is voided and cannot be changed.")
        return redirect("monitoring:visit_detail", patient_id=patient.pk, visit_id=visit.pk)
    initial = {name: getattr(visit, name) for name in services.AMENDABLE_VISIT_FIELDS}
    form = VisitAmendForm(request.POST or None, initial=initial)
    save = partial(services.amend_visit, visit, request.user)
    if request.method == "POST" and _saved_correction(form, initial, save):
        messages.success(request, "Visit corrected; the values before are in its history.")
        return redirect("monitoring:visit_detail", patient_id=patient.pk, visit_id=visit.pk)
    return render(
        request,
        "monitoring/visit_amend.html",
        {"patient": patient, "visit": visit, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_permission("visit.record")
@require_http_methods(["GET", "POST"])
def measurement_correct(
    request: ClinicRequest, patient_id: int, measurement_id: int
) -> HttpResponse:
    """Correct a manual measurement typed in error, with a reason (the nurse who typed a
    density of 0 had to ask a clinician to void it)."""
    patient = selectors.get_patient(request.clinic, patient_id)
    measurement = selectors.get_measurement(patient, measurement_id)
    visit = measurement.visit
    log_request_access(request, patient)
    back = redirect("monitoring:visit_detail", patient_id=patient.pk, visit_id=visit.pk)
    if measurement.is_voided:
        messages.error(request, "This measurement is voided and cannot be changed.")
        return back
    closed = selectors.measurements_closed(visit)
    if closed:  # the measurement itself is not voided: say what is
        messages.error(request, closed)
        return back
    if measurement.source != Measurement.Source.MANUAL:
        messages.error(request, "An image analysis's numbers are corrected on the analysis.")
        return back
    initial = {name: getattr(measurement, name) for name in services.MEASUREMENT_FIELDS}
    form = MeasurementCorrectForm(request.POST or None, initial=initial)
    save = partial(services.correct_measurement, measurement, request.user)
    if request.method == "POST" and _saved_correction(form, initial, save):
        messages.success(request, "Measurement corrected; the values before are in its history.")
        return back
    return render(
        request,
        "monitoring/measurement_correct.html",
        {"patient": patient, "visit": visit, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_permission("visit.record")
@require_http_methods(["POST"])
def photo_upload(request: ClinicRequest, patient_id: int, visit_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    visit = selectors.get_visit(patient, visit_id)
    form = PhotoForm(request.POST, request.FILES)
    if form.is_valid():
        f = form.cleaned_data["image"]
        upload = services.PhotoUpload(
            f, form.cleaned_data["kind"], form.cleaned_data["view"] or "",
            form.cleaned_data["target_area"], "image", f.size,
        )  # fmt: skip
        try:
            services.add_photos(visit, request.user, [upload])
        except services.MonitoringError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Photo stored (location data removed).")
            return redirect("monitoring:visit_detail", patient_id=patient.pk, visit_id=visit.pk)
    return render(
        request,
        "monitoring/photo_form.html",
        {"form": form, "patient": patient, "visit": visit},
        status=400,
    )


@require_permission("visit.view")
def photo_image(request: ClinicRequest, patient_id: int, photo_id: int) -> FileResponse:
    """The image bytes, served through the permission check (never a public media URL)."""
    patient = selectors.get_patient(request.clinic, patient_id)
    photo = selectors.get_photo(patient, photo_id)
    try:
        handle = photo.image.open("rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The image file is missing.") from exc
    response = FileResponse(handle, content_type=photo.content_type)
    response["Cache-Control"] = "no-store, private"  # a patient's photo: not kept on disk
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_permission("decision.record")
@require_http_methods(["GET", "POST"])
def decision_create(request: ClinicRequest, patient_id: int, visit_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    visit = selectors.get_visit(patient, visit_id)
    proposal = selectors.proposal_for(visit)
    entered = _entered_sessions(request)
    if entered and proposal.decision is None:
        # Sent back with session counts the records lack: show the proposal on them, the one
        # the decision is checked against (it said "No proposal" and then that the decision
        # differed from it).
        proposal = selectors.proposal_for(visit, **entered)
    initial = {
        "sessions_done": proposal.inputs.get("sessions_done"),
        "sessions_planned": proposal.inputs.get("sessions_planned"),
        "decision": proposal.decision.proposal.value if proposal.decision else None,
    }
    form = DecisionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        cd = form.cleaned_data
        try:
            services.record_decision(
                visit,
                request.user,
                decided=cd["decision"],
                rationale=cd["rationale"],
                sessions_done=cd["sessions_done"],
                sessions_planned=cd["sessions_planned"],
                extra_sessions=cd["extra_sessions"],
                maintenance_interval_months=cd["maintenance_interval_months"],
            )
        except services.MonitoringError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Decision recorded; the proposal is stored with it.")
            return redirect("monitoring:visit_detail", patient_id=patient.pk, visit_id=visit.pk)
    return render(
        request,
        "monitoring/decision_form.html",
        {
            "form": form,
            "patient": patient,
            "visit": visit,
            "proposal": proposal,
            "existing": next(iter(selectors.decisions_of(visit)), None),
        },
        status=_status(request),
    )


def _entered_sessions(request: ClinicRequest) -> dict[str, int]:
    """The session counts a decision form sent, where both are whole numbers in range."""
    out = {}
    for name, low in (("sessions_done", 0), ("sessions_planned", 1)):
        raw = str(request.POST.get(name, "")).strip()
        if not ascii_digits(raw) or not low <= int(raw) <= 100:
            return {}
        out[name] = int(raw)
    return out


def _grade_table() -> list[dict]:
    """Each term's grades (number, text, whether the text is the generic definition), with
    the term's source and notes, for the definitions under the adverse-event form."""
    return [
        {
            "name": t.name,
            "grades": [(g, text, t.is_generic(g)) for g, text in sorted(t.grades.items())],
            "source": t.source,
            "notes": t.notes,
            "has_generic": bool(t.generic_text),
        }
        for t in ctcae.TERMS.values()
    ]


@require_permission("adverse_event.record")
@require_http_methods(["GET", "POST"])
def adverse_event_create(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    visits = selectors.visit_choices(patient)
    form = AdverseEventForm(
        request.POST or None,
        initial={"onset_date": timezone.localdate(), "relatedness": "not_assessed"},
        sessions=selectors.session_uses(patient),
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        visit_id = request.POST.get("visit_id") or None
        if visit_id:
            data["visit_id"] = visit_id
        try:
            services.record_adverse_event(patient, request.user, data)
        except services.MonitoringError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Adverse event recorded.")
            return redirect("monitoring:timeline", patient_id=patient.pk)
    return render(
        request,
        "monitoring/adverse_event_form.html",
        {
            "form": form,
            "patient": patient,
            "grades": _grade_table(),
            "visits": visits,
            "exosome_treated": treatment_selectors.had_exosome_session(patient),
        },
        status=_status(request),
    )


@require_permission("adverse_event.record")
@require_http_methods(["GET", "POST"])
def adverse_event_edit(request: ClinicRequest, patient_id: int, event_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    event = selectors.get_adverse_event(patient, event_id)
    initial = {f: getattr(event, f) for f in AdverseEventForm.base_fields}
    # The criteria the grade or the action imply are ticked as well: an event stored before
    # the rule lacks them, and the page showed a grade-4 event as not life-threatening.
    initial["seriousness"] = event.serious_criteria
    form = AdverseEventForm(
        request.POST or None,
        initial=initial,
        sessions=selectors.session_uses(patient),
        event=event,
    )
    form.track_opened_values(list(initial))  # a save changes only what this person changed
    if request.method == "POST" and form.is_valid() and not form.refuse_conflicts():
        data = {f: form.cleaned_data[f] for f in initial if f in form.changed_data}
        reason = form.cleaned_data.get("change_reason", "")
        try:
            updated = services.update_adverse_event(
                event,
                request.user,
                data,
                change_reason=reason,
                may_lower_serious=can(request, "adverse_event.lower"),
            )
        except services.MonitoringError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(
                request,
                "Adverse event updated; the change is in the history."
                if stored_values(updated) != stored_values(event)
                else "Nothing changed.",
            )
            return redirect("monitoring:timeline", patient_id=patient.pk)
    history = list(event.history.select_related("history_user").order_by("-history_date"))
    return render(
        request,
        "monitoring/adverse_event_form.html",
        {
            "form": form,
            "patient": patient,
            "event": event,
            "grades": _grade_table(),
            "history": history,
            "exosome_treated": treatment_selectors.had_exosome_session(patient),
            # Here too, not only on its visit's page: an event reported outside a visit
            # could be voided nowhere.
            "may_void": can(request, "record.void"),
        },
        status=_status(request),
    )


# --- voiding -------------------------------------------------------------------------------


def _void_rights(request: ClinicRequest) -> dict[str, bool]:
    """What of a clinician's the user may undo by voiding (services.void_record)."""
    return {
        "may_lower_serious": can(request, "adverse_event.lower"),
        "may_decide": can(request, "decision.record"),
    }


# kind (from the URL conf) → (selector within the patient, what the page calls it)
VOIDABLE = {
    "visit": (selectors.get_visit, "visit"),
    "photo": (selectors.get_photo, "photo"),
    "measurement": (selectors.get_measurement, "measurement"),
    "adverse_event": (selectors.get_adverse_event, "adverse event"),
    "decision": (selectors.get_decision, "decision"),
    "appointment": (selectors.get_scheduled_visit, "appointment"),
}


def _back_to(obj) -> str:
    """The visit page the record belongs to (the visit itself, with its banner)."""
    visit_id = obj.pk if isinstance(obj, Visit) else getattr(obj, "visit_id", None)
    if visit_id:
        return reverse("monitoring:visit_detail", args=[obj.patient_id, visit_id])
    return reverse("monitoring:timeline", args=[obj.patient_id])


@require_permission("record.void")
@require_http_methods(["GET", "POST"])
def void_record(request: ClinicRequest, patient_id: int, kind: str, object_id: int) -> HttpResponse:
    """Void a visit, photo, measurement or adverse event entered in error (with a reason).

    The visit page posts here from its "Void…" controls; a refused reason comes back on
    this page (400) with the error, and nothing changes."""
    if kind not in VOIDABLE:
        raise Http404("No such record.")
    get, label = VOIDABLE[kind]
    patient = selectors.get_patient(request.clinic, patient_id)
    obj = get(patient, object_id)
    log_request_access(request, patient)

    def void(reason: str) -> str:
        services.void_record(obj, request.user, reason, **_void_rights(request))
        return f"{label.capitalize()} voided. It stays in the history."

    target = VoidTarget(obj, label, f"{obj} · {patient.full_name}", _back_to(obj), patient=patient)
    return void_page(request, target, void)
