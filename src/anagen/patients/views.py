from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from anagen.accounts.permissions import can, require_permission
from anagen.core.http import ClinicRequest, query_without_page
from anagen.core.text import database_id
from anagen.patients import selectors, services
from anagen.patients.forms import PatientForm, PatientSearchForm, RestoreForm, VoidForm
from anagen.patients.models import Patient


def _apply_errors(form, error: services.PatientError) -> None:
    for field, msgs in error.errors.items():
        target = field if field in form.fields else None
        for msg in msgs:
            form.add_error(target, msg)


def _add_service_problems(form: Any, clinic: Any, patient: Any = None) -> None:
    """A refused form also shows what the services would refuse in its accepted fields (a
    record number taken, a hidden character), so every problem is named in one round."""
    accepted = {f: v for f, v in form.cleaned_data.items() if f not in form.errors}
    if patient is not None:
        accepted = {f: v for f, v in accepted.items() if f in form.changed_data}
    for field, msgs in services.field_problems(clinic, accepted, patient).items():
        if field in form.fields and field not in form.errors:
            for msg in msgs:
                form.add_error(field, msg)


@require_permission("patient.view")
def patient_list(request: ClinicRequest) -> HttpResponse:
    search = PatientSearchForm(request.GET or None)
    query, include_voided = "", False
    if search.is_valid():
        query = search.cleaned_data["q"]
        include_voided = search.cleaned_data["include_voided"]
    # A search that could not be read lists nobody: listing every patient under the error
    # would look like the answer to it.
    refused = search.is_bound and not search.is_valid()
    patients = (
        Patient.objects.none()
        if refused
        else selectors.search_patients(request.clinic, query, include_voided=include_voided)
    )
    page = Paginator(patients, settings.ANAGEN_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "search": search, "page": page, "query": query,
        "filter_query": query_without_page(request),
    }  # fmt: skip
    if request.htmx and request.htmx.target == "patient-results":
        # 200 even when refused: htmx swaps in no 4xx answer, and the fragment says why.
        return render(request, "patients/_results.html", context)
    return render(request, "patients/list.html", context, status=400 if refused else 200)


@require_permission("patient.view")
def patient_detail(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    selectors.log_request_access(request, patient)
    context: dict[str, Any] = {"patient": patient}
    if can(request, "audit.view"):
        context["history"] = selectors.patient_history(patient)
        context.update(_access_log_context(request, patient))
    return render(request, "patients/detail.html", context)


ACCESS_LOG_PAGE = 50


def _id_param(request: ClinicRequest, name: str) -> int | None:
    """A positive database id from the query string, None if absent or unreadable."""
    return database_id(request.GET.get(name, ""))


def _access_log_context(request: ClinicRequest, patient: Patient) -> dict[str, Any]:
    """The record's access log as a privacy officer reads it: one person's reads
    (``access_user``), and older sittings page by page (``access_before``)."""
    user_id = _id_param(request, "access_user")
    sittings = selectors.access_log_for(
        patient,
        limit=ACCESS_LOG_PAGE + 1,  # one more than shown: are there older ones?
        user_id=user_id,
        before=_id_param(request, "access_before"),
    )
    older = None
    if len(sittings) > ACCESS_LOG_PAGE:
        sittings = sittings[:ACCESS_LOG_PAGE]
        older = QueryDict(mutable=True)
        if user_id is not None:
            older["access_user"] = str(user_id)
        older["access_before"] = str(sittings[-1].oldest_id)
    return {
        "access_log": sittings,
        "access_readers": selectors.access_log_readers(patient),
        "access_user": user_id,
        "access_paged": "access_before" in request.GET,
        "access_older": older.urlencode() if older is not None else "",
    }


@require_permission("patient.create")
@require_http_methods(["GET", "POST"])
def patient_create(request: ClinicRequest) -> HttpResponse:
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.create_patient(request.clinic, request.user, form.cleaned_data)
        except services.PatientError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Patient {patient.full_name} registered.")
            return redirect("patients:detail", patient_id=patient.pk)
    elif request.method == "POST":
        _add_service_problems(form, request.clinic)
    status = 400 if request.method == "POST" else 200
    return render(request, "patients/form.html", {"form": form, "creating": True}, status=status)


@require_permission("patient.edit")
@require_http_methods(["GET", "POST"])
def patient_edit(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    if patient.is_voided:
        messages.error(request, "This record is voided and cannot be edited.")
        return redirect("patients:detail", patient_id=patient.pk)
    form = PatientForm(
        request.POST or None, instance=selectors.get_patient(request.clinic, patient_id)
    )
    form.track_opened_values()  # a save changes only what this person changed
    if request.method == "POST" and form.is_valid() and not form.refuse_conflicts():
        changed = {f: form.cleaned_data[f] for f in form.changed_data}
        try:
            services.update_patient(patient, request.user, changed)
        except services.PatientError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Changes saved." if changed else "Nothing changed.")
            return redirect("patients:detail", patient_id=patient.pk)
    elif request.method == "POST":
        _add_service_problems(form, request.clinic, patient)
    status = 400 if request.method == "POST" else 200
    return render(request, "patients/form.html", {"form": form, "patient": patient}, status=status)


@require_permission("patient.void")
@require_http_methods(["GET", "POST"])
def patient_void(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    form = VoidForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.void_patient(patient, request.user, form.cleaned_data["reason"])
        except services.PatientError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Record voided. It stays in the history.")
            return redirect("patients:detail", patient_id=patient.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "patients/void.html", {"form": form, "patient": patient}, status=status)


@require_permission("patient.void")
@require_http_methods(["GET", "POST"])
def patient_restore(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    if not patient.is_voided:
        messages.error(request, "This record is not voided.")
        return redirect("patients:detail", patient_id=patient.pk)
    form = RestoreForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.restore_patient(patient, request.user, form.cleaned_data["reason"])
        except services.PatientError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(
                request, "Record restored. The void and its reason stay in the history."
            )
            return redirect("patients:detail", patient_id=patient.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "patients/restore.html", {"form": form, "patient": patient}, status=status
    )
