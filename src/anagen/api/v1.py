"""The JSON API at /api/v1/ (django-ninja). Errors are always {"detail": ...} with 4xx."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from anagen.api.auth import expired_token_reason
from anagen.api.errors import error_detail, refusal_detail, validation_message
from anagen.api.pagination import MAX_PAGE_SIZE
from anagen.api.query import refuse_unknown_query
from anagen.core.checks import Refusal
from anagen.core.http import ClinicRequest
from anagen.products.services import NotUsable
from anagen.treatments.services import SessionError

_ERROR = {
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "What was refused and why, in words"},
        "errors": {
            "type": "array",
            "description": "422 only: each field refused (list items as `map[0].volume_ml`)",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_ERRORS = {
    "400": "A query parameter this endpoint does not list was sent (`detail` names it and "
    "the ones accepted), or a service refused the request (`detail` names each field and why)",
    "401": 'No valid token or session (`WWW-Authenticate` has `error="invalid_token"` when '
    "the token sent was refused: unknown, revoked or expired, `detail` says which)",
    "403": "The role in this clinic lacks the permission (named in `detail`)",
    "404": "No such object in this clinic (another clinic's answers the same)",
    "422": "The body or a parameter is malformed: `errors` names each field",
}
# Answered for a request body before any view reads it (api/middleware.py).
_BODY_ERRORS = {
    "413": "The request body is too large",
}
_JSON_BODY_ERRORS = {
    "415": "The body was not sent as JSON (`Content-Type: application/json`)",
}


class _API(NinjaAPI):
    """The API whose OpenAPI document also describes its error answers, which every
    operation may give (ninja lists only the success responses an endpoint declares)."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR
        ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                errors = dict(_ERRORS)
                body = operation.get("requestBody", {}).get("content", {})
                if body:
                    errors.update(_BODY_ERRORS)
                if "application/json" in body:
                    errors.update(_JSON_BODY_ERRORS)
                for code, text in errors.items():
                    responses.setdefault(code, {"description": text, **ref})
        return schema


api = _API(
    title="Anagen API",
    version="1",
    description=(
        "Clinic data for regenerative hair restoration. Authenticate with "
        "`Authorization: Bearer <token>` (create one on the API tokens page, linked at the top "
        "of every page) or the "
        "browser session. Every object belongs to one clinic; objects of other clinics "
        "answer 404. Request bodies are strict: unknown fields, dates other than "
        "`YYYY-MM-DD` text, booleans other than `true`/`false` and numbers sent as text or as "
        "`true`/`false` are refused with 422 naming the field (a decimal may be sent as text, "
        '`"1.5"`, as the API writes decimals). A refused write answers 400 with every problem '
        "after the field it is about. Query parameters are strict too: one an endpoint does "
        "not list (a misspelt filter) is refused with 400 naming it and the accepted ones, "
        "never ignored. Lists that page take `limit` (default 25, at most "
        f"{MAX_PAGE_SIZE}) and `offset` and answer "
        '`{"items": [...], "count": <total>}`; page with `offset` until `count` is reached.'
    ),
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


# A misspelt query parameter answers 400 instead of being ignored (api/query.py).
api.add_decorator(refuse_unknown_query, mode="operation")


def _location(loc: list) -> str:
    """Pydantic's location as the services name fields: ``map[0].volume_ml``, so a 422 and
    a 400 about the same field spell it alike."""
    path = ""
    for part in loc:
        if part in ("body", "payload", "query", "path"):
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


@api.exception_handler(ValidationError)
def validation_error(request: ClinicRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"field": _location(list(e.get("loc", []))), "message": validation_message(e)}
        for e in exc.errors
    ]
    if all(e.get("type") == "hidden_characters" for e in exc.errors):
        # Refused as the services refuse such text (400 "field: Remove the control …"), so
        # a client sees one answer whichever check met it first.
        by_field: dict[str, list[str]] = {}
        for e in errors:
            by_field.setdefault(e["field"], []).append(e["message"])
        return api.create_response(request, {"detail": error_detail(by_field)}, status=400)
    summary = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors)
    return api.create_response(
        request, {"detail": f"Invalid input — {summary}", "errors": errors}, status=422
    )


@api.exception_handler(AuthenticationError)
def unauthenticated(request: ClinicRequest, exc: AuthenticationError) -> HttpResponse:
    """401 with the challenge RFC 9110 (15.5.2) requires, saying whether the token sent was
    refused (RFC 6750 ``invalid_token``) or no credentials came: a client can tell a token
    to replace from a request that forgot its header. An expired token is named as such,
    with its expiry."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    challenge = 'Bearer realm="anagen"'
    if scheme.lower() == "bearer" and token.strip():
        detail = expired_token_reason(request) or (
            "The API token is not valid: it is unknown or revoked, or its user or clinic "
            "membership is no longer active. Create a new one on the API tokens page."
        )
        challenge += ', error="invalid_token"'
    elif getattr(request, "user", None) is not None and request.user.is_authenticated:
        detail = "This session has no active clinic: choose a clinic in the web app first."
    else:
        detail = (
            "Not authenticated: send an API token as `Authorization: Bearer <token>`, or "
            "call from a signed-in browser session."
        )
    response = api.create_response(request, {"detail": detail}, status=401)
    response["WWW-Authenticate"] = challenge
    return response


@api.exception_handler(Refusal)
def refused(request: ClinicRequest, exc: Refusal) -> HttpResponse:
    """A service refused the write: 400 naming each field (endpoints need no try/except)."""
    return api.create_response(request, {"detail": refusal_detail(exc)}, status=400)


@api.exception_handler(NotUsable)
def not_usable(request: ClinicRequest, exc: NotUsable) -> HttpResponse:
    """The lot may not be used now (not released, expired, blocked): a conflict, not bad input."""
    return api.create_response(request, {"detail": refusal_detail(exc)}, status=409)


@api.exception_handler(SessionError)
def session_refused(request: ClinicRequest, exc: SessionError) -> HttpResponse:
    """As ``refused``, with a vial's lot named `vials[i].lot_id` as the client sent it."""
    detail = refusal_detail(exc, rename=_treatments.api_field)
    return api.create_response(request, {"detail": detail}, status=400)


@api.exception_handler(Http404)
def not_found(request: ClinicRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Not found."}, status=404)


@api.exception_handler(RequestDataTooBig)
def too_big(request: ClinicRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(request, {"detail": "The request body is too large."}, status=413)


from anagen.api import accounts as _accounts  # noqa: E402
from anagen.api import assessment as _assessment  # noqa: E402
from anagen.api import imaging as _imaging  # noqa: E402
from anagen.api import interop as _interop  # noqa: E402
from anagen.api import monitoring as _monitoring  # noqa: E402
from anagen.api import outcomes as _outcomes  # noqa: E402
from anagen.api import patients as _patients  # noqa: E402
from anagen.api import products as _products  # noqa: E402
from anagen.api import reports as _reports  # noqa: E402
from anagen.api import treatments as _treatments  # noqa: E402

api.add_router("/patients", _patients.router)
api.add_router("/me", _accounts.router)
api.add_router("/clinic", _accounts.clinic_router)
api.add_router("/consultation", _assessment.router)
api.add_router("/products", _products.router)
api.add_router("/monitoring", _monitoring.router)
api.add_router("/imaging", _imaging.router)
api.add_router("/sessions", _treatments.router)
api.add_router("/outcomes", _outcomes.router)
api.add_router("/interop", _interop.router)
api.add_router("/reports", _reports.router)
