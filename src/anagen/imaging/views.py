"""Pages of the imaging app: analysis panel with overlay and summaries, the htmx correction
tool, a calibration form per photo, the clinic's calibration settings and the phototrichogram
(two-visit comparison) form and result. Thin: services
decide, selectors read; every object is looked up within the patient of the user's clinic."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from anagen.accounts.permissions import require_permission
from anagen.core.http import ClinicRequest
from anagen.imaging import selectors, services
from anagen.imaging.forms import CalibrationForm
from anagen.monitoring import selectors as monitoring_selectors
from anagen.patients.selectors import log_request_access


def _visit_url(analysis) -> str:
    url = reverse(
        "monitoring:visit_detail",
        kwargs={"patient_id": analysis.patient_id, "visit_id": analysis.photo.visit_id},
    )
    return f"{url}#analysis-{analysis.pk}"


# What each field of the correction and re-analyse forms is called on the page, so that an
# error says which box is wrong ("Diameter (µm): enter a number.").
FIELD_LABELS = {
    "hair_id": "Hair no.",
    "hair_ids": "Hair numbers",
    "n": "Split into",
    "diameter_um": "Diameter (µm)",
    "x1": "Base and tip (px)",
    "centreline_px": "Base and tip (px)",
    "op": "Correction",
    "um_per_px": "Image scale (µm per pixel)",
    "terminal_cutoff_um": "Terminal/vellus cut-off (µm)",
    "image_long_side_px": "Longer side of the calibrated images (px)",
    "calibration_note": "Note",
    "discard_corrections": "Discard corrections",
    "photo": "Photo",
    "analysis": "Analysis",
    "basis": "",
}


def error_lines(errors: dict[str, list[str]]) -> list[str]:
    """Each message prefixed with the label of the field it is about (none for ``__all__``)."""
    lines = []
    for field, msgs in errors.items():
        label = FIELD_LABELS.get(field, "" if field == "__all__" else field)
        for m in msgs:
            if label and m[:2].istitle():  # "Enter a number." -> "enter a number."
                m = m[0].lower() + m[1:]
            lines.append(f"{label}: {m}" if label else m)
    return lines


def _panel(
    request: ClinicRequest,
    analysis,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    form: str = "",
) -> HttpResponse:
    """The analysis panel; ``errors`` are shown in the form named ``form`` (a correction's op
    or "analyse"), or above the panel when no form is named."""
    analysis.refresh_from_db()
    shown = analysis.is_done if form in services.EDIT_OPS else form == "analyse" and (
        not analysis.is_pending or analysis.is_stalled
    )  # fmt: skip
    context = {
        "a": analysis,
        "patient": analysis.patient,
        "errors": errors or {},
        "error_lines": error_lines(errors or {}),
        "error_form": form if errors and shown else "",
        # The refused form comes back filled in, to correct rather than retype.
        "sent": request.POST if errors and shown else {},
    }
    if request.htmx:
        # htmx swaps only 2xx answers: field errors come back in the fragment with 200.
        html = render_to_string("imaging/_analysis.html", context, request=request)
        if "/visits/" in (request.htmx.current_url or ""):
            # On the visit page the measurement card above shows what the analysis filled.
            visit = analysis.photo.visit
            html += render_to_string(
                "monitoring/visit_detail.html#measurements",
                {
                    "measurement": monitoring_selectors.measurement_of(visit),
                    "measurements": [m for m in visit.measurements.all() if not m.is_voided],
                    "measurements_closed": monitoring_selectors.measurements_closed(visit),
                    "oob": True,
                },
                request=request,
            )
        return HttpResponse(html)
    return render(request, "imaging/analysis_detail.html", context, status=status)


@require_permission("visit.view")
def analysis_detail(request: ClinicRequest, patient_id: int, analysis_id: int) -> HttpResponse:
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    analysis = selectors.get_analysis(patient, analysis_id)
    if not request.htmx:
        log_request_access(request, patient)
    return _panel(request, analysis)


@require_permission("visit.view")
def overlay(request: ClinicRequest, patient_id: int, analysis_id: int) -> HttpResponse:
    """The overlay PNG (corrections applied; ``?auto=1`` for the automatic result)."""
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    analysis = selectors.get_analysis(patient, analysis_id)
    if not analysis.is_done:
        return HttpResponse("No result yet.", status=404, content_type="text/plain")
    try:
        png = services.overlay_png(analysis, corrected=request.GET.get("auto") != "1")
    except FileNotFoundError:
        return HttpResponse("The image file is missing.", status=404, content_type="text/plain")
    except (OSError, ValueError):
        # There but not an image any more (damaged on disk, replaced): "missing" sent whoever
        # looks for the file the wrong way.
        return HttpResponse(
            "The stored image file cannot be read as an image (damaged?): ask your "
            "administrator to restore it from the backup.",
            status=404,
            content_type="text/plain",
        )
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_permission("visit.record")
@require_http_methods(["POST"])
def correct(request: ClinicRequest, patient_id: int, analysis_id: int) -> HttpResponse:
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    analysis = selectors.get_analysis(patient, analysis_id)
    # The state the form was shown on: an edit on an older one (a re-analysis since, a
    # second press of the same button) is refused. Forms always send it.
    basis = str(request.POST.get("basis", "")).strip() or None
    try:
        if request.POST.get("op") == "undo":
            services.undo_edit(analysis, request.user, basis)
        else:
            services.add_edit(analysis, request.user, request.POST, basis)
    except services.StaleCorrection as exc:
        # Above the panel, with the forms empty: the numbers sent may name other hairs now.
        return _panel(request, analysis, exc.errors, status=409)
    except services.ImagingError as exc:
        op = str(request.POST.get("op", ""))
        return _panel(request, analysis, exc.errors, status=400, form=op)
    if request.htmx:
        return _panel(request, analysis)
    undone = request.POST.get("op") == "undo"
    messages.success(
        request,
        ("Last correction undone" if undone else "Correction saved")
        + "; the automatic result is kept unchanged.",
    )
    return redirect(_visit_url(analysis))


@require_permission("visit.record")
@require_http_methods(["POST"])
def record_measurement(request: ClinicRequest, patient_id: int, analysis_id: int) -> HttpResponse:
    """Make this finished analysis the visit's image-analysis measurement: a result held back
    for a person's confirmation (flagged image, no hairs), or one taking the place of a
    voided measurement."""
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    analysis = selectors.get_analysis(patient, analysis_id)
    basis = str(request.POST.get("basis", "")).strip() or None  # the result reviewed
    try:
        services.record_as_visit_measurement(analysis, request.user, basis)
    except services.ImagingError as exc:
        if request.htmx:
            return _panel(request, analysis, exc.errors)
        messages.error(request, " ".join(error_lines(exc.errors)))  # labels, not field names
        return redirect(_visit_url(analysis))
    if request.htmx:
        return _panel(request, analysis)
    messages.success(request, "Recorded as the visit's image-analysis measurement.")
    return redirect(_visit_url(analysis))


@require_permission("visit.record")
@require_http_methods(["POST"])
def analyse(request: ClinicRequest, patient_id: int, photo_id: int) -> HttpResponse:
    """(Re)analyse one trichoscopy photo, with the µm/px entered here or the clinic's."""
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    photo = selectors.get_trichoscopy_photo(patient, photo_id)
    try:
        analysis = services.request_analysis(
            photo, request.user, request.POST.get("um_per_px"),
            discard_corrections=request.POST.get("discard_corrections") == "1",
            basis=str(request.POST.get("basis", "")).strip() or None,
        )  # fmt: skip
    except services.ImagingError as exc:
        existing = getattr(photo, "analysis", None)
        if existing is not None:
            stale = isinstance(exc, services.StaleCorrection)  # above the refreshed panel
            return _panel(
                request, existing, exc.errors, status=409 if stale else 400,
                form="" if stale else "analyse",
            )  # fmt: skip
        messages.error(request, " ".join(error_lines(exc.errors)))  # labels, not field names
        return redirect("monitoring:visit_detail", patient_id=patient.pk, visit_id=photo.visit_id)
    if request.htmx:
        return _panel(request, analysis)
    messages.success(request, "Analysis requested.")
    return redirect(_visit_url(analysis))


