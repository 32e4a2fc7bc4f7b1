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

from anagen.accounts import services
from anagen.accounts.models import Clinic, Membership, User
from anagen.patients.models import Patient

KINDS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass(frozen=True)
class Cursor:
    """Where a page of the trail ended: rows sort by time, then kind of record, then history
    row id, newest first. Time alone lost rows: demo loads and bulk writes share a time."""

    when: datetime
    record_label: str
    history_id: int


def format_cursor(cursor: Cursor) -> str:
    return f"{cursor.when.isoformat()}|{cursor.record_label}|{cursor.history_id}"


def parse_cursor(text: str) -> Cursor | None:
    """The cursor an "Older changes" link carries, or None when it is not one."""
    parts = text.split("|")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    try:
        when = datetime.fromisoformat(parts[0])
    except ValueError:
        return None
    if when.tzinfo is None or parts[1] not in {m._meta.label for m in registered_models.values()}:
        return None
    return Cursor(when, parts[1], int(parts[2]))


@dataclass(frozen=True)
class AuditEntry:
    when: datetime
    user: str  # username; "" for a change no user made (a migration, the system)
    record: str  # the record's kind in words ("scalp exam")
    record_label: str  # app_label.Model, the filter's value
    record_id: int
    history_id: int
    kind: str  # created, changed or deleted
    reason: str
    patient_id: int | None
    subject: str = ""  # whom a staff row is about (a username), where the row names one

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.when, self.record_label, self.history_id)


def record_kinds() -> list[tuple[str, str]]:
    """(app_label.Model, its name in words) of every audited kind of record, by name."""
    return sorted(
        ((m._meta.label, str(m._meta.verbose_name)) for m in registered_models.values()),
        key=lambda kv: kv[1],
    )


def _parent_with(history: type[Model], field: str) -> str | None:
    """The foreign key of a history row whose target has ``field`` (a map entry reaches its
    clinic and patient through its session), or None."""
    for f in history._meta.fields:
        related = getattr(f, "related_model", None)
        if (
            f.is_relation
            and related is not None
            and f.name != "history_user"
            and field in {g.name for g in related._meta.fields}
        ):
            return f.name
    return None


def _scoped(model: type[Model], clinic: Clinic) -> QuerySet | None:
    """The history rows of ``model`` that belong to ``clinic`` (None: none can)."""
    history = model.history.model  # type: ignore[attr-defined]
    names = {f.name for f in history._meta.fields}
    rows = history.objects.all()
    if model is Clinic:
        return rows.filter(id=clinic.pk)
    if model is User:
        # An account's rows made in this clinic: created here, a password reset by its
        # administrator (the reasons name the clinic). Not sign-ins (last_login) nor what
        # another clinic did to a person who works in both.
        staff = Membership.objects.filter(clinic=clinic).values("user_id")
        reasons = [services.account_created_reason(clinic), services.password_reset_reason(clinic)]
        return rows.filter(id__in=staff, history_change_reason__in=reasons)
    if "clinic" in names:
        return rows.filter(clinic_id=clinic.pk)
    parent = _parent_with(history, "clinic")
    return rows.filter(**{f"{parent}__clinic_id": clinic.pk}) if parent else None


def _patient_path(model: type[Model], names: set[str]) -> str | None:
    """The lookup from a history row to its patient's id (None: the row names none)."""
    if model is Patient:
        return "id"
    if "patient" in names:
        return "patient_id"
    parent = _parent_with(model.history.model, "patient")  # type: ignore[attr-defined]
    return f"{parent}__patient_id" if parent else None


def _older(cursor: Cursor, label: str) -> Q:
    """Rows of kind ``label`` that sort after ``cursor`` (older, or as old and further on)."""
    if label < cursor.record_label:
        return Q(history_date__lte=cursor.when)
    if label == cursor.record_label:
        return Q(history_date__lt=cursor.when) | Q(
            history_date=cursor.when, history_id__lt=cursor.history_id
        )
    return Q(history_date__lt=cursor.when)


def audit_trail(
    clinic: Clinic,
    *,
    before: Cursor | None = None,
    user: User | None = None,
    record: str = "",
    patient_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """The clinic's newest ``limit`` history rows after ``before``, optionally of one user,
    one kind of record (``app_label.Model``) or one patient (the patient's own record and
    every record that names the patient, itself or through the session, analysis, consent
    or screening it belongs to)."""
    streams = []
    for model in registered_models.values():
        label = model._meta.label
        if record and label != record:
            continue
        rows = _scoped(model, clinic)
        if rows is None:
            continue
        names = {f.name for f in rows.model._meta.fields}
        patient_key = _patient_path(model, names)
        if patient_id is not None:
            if patient_key is None:
                continue
            rows = rows.filter(**{patient_key: patient_id})
        filters = Q()
        if before is not None:
            filters &= _older(before, label)
        if user is not None:
            filters &= Q(history_user_id=user.pk)
        subject_key = "username" if model is User else "user__username" if "user" in names else ""
        fields = ["history_date", "history_type", "history_change_reason", "id", "history_id",
                  "history_user__username"]  # fmt: skip
        fields += [k for k in (patient_key, subject_key) if k and k != "id"]
        values = (
            rows.filter(filters).order_by("-history_date", "-history_id").values(*fields)[:limit]
        )
        name = str(model._meta.verbose_name)
        streams.append(
            [
                AuditEntry(
                    when=v["history_date"],
                    user=v["history_user__username"] or "",
                    record=name,
                    record_label=label,
                    record_id=v["id"],
                    history_id=v["history_id"],
                    kind=KINDS.get(v["history_type"], v["history_type"]),
                    reason=v["history_change_reason"] or "",
                    patient_id=v[patient_key] if patient_key else None,
                    subject=v[subject_key] if subject_key else "",
                )
                for v in values
            ]
        )
    merged = heapq.merge(
        *streams, key=lambda e: (e.when, e.record_label, e.history_id), reverse=True
    )
    return [entry for _, entry in zip(range(limit), merged, strict=False)]
