"""Enforcement of the permission table (roles.py) for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from anagen.accounts.roles import PERMISSIONS, allowed, denied_message
from anagen.core.http import ClinicRequest

View = Callable[..., HttpResponseBase]


def require_permission(permission: str) -> Callable[[View], View]:
    """Login required, an active clinic required, and the role there must hold `permission`.

    The permission name is kept on the view (`view.required_permission`) so the
    enforcement test can check every URL against the table.
    """
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            # Checked here, so the view gets a ClinicRequest: signed in, with a clinic.
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            clinic = getattr(request, "clinic", None)
            if clinic is None:
                raise PermissionDenied("You are not a member of any clinic.")
            role = getattr(request, "role", None)
            if not allowed(role, permission):
                raise PermissionDenied(denied_message(role, permission, clinic))
            return view(request, *args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator


def can(request: ClinicRequest, permission: str) -> bool:
    return request.user.is_authenticated and allowed(getattr(request, "role", None), permission)
