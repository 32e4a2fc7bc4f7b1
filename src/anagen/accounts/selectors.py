"""The clinic's audit trail: every change history row (django-simple-history) of the clinic's
records, newest first, across the apps. Each record's own page shows its history; this is the
one place that answers "who changed what, when" across them (a review found role changes,
password resets and most clinical edits recorded but shown nowhere)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Model, Q, QuerySet
from simple_history.models import registered_models

from anagen.accounts.models import Clinic, Membership, User
from anagen.patients.models import Patient

KINDS = {"+": "created", "~": "changed", "-": "deleted"}
# Rows without a clinic column of their own reach it through their parent.
_THROUGH = {"session", "analysis"}


@dataclass(frozen=True)
class AuditEntry:
    when: datetime
    user: str  # username; "" for a change no user made (a migration, the system)
    record: str  # the record's kind in words ("scalp exam")
    record_label: str  # app_label.Model, the filter's value
    record_id: int
    kind: str  # created, changed or deleted
    reason: str
    patient_id: int | None


def record_kinds() -> list[tuple[str, str]]:
    """(app_label.Model, its name in words) of every audited kind of record, by name."""
    return sorted(
        ((m._meta.label, str(m._meta.verbose_name)) for m in registered_models.values()),
        key=lambda kv: kv[1],
    )


def _scoped(model: type[Model], clinic: Clinic) -> QuerySet | None:
    """The history rows of ``model`` that belong to ``clinic`` (None: none can)."""
    history = model.history.model  # type: ignore[attr-defined]
    names = {f.name for f in history._meta.fields}
    rows = history.objects.all()
    if model is Clinic:
        return rows.filter(id=clinic.pk)
    if model is User:
        # An account's rows made by this clinic's own staff (created here, a password reset
        # by its administrator), not those another clinic's administrator made.
        staff = Membership.objects.filter(clinic=clinic).values("user_id")
        return rows.filter(id__in=staff, history_user_id__in=staff)
    if "clinic" in names:
        return rows.filter(clinic_id=clinic.pk)
    for parent in _THROUGH & names:
        return rows.filter(**{f"{parent}__clinic_id": clinic.pk})
    return None


def audit_trail(
    clinic: Clinic,
    *,
    before: datetime | None = None,
    user: User | None = None,
    record: str = "",
    patient_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """The clinic's newest ``limit`` history rows older than ``before``, optionally of one
    user, one kind of record (``app_label.Model``) or one patient (the patient's own record
    and every record that names the patient)."""
    streams = []
    for model in registered_models.values():
        if record and model._meta.label != record:
            continue
        rows = _scoped(model, clinic)
        if rows is None:
            continue
        names = {f.name for f in rows.model._meta.fields}
        if patient_id is not None:
            if model is Patient:
                rows = rows.filter(id=patient_id)
            elif "patient" in names:
                rows = rows.filter(patient_id=patient_id)
            else:
                continue
        filters = Q()
        if before is not None:
            filters &= Q(history_date__lt=before)
        if user is not None:
            filters &= Q(history_user_id=user.pk)
        is_patient = model is Patient
        patient_key = "id" if is_patient else "patient_id" if "patient" in names else None
        fields = ["history_date", "history_type", "history_change_reason", "id"]
        fields += ["history_user__username"] + (["patient_id"] if "patient" in names else [])
        values = rows.filter(filters).order_by("-history_date").values(*fields)[:limit]
        name = str(model._meta.verbose_name)
        streams.append(
            [
                AuditEntry(
                    when=v["history_date"],
                    user=v["history_user__username"] or "",
                    record=name,
                    record_label=model._meta.label,
                    record_id=v["id"],
                    kind=KINDS.get(v["history_type"], v["history_type"]),
                    reason=v["history_change_reason"] or "",
                    patient_id=v[patient_key] if patient_key else None,
                )
                for v in values
            ]
        )
    merged = heapq.merge(*streams, key=lambda e: e.when, reverse=True)
    return [entry for _, entry in zip(range(limit), merged, strict=False)]
