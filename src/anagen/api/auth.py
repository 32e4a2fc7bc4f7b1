"""API authentication and authorisation, checked before any input is parsed.

Each endpoint declares its permission with `auth=guard("patient.view")`: the caller
is authenticated by bearer token (bound to one clinic) or by the browser session
(CSRF-checked for writes), then the role in that clinic must hold the permission
(roles.py), else 403. Unauthenticated callers get 401.
"""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer

from anagen.accounts.clinic_time import activate_for
from anagen.accounts.roles import PERMISSIONS, allowed, denied_message
from anagen.accounts.services import TokenExpired, authenticate_token
from anagen.core.http import ClinicRequest


def check_permission(request: ClinicRequest, permission: str) -> None:
    """403 unless the caller's role holds ``permission``."""
    role = getattr(request, "role", None)
    if not allowed(role, permission):
        # API clients also get the permission's code, to match it to docs/permissions.md.
        message = denied_message(role, permission, getattr(request, "clinic", None))
        raise HttpError(403, f"{message} (permission {permission})")


# Where a token refused for its age leaves the reason, for the 401 (v1.unauthenticated) to
# name it: the client then knows to make a new token rather than look for a typo.
EXPIRED_TOKEN_REASON = "expired_token_reason"


def expired_token_reason(request: HttpRequest) -> str | None:
    """Why the bearer token of ``request`` was refused, where it had expired."""
    return getattr(request, EXPIRED_TOKEN_REASON, None)


class BearerToken(HttpBearer):
    def __init__(self, permission: str) -> None:
        super().__init__()
        self.permission = permission

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            api_token = authenticate_token(token)
        except TokenExpired as exc:
            # Refused like any other token (the session, if any, is tried next), but the
            # 401 says why.
            setattr(request, EXPIRED_TOKEN_REASON, str(exc))
            return None
        if api_token is None:
            return None
        membership = api_token.user.membership_for(api_token.clinic)
        member = cast(ClinicRequest, request)  # what the attributes below make of it
        member.user = api_token.user
        member.clinic = api_token.clinic
        member.role = membership.role if membership else None
        activate_for(api_token.clinic)  # its dates; ActiveClinicMiddleware resets the thread
        self.check(member)
        return api_token

    def check(self, request: ClinicRequest) -> None:
        """Called once the caller is known; raise HttpError to refuse."""
        check_permission(request, self.permission)


class SessionCookie(APIKeyCookie):
    """The signed-in browser session; ninja checks CSRF for unsafe methods."""

    param_name = "sessionid"

    def __init__(self, permission: str) -> None:
        super().__init__()
        self.permission = permission

    def _get_key(self, request: HttpRequest) -> str | None:
        # Without a signed-in session there is nothing for CSRF to protect: the caller is
        # unauthenticated (401), not a forged browser request (403 "CSRF check Failed").
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if request.user.is_authenticated and getattr(request, "clinic", None) is not None:
            if getattr(request.user, "password_must_change", False):
                # Signed in with a temporary password an administrator handed over: the web
                # pages lead to the password change, and the API waits for it too.
                raise HttpError(
                    403, "Choose your own password first (the web app's Password page)."
                )
            self.check(cast(ClinicRequest, request))  # ActiveClinicMiddleware set the clinic
            return request.user
        return None

    def check(self, request: ClinicRequest) -> None:
        """Called once the caller is known; raise HttpError to refuse."""
        check_permission(request, self.permission)


def guard(permission: str) -> list:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return [BearerToken(permission), SessionCookie(permission)]


def required_permission(operation: Any) -> str | None:
    """The permission an API operation checks (for the enforcement tests)."""
    perms = {getattr(cb, "permission", None) for cb in operation.auth_callbacks}
    return perms.pop() if len(perms) == 1 else None
