"""Reads of patient data. Every read is scoped to one clinic: there is no unscoped path."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import F, Q, QuerySet, TextField, Value
from django.db.models.functions import Replace
from django.http import Http404

from anagen.accounts.models import AccessLog, Clinic, User
from anagen.accounts.selectors import field_label, names_for, shown_value
from anagen.core.checks import is_phone
from anagen.core.http import ClinicRequest, client_ip
from anagen.core.text import MAX_DB_ID, dialable_phone, search_key
from anagen.patients.models import Patient


def patients_of(clinic: Clinic, *, include_voided: bool = False) -> QuerySet[Patient]:
    qs = Patient.objects.filter(clinic=clinic)
    return qs if include_voided else qs.active()


def search_patients(
    clinic: Clinic, query: str = "", *, include_voided: bool = False
) -> QuerySet[Patient]:
    qs = patients_of(clinic, include_voided=include_voided)
    # Every word must appear in a name, the record number, the e-mail or the phone (also as
    # its digits alone), compared without accents or case: "alvarez" finds "Álvarez",
    # "79461234" finds "+44 20 7946 1234". Apostrophes do not count either: "obrien" finds
    # "O'Brien" (and "O’Brien"). A date (2026-03-14 or 14.03.2026) finds the birth date.
    # A comma separates words: the list shows "Rossi, Daniel", and that typed back found
    # nobody (nurse review). Names, numbers and e-mails hold no comma to search for.
    terms = query.replace(",", " ").split()
    words = Q()
    if terms:
        qs = qs.annotate(
            search_plain=Replace(
                Replace(F("search_text"), Value("'"), Value(""), output_field=TextField()),
                Value("’"),
                Value(""),
                output_field=TextField(),
            )
        )
    for term in terms:
        born = _typed_date(term)
        if born is not None:
            words &= Q(date_of_birth=born)
            continue
        key = search_key(term)
        plain = "".join(ch for ch in key if ch not in APOSTROPHES)
        # A term of apostrophes only is looked for as typed: its plain form is empty and
        # would match every patient.
        plain_match = Q(search_plain__contains=plain) if plain else Q()
        words &= Q(search_text__contains=key) | plain_match
    # A phone number as a phone or an e-mail writes it ("+442079461234", "+44-20-7946-1234")
    # is also compared as its digits alone: as typed it found nobody stored as
    # "+44 20 7946 1234" (a caller's number, read off the phone, at the front desk).
    digits = "".join(ch for ch in dialable_phone(query) if ch.isdigit())
    if is_phone(query.strip()) and not any(_typed_date(t) for t in terms):
        words |= Q(search_text__contains=digits)
    return qs.filter(words)


APOSTROPHES = frozenset("'’")


def _typed_date(term: str) -> date | None:
    """A birth date as people type it: ISO (1984-03-14) or day first (14.03.1984, 14/03/1984)."""
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(term, fmt).date()
        except ValueError:
            continue
    return None


def get_patient(clinic: Clinic, patient_id: int) -> Patient:
    """The patient with this id in this clinic, voided ones included; 404 otherwise.

    A patient of another clinic is indistinguishable from one that does not exist.
    """
    if not isinstance(patient_id, int) or not 0 < patient_id <= MAX_DB_ID:
        raise Http404("No such patient.")
    try:
        return Patient.objects.get(clinic=clinic, pk=patient_id)
    except (Patient.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise Http404("No such patient.") from exc


def patient_history(patient: Patient) -> list[dict]:
    """Change history, newest first, with the fields each change touched."""
    records = list(
        patient.history.select_related("history_user").order_by("-history_date", "-history_id")
    )
    deltas = [
        records[i].diff_against(records[i + 1]).changes if i + 1 < len(records) else []
        for i in range(len(records))
    ]
    named = [(c.field, v) for d in deltas for c in d for v in (c.old, c.new)]
    names = names_for(Patient, named, patient.clinic_id)
    rows = []
    for record, delta in zip(records, deltas, strict=True):
        rows.append(
            {
                "when": record.history_date,
                "user": record.history_user,
                "kind": {"+": "created", "~": "changed", "-": "deleted"}[record.history_type],
                "reason": record.history_change_reason or "",
                "changes": [
                    {
                        "field": c.field,
                        "label": field_label(Patient, c.field),
                        "old": shown_value(Patient, c.field, c.old, names),
                        "new": shown_value(Patient, c.field, c.new, names),
                    }
                    for c in delta
                ],
            }
        )
    return rows


# Reads by one person through one channel closer together than this are one sitting.
ACCESS_SITTING_GAP = timedelta(minutes=30)


@dataclass
class AccessSitting:
    """Consecutive reads of a record by one person through one channel (newest first)."""

    user: User
    channel: str
    first: datetime
    last: datetime
    reads: int
    # Copies of the record taken away in the sitting ("FHIR export", "progress PDF"): a
    # disclosure, not a look at a page.
    copies: list[str] = field(default_factory=list)
    # Where the reads came from (client addresses as the server saw them), and the sitting's
    # oldest log row: the cursor of the next page ("older sittings").
    ip_addresses: list[str] = field(default_factory=list)
    oldest_id: int | None = None


def record_copy(path: str) -> str | None:
    """What copy of the record a logged read took, from its path (web, API or CLI)."""
    if path.endswith(("/fhir.json", "/fhir")) or path.startswith("cli: anagen fhir export"):
        return "FHIR export"
    if path.endswith("/progress.pdf"):
        return "progress PDF"
    if path.endswith("/recall.csv"):
        return "lot patient list (CSV)"
    if path.endswith("/recall-notice.pdf"):
        return "lot trace or recall PDF"
    if path.endswith("/reminders.csv"):
        return "reminder list (CSV)"
    return None


def access_log_for(
    patient: Patient,
    limit: int = 50,
    scan: int = 2000,
    *,
    user_id: int | None = None,
    before: int | None = None,
) -> list[AccessSitting]:
    """The latest ``limit`` sittings over the latest ``scan`` reads. Each page and htmx call
    is logged (the log itself keeps every row); one visit's corrections once filled all 50
    lines of the page with the same person.

    ``user_id``: one person's reads only. ``before``: the reads older than the log row of
    that id (the ``older`` of the last page's last sitting), so a privacy officer can page
    past the latest 50 sittings."""
    reads = patient.access_log.select_related("user")
    if user_id is not None:
        reads = reads.filter(user_id=user_id)
    if before is not None:
        cursor = patient.access_log.filter(pk=before).values_list("accessed_at", flat=True)
        at = cursor.first()
        if at is None:
            return []
        # The log's own order (newest first, then by id): reads after the cursor row.
        reads = reads.filter(Q(accessed_at__lt=at) | Q(accessed_at=at, pk__lt=before))
    sittings: list[AccessSitting] = []
    for entry in reads[:scan]:
        latest = sittings[-1] if sittings else None
        if (
            latest is not None
            and latest.user.pk == entry.user_id
            and latest.channel == entry.channel
            and latest.first - entry.accessed_at <= ACCESS_SITTING_GAP
        ):
            latest.first = entry.accessed_at
            latest.reads += 1
            latest.oldest_id = entry.pk
            copy = record_copy(entry.path)
            if copy and copy not in latest.copies:
                latest.copies.append(copy)
            if entry.ip_address and entry.ip_address not in latest.ip_addresses:
                latest.ip_addresses.append(entry.ip_address)
            continue
        if len(sittings) == limit:
            break
        copy = record_copy(entry.path)
        sittings.append(
            AccessSitting(
                entry.user, entry.channel, entry.accessed_at, entry.accessed_at, 1,
                [copy] if copy else [],
                [entry.ip_address] if entry.ip_address else [], entry.pk,
            )
        )  # fmt: skip
    return sittings


def access_log_readers(patient: Patient) -> QuerySet[User]:
    """The people who read this record (the access log's filter choices)."""
    return User.objects.filter(pk__in=patient.access_log.values("user_id").distinct()).order_by(
        "last_name", "first_name", "username"
    )


def log_request_access(request: ClinicRequest, patient: Patient, *, channel: str = "web") -> None:
    """Write the access-log row for a request that opened this patient's record (once:
    ``PatientAccessLogMiddleware`` then writes no second row for the request)."""
    request.patient_access_logged = True  # type: ignore[attr-defined]
    log_access(
        request.user,
        patient,
        channel=channel,
        path=request.path,
        ip_address=client_ip(request),
    )


def log_listed_access(
    request: ClinicRequest, patients: Iterable[Patient], *, channel: str = "web"
) -> None:
    """One access-log row for each patient a list showed with names and contact details (a
    lot's trace and recall lists): who saw whom is asked of these as of a record opened."""
    ip_address = client_ip(request)
    AccessLog.objects.bulk_create(
        AccessLog(
            user=request.user,
            clinic=request.clinic,  # the lists are of the request's clinic only
            patient=p,
            channel=channel,
            path=request.path[:500],
            ip_address=ip_address,
        )
        for p in {p.pk: p for p in patients}.values()
        if p.clinic_id == request.clinic.pk
    )


def log_access(
    user: User, patient: Patient, *, channel: str, path: str, ip_address: str | None
) -> None:
    AccessLog.objects.create(
        user=user,
        clinic=patient.clinic,
        patient=patient,
        channel=channel,
        path=path[:500],
        ip_address=ip_address,
    )


def file_label(patient: Patient) -> str:
    """The patient's record number as a part of a download's file name: other characters than
    ASCII letters, digits, ``.``, ``_`` and ``-`` become ``-`` (quotes and semicolons broke the
    Content-Disposition header; slashes are unsafe on disk), ``patient-<id>`` if none is left."""
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", patient.medical_record_number).strip("-.")
    return label or f"patient-{patient.pk}"
