"""Checks on every request, pages and API alike, before any view reads it."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from anagen.core.text import contains_nul

API_PREFIX = "/api/"


class QueryStringNulMiddleware:
    """Refuse query strings that hold a NUL character with 400.

    PostgreSQL text cannot store or compare NUL, so a search for it was a 500 there
    (schemathesis found it on GET /api/v1/patients?q=%00). API calls get JSON, pages text.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any(contains_nul(k) or contains_nul(v) for k, v in request.GET.lists()):
            message = "The query string must not contain NUL (%00) characters."
            if request.path.startswith(API_PREFIX):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class AtomicWritesMiddleware:
    """Run each POST, PUT, PATCH or DELETE in one database transaction, rolled back when the
    answer is a server error.

    Services are atomic themselves, but a view may call more than one, or fail after its
    service committed (a reply that cannot be built): without this, the 500 page's "nothing
    was saved" was not always true (a session stored while its reply failed, 2026-12-04).
    Reads stay outside a transaction: SQLite takes its write lock at BEGIN (settings).
    """

    WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in self.WRITE_METHODS:
            return self.get_response(request)
        with transaction.atomic():
            response = self.get_response(request)
            if response.status_code >= 500:
                transaction.set_rollback(True)
        return response


class MethodNotAllowedPageMiddleware:
    """Give a page's 405 (a form's address opened as a link, by the back button or typed) a
    page that says what happened: Django's answer has no body, and browsers showed their own
    error screen. API answers are left as they are (ninja gives JSON)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or response.content or request.path.startswith(API_PREFIX):
            return response
        page = render(request, "405.html", status=405)
        page["Allow"] = response.get("Allow", "")
        return page


class NoStoreWhenSignedInMiddleware:
    """Nothing a signed-in user (or an API token) was shown is kept by the browser: on a
    shared workstation the back button or the disk cache showed patient pages and photos
    after sign-out (pages sent no Cache-Control, photos "private, max-age=3600").

    Static files are answered by WhiteNoise before this runs; the sign-in page and other
    anonymous pages keep Django's defaults."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
