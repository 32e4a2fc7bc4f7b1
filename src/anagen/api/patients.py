from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from anagen.api.auth import guard
from anagen.api.errors import refuse_nulls
from anagen.api.pagination import LoggedPatientPagination
from anagen.api.schemas import InputSchema
from anagen.core.http import ClinicRequest
from anagen.patients import selectors, services
from anagen.patients.models import Patient

router = Router(tags=["patients"])

Sex = Literal["female", "male", "intersex", "unknown"]


class PatientIn(InputSchema):
    # A misspelt field is an error, not a change silently left out.
    medical_record_number: str = Field(min_length=1, max_length=40)
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    sex_at_birth: Sex
    phone: str = Field("", max_length=40)
    email: str = Field("", max_length=254)
    address: str = Field("", max_length=2000)
    confirm_not_duplicate: bool = Field(
        False,
        description="True to register a person although a patient with the same name "
        "(accents and case ignored) and date of birth is registered; without it such a "
        "registration is refused with 400 naming the record(s).",
    )


def _not_nullable(schema: dict[str, Any]) -> None:
    """The OpenAPI schema of a patch: each field may be left out, never sent as null (null
    is refused, 400), so its type is shown without the ``null`` that ``X | None`` adds."""
    for prop in schema.get("properties", {}).values():
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            prop.update(options[0])
        elif options:
            prop["anyOf"] = options
        prop.pop("default", None)


class PatientPatch(InputSchema):
    """Send only the fields to change; a field sent as null is refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_nullable)

    medical_record_number: str | None = Field(None, min_length=1, max_length=40)
    given_name: str | None = Field(None, min_length=1, max_length=100)
    family_name: str | None = Field(None, min_length=1, max_length=100)
    date_of_birth: date | None = None
    sex_at_birth: Sex | None = None
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    address: str | None = Field(None, max_length=2000)
    confirm_not_duplicate: bool | None = Field(
        None,
        description="True to save a change of name or date of birth that makes the record "
        "read as another registered patient's (refused with 400 naming them otherwise)",
    )


class PatientOut(Schema):
    id: int
    medical_record_number: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex_at_birth: str
    phone: str
    email: str
    address: str
    created_at: datetime
    updated_at: datetime
    voided: bool
    void_reason: str

    @staticmethod
    def resolve_voided(obj: Patient) -> bool:
        return obj.is_voided


class PatientVoidIn(InputSchema):
    reason: str = Field(min_length=5, max_length=1000)


class PatientFilter(Schema):
    q: str = Field("", max_length=100, description="Search name, MRN, e-mail or phone")
    include_voided: bool = False


class FieldChangeOut(Schema):
    field: str
    old: str | None
    new: str | None


class PatientHistoryOut(Schema):
    when: datetime
    user: str | None
    kind: str
    reason: str
    changes: list[FieldChangeOut]


def _patient(request: ClinicRequest, patient_id: int) -> Patient:
    return selectors.get_patient(request.clinic, patient_id)


@router.get(
    "",
    response=list[PatientOut],
    summary="List and search patients (with contact details: each patient listed is logged)",
    auth=guard("patient.view"),
)
@paginate(LoggedPatientPagination)
def list_patients(request: ClinicRequest, filters: Query[PatientFilter]):
    return selectors.search_patients(
        request.clinic, filters.q, include_voided=filters.include_voided
    )


@router.post(
    "", response={201: PatientOut}, summary="Register a patient", auth=guard("patient.create")
)
def create_patient(request: ClinicRequest, payload: PatientIn):
    patient = services.create_patient(request.clinic, request.user, payload.dict())
    return Status(201, patient)


@router.get(
    "/{int:patient_id}",
    response=PatientOut,
    summary="One patient (logged)",
    auth=guard("patient.view"),
)
def get_patient(request: ClinicRequest, patient_id: int):
    patient = _patient(request, patient_id)
    selectors.log_request_access(request, patient, channel="api")
    return patient


@router.patch(
    "/{int:patient_id}",
    response=PatientOut,
    summary="Change some fields",
    auth=guard("patient.edit"),
)
def update_patient(request: ClinicRequest, patient_id: int, payload: PatientPatch):
    patient = _patient(request, patient_id)
    changes = payload.dict(exclude_unset=True)
    refuse_nulls(changes)
    return services.update_patient(patient, request.user, changes)


@router.post(
    "/{int:patient_id}/void",
    response=PatientOut,
    summary="Void a record (no deletion)",
    auth=guard("patient.void"),
)
def void_patient(request: ClinicRequest, patient_id: int, payload: PatientVoidIn):
    patient = _patient(request, patient_id)
    return services.void_patient(patient, request.user, payload.reason)


@router.post(
    "/{int:patient_id}/restore",
    response=PatientOut,
    summary="Restore a record voided in error (the history keeps the void and the restoration)",
    auth=guard("patient.void"),
)
def restore_patient(request: ClinicRequest, patient_id: int, payload: PatientVoidIn):
    patient = _patient(request, patient_id)
    return services.restore_patient(patient, request.user, payload.reason)


@router.get(
    "/{int:patient_id}/history",
    response=list[PatientHistoryOut],
    summary="Change history",
    auth=guard("audit.view"),
)
def patient_history(request: ClinicRequest, patient_id: int):
    patient = _patient(request, patient_id)
    rows = selectors.patient_history(patient)
    return [
        {
            **row,
            "user": row["user"].username if row["user"] else None,
            "changes": [
                {
                    "field": c["field"],
                    "old": None if c["old"] is None else str(c["old"]),
                    "new": None if c["new"] is None else str(c["new"]),
                }
                for c in row["changes"]
            ],
        }
        for row in rows
    ]
