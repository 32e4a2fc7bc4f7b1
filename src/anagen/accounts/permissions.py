"""Enforcement of the permission table (roles.py) for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from anagen.accounts.roles import PERMISSIONS, allowed


def require_permission(permission: str) -> Callable[[Callable[..., HttpResponse]], Callable]:
    """Login required, an active clinic required, and the role there must hold `permission`.

    The permission name is kept on the view (`view.required_permission`) so the
    enforcement test can check every URL against the table.
    """
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.clinic is None:
                raise PermissionDenied("You are not a member of any clinic.")
            if not allowed(request.role, permission):
                raise PermissionDenied(
                    f"Your role in {request.clinic} does not allow this ({permission})."
                )
            return view(request, *args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator


def can(request: HttpRequest, permission: str) -> bool:
    return request.user.is_authenticated and allowed(getattr(request, "role", None), permission)
