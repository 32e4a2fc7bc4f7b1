"""Checks on every request, pages and API alike, before any view reads it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

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
