from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from anagen.accounts.permissions import can, require_permission
from anagen.core.http import ClinicRequest
from anagen.core.settings_pages import SETTINGS_PAGES
from anagen.patients import selectors as patient_selectors


@require_permission("dashboard.view")
def dashboard(request: ClinicRequest) -> HttpResponse:
    context: dict[str, Any] = {}
    if can(request, "patient.view"):
        patients = patient_selectors.patients_of(request.clinic)
        context["patient_count"] = patients.count()
        context["recent_patients"] = list(patients.order_by("-created_at")[:5])
    return render(request, "core/dashboard.html", context)


@require_permission("dashboard.view")
def settings_index(request: ClinicRequest) -> HttpResponse:
    pages = [
        {"url": reverse(name), "title": title, "about": about}
        for permission, name, title, about in SETTINGS_PAGES
        if can(request, permission)
    ]
    return render(request, "core/settings_index.html", {"pages": pages})


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness and database reachability for a load balancer; reveals no data."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "You may not do this."
    if _wants_json(request):
        return JsonResponse({"detail": message}, status=403)
    return render(request, "403.html", {"message": message}, status=403)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # A body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused before any view reads it (a large
    # FHIR bundle pasted into a text box): say so, and that nothing was saved.
    detail = "Bad request."
    if isinstance(exception, RequestDataTooBig):
        size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        limit = f"{size / 2**20:g} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"
        detail = (
            f"What was sent is larger than the {limit} a form may send; nothing was saved. "
            "Send a large document as a file upload where the page offers one."
        )
    if _wants_json(request):
        return JsonResponse({"detail": detail}, status=400)
    return render(request, "400.html", {"detail": detail}, status=400)


def error_500(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Internal error; nothing was saved."}, status=500)
    return render(request, "500.html", status=500)
