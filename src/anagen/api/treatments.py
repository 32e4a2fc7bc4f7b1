import re
from datetime import date, datetime
from decimal import Decimal

from ninja import Field, Router, Schema, Status

from anagen.api.auth import guard
from anagen.api.errors import refuse
from anagen.api.schemas import InputSchema
from anagen.core.http import ClinicRequest
from anagen.core.text import MAX_DB_ID
from anagen.patients.selectors import get_patient
from anagen.products.models import Lot, VialDraw
from anagen.treatments import selectors, services
from anagen.treatments.models import PrpPreparation, TreatmentSession

router = Router(tags=["sessions"])


# Volumes and lengths are Decimals, as SessionOut writes them ("0.35"): a client may send
# back what it read (a float field refused the text as "not text").
class MapEntryIn(InputSchema):
    zone: str = Field(description="Zone code, e.g. frontal or vertex.2")
    points: int
    volume_ml: Decimal
    spacing_mm: Decimal | None = None


class VialIn(InputSchema):
    lot_id: int = Field(ge=1, le=MAX_DB_ID)
    quantity: int


class PrpIn(InputSchema):
    blood_volume_ml: Decimal
    spin_protocol: str
    platelet_concentration_10e9_per_l: Decimal | None = None


class GraftIn(InputSchema):
    zone: str
    grafts: int
    technique: str


class SessionIn(InputSchema):
    plan_id: int = Field(ge=1, le=MAX_DB_ID)
    modality: str
    performed_on: date
    anaesthesia: str = Field("", max_length=200)
    technique: str = Field("", max_length=200)
    needle_gauge: int | None = None
    depth_mm: Decimal | None = None
    fine_grid: bool = False
    confirm_limits: bool = Field(
        False,
        description="True to record a session whose map injects more than the vials drawn "
        "held, or more than the protocol's limit per session (for example, a diluted "
        "product); without it such a session is refused with 400 on confirm_limits, naming "
        "the limit. The warning is stored with the session (limit_warnings).",
    )
    confirm_schedule: bool = Field(
        False,
        description="True to record a session outside the plan's course: sooner after (or "
        "before) another session of its kind on the plan than the protocol's shortest "
        "interval, or beyond the sessions planned; without it such a session is refused with "
        "400 on confirm_schedule, naming the problem. The warning is stored with the session "
        "(limit_warnings, code course).",
    )
    confirm_screening: bool = Field(
        False,
        description="True once the screening findings short of a block (WARN, REFER, or a "
        "block a clinician overrode) were checked with the patient; without it such a "
        "session is refused with 400 on confirm_screening, naming the findings. The "
        "confirmation is kept in the session's history.",
    )
    confirm_same_day: bool = Field(
        False,
        description="True to record a second session of this modality for the patient on "
        "the same date (a separate session, e.g. a second treatment area); without it such a "
        "session is refused with 400 on performed_on. The confirmation is kept in the "
        "session's notes and history.",
    )
    same_day_seen: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="With confirm_same_day: how many sessions of this modality that day the "
        "refusal named. The confirmation then holds only while that is still the number, so "
        "the same request sent again (a retry) is refused instead of recording the session, "
        "and drawing its vials, once more.",
    )
    immediate_reactions: str = Field("", max_length=5000)
    notes: str = Field("", max_length=5000)
    map: list[MapEntryIn] = []
    vials: list[VialIn] = []
    prp: PrpIn | None = None
    grafts: list[GraftIn] = []


class MapEntryOut(Schema):
    zone: str
    points: int
    volume_ml: Decimal
    spacing_mm: Decimal | None


class VialDrawOut(Schema):
    lot_id: int
    lot_number: str
    product: str
    expiry_date: date
    quantity: int
    labelled_particles: float = Field(
        description="Particles in these vials by the product's label (vials × labelled "
        "particles per vial), not the certificate's measured count"
    )
    returned: bool = Field(
        description="The vials went back to stock unused when the session was voided"
    )

    @staticmethod
    def resolve_returned(obj: VialDraw) -> bool:
        return obj.returned_at is not None

    @staticmethod
    def resolve_lot_number(obj: VialDraw) -> str:
        return obj.lot.lot_number

    @staticmethod
    def resolve_product(obj: VialDraw) -> str:
        return obj.lot.product.name

    @staticmethod
    def resolve_expiry_date(obj: VialDraw) -> date:
        return obj.lot.expiry_date


class PrpOut(Schema):
    blood_volume_ml: Decimal
    spin_protocol: str
    platelet_concentration_10e9_per_l: Decimal | None


class GraftOut(Schema):
    zone: str
    grafts: int
    technique: str


