from ninja import Router, Schema

from anagen.api.auth import guard
from anagen.core.http import ClinicRequest

router = Router(tags=["account"])


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
