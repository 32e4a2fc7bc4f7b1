from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from anagen.accounts.permissions import can, require_permission
from anagen.core.http import ClinicRequest
from anagen.patients import selectors as patient_selectors


@require_permission("dashboard.view")
def dashboard(request: ClinicRequest) -> HttpResponse:
    context: dict[str, Any] = {}
    if can(request, "patient.view"):
        patients = patient_selectors.patients_of(request.clinic)
        context["patient_count"] = patients.count()
        context["recent_patients"] = list(patients.order_by("-created_at")[:5])
    return render(request, "core/dashboard.html", context)


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
    if _wants_json(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return render(request, "400.html", status=400)


def error_500(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Internal error; nothing was saved."}, status=500)
    return render(request, "500.html", status=500)