class SessionOut(Schema):
    id: int
    plan_id: int
    modality: str
    performed_on: date
    clinician: str
    anaesthesia: str
    technique: str
    needle_gauge: int | None
    depth_mm: Decimal | None
    total_points: int
    total_volume_ml: Decimal
    limit_warnings: list[dict]
    checklist: dict
    immediate_reactions: str
    notes: str
    fine_grid: bool
    map: list[MapEntryOut]
    vials: list[VialDrawOut] = Field(
        description="Vials drawn for the session (they stay on the lot trace if it is voided)"
    )
    prp: PrpOut | None = Field(description="The PRP preparation of a PRP session")
    grafts: list[GraftOut]
    investigational_notice: str | None
    voided: bool
    voided_at: datetime | None
    voided_by: str | None
    void_reason: str

    @staticmethod
    def resolve_voided(obj: TreatmentSession) -> bool:
        return obj.is_voided

    @staticmethod
    def resolve_voided_by(obj: TreatmentSession) -> str | None:
        return obj.voided_by.username if obj.voided_by else None

    @staticmethod
    def resolve_clinician(obj: TreatmentSession) -> str:
        return obj.clinician.username

    @staticmethod
    def resolve_map(obj: TreatmentSession) -> list:
        return list(obj.map_entries.all())

    @staticmethod
    def resolve_vials(obj: TreatmentSession) -> list:
        drawn = getattr(obj, "vials_drawn", None)  # set by list_sessions (one query)
        if drawn is None:
            drawn = selectors.vial_draws_of([obj]).get(obj.pk, [])
        return drawn

    @staticmethod
    def resolve_prp(obj: TreatmentSession) -> PrpPreparation | None:
        try:
            return obj.prp
        except PrpPreparation.DoesNotExist:
            return None

    @staticmethod
    def resolve_grafts(obj: TreatmentSession) -> list:
        return list(obj.grafts.all())

    @staticmethod
    def resolve_investigational_notice(obj: TreatmentSession) -> str | None:
        if obj.is_investigational:
            return "Investigational: exosome products are not approved in most jurisdictions."
        return None


class SessionVoidIn(InputSchema):
    reason: str = Field(
        "", max_length=1000, description="Why the session is void (at least 5 characters)"
    )
    vials_returned: bool = Field(
        False,
        description="True when the vials the session drew were not used and are back in "
        "storage unopened (the session was entered twice or for the wrong patient): they "
        "return to stock, and their draws stay on the lot trace marked returned. False (the "
        "default) leaves them drawn: a recall must reach anyone who may have been exposed.",
    )


# The service names a vial's lot `vials[i].lot`; this API's field is `lot_id`.
_VIAL_LOT = re.compile(r"vials\[\d+\]\.lot")


def api_field(name: str) -> str:
    """The field as this API's client sent it (v1.py names session refusals with it)."""
    return f"{name}_id" if _VIAL_LOT.fullmatch(name) else name


def _map_row(entry: MapEntryIn) -> dict:
    """A map row as the service reads it from the page's form: its numbers as floats."""
    row = entry.dict()
    for name in ("volume_ml", "spacing_mm"):
        if row[name] is not None:
            row[name] = float(row[name])
    return row


@router.get(
    "/{int:patient_id}",
    response=list[SessionOut],
    auth=guard("session.view"),
    summary="A patient's sessions, newest first",
)
def list_sessions(request: ClinicRequest, patient_id: int):
    patient = get_patient(request.clinic, patient_id)
    sessions = list(selectors.sessions_of(patient).select_related("prp").prefetch_related("grafts"))
    draws = selectors.vial_draws_of(sessions)
    for s in sessions:
        s.vials_drawn = draws.get(s.pk, [])  # type: ignore[attr-defined]  # for SessionOut
    return sessions


@router.get(
    "/{int:patient_id}/{int:session_id}",
    response=SessionOut,
    auth=guard("session.view"),
    summary="One session with its injection map",
)
def get_session(request: ClinicRequest, patient_id: int, session_id: int):
    return selectors.get_session(get_patient(request.clinic, patient_id), session_id)


@router.post(
    "/{int:patient_id}",
    response={201: SessionOut},
    auth=guard("session.record"),
    summary="Record a session (checklist, map, vials drawn atomically)",
)
def create_session(request: ClinicRequest, patient_id: int, payload: SessionIn):
    patient = get_patient(request.clinic, patient_id)
    plan = selectors.get_plan(patient, payload.plan_id)
    lots = {
        lot.pk: lot
        for lot in Lot.objects.filter(
            clinic=request.clinic, pk__in=[v.lot_id for v in payload.vials]
        ).select_related("product")
    }
    missing = {
        f"vials[{i}].lot_id": [f"No lot {v.lot_id} in this clinic."]
        for i, v in enumerate(payload.vials)
        if v.lot_id not in lots
    }
    if missing:
        refuse(missing)
    data = payload.dict(exclude={"map", "vials", "prp", "grafts", "plan_id"})
    session = services.record_session(
        request.clinic,
        request.user,
        plan,
        data,
        map_entries=[_map_row(m) for m in payload.map],
        vials=[services.VialRequest(lots[v.lot_id], v.quantity) for v in payload.vials],
        prp=payload.prp.dict() if payload.prp else None,
        grafts=[g.dict() for g in payload.grafts],
    )
    return Status(201, session)


@router.post(
    "/{int:patient_id}/{int:session_id}/void",
    response=SessionOut,
    auth=guard("record.void"),
    summary="Void a session entered in error (its vial draws stay on the lot trace)",
)
def void_session(request: ClinicRequest, patient_id: int, session_id: int, payload: SessionVoidIn):
    """The session leaves every list and count; the vials drawn for it stay on the lot
    trace, because a recall must reach anyone who may have been exposed, unless
    ``vials_returned`` says they were not used (back in stock, marked returned)."""
    session = selectors.get_session(get_patient(request.clinic, patient_id), session_id)
    return services.void_session(
        session, request.user, payload.reason, vials_returned=payload.vials_returned
    )
