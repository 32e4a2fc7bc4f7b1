from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from anagen.accounts.permissions import can, require_permission
from anagen.core.http import ClinicRequest
from anagen.core.text import long_date
from anagen.core.voiding import VoidTarget, void_page
from anagen.patients.selectors import get_patient
from anagen.products.models import Lot, VialDraw
from anagen.treatments import scalp_zones, selectors, services
from anagen.treatments.forms import (
    MAP_COLUMNS,
    PostCareForm,
    SessionForm,
    empty_map_rows,
    parse_map,
)
from anagen.treatments.models import Modality, TreatmentSession
from anagen.treatments.postcare_defaults import EXOSOME_PATIENT_NOTICE

ENTRY_ERROR = re.compile(r"map\[(\d+)\]\.(\w+)")


def _svg(entries: list[dict], view: str = "top", **options: Any) -> str:
    # The SVG is built by scalp_zones from zone codes and numbers only, escaped there.
    return mark_safe(scalp_zones.render_scalp_svg(entries, view, **options))  # noqa: S308


@require_permission("session.view")
def session_list(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    # Voided sessions (entered in error) are listed on request, marked: kept, not counted.
    show_voided = request.GET.get("voided") == "1"
    sessions = list(selectors.sessions_of(patient, include_voided=show_voided))
    for s in sessions:
        # One map per session on the page: each needs its own clip-path id.
        thumbnail = _svg([e.as_map_entry() for e in s.map_entries.all()], id_suffix=f"s{s.pk}")
        s.thumbnail = thumbnail  # type: ignore[attr-defined]  # for the page only
    voided_count = selectors.voided_session_count(patient)
    return render(
        request,
        "treatments/session_list.html",
        {
            "patient": patient,
            "sessions": sessions,
            "plans": selectors.active_plans(patient),
            "show_voided": show_voided,
            "voided_count": voided_count,
        },
    )


def _split_errors(errors: dict[str, list[str]], entries: list[dict]) -> tuple[dict, dict]:
    """Split service errors into per-zone map errors and the rest."""
    zone_errors: dict[str, list[str]] = {}
    other: dict[str, list[str]] = {}
    for field, msgs in errors.items():
        match = ENTRY_ERROR.fullmatch(field)
        if match and int(match.group(1)) < len(entries):
            code = entries[int(match.group(1))]["zone"]
            column = MAP_COLUMNS.get(match.group(2), match.group(2))
            zone_errors.setdefault(code, []).extend(
                f"{column[:1].upper()}{column[1:]}: {m}" for m in msgs
            )
        else:
            other[field] = msgs
    return zone_errors, other


def _map_problems(entries: list[dict], fine_grid: bool) -> dict[str, list[str]]:
    """The checks the session service makes of a map, by ``map[i].field`` (pure)."""
    found = scalp_zones.validate_map(entries, prefix="map")
    found += scalp_zones.check_recording_limits(entries, prefix="map")
    found += scalp_zones.check_grid(entries, fine_grid, prefix="map")
    problems: dict[str, list[str]] = {}
    for err in found:
        problems.setdefault(err.field, []).append(err.message)
    return problems


def _posted_date(value: str | None) -> date | None:
    """The posted session date when it is a valid date, read as the form reads it."""
    if not value:
        return None
    try:
        day = SessionForm.base_fields["performed_on"].to_python(value)
    except ValidationError:
        return None
    return day if isinstance(day, date) else None


@require_permission("session.record")
@require_http_methods(["GET", "POST"])
def session_create(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    # A plan with no treatment (a referral) has no session to record: it gave a checklist of
    # "does not include ." and "OK for ." over a form preset to exosome (nurse review).
    active = list(selectors.active_plans(patient))
    plans = [p for p in active if p.modalities]
    today = timezone.localdate()
    # Lots and the checklist as on the session's date, as the service checks them: a session
    # entered afterwards may draw from a lot usable then (expired since, say).
    on_date = _posted_date(request.POST.get("performed_on")) or today
    session_lots = selectors.session_lots(request.clinic, on_date)
    lots = session_lots.offered
    # The map's grid is the page's: from the link (?grid=fine) until posted, then as posted.
    if request.method == "POST":
        fine_grid = request.POST.get("fine_grid", "").lower() in ("true", "on", "1")
    else:
        fine_grid = request.GET.get("grid") == "fine"
    initial: dict[str, Any] = {"performed_on": today, "fine_grid": fine_grid}
    if plans:
        initial["plan"] = plans[0].pk
        if plans[0].modalities:
            initial["modality"] = plans[0].modalities[0]
    form = SessionForm(
        request.POST or None,
        plans=plans,
        lots=lots,
        refused_lots=session_lots.refused,
        initial=initial,
    )
    map_rows = empty_map_rows(fine_grid)
    entries: list[dict] = []
    zone_errors: dict[str, list[str]] = {}
    checklist = None
    status = 200
    if plans:
        plan = plans[0]
        if form.is_bound and form.is_valid():
            plan = selectors.get_plan(patient, form.cleaned_data["plan"])
        checklist = services.pre_session_checklist(
            plan, form.data.get("modality") or initial.get("modality", ""), on_date
        )
        form.offer_screening_confirmation = any(i.caution for i in checklist.items)
    if request.method == "POST":
        entries, map_rows = parse_map(request.POST, fine_grid)
        status = 400
        if form.is_valid():
            cd = form.cleaned_data
            plan = selectors.get_plan(patient, cd["plan"])
            vials = []
            vial_rows: list[int] = []  # the form row of each vial request
            lots_by_id = {
                lot.pk: lot
                for lot in Lot.objects.filter(
                    clinic=request.clinic,
                    pk__in=[cd[f"vial_{i}_lot"] for i in range(3) if cd[f"vial_{i}_lot"]],
                ).select_related("product")
            }
            for i in range(3):
                lot_id, qty = cd[f"vial_{i}_lot"], cd[f"vial_{i}_quantity"]
                if lot_id and not qty:
                    form.add_error(f"vial_{i}_quantity", "How many vials from this lot?")
                elif qty and not lot_id:
                    form.add_error(f"vial_{i}_lot", "Choose the lot the vials came from.")
                elif lot_id:
                    if lot_id not in lots_by_id:
                        form.add_error(f"vial_{i}_lot", "No such lot.")
                    else:
                        vials.append(services.VialRequest(lots_by_id[lot_id], qty))
                        vial_rows.append(i)
            graft_rows = [i for i in range(4) if cd[f"graft_{i}_zone"] or cd[f"graft_{i}_grafts"]]
            grafts = [
                {
                    "zone": cd[f"graft_{i}_zone"],
                    "grafts": cd[f"graft_{i}_grafts"],
                    "technique": cd[f"graft_{i}_technique"],
                }
                for i in graft_rows
            ]
            prp = {
                "blood_volume_ml": cd["prp_blood_volume_ml"],
                "spin_protocol": cd["prp_spin_protocol"],
                "platelet_concentration_10e9_per_l": cd["prp_platelet_concentration"],
            }
            if not form.errors:
                try:
                    session = services.record_session(
                        request.clinic,
                        request.user,
                        plan,
                        cd,
                        map_entries=entries,
                        vials=vials,
                        prp=prp,
                        grafts=grafts,
                    )
                except services.SessionError as exc:
                    zone_errors, other = _split_errors(exc.errors, entries)
                    form.add_service_errors(other, {"vials": vial_rows, "grafts": graft_rows})
                    if exc.same_day_count and "performed_on" in exc.errors:
                        _offer_same_day(form, exc.same_day_count)
                    if zone_errors:
                        form.add_error(None, "Check the injection map: see the zones marked.")
                else:
                    for w in session.limit_warnings:
                        messages.warning(request, w["message"])
                    messages.success(request, "Session recorded.")
                    return redirect(
                        "treatments:detail", patient_id=patient.pk, session_id=session.pk
                    )
    if request.method == "POST" and form.errors and not zone_errors:
        # The session was not checked further (its form has errors): the map's own problems
        # are shown now too, not in a second round after the first are fixed.
        zone_errors, _ = _split_errors(_map_problems(entries, fine_grid), entries)
    for row in map_rows:
        row["errors"] = zone_errors.get(row["code"], [])
    drawable = [e for e in entries if not scalp_zones.validate_map([e])]
    refused = [row["code"] for row in map_rows if row["errors"]]
    svg = _svg(drawable, "top", interactive=True, fine_grid=fine_grid, error_codes=refused)
    return render(
        request,
        "treatments/session_form.html",
        {
            "patient": patient,
            "allergies": selectors.recorded_allergies(patient),
            "form": form,
            "plans": plans,
            "plans_without_treatment": [p for p in active if not p.modalities],
            # Lots are exosome products: the vial rows, their checklist line and the
            # investigational notice only where an active plan includes exosome sessions.
            "uses_exosome": any(Modality.EXOSOME in (p.modalities or []) for p in plans),
            "map_rows": map_rows,
            "map_svg": svg,
            "fine_grid": fine_grid,
            "checklist": checklist,
            "lots": lots,
            # "today" unless the session is entered afterwards: lots are offered as on its date
            "lots_on": "today" if on_date == today else f"on {long_date(on_date)}",
            "held_back": session_lots.held_back_shown,
            "held_back_more": session_lots.held_back_more,
        },
        status=status,
    )


def _offer_same_day(form: SessionForm, seen: int) -> None:
    """Show the same-day box, confirming against the ``seen`` sessions the refusal named."""
    form.same_day_seen_now = seen
    data = form.data.copy()  # type: ignore[attr-defined]  # a QueryDict
    data[form.add_prefix("same_day_seen")] = str(seen)
    form.data = data


@require_permission("session.view")
def session_detail(request: ClinicRequest, patient_id: int, session_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    session = selectors.get_session(patient, session_id)
    entries = [e.as_map_entry() for e in session.map_entries.all()]
    draws = selectors.vial_draws_of([session]).get(session.pk, [])
    ref = selectors.session_ref(session)
    views = [(label, _svg(entries, v)) for v, label in scalp_zones.VIEW_LABELS.items()]
    return render(
        request,
        "treatments/session_detail.html",
        {
            "patient": patient,
            "session": session,
            "entries": entries,
            "draws": draws,
            "views": views,
            "labels": scalp_zones.ALL_CODES,
            "can_void": can(request, "record.void") and not session.is_voided,
            "vials_option": VIALS_RETURNED_OPTION,
            "vials_returned": any(d.returned_at for d in draws),
            # Drawn at the point of care the same day with no session named: this session's
            # by the shared rule, but not returnable by voiding it.
            "unnamed_draws": any(d.session_ref != ref for d in draws),
            "returnable": _returnable(session, draws),
            "labelled_dose": sum(d.labelled_particles for d in draws if not d.returned_at),
            # The label's count is of whole vials: said against what was drawn, not injected.
            "drawn_ml": sum(
                (d.lot.product.volume_ml * d.quantity for d in draws if not d.returned_at),
                Decimal(0),
            ),
        },
    )


@require_permission("record.void")
@require_http_methods(["GET", "POST"])
def session_void(request: ClinicRequest, patient_id: int, session_id: int) -> HttpResponse:
    """Void a session entered in error (with a reason). Its vial draws stay on the lot trace.

    The session page posts here from its "Void…" control; a refused reason comes back on
    this page (400) with the error, and nothing changes."""
    patient = get_patient(request.clinic, patient_id)
    session = selectors.get_session(patient, session_id)

    def void(reason: str, vials_returned: bool) -> str:
        services.void_session(session, request.user, reason, vials_returned=vials_returned)
        if vials_returned:
            return (
                "Session voided. It stays in the history; its vials are back in stock and "
                "marked returned on the lot trace."
            )
        return "Session voided. It stays in the history; its vials stay on the lot trace."

    has_vials = _returnable(session, selectors.vial_draws_of([session]).get(session.pk, []))
    target = VoidTarget(
        session, "session", f"{session}",
        back=reverse("treatments:detail", args=[patient.pk, session.pk]),
        note=VIAL_NOTE, patient=patient,
        option=VIALS_RETURNED_OPTION if has_vials else None,
    )  # fmt: skip
    return void_page(request, target, void)


def _returnable(session: TreatmentSession, draws: list[VialDraw]) -> bool:
    """Whether voiding ``session`` may put vials back in stock: only the draws naming it
    return with it (``products.services.return_drawn_vials``)."""
    ref = selectors.session_ref(session)
    return any(d.session_ref == ref and d.returned_at is None for d in draws)


VIALS_RETURNED_OPTION = (
    "The vials were not used: return them to stock",
    "Tick only when the vials this session drew are back in storage unopened (for example, "
    "the session was entered twice or for the wrong patient). Their draws stay on the lot "
    "trace, marked returned. Leave it unticked when the vials were opened or injected.",
)
VIAL_NOTE = (
    "The vials drawn for the session stay on the lot trace: a recall must reach anyone who "
    "may have been exposed."
)


@require_permission("session.view")
def postcare_sheet(request: ClinicRequest, patient_id: int, session_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    session = selectors.get_session(patient, session_id)
    given = services.session_postcare_text(session)
    current = services.postcare_text(request.clinic, session.modality)
    # The sheet reprints what the patient was given; the clinic's newer text on request.
    reprint_current = request.GET.get("text") == "current" and current != given
    text = current if reprint_current else given
    return render(
        request,
        "treatments/postcare_sheet.html",
        {
            "patient": patient,
            "session": session,
            "body": text.body,
            "version": text.version,
            "newer_version": current.version if current != given else "",
            "given_version": given.version,
            "reprint_current": reprint_current,
            # The "not yet reviewed" note is the staff's, not the patient's (nurse review).
            "reviewed": text.reviewed,
            "patient_notice": EXOSOME_PATIENT_NOTICE
            if session.modality == Modality.EXOSOME
            else "",
        },
    )


@require_permission("postcare.manage")
@require_http_methods(["GET", "POST"])
def postcare_templates(request: ClinicRequest) -> HttpResponse:
    form = PostCareForm(request.POST or None, initial={"modality": request.GET.get("modality")})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.save_postcare_template(
                    request.clinic,
                    request.user,
                    form.cleaned_data["modality"],
                    form.cleaned_data["body"],
                )
            except services.SessionError as exc:
                for field, msgs in exc.errors.items():
                    for m in msgs:
                        form.add_error(field if field in form.fields else None, m)
            else:
                messages.success(request, "New version saved; sheets use it from now on.")
                return redirect("treatments:postcare")

    current = [(m, services.postcare_text(request.clinic, m.value)) for m in Modality]
    return render(
        request,
        "treatments/postcare_templates.html",
        {"form": form, "current": current, "exosome_notice": EXOSOME_PATIENT_NOTICE},
        status=status,
    )
