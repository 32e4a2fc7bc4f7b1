"""Opening one change of the audit trail: the rule the page and the API share.

The kind must exist, the reader needs the kind's own view permission (audit.view alone does
not show a patient's values), the row must be the clinic's, and reading a patient's values is
logged like opening the patient's record.
"""

from __future__ import annotations

from dataclasses import dataclass

from anagen.accounts import selectors
from anagen.accounts.roles import allowed, denied_message
from anagen.core.http import ClinicRequest
from anagen.patients.models import Patient
from anagen.patients.selectors import log_request_access


class AuditChangeRefused(Exception):
    """Why a change cannot be shown; `status` is 404 (no such row here) or 403 (no right)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OpenedAuditChange:
    change: selectors.AuditChange
    patient: Patient | None  # the patient whose record changed, if any


def open_audit_change(
    request: ClinicRequest, record_label: str, history_id: int, *, channel: str
) -> OpenedAuditChange:
    """The change `history_id` of kind `record_label` in the request's clinic, its patient's
    access logged on `channel` ("web" or "api"); AuditChangeRefused otherwise."""
    if record_label not in {label for label, _ in selectors.record_kinds()}:
        raise AuditChangeRefused(f"No such kind of record {record_label!r}.", status=404)
    permission = selectors.view_permission_for(record_label)
    if not allowed(getattr(request, "role", None), permission):
        raise AuditChangeRefused(
            denied_message(request.role, permission, request.clinic), status=403
        )
    change = selectors.audit_change(request.clinic, record_label, history_id)
    if change is None:
        raise AuditChangeRefused("No such change in this clinic's audit trail.", status=404)
    patient = None
    if change.entry.patient_id:
        patient = Patient.objects.filter(clinic=request.clinic, pk=change.entry.patient_id).first()
        if patient is not None:
            log_request_access(request, patient, channel=channel)
    return OpenedAuditChange(change=change, patient=patient)
