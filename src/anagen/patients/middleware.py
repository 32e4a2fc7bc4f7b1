"""The access log for every read of a patient's record, pages and API alike."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from anagen.core.http import client_ip
from anagen.patients.models import Patient
from anagen.patients.selectors import log_access

READS = ("GET", "HEAD")


class PatientAccessLogMiddleware:
    """A successful read of any route that names a patient (``patient_id`` in the URL: the
    record, consultation, sessions, visits, photos, progress, exports, and their API twins)
    writes one access-log row, unless the view wrote it itself.

    Done here rather than view by view, so a new page or endpoint cannot forget it: a review
    found the session pages, photos and most API reads unlogged. Views ran their clinic and
    role checks already; a refused read (4xx) opened nothing and is not logged.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if (
            request.method in READS
            and 200 <= response.status_code < 300
            and match is not None
            and "patient_id" in match.kwargs
            and not getattr(request, "patient_access_logged", False)
            and request.user.is_authenticated
            and getattr(request, "clinic", None) is not None
        ):
            patient = Patient.objects.filter(
                pk=match.kwargs["patient_id"],
                clinic=request.clinic,  # type: ignore[attr-defined]
            ).first()
            if patient is not None:
                log_access(
                    request.user,
                    patient,
                    channel="api" if request.path.startswith("/api/") else "web",
                    path=request.path,
                    ip_address=client_ip(request),
                )
        return response
