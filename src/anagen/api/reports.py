"""Reports: PDF documents (WeasyPrint) (API)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from anagen.api.auth import guard
from anagen.patients.selectors import get_patient, log_access
from anagen.reports import cohort, pdf
from anagen.reports.forms import CohortFilterForm
from anagen.reports.views import patient_report_pdf_bytes, pdf_response

router = Router(tags=["reports"])

PDF_RESPONSE = {
    "responses": {
        "200": {
            "description": "The report",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


@router.get(
    "/patients/{patient_id}/progress.pdf",
    summary="A patient's progress report (PDF; the access is logged)",
    auth=guard("report.patient"),
    openapi_extra=PDF_RESPONSE,
)
def patient_report(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    log_access(
        request.user,
        patient,
        channel="api",
        path=request.path,
        ip_address=request.META.get("REMOTE_ADDR"),
    )
    return pdf_response(
        patient_report_pdf_bytes(request, patient),
        f"progress-{patient.medical_record_number}-{timezone.localdate():%Y%m%d}.pdf",
    )


class CohortFilter(Schema):
    modality: str = Field("", max_length=20)
    diagnosis: str = Field("", max_length=20)
    stage: str = Field("", max_length=10)
    sex: str = Field("", max_length=10)
    age_band: str = Field("", max_length=10)
    product: str = Field("", max_length=200)
    lot: str = Field("", max_length=60)


@router.get(
    "/cohort.pdf",
    summary="Cohort report (PDF): mean change with 95% CI per visit, AE incidence",
    auth=guard("cohort.view"),
    openapi_extra=PDF_RESPONSE,
)
def cohort_report(request: HttpRequest, filters: Query[CohortFilter]) -> HttpResponse:
    form = CohortFilterForm(filters.dict(), clinic=request.clinic)
    if not form.is_valid():
        detail = "; ".join(f"{f}: {' '.join(m)}" for f, m in form.errors.items())
        raise HttpError(400, detail)
    summary = cohort.cohort_summary(request.clinic, form.cleaned_data)
    content = pdf.render_pdf(
        "reports/cohort.html",
        cohort.report_context(summary, request.clinic, generated_at=timezone.now()),
    )
    return pdf_response(content, f"cohort-report-{timezone.localdate():%Y%m%d}.pdf")