@require_permission("monitoring.settings")
@require_http_methods(["GET", "POST"])
def settings_view(request: ClinicRequest) -> HttpResponse:
    stored = CalibrationForm.stored_values(services.settings_for(request.clinic))
    form = CalibrationForm(request.POST or None, initial=stored)
    form.track_opened_values()  # a save changes only what this person changed
    if request.method == "POST" and form.is_valid() and not form.refuse_conflicts():
        # The fields this person left as they were keep the stored values (which another
        # administrator may have changed since the page was opened).
        data = {**stored, **{f: form.cleaned_data[f] for f in form.changed_data}}
        try:
            _, queued = services.save_calibration(request.clinic, request.user, data)
        except services.ImagingError as exc:
            for field, problems in exc.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            waiting = (
                f" {queued} photo{'s' if queued != 1 else ''} that waited for it "
                f"{'are' if queued != 1 else 'is'} being analysed."
                if queued
                else ""
            )
            saved = "Imaging calibration saved." if form.changed_data else "Nothing changed."
            messages.success(request, saved + waiting)
            return redirect("imaging:settings")
    return render(
        request,
        "imaging/settings.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_permission("visit.view")
def comparison_detail(request: ClinicRequest, patient_id: int, comparison_id: int) -> HttpResponse:
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    c = selectors.get_comparison(patient, comparison_id)
    context = {"c": c, "patient": patient}
    if request.htmx:
        return render(request, "imaging/_comparison.html", context)
    log_request_access(request, patient)
    return render(request, "imaging/comparison_detail.html", context)


@require_permission("visit.record")
@require_http_methods(["GET", "POST"])
def compare(request: ClinicRequest, patient_id: int, photo_id: int) -> HttpResponse:
    """Phototrichogram: compare this (later) trichoscopy photo with an earlier one."""
    patient = monitoring_selectors.get_patient(request.clinic, patient_id)
    photo = selectors.get_trichoscopy_photo(patient, photo_id)
    errors: dict = {}
    selected = None
    if request.method == "POST":
        raw = str(request.POST.get("before_photo", "")).strip()
        try:
            selected = int(raw)
            before = selectors.get_trichoscopy_photo(patient, selected)
        except (ValueError, Http404):
            errors = {"before_photo": ["Choose an earlier trichoscopy photo of this patient."]}
        else:
            try:
                c = services.request_comparison(before, photo, request.user)
            except services.ImagingError as exc:
                errors = exc.errors
            else:
                messages.success(request, "Phototrichogram requested.")
                url = reverse(
                    "monitoring:visit_detail",
                    kwargs={"patient_id": patient.pk, "visit_id": photo.visit_id},
                )
                return redirect(f"{url}#comparison-{c.pk}")
    else:
        log_request_access(request, patient)
    context = {
        "patient": patient,
        "photo": photo,
        "closed": selectors.comparison_closed(photo),
        "errors": errors,
        "selected": selected,
        "candidates": selectors.earlier_photos_for(photo),
        "comparisons": selectors.comparisons_of_photo(photo),
    }
    return render(request, "imaging/compare.html", context, status=400 if errors else 200)
