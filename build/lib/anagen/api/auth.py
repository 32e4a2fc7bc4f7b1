"""API authentication: a bearer token (bound to one clinic) or the browser session."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer

from anagen.accounts.roles import allowed
from anagen.accounts.services import authenticate_token


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = authenticate_token(token)
        if api_token is None:
            return None
        membership = api_token.user.membership_for(api_token.clinic)
        request.user = api_token.user
        request.clinic = api_token.clinic
        request.role = membership.role if membership else None
        return api_token


class SessionCookie(APIKeyCookie):
    """The signed-in browser session; unsafe methods need the CSRF token (ninja checks it)."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if request.user.is_authenticated and getattr(request, "clinic", None) is not None:
            return request.user
        return None


AUTH = [BearerToken(), SessionCookie()]


def require(request: HttpRequest, permission: str) -> None:
    """403 unless the caller's role in its clinic holds `permission` (see roles.py)."""
    if not allowed(getattr(request, "role", None), permission):
        raise HttpError(403, f"Your role does not allow this ({permission}).")


def permission(name: str):
    """Mark an endpoint with the permission it checks, for the enforcement test."""

    def decorator(func):
        func.required_permission = name
        return func

    return decorator
