from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from anagen.accounts.clinic_time import activate_for
from anagen.accounts.models import Membership

SESSION_CLINIC_KEY = "anagen_clinic_id"


class ActiveClinicMiddleware:
    """Sets request.clinic and request.role from the clinic the user is working in.

    The active clinic is kept in the session; a user with one membership gets it
    without choosing. Memberships that were deactivated stop working at once.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The attributes every signed-in view reads (core.http.ClinicRequest types them).
        request.clinic = None  # type: ignore[attr-defined]
        request.role = None  # type: ignore[attr-defined]
        request.memberships = []  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            memberships = list(
                Membership.objects.filter(user=user, is_active=True).select_related("clinic")
            )
            request.memberships = memberships  # type: ignore[attr-defined]
            wanted = request.session.get(SESSION_CLINIC_KEY)
            chosen = next((m for m in memberships if m.clinic_id == wanted), None)
            if chosen is None and memberships:
                chosen = memberships[0]
                request.session[SESSION_CLINIC_KEY] = chosen.clinic_id
            if chosen is not None:
                request.clinic = chosen.clinic  # type: ignore[attr-defined]
                request.role = chosen.role  # type: ignore[attr-defined]
        # Dates and times of the request in the clinic's zone (an API token's clinic is
        # activated by the token check, later); the thread goes back to the default after.
        activate_for(request.clinic)  # type: ignore[attr-defined]
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class PasswordMustChangeMiddleware:
    """A person signed in with a temporary password an administrator handed over sees the
    password change, and only that (or sign-out), until they have chosen their own. The API
    refuses their session itself (api.auth.SessionCookie), with a JSON answer; their tokens
    were revoked with the reset."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and getattr(user, "password_must_change", False)
            and not request.path.startswith(("/api/", settings.STATIC_URL))
            and request.path not in _allowed_paths()
        ):
            return redirect("accounts:password_change")
        return self.get_response(request)


def _allowed_paths() -> set[str]:
    return {reverse("accounts:password_change"), reverse("accounts:logout")}
