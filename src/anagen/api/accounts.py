from datetime import date

from django.utils import timezone
from ninja import Field, Router, Schema

from anagen.accounts import services
from anagen.accounts.clinic_time import activate_for, zone_of
from anagen.api.auth import guard
from anagen.api.errors import refuse
from anagen.core.http import ClinicRequest

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
