"""Checks on requests that must happen before the views parse them.

Ninja turns every parser failure into one generic 400; clients deserve to know
whether the content type or the JSON itself was wrong. (Query strings are checked for every
request by anagen.core.middleware.QueryStringNulMiddleware.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from anagen.core.middleware import API_PREFIX
from anagen.core.text import MAX_JSON_DEPTH, DuplicateKeyError, contains_nul, load_json

BODY_METHODS = {"POST", "PUT", "PATCH"}
# Endpoints that take a file as multipart/form-data (their body is not JSON).
UPLOAD_PATHS = re.compile(rf"^{re.escape(API_PREFIX)}v1/products/lots/\d+/coa/pdf$")


class ApiBodyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if request.method in BODY_METHODS:
            error = self.check_body(request)
            if error is not None:
                return error
        response = self.get_response(request)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            allow = response.get("Allow", "")
            json_response = JsonResponse(
                {"detail": f"Method {request.method} is not allowed here; use {allow}."},
                status=405,
            )
            json_response["Allow"] = allow
            return json_response
        return response

    @staticmethod
    def check_body(request: HttpRequest) -> HttpResponse | None:
        try:
            body = request.body
        except RequestDataTooBig:
            return JsonResponse({"detail": "The request body is too large."}, status=413)
        content_type, params = request.content_type or "", request.content_params or {}
        if content_type.startswith("multipart/") and not _valid_boundary(
            params.get("boundary", "")
        ):
            # Checked before the empty-body shortcut: the CSRF check of a session-cookie POST
            # reads request.POST, which raised on this (a 500).
            return JsonResponse(
                {"detail": "The multipart body has no valid boundary in its Content-Type "
                 "(multipart/form-data; boundary=...)."}, status=400,
            )  # fmt: skip
        if not body:
            return None
        if UPLOAD_PATHS.match(request.path):
            return None  # the view finds the object (404) and asks for the file (400)
        # FHIR clients send their JSON as application/fhir+json (FHIR R5 http.html).
        if request.content_type not in ("application/json", "application/fhir+json"):
            return JsonResponse(
                {"detail": "Send the request body as JSON (Content-Type: application/json)."},
                status=415,
            )
        try:
            data = load_json(body)
            has_nul = contains_nul(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return JsonResponse(
                {"detail": f"The request body is not valid JSON: {exc}"}, status=400
            )
        except DuplicateKeyError as exc:
            return JsonResponse({"detail": f"The request body cannot be read: {exc}."}, status=400)
        except ValueError:
            return JsonResponse(
                {"detail": "The request body is nested too deeply to be read "
                 f"(at most {MAX_JSON_DEPTH} levels)."}, status=400,
            )  # fmt: skip
        if not isinstance(data, dict):
            return JsonResponse({"detail": "The request body must be a JSON object."}, status=400)
        if has_nul:
            # PostgreSQL text cannot hold NUL; forms refuse it too (Django's validator).
            return JsonResponse(
                {"detail": "Text in the request body must not contain NUL (\\u0000) characters."},
                status=400,
            )
        return None


def _valid_boundary(boundary: str) -> bool:
    """RFC 2046 section 5.1.1: 1 to 70 characters, printable ASCII."""
    return 0 < len(boundary) <= 70 and boundary.isascii() and boundary.isprintable()
