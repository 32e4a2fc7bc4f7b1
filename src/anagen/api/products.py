"""Products, lots, CoAs, release, cold chain, trace and recall under /api/v1/products.

Bodies of object endpoints have defaults where a form would: the object is looked up
first (another clinic's object is 404 whatever the body), then the service names the
field that is wrong (400 "field: message").
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from ninja import Field, File, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile
from ninja.pagination import paginate

from anagen.api.auth import guard
from anagen.api.pagination import BoundedPagination
from anagen.api.schemas import InputSchema
from anagen.core.http import ClinicRequest
from anagen.core.text import MAX_DB_ID
from anagen.patients import selectors as patient_selectors
from anagen.products import selectors, services
from anagen.products.models import PRODUCT_NOTICE, CoaSource, Lot, LotStatus, Product

router = Router(tags=["products"])


# --- schemas -------------------------------------------------------------------------------------


class ProductIn(InputSchema):
    manufacturer: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    source_tissue: str = Field(
        description="umbilical_cord, whartons_jelly, adipose, bone_marrow, placenta, other"
    )
    donor_type: str = Field(
        description="allogeneic_single, allogeneic_pooled, autologous, not_stated"
    )
    form: str = Field(description="frozen_liquid or lyophilised")
    labelled_particles_per_vial: float
    volume_ml: Decimal
    storage_min_temperature_c: Decimal
    storage_max_temperature_c: Decimal
    storage_requirement: str = Field(min_length=1, max_length=200)
    regulatory_status: dict[str, str] = Field(default_factory=dict)
    components: list[str] = Field(
        default_factory=list,
        description="Excipients as the label lists them; a session with the product is "
        "refused for a patient with a recorded allergy to one",
    )


class ProductOut(Schema):
    id: int
    manufacturer: str
    name: str
    source_tissue: str
    donor_type: str
    form: str
    labelled_particles_per_vial: float
    volume_ml: Decimal
    storage_min_temperature_c: Decimal
    storage_max_temperature_c: Decimal
    storage_requirement: str
    regulatory_status: dict[str, str]
    components: list[str]
    investigational_notice: str
    is_active: bool

    @staticmethod
    def resolve_investigational_notice(obj: Product) -> str:
        return PRODUCT_NOTICE


class LotIn(InputSchema):
    product_id: int
    lot_number: str = Field(min_length=1, max_length=60)
    expiry_date: date
    quantity_received: int = Field(ge=1, le=100_000)
    storage_location_id: int | None = None
    supplier_notes: str = Field("", max_length=5000)


class StockOut(Schema):
    received: int
    drawn: int
    wasted: int
    on_hand: int


class LotOut(Schema):
    id: int
    product_id: int
    product_name: str
    lot_number: str
    expiry_date: date
    status: str
    blocked: bool
    block_reason: str
    quantity_received: int
    quantity_on_hand: int
    storage_location: str | None
    received_at: datetime
    regulatory_status: dict[str, str]
    investigational_notice: str

    @staticmethod
    def resolve_product_name(obj: Lot) -> str:
        return obj.product.name

    @staticmethod
    def resolve_storage_location(obj: Lot) -> str | None:
        return obj.storage_location.name if obj.storage_location else None

    @staticmethod
    def resolve_regulatory_status(obj: Lot) -> dict[str, str]:
        return obj.product.regulatory_status

    @staticmethod
    def resolve_investigational_notice(obj: Lot) -> str:
        return PRODUCT_NOTICE


class CriterionOut(Schema):
    field: str
    label: str
    status: str = Field(description="PASS, FAIL or MISSING")
    measured: float | str | None
    limit: str
    unit: str | None
    required: bool
    note: str


class ReportOut(Schema):
    spec_version: str
    releasable: bool
    results: list[CriterionOut]


class CoaIn(InputSchema):
    testing_laboratory: str = Field("", max_length=200)
    certificate_lot_number: str = Field(
        "",
        max_length=60,
        description="The lot number the certificate states; required, and it must be this "
        "lot's number (compared in any case, ignoring spaces and hyphens)",
    )
    third_party_laboratory: bool = False
    cgmp_statement: str = Field("", max_length=300)
    nta_method: str = Field("NTA", max_length=120)
    results: dict[str, Any] = Field(
        default_factory=dict,
        description="CoA results by field name (docs/products.md); a bare number is in the "
        'unit of the field name, or give {"value": x, "unit": "..."}',
    )


class CoaOut(Schema):
    testing_laboratory: str
    certificate_lot_number: str = Field(
        description='The lot number the certificate states; "" on a CoA stored before it was '
        "recorded: the lot is then not released (nor by override) until the CoA is entered "
        "again with it"
    )
    third_party_laboratory: bool
    cgmp_statement: str
    nta_method: str
    results: dict[str, Any]
    derived_fields: list[str] = Field(
        description="Results derived by the service (labelled amount from the product label, "
        "purity from concentration ÷ protein), not entered; leave them out of a replacement "
        "CoA so that they are derived again"
    )
    has_pdf: bool
    source: str
    entered_at: datetime

    @staticmethod
    def resolve_has_pdf(obj: Any) -> bool:
        return bool(obj.pdf)


class LotDetailOut(Schema):
    lot: LotOut
    stock: StockOut
    coa: CoaOut | None
    report: ReportOut | None
    report_error: str | None = Field(
        None, description="why the CoA cannot be checked against the spec (report is null)"
    )
    usable_today: bool
    problems_today: list[str]
    pending_override: str | None


class LotRejectedOut(LotDetailOut):
    patients_given: int = Field(
        description="patients who already received vials of the lot (draws not returned "
        "unused). Rejecting contacts nobody and the dashboard's recalls do not list the lot: "
        "where this is above 0, trace the lot and recall it if they must be contacted"
    )
    message: str = Field(
        description="what the lot page says: 'Lot rejected.', followed where vials were "
        "given by 'N patients have already received vials of it: trace the lot and recall "
        "it if they must be contacted.'"
    )


class ExcursionDecidedOut(LotDetailOut):
    patients_given: int | None = Field(
        None,
        description="where the decision rejected the lot: patients who already received "
        "vials of it, as for POST .../reject; null when the lot was accepted",
    )
    message: str = Field(description="what the lot page says after the decision")


class LotReasonIn(InputSchema):
    reason: str = Field("", max_length=2000)


class LotCorrectionIn(InputSchema):
    lot_number: str | None = Field(None, min_length=1, max_length=60)
    expiry_date: date | None = None
    quantity_received: int | None = Field(None, ge=1, le=100_000)
    supplier_notes: str | None = Field(None, max_length=5000)
    product_id: int | None = Field(
        None, ge=1, le=MAX_DB_ID,
        description="the right product, while no vial of the lot was given to a patient",
    )  # fmt: skip
    storage_location_id: int | None = Field(
        None, ge=1, le=MAX_DB_ID,
        description="the right storage location, while no vial was given to a patient",
    )  # fmt: skip
    reason: str = Field(
        "", max_length=2000, description="why (at least 10 characters); kept in the history"
    )


class LotCorrectedOut(LotDetailOut):
    changes: list[str] = Field(
        description="what changed, old → new ('expiry date 2027-01-31 → 2027-03-31'); "
        "empty when nothing did"
    )
    warnings: list[str] = Field(
        description="patients who received vials after a corrected, earlier expiry"
    )


class ExcursionDecisionIn(InputSchema):
    decision: str = Field("", description="accept or reject")
    reason: str = Field("", max_length=2000)


class WasteIn(InputSchema):
    quantity: int | None = None
    reason: str = Field("", max_length=300)


class DrawOut(Schema):
    id: int
    lot_id: int
    lot_number: str
    patient_id: int
    medical_record_number: str
    quantity: int
    dose_volume_ml: Decimal | None
    drawn_on: date
    session_ref: str
    returned_at: datetime | None = Field(
        description="When the vials went back to stock unused (their session voided as "
        "entered in error); such a draw is not the patient's exposure"
    )
    return_reason: str

    @staticmethod
    def resolve_lot_number(obj: Any) -> str:
        return obj.lot.lot_number

    @staticmethod
    def resolve_medical_record_number(obj: Any) -> str:
        return obj.patient.medical_record_number


class AffectedPatientOut(Schema):
    patient_id: int
    medical_record_number: str
    given_name: str
    family_name: str
    phone: str
    email: str
    dates: list[date]
    vials: int
    dose_ml: Decimal | None = Field(description="mL given from this lot; null if not recorded")


class TraceAdverseEventOut(Schema):
    id: int
    patient_id: int
    onset_date: date
    term_name: str
    ctcae_version: str
    grade: int
    serious: bool
    relatedness: str
    product_lot_number: str


class TraceOut(Schema):
    lot: LotOut
    recalled: bool
    patients: list[AffectedPatientOut]
    draws: list[DrawOut]
    adverse_events: str
    adverse_event_list: list[TraceAdverseEventOut]


class LocationIn(InputSchema):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=300)
    set_min_temperature_c: Decimal | None = Field(
        None, description="The range the location holds (both or neither), e.g. 2.0"
    )
    set_max_temperature_c: Decimal | None = Field(None, description="e.g. 8.0")


class LocationOut(Schema):
    id: int
    name: str
    description: str
    set_min_temperature_c: Decimal | None
    set_max_temperature_c: Decimal | None
    is_active: bool


class ReadingIn(InputSchema):
    recorded_at: datetime | None = Field(None, description="ISO 8601 with a UTC offset")
    temperature_c: Decimal | None = None


class ReadingOut(Schema):
    id: int
    recorded_at: datetime
    temperature_c: Decimal
    source: str
    voided_at: datetime | None = Field(
        None, description="Set when the reading was voided as entered in error"
    )
    void_reason: str = ""


class ReadingResultOut(Schema):
    reading: ReadingOut
    excursions_flagged: list[str]


class ReadingVoidOut(Schema):
    reading: ReadingOut
    excursions_withdrawn: list[str] = Field(description="Lot numbers whose excursion it withdrew")
    lots_unblocked: list[str]
    excursions_reopened: list[str] = Field(
        description="Lot numbers whose accepted excursion grew without the reading"
    )
    message: str


class SpecIn(InputSchema):
    yaml: str = Field(min_length=1, max_length=200_000)


class CriterionSpecOut(Schema):
    field: str
    label: str
    limit: str
    required: bool
    source: str


class SpecOut(Schema):
    id: int
    version: str
    name: str
    criteria: list[CriterionSpecOut]


class LotFilter(Schema):
    state: str = Field(
        "",
        description="quarantined, released, rejected, recalled, blocked (lots in use: a "
        "recalled lot is listed as recalled), expiring, expired, expired_on_hand (in use, "
        "with vials left), rejected_on_hand (rejected, with vials left to destroy or return)",
    )
    product_id: int | None = Field(None, ge=1, le=MAX_DB_ID)
    q: str = Field("", max_length=100)


class UsableFilter(Schema):
    on_date: date | None = None
    product_id: int | None = Field(None, ge=1, le=MAX_DB_ID)


class ImportOut(Schema):
    imported: int
    lot_ids: list[int]


# --- helpers ------------------------------------------------------------------------------------


def _lot(request: ClinicRequest, lot_id: int) -> Lot:
    return selectors.get_lot(request.clinic, lot_id)


def _report(lot: Lot) -> dict | None:
    try:
        report = services.release_report(lot)
    except services.release.ReleaseInputError as exc:
        raise HttpError(409, str(exc)) from exc
    if report is None:
        return None
    return {
        "spec_version": report.spec_version,
        "releasable": report.releasable,
        "results": services.report_as_rows(report),
    }


def _report_or_error(lot: Lot) -> dict:
    """A lot's detail still answers when its CoA cannot be checked: the report is null and
    report_error says why (GET .../report answers 409)."""
    try:
        return {"report": _report(lot), "report_error": None}
    except HttpError as exc:
        return {"report": None, "report_error": str(exc)}


def _detail(lot: Lot) -> dict:
    lot.refresh_from_db()
    problems = services.usability_problems(lot, timezone.localdate())
    override = selectors.pending_override(lot)
    stock = selectors.stock_of(lot)
    return {
        "lot": lot,
        "stock": stock.__dict__,
        "coa": getattr(lot, "coa", None),
        **_report_or_error(lot),
        "usable_today": not problems,
        "problems_today": problems,
        "pending_override": (
            f"requested by {override.requested_by}: {override.reason}" if override else None
        ),
    }


# --- products -------------------------------------------------------------------------------------


@router.get("/products", response=list[ProductOut], auth=guard("product.view"))
@paginate(BoundedPagination)
def list_products(request: ClinicRequest):
    return selectors.products_of(request.clinic)


@router.post("/products", response={201: ProductOut}, auth=guard("product.manage"))
def create_product(request: ClinicRequest, payload: ProductIn):
    return Status(201, services.create_product(request.clinic, request.user, payload.dict()))


@router.get("/products/{int:product_id}", response=ProductOut, auth=guard("product.view"))
def get_product(request: ClinicRequest, product_id: int) -> Product:
    return selectors.get_product(request.clinic, product_id)


# --- lots ---------------------------------------------------------------------------------------


@router.get("/lots", response=list[LotOut], summary="List lots", auth=guard("product.view"))
@paginate(BoundedPagination)
def list_lots(request: ClinicRequest, filters: Query[LotFilter]):
    if filters.state and filters.state not in selectors.LOT_FILTERS:
        raise HttpError(
            400, f"state: {filters.state!r} is not one of {', '.join(selectors.LOT_FILTERS)}"
        )
    days = services.settings_for(request.clinic).expiry_warning_days
    return selectors.filter_lots(
        request.clinic,
        state=filters.state,
        product_id=filters.product_id,
        q=filters.q,
        today=timezone.localdate(),
        warning_days=days,
    )


@router.get(
    "/lots/usable",
    response=list[LotOut],
    summary="Lots vials may be drawn from (released, unexpired, unblocked, in stock)",
    auth=guard("product.view"),
)
def usable_lots(request: ClinicRequest, filters: Query[UsableFilter]):
    product = (
        selectors.get_product(request.clinic, filters.product_id) if filters.product_id else None
    )
    return list(
        selectors.usable_lots(request.clinic, filters.on_date or timezone.localdate(), product)
    )


@router.post(
    "/lots",
    response={201: LotDetailOut},
    summary="Receive a lot (quarantined)",
    auth=guard("lot.receive"),
)
def receive_lot(request: ClinicRequest, payload: LotIn):
    clinic = request.clinic
    product = selectors.products_of(clinic).filter(pk=payload.product_id).first()
    if product is None:
        raise HttpError(400, "product_id: no such product in this clinic")
    location = None
    if payload.storage_location_id is not None:
        location = selectors.locations_of(clinic).filter(pk=payload.storage_location_id).first()
        if location is None:
            raise HttpError(400, "storage_location_id: no such storage location in this clinic")
    lot = services.receive_lot(
        clinic,
        request.user,
        product=product,
        lot_number=payload.lot_number,
        expiry_date=payload.expiry_date,
        quantity_received=payload.quantity_received,
        storage_location=location,
        supplier_notes=payload.supplier_notes,
    )
    return Status(201, _detail(lot))


@router.post(
    "/lots/import",
    response={201: ImportOut},
    summary='Import lots with CoAs: the JSON format {"lots": [...]}, all or nothing',
    auth=guard("lot.receive"),
    # The body is read whole by the importer (as a file would be), so ninja cannot see it:
    # described here, or the document offered a body-less operation.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["lots"],
                        "properties": {
                            "lots": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 1000,
                                "items": {"type": "object"},
                                "description": "Each lot with its optional CoA "
                                "(docs/products.md, Lot fields and CoA fields)",
                            }
                        },
                    }
                }
            },
        }
    },
)
def import_lots(request: ClinicRequest):
    lots = services.import_lots(
        request.clinic, request.user, "api.json", request.body, source=CoaSource.API
    )
    return Status(201, {"imported": len(lots), "lot_ids": [lot.pk for lot in lots]})


@router.get("/lots/{int:lot_id}", response=LotDetailOut, auth=guard("product.view"))
def get_lot(request: ClinicRequest, lot_id: int):
    return _detail(_lot(request, lot_id))


@router.post(
    "/lots/{int:lot_id}/correct",
    response=LotCorrectedOut,
    summary="Correct a lot's receipt details (lot number, expiry, vials received, notes, "
    "product, storage location)",
    auth=guard("lot.receive"),
)
def correct_lot(request: ClinicRequest, lot_id: int, payload: LotCorrectionIn):
    lot = _lot(request, lot_id)
    values = payload.dict(exclude_none=True)
    reason = values.pop("reason", "")
    if "product_id" in values:
        values["product"] = (
            selectors.products_of(request.clinic).filter(pk=values.pop("product_id")).first()
        )
        if values["product"] is None:
            raise HttpError(400, "product_id: no such product in this clinic")
    if "storage_location_id" in values:
        values["storage_location"] = (
            selectors.locations_of(request.clinic)
            .filter(pk=values.pop("storage_location_id"))
            .first()
        )
        if values["storage_location"] is None:
            raise HttpError(400, "storage_location_id: no such storage location in this clinic")
    done = services.correct_lot(lot, request.user, reason=reason, **values)
    lot.refresh_from_db()
    return {**_detail(lot), "changes": done.changes, "warnings": done.warnings}


@router.put(
    "/lots/{int:lot_id}/coa",
    response=LotDetailOut,
    summary="Enter or replace the CoA (while quarantined); checked at once",
    auth=guard("lot.receive"),
)
def put_coa(request: ClinicRequest, lot_id: int, payload: CoaIn):
    lot = _lot(request, lot_id)
    services.record_coa(lot, request.user, source=CoaSource.API, **payload.dict())
    return _detail(lot)


@router.post(
    "/lots/{int:lot_id}/coa/pdf",
    response=LotDetailOut,
    summary="Attach the original CoA PDF (multipart field 'file')",
    auth=guard("lot.receive"),
)
def put_coa_pdf(
    request: ClinicRequest,
    lot_id: int,
    # File(None), not `File[...] | None`: ninja reads an Optional File as a query parameter.
    file: UploadedFile | None = File(None),  # noqa: B008 (ninja declares parameters so)
):
    lot = _lot(request, lot_id)
    if file is None:
        raise HttpError(400, "file: attach the PDF as multipart field 'file'")
    services.check_pdf(file, "file")
    coa = getattr(lot, "coa", None)
    if coa is None:
        raise HttpError(400, "coa: enter the CoA results first (PUT .../coa)")
    services.attach_coa_pdf(lot, request.user, file)
    return _detail(lot)


@router.get(
    "/lots/{int:lot_id}/report",
    response=ReportOut | None,
    auth=guard("product.view"),
    openapi_extra={
        "responses": {
            "409": {
                "description": "The CoA cannot be checked against the spec in force (a result "
                "it requires is missing or does not convert): `detail` says why",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        }
    },
)
def lot_report(request: ClinicRequest, lot_id: int):
    return _report(_lot(request, lot_id))


@router.post("/lots/{int:lot_id}/release", response=LotDetailOut, auth=guard("lot.release"))
def release_lot(request: ClinicRequest, lot_id: int, payload: LotReasonIn):
    lot = _lot(request, lot_id)
    services.release_lot(lot, request.user, payload.reason)
    return _detail(lot)


@router.post("/lots/{int:lot_id}/reject", response=LotRejectedOut, auth=guard("lot.release"))
def reject_lot(request: ClinicRequest, lot_id: int, payload: LotReasonIn):
    lot = _lot(request, lot_id)
    services.reject_lot(lot, request.user, payload.reason)
    return {
        **_detail(lot),
        "patients_given": services.patients_given(lot),
        "message": services.rejected_notice(lot),
    }


@router.post(
    "/lots/{int:lot_id}/override",
    response=LotDetailOut,
    summary="Request a release override (first of two quality users)",
    auth=guard("lot.release"),
)
def request_override(request: ClinicRequest, lot_id: int, payload: LotReasonIn):
    lot = _lot(request, lot_id)
    services.request_override(lot, request.user, payload.reason)
    return _detail(lot)


@router.post(
    "/lots/{int:lot_id}/override/approve",
    response=LotDetailOut,
    summary="Approve the pending override (a different quality user); releases the lot",
    auth=guard("lot.release"),
)
def approve_override(request: ClinicRequest, lot_id: int):
    lot = _lot(request, lot_id)
    services.approve_override(lot, request.user)
    return _detail(lot)


@router.post(
    "/lots/{int:lot_id}/excursions/decide",
    response=ExcursionDecidedOut,
    auth=guard("lot.release"),
)
def decide_excursions(request: ClinicRequest, lot_id: int, payload: ExcursionDecisionIn):
    lot = _lot(request, lot_id)
    decided = services.decide_excursions(lot, request.user, payload.decision, payload.reason)
    if decided.status == LotStatus.REJECTED:
        given: int | None = services.patients_given(decided)
        message = services.rejected_notice(decided)
    else:
        given, message = None, "Cold-chain decision recorded."
    return {**_detail(lot), "patients_given": given, "message": message}


@router.post("/lots/{int:lot_id}/waste", response=LotDetailOut, auth=guard("coldchain.record"))
def record_waste(request: ClinicRequest, lot_id: int, payload: WasteIn):
    lot = _lot(request, lot_id)
    services.record_waste(lot, request.user, payload.quantity, payload.reason)
    return _detail(lot)


# --- trace and recall ----------------------------------------------------------------------------


def _trace(request: ClinicRequest, lot: Lot) -> dict:
    listed = selectors.affected_patients(lot)
    selectors.log_trace_listing(request, lot, channel="api", rows=listed)
    patients = [
        {
            "patient_id": r["patient"].pk,
            "medical_record_number": r["patient"].medical_record_number,
            "given_name": r["patient"].given_name,
            "family_name": r["patient"].family_name,
            "phone": r["patient"].phone,
            "email": r["patient"].email,
            "dates": r["dates"],
            "vials": r["vials"],
            "dose_ml": r["dose_ml"],
        }
        for r in listed
    ]
    events = selectors.adverse_events_after(lot)
    return {
        "lot": lot,
        "recalled": lot.status == "recalled",
        "patients": patients,
        "draws": list(selectors.draws_of_lot(lot)),
        "adverse_events": (
            f"{len(events)} adverse event(s) with onset on or after the patient's first dose"
        ),
        "adverse_event_list": [
            {
                "id": e.pk,
                "patient_id": e.patient_id,
                "onset_date": e.onset_date,
                "term_name": e.term_name,
                "ctcae_version": e.ctcae_version,
                "grade": e.grade,
                "serious": e.is_serious,
                "relatedness": e.relatedness,
                "product_lot_number": e.product_lot_number,
            }
            for e in events
        ],
    }


@router.get(
    "/lots/{int:lot_id}/trace",
    response=TraceOut,
    summary="Patients, dates and doses that used this lot",
    auth=guard("recall.manage"),
)
def trace_lot(request: ClinicRequest, lot_id: int):
    return _trace(request, _lot(request, lot_id))


@router.post(
    "/lots/{int:lot_id}/recall",
    response=TraceOut,
    summary="Recall: block the lot and list the affected patients",
    auth=guard("recall.manage"),
)
def recall_lot(request: ClinicRequest, lot_id: int, payload: LotReasonIn):
    lot = _lot(request, lot_id)
    services.recall_lot(lot, request.user, payload.reason)
    lot.refresh_from_db()
    return _trace(request, lot)


@router.get(
    "/lots/{int:lot_id}/recall.csv",
    summary="Affected patients with contact details (CSV)",
    auth=guard("recall.manage"),
)
def recall_csv(request: ClinicRequest, lot_id: int) -> HttpResponse:
    lot = _lot(request, lot_id)
    response = HttpResponse(
        selectors.recall_csv_download(lot), content_type="text/csv; charset=utf-8"
    )
    selectors.log_trace_listing(request, lot, channel="api")
    name = selectors.recall_file_name(lot, "recall", "csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@router.get(
    "/patients/{int:patient_id}/lots",
    response=list[DrawOut],
    summary="Reverse trace: every lot a patient received",
    auth=guard("recall.manage"),
)
def patient_lots(request: ClinicRequest, patient_id: int):
    patient = patient_selectors.get_patient(request.clinic, patient_id)
    return list(selectors.draws_of_patient(request.clinic, patient).select_related("patient"))


# --- storage and cold chain ----------------------------------------------------------------------


@router.get("/locations", response=list[LocationOut], auth=guard("product.view"))
def list_locations(request: ClinicRequest):
    return list(selectors.locations_of(request.clinic))


@router.post("/locations", response={201: LocationOut}, auth=guard("product.manage"))
def create_location(request: ClinicRequest, payload: LocationIn):
    return Status(
        201,
        services.create_location(
            request.clinic,
            request.user,
            payload.name,
            payload.description,
            set_min_temperature_c=payload.set_min_temperature_c,
            set_max_temperature_c=payload.set_max_temperature_c,
        ),
    )


@router.get(
    "/locations/{int:location_id}/readings", response=list[ReadingOut], auth=guard("product.view")
)
@paginate(BoundedPagination)
def list_readings(request: ClinicRequest, location_id: int):
    return selectors.get_location(request.clinic, location_id).readings.all()


@router.post(
    "/locations/{int:location_id}/readings",
    response={201: ReadingResultOut},
    summary="Record a reading; excursions are flagged and block the affected lots",
    auth=guard("coldchain.record"),
)
def add_reading(request: ClinicRequest, location_id: int, payload: ReadingIn):
    location = selectors.get_location(request.clinic, location_id)
    if payload.recorded_at is None:
        raise HttpError(400, "recorded_at: this field is required")
    if payload.temperature_c is None:
        raise HttpError(400, "temperature_c: this field is required")
    reading, flagged = services.record_reading(
        location,
        request.user,
        recorded_at=payload.recorded_at,
        temperature_c=payload.temperature_c,
    )
    # Worded as on the web: an ongoing excursion has no duration yet, not "0 min".
    flagged_text = [services.describe_excursion(e) for e in flagged]
    return Status(201, {"reading": reading, "excursions_flagged": flagged_text})


@router.post(
    "/locations/{int:location_id}/readings/{int:reading_id}/void",
    response=ReadingVoidOut,
    summary="Void a reading entered in error; the location's excursions are worked out again",
    auth=guard("coldchain.void"),
)
def void_reading(request: ClinicRequest, location_id: int, reading_id: int, payload: LotReasonIn):
    location = selectors.get_location(request.clinic, location_id)
    reading = selectors.get_reading(location, reading_id)
    outcome = services.void_reading(reading, request.user, payload.reason)
    return {
        "reading": outcome.reading,
        "excursions_withdrawn": list(dict.fromkeys(e.lot.lot_number for e in outcome.withdrawn)),
        "lots_unblocked": [lot.lot_number for lot in outcome.unblocked],
        "excursions_reopened": list(dict.fromkeys(e.lot.lot_number for e in outcome.reopened)),
        "message": outcome.describe(),
    }


# --- specifications ------------------------------------------------------------------------------


def _spec_out(spec: Any) -> dict:
    parsed = services.parsed_spec(spec)
    return {
        "id": spec.pk,
        "version": spec.version,
        "name": spec.name,
        "criteria": [
            {
                "field": c.field,
                "label": c.label,
                "limit": c.limit_text,
                "required": c.required,
                "source": c.source,
            }
            for c in parsed.criteria
        ],
    }


@router.get("/specs/current", response=SpecOut, auth=guard("product.view"))
def current_spec(request: ClinicRequest):
    return _spec_out(services.current_spec(request.clinic))


@router.post(
    "/specs",
    response={201: SpecOut},
    summary="New specification version (YAML, same format as the default)",
    auth=guard("product.manage"),
)
def create_spec(request: ClinicRequest, payload: SpecIn):
    spec = services.create_spec_version(request.clinic, request.user, payload.yaml)
    return Status(201, _spec_out(spec))
