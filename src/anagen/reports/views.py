"""Report downloads (PDF). Thin: selectors gather, templates lay out, WeasyPrint renders."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from anagen.accounts.permissions import can, require_permission
from anagen.core.http import ClinicRequest
from anagen.patients.selectors import file_label, get_patient, log_request_access
from anagen.reports import cohort, pdf, selectors


def pdf_response(content: bytes, filename: str, *, inline: bool = False) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(not inline, filename) or ""
    response["Cache-Control"] = "no-store, private"
    return response


def patient_report_pdf_bytes(request: ClinicRequest, patient) -> bytes:
    report = selectors.patient_report(
        patient,
        generated_at=timezone.now(),
        generated_by=request.user.get_full_name() or request.user.get_username(),
    )
    return pdf.render_pdf("reports/patient_progress.html", selectors.report_context(report))


@require_permission("report.patient")
@require_GET
def patient_report(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    log_request_access(request, patient)
    content = patient_report_pdf_bytes(request, patient)
    return pdf_response(
        content,
        f"progress-{file_label(patient)}-{timezone.localdate():%Y%m%d}.pdf",
        inline=request.GET.get("inline") == "1",
    )


@require_permission("cohort.view")
@require_GET
def index(request: ClinicRequest) -> HttpResponse:
    """Reports page: the cohort report with the outcomes page's filters, and the other reports."""
    form = cohort.filter_form(request.clinic, request.GET)
    return render(
        request,
        "reports/index.html",
        {"form": form, "can_recall": can(request, "recall.manage")},
    )


@require_permission("cohort.view")
@require_GET
def cohort_report(request: ClinicRequest) -> HttpResponse:
    """Always de-identified (researchers may download it): aggregates only, no listing."""
    form = cohort.filter_form(request.clinic, request.GET)
    if form.is_bound and not form.is_valid():
        return render(
            request,
            "reports/index.html",
            {"form": form, "can_recall": can(request, "recall.manage")},
            status=400,
        )
    context = cohort.report_context(request.clinic, form, generated_at=timezone.now())
    content = pdf.render_pdf("reports/cohort.html", context)
    return pdf_response(content, f"cohort-report-{timezone.localdate():%Y%m%d}.pdf")
