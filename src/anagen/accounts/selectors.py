"""The clinic's audit trail: every change history row (django-simple-history) of the clinic's
records, newest first, across the apps. Each record's own page shows its history; this is the
one place that answers "who changed what, when" across them (a review found role changes,
password resets and most clinical edits recorded but shown nowhere)."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from simple_history.models import registered_models

from anagen.accounts import services
from anagen.accounts.models import AccessLog, Clinic, Membership, User
from anagen.core.text import ascii_digits
from anagen.patients.models import Patient

KINDS = {"+": "created", "~": "changed", "-": "deleted"}
MAX_HISTORY_ID = 2**63 - 1  # history row ids are 64-bit


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
    # ASCII digits only: "²" passes str.isdigit() and then int() refuses it.
    if len(parts) != 3 or not ascii_digits(parts[2]):
        return None
    if int(parts[2]) > MAX_HISTORY_ID:
        return None  # past the database's integers
    try:
        when = datetime.fromisoformat(parts[0])
        if when.tzinfo is not None:
            when.astimezone(UTC)  # as the database compares it: year 1 at +14:00 is not one
    except (ValueError, OverflowError):
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


def _entries(model: type[Model], rows: QuerySet, limit: int) -> list[AuditEntry]:
    """The first ``limit`` of ``model``'s history ``rows`` as trail entries."""
    names = {f.name for f in rows.model._meta.fields}
    patient_key = _patient_path(model, names)
    subject_key = "username" if model is User else "user__username" if "user" in names else ""
    fields = ["history_date", "history_type", "history_change_reason", "id", "history_id",
              "history_user__username"]  # fmt: skip
    fields += [k for k in (patient_key, subject_key) if k and k != "id"]
    name = str(model._meta.verbose_name)
    return [
        AuditEntry(
            when=v["history_date"],
            user=v["history_user__username"] or "",
            record=name,
            record_label=model._meta.label,
            record_id=v["id"],
            history_id=v["history_id"],
            kind=KINDS.get(v["history_type"], v["history_type"]),
            reason=v["history_change_reason"] or "",
            patient_id=v[patient_key] if patient_key else None,
            subject=v[subject_key] if subject_key else "",
        )
        for v in rows.values(*fields)[:limit]
    ]


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
        streams.append(
            _entries(model, rows.filter(filters).order_by("-history_date", "-history_id"), limit)
        )
    merged = heapq.merge(
        *streams, key=lambda e: (e.when, e.record_label, e.history_id), reverse=True
    )
    return [entry for _, entry in zip(range(limit), merged, strict=False)]


def record_numbers(clinic: Clinic, entries: Iterable[AuditEntry]) -> dict[int, str]:
    """The record numbers of the clinic's patients the entries name, by patient id: patients
    are named by their record number, not an internal id."""
    ids = {e.patient_id for e in entries if e.patient_id}
    rows = Patient.objects.filter(clinic=clinic, pk__in=ids)
    return dict(rows.values_list("pk", "medical_record_number"))


# A password hash is never shown, not even to the audit's readers; that it changed is.
SECRET_FIELDS = frozenset({"password"})
# Not listed: a person's sign-ins are not a change another clinic's administrator needs to
# read, and the clinic a row belongs to is always the reader's own.
OMITTED_FIELDS = frozenset({"last_login", "clinic"})

# What a reader must also be allowed to see to read the values of a change, by app.
VIEW_PERMISSION = {
    "accounts": "audit.view",
    "patients": "patient.view",
    "assessment": "consultation.view",
    "products": "product.view",
    "monitoring": "visit.view",
    "imaging": "visit.view",
    "treatments": "session.view",
}


@dataclass(frozen=True)
class FieldChange:
    label: str  # the field's name in words
    old: str  # "" for a record's creation
    new: str


@dataclass(frozen=True)
class AuditChange:
    """One row of the trail with what it changed: for a change, each changed field's value
    before and after; for a creation, the values it was stored with; for a deletion, the
    values the record had when it was deleted."""

    entry: AuditEntry
    changes: list[FieldChange]
    previous: datetime | None  # when the values before were stored; None for a creation

    @property
    def before_and_after(self) -> bool:
        """A change (two values a field); a creation or a deletion has one."""
        return self.previous is not None and self.entry.kind != "deleted"


def view_permission_for(record_label: str) -> str:
    """The permission that reading the values of a change to this kind of record takes."""
    model_permission = {"monitoring.AdverseEvent": "adverse_event.view"}
    return model_permission.get(record_label) or VIEW_PERMISSION[record_label.split(".")[0]]


def shown_value(
    model: type[Model], name: str, value: object, names: dict[tuple[str, str], str]
) -> str:
    """A stored value in words: a person by name, a patient by record number, another record
    by kind and number, a yes/no, a choice by its label, an empty value as "(empty)".
    ``names``: what :func:`names_for` read for the values (in one query per kind)."""
    if _empty(value):
        return "(empty)"
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return str(value)
    related = getattr(field, "related_model", None)
    if related is User:
        return names.get(("user", str(value)), f"user {value}")
    if related is Patient:
        return names.get(("patient", str(value)), f"patient #{value}")
    if related is not None:
        return f"{related._meta.verbose_name} #{value}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        # To the second: a correction of a few seconds is a change, not two equal values.
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and value.startswith("data:"):
        # A drawn signature (data:image/png;base64,…) is an image, not text to read.
        return f"(image data, {len(value):,} characters)"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)  # one item a line (reasons, flags, notices)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    choices = dict(getattr(field, "flatchoices", None) or [])
    return str(choices.get(value, value))


