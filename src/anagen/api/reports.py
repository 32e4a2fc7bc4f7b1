"""Reports: PDF documents (WeasyPrint) (API)."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from ninja import Query, Router

from anagen.api.auth import guard
from anagen.api.outcomes import CohortQuery, valid_cohort_form
from anagen.core.http import ClinicRequest
from anagen.patients.selectors import file_label, get_patient, log_request_access
from anagen.reports import cohort, pdf
from anagen.reports.views import patient_report_pdf_bytes, pdf_response

router = Router(tags=["reports"])

PDF_RESPONSE = {
    "responses": {
        200: {
            "description": "The report",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


@router.get(
    "/patients/{int:patient_id}/progress.pdf",
    summary="A patient's progress report (PDF; the access is logged)",
    auth=guard("report.patient"),
    openapi_extra=PDF_RESPONSE,
)
def patient_report(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    log_request_access(request, patient, channel="api")
    return pdf_response(
        patient_report_pdf_bytes(request, patient),
        f"progress-{file_label(patient)}-{timezone.localdate():%Y%m%d}.pdf",
    )


@router.get(
    "/cohort.pdf",
    summary="Cohort report (PDF, de-identified): mean change with 95% CI per visit, "
    "responders, ANCOVA, MMRM, AE incidence",
    auth=guard("cohort.view"),
    openapi_extra=PDF_RESPONSE,
)
def cohort_report(request: ClinicRequest, filters: Query[CohortQuery]) -> HttpResponse:
    form = valid_cohort_form(request.clinic, filters.dict())
    context = cohort.report_context(request.clinic, form, generated_at=timezone.now())
    content = pdf.render_pdf("reports/cohort.html", context)
    return pdf_response(content, f"cohort-report-{timezone.localdate():%Y%m%d}.pdf")
