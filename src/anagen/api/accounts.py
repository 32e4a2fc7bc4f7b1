from django.http import HttpRequest
from ninja import Router, Schema

from anagen.api.auth import guard

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
def me(request: HttpRequest) -> MeOut:
    return MeOut(
        username=request.user.username,
        clinic=request.clinic.name,
        clinic_id=request.clinic.id,
        role=request.role,
    )