def names_for(
    model: type[Model], pairs: Iterable[tuple[str, object]], clinic_id: int
) -> dict[tuple[str, str], str]:
    """The people (by name) and the clinic's patients (by record number) that (field name,
    value) pairs of ``model`` name, keyed ("user" or "patient", id)."""
    from anagen.accounts.services import display_name

    ids: dict[str, set[str]] = {"user": set(), "patient": set()}
    for name, value in pairs:
        if value in (None, ""):
            continue
        try:
            related = getattr(model._meta.get_field(name), "related_model", None)
        except FieldDoesNotExist:
            continue
        if related is User:
            ids["user"].add(str(value))
        elif related is Patient:
            ids["patient"].add(str(value))
    names: dict[tuple[str, str], str] = {}
    if ids["user"]:
        for u in User.objects.filter(pk__in=ids["user"]):
            names["user", str(u.pk)] = display_name(u)
    if ids["patient"]:
        patients = Patient.objects.filter(clinic_id=clinic_id, pk__in=ids["patient"])
        for pk, number in patients.values_list("pk", "medical_record_number"):
            names["patient", str(pk)] = number
    return names


def _empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def field_label(model: type[Model], name: str) -> str:
    """A field as the forms name it ("Given name"), the name itself if unknown."""
    try:
        return str(getattr(model._meta.get_field(name), "verbose_name", name)).capitalize()
    except FieldDoesNotExist:
        return name


def audit_change(clinic: Clinic, record_label: str, history_id: int) -> AuditChange | None:
    """One row of the clinic's trail with its values before and after, or None where the
    clinic has no such row (another clinic's row is not found either)."""
    model = next((m for m in registered_models.values() if m._meta.label == record_label), None)
    rows = _scoped(model, clinic) if model is not None else None
    if model is None or rows is None:
        return None
    found = _entries(model, rows.filter(history_id=history_id), 1)
    if not found:
        return None
    entry = found[0]
    history = model.history.model
    record = history.objects.get(history_id=history_id)
    # The row before it of the same record: by time, then row id (bulk writes share a time).
    previous = (
        history.objects.filter(id=record.id)
        .filter(
            Q(history_date__lt=record.history_date)
            | Q(history_date=record.history_date, history_id__lt=record.history_id)
        )
        .order_by("-history_date", "-history_id")
        .first()
    )
    kept = {f.name for f in history._meta.fields}  # a model may keep a field out of history
    fields = {
        f.name: f.attname
        for f in model._meta.concrete_fields
        if f.name in kept and f.name not in OMITTED_FIELDS and f.name != model._meta.pk.name
    }
    two_sided = previous is not None and entry.kind != "deleted"
    # In the model's field order. A creation or a deletion lists the values the record had
    # then; a change lists what differs from the row before it.
    pairs = [
        (name, getattr(previous, attname) if two_sided else None, getattr(record, attname))
        for name, attname in fields.items()
    ]
    if two_sided:
        pairs = [p for p in pairs if p[1] != p[2]]
    else:
        pairs = [p for p in pairs if p[0] not in SECRET_FIELDS and not _empty(p[2])]
    names = names_for(model, [(n, v) for n, old, new in pairs for v in (old, new)], clinic.pk)
    changes = [
        FieldChange(field_label(model, name), "(not shown)", "changed")
        if name in SECRET_FIELDS
        else FieldChange(
            field_label(model, name),
            shown_value(model, name, old, names) if two_sided else "",
            shown_value(model, name, new, names),
        )
        for name, old, new in pairs
    ]
    return AuditChange(entry, changes, previous.history_date if previous else None)


def clinic_access_log(
    clinic: Clinic, *, user_id: int | None = None, before: int | None = None, limit: int = 50
) -> list[AccessLog]:
    """The clinic's reads of patient records, newest first: ``user_id`` one person's only,
    ``before`` the reads older than the log row of that id (the last row of a page)."""
    reads = AccessLog.objects.filter(clinic=clinic).select_related("user", "patient")
    if user_id is not None:
        reads = reads.filter(user_id=user_id)
    if before is not None:
        at = AccessLog.objects.filter(clinic=clinic, pk=before).values_list(
            "accessed_at", flat=True
        )
        cursor = at.first()
        if cursor is None:
            return []
        reads = reads.filter(Q(accessed_at__lt=cursor) | Q(accessed_at=cursor, pk__lt=before))
    return list(reads[:limit])


def access_log_people(clinic: Clinic) -> QuerySet[User]:
    """Everyone who read a record of the clinic (the access log's filter choices)."""
    readers = AccessLog.objects.filter(clinic=clinic).values("user_id").distinct()
    return User.objects.filter(pk__in=readers).order_by("last_name", "first_name", "username")
