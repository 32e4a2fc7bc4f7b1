from datetime import date, datetime

from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from anagen.accounts import selectors, services
from anagen.accounts.audit_access import AuditChangeRefused, open_audit_change
from anagen.accounts.clinic_time import activate_for, zone_of
from anagen.accounts.forms import audit_query
from anagen.api.auth import guard
from anagen.api.errors import refuse
from anagen.core.http import ClinicRequest
from anagen.patients.selectors import log_request_access

AUDIT_API_PAGE_MAX = 500

router = Router(tags=["account"])
clinic_router = Router(tags=["clinic"])


class MeOut(Schema):
    username: str
    clinic: str
    clinic_id: int
    role: str


@router.get(
    "",
    response=MeOut,
    summary="Who am I, in which clinic, with which role",
    auth=guard("dashboard.view"),
)
def me(request: ClinicRequest) -> MeOut:
    return MeOut(
        username=request.user.username,
        clinic=request.clinic.name,
        clinic_id=request.clinic.id,
        role=str(request.role),  # guard() let the call through: the caller has a role
    )


class ClinicOut(Schema):
    name: str
    slug: str
    time_zone: str  # the zone in effect (the deployment's default where none is set)
    time_zone_set: bool  # whether the clinic chose it
    today: date  # the clinic's date now: what "today" means in every date the API checks
    contact_phone: str  # the number the post-care sheets give patients; "" where none is set


class ContactPhoneIn(Schema):
    contact_phone: str = Field(max_length=200)  # "" removes it; checked by the service


class TimeZoneIn(Schema):
    time_zone: str  # an IANA name ("Europe/Berlin"); "" for the deployment's default


def _clinic_out(request: ClinicRequest) -> ClinicOut:
    clinic = request.clinic
    zone = zone_of(clinic)
    return ClinicOut(
        name=clinic.name,
        slug=clinic.slug,
        time_zone=zone.key,
        time_zone_set=bool(clinic.time_zone),
        today=timezone.localdate(),  # in the zone the request activated (the clinic's)
        contact_phone=clinic.contact_phone,
    )


@clinic_router.get(
    "",
    response=ClinicOut,
    summary="The clinic the caller works in, with its time zone and today's date there",
    auth=guard("dashboard.view"),
)
def clinic(request: ClinicRequest) -> ClinicOut:
    return _clinic_out(request)


@clinic_router.put(
    "/time-zone",
    response=ClinicOut,
    summary="Set where the clinic is (its dates and the times shown follow it)",
    auth=guard("clinic.manage"),
)
def set_time_zone(request: ClinicRequest, payload: TimeZoneIn) -> ClinicOut:
    try:
        services.set_time_zone(request.user, request.clinic, payload.time_zone)
    except services.AccountFormError as exc:
        refuse(exc.errors)
    activate_for(request.clinic)  # the answer's "today" in the zone just chosen
    return _clinic_out(request)


@clinic_router.put(
    "/contact-phone",
    response=ClinicOut,
    summary='Set the phone number the post-care sheets give patients ("" removes it)',
    auth=guard("clinic.manage"),
)
def set_contact_phone(request: ClinicRequest, payload: ContactPhoneIn) -> ClinicOut:
    try:
        services.set_contact_phone(request.user, request.clinic, payload.contact_phone)
    except services.AccountFormError as exc:
        refuse(exc.errors)
    return _clinic_out(request)


class AuditFilter(Schema):
    """The web page's filters; checked by the same form."""

    user: str = Field("", max_length=150, description="Username of who made the changes")
    record: str = Field("", max_length=100, description="Kind of record: app_label.Model")
    mrn: str = Field("", max_length=100, description="A patient's record number")
    before: str = Field("", max_length=200, description="The previous page's before_next")
    limit: int = Field(50, ge=1, le=AUDIT_API_PAGE_MAX, description="Changes per page")


class AuditEntryOut(Schema):
    when: datetime
    made_by: str  # username; "" for a change no user made (a migration, the system)
    record: str  # the kind of record in words ("scalp exam")
    record_kind: str  # app_label.Model: the filter's value and the change's address
    record_id: int
    history_id: int
    change: str  # created, changed or deleted
    reason: str
    patient_record_number: str  # "" where the record names no patient
    about_user: str  # whom an account or membership row is about


class AuditPageOut(Schema):
    entries: list[AuditEntryOut]
    # Pass as ``before`` for the next, older page; null on the last page.
    before_next: str | None


class FieldChangeOut(Schema):
    field: str
    before: str  # "" for a creation
    after: str


class AuditChangeOut(Schema):
    entry: AuditEntryOut
    # When the values "before" were stored; null for a creation or a deletion, whose
    # changes list the record's values then (in "after").
    previous_stored_at: datetime | None
    changes: list[FieldChangeOut]


def _entry_out(entry: selectors.AuditEntry, numbers: dict[int, str]) -> AuditEntryOut:
    return AuditEntryOut(
        when=entry.when,
        made_by=entry.user,
        record=entry.record,
        record_kind=entry.record_label,
        record_id=entry.record_id,
        history_id=entry.history_id,
        change=entry.kind,
        reason=entry.reason,
        patient_record_number=numbers.get(entry.patient_id or 0, ""),
        about_user=entry.subject,
    )


@clinic_router.get(
    "/audit",
    response=AuditPageOut,
    summary="The clinic's audit trail, newest first: who changed which record, when and why",
    description="Filters as on the web page: `user` (username), `record` (app_label.Model), "
    "`mrn` (a patient's record number: that patient's records), `before` (the previous "
    "page's `before_next`).",
    auth=guard("audit.view"),
)
def audit_trail(request: ClinicRequest, filters: Query[AuditFilter]) -> AuditPageOut:
    params = filters.model_dump(exclude={"limit"})
    params = {name: value for name, value in params.items() if value}
    query = audit_query(request.clinic, params)
    if not query.valid:
        errors: dict[str, list[str]] = {
            field: [str(m) for m in messages] for field, messages in query.form.errors.items()
        }
        if "before" in params and "__all__" in errors:
            # The form's words are about the page's "Older changes" link; here it is a field.
            errors.pop("__all__")
            errors["before"] = [
                "Not a cursor this API gave: pass a page's before_next as it came, or leave "
                "before out to start from the newest changes."
            ]
        refuse(errors)
    if query.patient is not None:
        log_request_access(request, query.patient, channel="api")
    entries = query.entries(filters.limit)
    numbers = selectors.record_numbers(request.clinic, entries)
    full = len(entries) == filters.limit
    return AuditPageOut(
        entries=[_entry_out(e, numbers) for e in entries],
        before_next=selectors.format_cursor(entries[-1].cursor) if full else None,
    )


@clinic_router.get(
    "/audit/{record_kind}/{history_id}",
    response=AuditChangeOut,
    summary="One change of the audit trail: each field's value before and after it",
    auth=guard("audit.view"),
)
def audit_change(request: ClinicRequest, record_kind: str, history_id: int) -> AuditChangeOut:
    try:
        opened = open_audit_change(request, record_kind, history_id, channel="api")
    except AuditChangeRefused as exc:
        raise HttpError(exc.status, str(exc)) from exc
    change, patient = opened.change, opened.patient
    numbers = {patient.pk: patient.medical_record_number} if patient else {}
    return AuditChangeOut(
        entry=_entry_out(change.entry, numbers),
        previous_stored_at=change.previous if change.before_and_after else None,
        changes=[FieldChangeOut(field=c.label, before=c.old, after=c.new) for c in change.changes],
    )
