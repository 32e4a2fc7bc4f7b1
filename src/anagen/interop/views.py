"""FHIR export/import and de-identified exports. Thin: the interop modules do the work."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods

from anagen.accounts.permissions import require_permission
from anagen.core.http import ClinicRequest, client_ip
from anagen.interop import analysis, fhir_export, fhir_import, selectors, services
from anagen.interop.forms import FhirImportForm
from anagen.interop.models import DataExport
from anagen.patients.selectors import file_label, get_patient, log_request_access

FHIR_JSON = "application/fhir+json"


@require_permission("fhir.export")
@require_GET
def fhir_bundle(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    log_request_access(request, patient)
    body = fhir_export.patient_bundle_json(patient, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(body, content_type=FHIR_JSON)
    response["Content-Disposition"] = (
        content_disposition_header(True, f"fhir-{file_label(patient)}.json") or ""
    )
    response["Cache-Control"] = "no-store, private"
    return response


# The FHIR element an import error is about, in the words of the registration form.
ELEMENT_WORDS = {
    "identifier": "Medical record number",
    "name": "Name",
    "birthDate": "Date of birth",
    "gender": "Sex",
    "telecom": "Phone or e-mail",
    "address": "Address",
    "active": "Record status",
    "deceased": "Deceased",
    "bundle": "Bundle",
    "resourceType": "Resource type",
}


def _apply(form: FhirImportForm, exc: fhir_import.ImportRefused) -> None:
    for name, msgs in exc.errors.items():
        target = name if name in form.fields else None
        for msg in msgs:
            if target or name == "__all__":
                form.add_error(target, msg)
            else:
                form.add_error(None, f"{ELEMENT_WORDS.get(name, name)}: {msg}")


@require_permission("fhir.import")
@require_http_methods(["GET", "POST"])
def fhir_import_view(request: ClinicRequest) -> HttpResponse:
    bound = request.method == "POST"
    form = FhirImportForm(request.POST if bound else None, request.FILES if bound else None)
    if request.method == "POST" and form.is_valid():
        try:
            result = fhir_import.import_patient_bundle(
                request.clinic, request.user, form.raw(),
                confirm_not_duplicate=form.cleaned_data["confirm_not_duplicate"],
            )  # fmt: skip
        except fhir_import.ImportRefused as exc:
            _apply(form, exc)
        else:
            note = ""
            if result.skipped:
                kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.skipped.items()))
                note = f" Not imported (patient only): {kinds}."
            messages.success(request, f"Imported {result.patient.full_name}.{note}")
            return redirect("patients:detail", patient_id=result.patient.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "interop/import.html", {"form": form}, status=status)


@require_permission("export.deidentified")
@require_GET
def export_page(request: ClinicRequest) -> HttpResponse:
    rows = analysis.analysis_rows(request.clinic)
    return render(
        request,
        "interop/export.html",
        {
            "n_rows": len(rows),
            "n_patients": len({r["pseudo_id"] for r in rows}),
            "columns": analysis.COLUMNS,
        },
    )


def _recorded(request: ClinicRequest, table: str) -> list[dict]:
    """The clinic's de-identified rows, their download recorded (who, when, from where)."""
    rows = analysis.analysis_rows(request.clinic)
    services.record_export(
        request.clinic, request.user, table, rows, channel="web", ip_address=client_ip(request)
    )
    return rows


@require_permission("audit.view")
@require_GET
def export_log(request: ClinicRequest) -> HttpResponse:
    """Who downloaded the clinic's de-identified table, when, how and from where."""
    return render(
        request, "interop/export_log.html", {"exports": selectors.exports_of(request.clinic)}
    )


def _filename(ext: str) -> str:
    return f"anagen-analysis-{timezone.localdate():%Y%m%d}.{ext}"


@require_permission("export.deidentified")
@require_GET
def export_csv(request: ClinicRequest) -> HttpResponse:
    rows = _recorded(request, DataExport.Table.DEIDENTIFIED_CSV)
    body = analysis.to_csv(rows)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    response["Cache-Control"] = "no-store, private"
    return response


@require_permission("export.deidentified")
@require_GET
def export_parquet(request: ClinicRequest) -> HttpResponse:
    rows = _recorded(request, DataExport.Table.DEIDENTIFIED_PARQUET)
    body = analysis.to_parquet(rows)
    response = HttpResponse(body, content_type="application/vnd.apache.parquet")
    response["Content-Disposition"] = f'attachment; filename="{_filename("parquet")}"'
    response["Cache-Control"] = "no-store, private"
    return response
