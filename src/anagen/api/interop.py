"""Interop: FHIR R5 export/import, de-identified CSV/Parquet (API)."""

from __future__ import annotations

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError

from anagen.api.auth import guard
from anagen.core.http import ClinicRequest, client_ip
from anagen.interop import analysis, fhir_export, fhir_import, services
from anagen.interop.models import DataExport
from anagen.patients.selectors import get_patient, log_request_access

router = Router(tags=["interop"])

FHIR_JSON = "application/fhir+json"
# FHIR's `_format` parameter (R5 http.html#mime-type): the JSON names it allows. A "+" sent
# unencoded in a query string arrives as a space.
FHIR_JSON_FORMATS = {"json", "application/json", FHIR_JSON}


@router.get(
    "/patients/{int:patient_id}/fhir",
    summary="A patient's record as a FHIR R5 Bundle (collection; the access is logged)",
    auth=guard("fhir.export"),
    openapi_extra={
        "responses": {
            200: {
                "description": "FHIR R5 Bundle",
                "content": {FHIR_JSON: {"schema": {"type": "object"}}},
            },
            406: {
                "description": "A `_format` other than JSON (the export is JSON only)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        }
    },
)
def fhir_bundle(
    request: ClinicRequest,
    patient_id: int,
    format_: str | None = Query(
        None, alias="_format", description="FHIR's _format: json (the only one served)"
    ),
) -> HttpResponse:
    if format_ is not None and format_.strip().replace(" ", "+") not in FHIR_JSON_FORMATS:
        raise HttpError(
            406,
            f"_format {format_!r} is not served: the FHIR export is JSON only (_format=json "
            "or application/fhir+json).",
        )
    patient = get_patient(request.clinic, patient_id)
    log_request_access(request, patient, channel="api")
    body = fhir_export.patient_bundle_json(patient, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(body, content_type=FHIR_JSON)
    response["Cache-Control"] = "no-store, private"
    return response


class ImportedOut(Schema):
    id: int
    medical_record_number: str
    given_name: str
    family_name: str
    skipped: dict[str, int]


@router.post(
    "/fhir/import",
    response={201: ImportedOut},
    summary="Register a patient from a FHIR R5 Bundle with one Patient resource",
    auth=guard("fhir.import"),
    openapi_extra={
        "requestBody": {
            "required": True,
            # The API takes JSON bodies as application/json only (api/middleware.py).
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def fhir_import_bundle(request: ClinicRequest, confirm_not_duplicate: bool = False):
    """``confirm_not_duplicate=true`` registers a person although a patient with the same
    name and date of birth is registered (refused with 400 naming the record otherwise)."""
    try:
        result = fhir_import.import_patient_bundle(
            request.clinic, request.user, request.body, confirm_not_duplicate=confirm_not_duplicate
        )
    except fhir_import.ImportRefused as exc:
        raise HttpError(400, str(exc)) from None
    p = result.patient
    return Status(
        201,
        {
            "id": p.pk,
            "medical_record_number": p.medical_record_number,
            "given_name": p.given_name,
            "family_name": p.family_name,
            "skipped": result.skipped,
        },
    )


def _recorded(request: ClinicRequest, table: str) -> list[dict]:
    """The clinic's de-identified rows, their download recorded (interop.models.DataExport)."""
    rows = analysis.analysis_rows(request.clinic)
    services.record_export(
        request.clinic, request.user, table, rows, channel="api", ip_address=client_ip(request)
    )
    return rows


def _file(body: bytes | str, content_type: str, ext: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="anagen-analysis.{ext}"'
    response["Cache-Control"] = "no-store, private"
    return response


@router.get(
    "/deidentified.csv",
    summary="De-identified analysis table (one row per patient-visit), CSV",
    auth=guard("export.deidentified"),
    openapi_extra={
        "responses": {
            200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}
        }
    },
)
def deidentified_csv(request: ClinicRequest) -> HttpResponse:
    rows = _recorded(request, DataExport.Table.DEIDENTIFIED_CSV)
    return _file(analysis.to_csv(rows), "text/csv; charset=utf-8", "csv")


@router.get(
    "/deidentified.parquet",
    summary="De-identified analysis table (one row per patient-visit), Parquet",
    auth=guard("export.deidentified"),
    openapi_extra={
        "responses": {
            200: {
                "description": "Apache Parquet",
                "content": {
                    "application/vnd.apache.parquet": {
                        "schema": {"type": "string", "format": "binary"}
                    }
                },
            }
        }
    },
)
def deidentified_parquet(request: ClinicRequest) -> HttpResponse:
    rows = _recorded(request, DataExport.Table.DEIDENTIFIED_PARQUET)
    return _file(analysis.to_parquet(rows), "application/vnd.apache.parquet", "parquet")
