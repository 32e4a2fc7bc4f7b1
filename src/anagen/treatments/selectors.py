"""Reads of treatment sessions, always scoped to a clinic and patient."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from anagen.accounts.models import Clinic
from anagen.core.text import MAX_DB_ID, ascii_digits
from anagen.patients.models import Patient
from anagen.products.models import Lot, VialDraw
from anagen.products.selectors import SESSION_REF_PREFIX
from anagen.treatments.models import Modality, TreatmentSession


def sessions_of(patient: Patient, *, include_voided: bool = False) -> QuerySet[TreatmentSession]:
    """The patient's sessions for lists; voided ones (entered in error) only on request."""
    qs = (
        TreatmentSession.objects.filter(patient=patient, clinic=patient.clinic)
        .select_related("clinician", "plan", "voided_by")
        .prefetch_related("map_entries")
    )
    return qs if include_voided else qs.filter(voided_at__isnull=True)


def had_exosome_session(patient: Patient) -> bool:
    """Whether the patient has a (non-voided) exosome session: pages about the patient's
    course then carry the investigational notice."""
    return sessions_of(patient).filter(modality=Modality.EXOSOME).exists()


def voided_session_count(patient: Patient) -> int:
    """How many of the patient's sessions were voided (entered in error)."""
    return TreatmentSession.objects.filter(
        patient=patient, clinic=patient.clinic, voided_at__isnull=False
    ).count()


def recorded_sessions(patient: Patient) -> QuerySet[TreatmentSession]:
    """Sessions that count: recorded and not voided (a voided session was entered in error).

    Sessions of a plan cancelled later still happened and count. Map entries and grafts are
    prefetched, so drawing every session's map costs no query per session.
    """
    return (
        TreatmentSession.objects.filter(
            patient=patient, clinic=patient.clinic, voided_at__isnull=True
        )
        .select_related("clinician")
        .prefetch_related("map_entries", "grafts")
        .order_by("performed_on", "id")
    )


def treatment_days_before(
    patient: Patient, on: date, modality: str | None = None, since: date | None = None
) -> int:
    """Recorded, non-voided sessions before ``on`` (of ``modality`` if given; on or after
    ``since`` if given, the start of a later course), counted as treatment days: two entries
    on one day are one session of the course. A session on ``on`` itself is not counted: at
    a visit on a session day the measurements are taken before the injection.
    """
    qs = TreatmentSession.objects.filter(
        patient=patient, clinic=patient.clinic, voided_at__isnull=True, performed_on__lt=on
    )
    if since is not None:
        qs = qs.filter(performed_on__gte=since)
    if modality:
        qs = qs.filter(modality=modality)
    return qs.aggregate(n=Count("performed_on", distinct=True))["n"]


def get_session(patient: Patient, session_id: int) -> TreatmentSession:
    if not 0 < session_id <= MAX_DB_ID:
        raise Http404("No such session.")
    try:
        # A voided session still opens (with its banner) when asked for by id.
        return sessions_of(patient, include_voided=True).get(pk=session_id)
    except TreatmentSession.DoesNotExist as exc:
        raise Http404("No such session.") from exc


def active_plans(patient: Patient) -> QuerySet:
    from anagen.assessment.models import TreatmentPlan

    return TreatmentPlan.objects.filter(patient=patient, clinic=patient.clinic, status="active")


def get_plan(patient: Patient, plan_id: int):
    from anagen.assessment.models import TreatmentPlan

    if not 0 < plan_id <= MAX_DB_ID:
        raise Http404("No such plan.")
    try:
        return TreatmentPlan.objects.get(pk=plan_id, patient=patient, clinic=patient.clinic)
    except TreatmentPlan.DoesNotExist as exc:
        raise Http404("No such plan.") from exc


def usable_lots(clinic: Clinic, on_date: date) -> list[Lot]:
    """Lots a session may draw from on `on_date` (released, unexpired, not blocked, stock)."""
    return session_lots(clinic, on_date).offered


# Lots listed under the lot picker as "not offered": a few, the rest on the lot list.
HELD_BACK_NOTE_MAX = 5


@dataclass
class SessionLots:
    """The clinic's lots as the session form sees them on one date."""

    offered: list[Lot]
    # Every other lot of the clinic -> why it may not be used ("Lot X is quarantined ...").
    refused: dict[int, str] = field(default_factory=dict)
    # Lots with vials on hand that are not offered, and why in short: what a nurse may hold.
    held_back: list[tuple[Lot, list[str]]] = field(default_factory=list)

    @property
    def held_back_shown(self) -> list[tuple[Lot, list[str]]]:
        return self.held_back[:HELD_BACK_NOTE_MAX]

    @property
    def held_back_more(self) -> int:
        return max(0, len(self.held_back) - HELD_BACK_NOTE_MAX)


def session_lots(clinic: Clinic, on_date: date) -> SessionLots:
    """Which lots a session may draw from on ``on_date``, and why each other one may not
    (the products module's single check, ``usability_problems``)."""
    from anagen.products.services import not_usable_message, unusable_reasons

    lots = Lot.objects.filter(clinic=clinic).select_related("product").order_by("expiry_date")
    found = SessionLots(offered=[])
    for lot in lots:
        message = not_usable_message(lot, on_date)
        if message is None:
            found.offered.append(lot)
            continue
        found.refused[lot.pk] = message
        if lot.quantity_on_hand > 0:
            found.held_back.append((lot, unusable_reasons(lot, on_date)))
    return found


def vial_draws_of(sessions: Iterable[TreatmentSession]) -> dict[int, list[VialDraw]]:
    """The vials drawn for each session (by session id), with their lot and product, in one
    query; a session without draws is absent. The rule is ``draws_used_by``'s, so the
    session page and API list the lots the PDF, the FHIR export and the cohort analysis say
    it used: the draws naming it, else its patient's draws of its day naming no session.
    Draws naming it stay when it is voided (on the lot trace, returned or not), so a voided
    session still lists them."""
    sessions = list(sessions)
    if not sessions:
        return {}
    draws = (
        VialDraw.objects.filter(clinic_id__in={s.clinic_id for s in sessions})
        .filter(
            # Draws naming one of them, and every draw of their patients and days, which
            # draws_used_by sorts out (a draw naming another session is left out there).
            Q(session_ref__in=[session_ref(s) for s in sessions])
            | Q(
                patient_id__in={s.patient_id for s in sessions},
                drawn_on__in={s.performed_on for s in sessions},
            )
        )
        .select_related("lot__product")
        .order_by("id")
    )
    return draws_used_by(sessions, draws)


def session_ref(session: TreatmentSession) -> str:
    """The reference a draw made by the session form carries ("session:<id>")."""
    return f"{SESSION_REF_PREFIX}{session.pk}"


class SessionKey(NamedTuple):
    """What ``draws_used_by`` needs of a session (a TreatmentSession has these too)."""

    pk: int
    patient_id: int
    performed_on: Hashable  # a date, or any value equal to its draws' ``drawn_on``
    modality: str
    voided_at: datetime | None = None


class _Session(Protocol):
    @property
    def pk(self) -> Any: ...
    @property
    def patient_id(self) -> Any: ...
    @property
    def performed_on(self) -> Any: ...
    @property
    def modality(self) -> str: ...
    @property
    def voided_at(self) -> datetime | None: ...


class _Draw(Protocol):
    @property
    def patient_id(self) -> Any: ...
    @property
    def drawn_on(self) -> Any: ...
    @property
    def session_ref(self) -> str: ...


def given_draws(clinic: Clinic, patient: Patient | None = None) -> QuerySet[VialDraw]:
    """The clinic's (or one patient's) vial draws whose vials went to the patient: a draw
    returned to stock when its session was voided is no exposure (``VialDraw.objects.given``).
    Read with ``draws_used_by`` for the lots each session used."""
    qs = VialDraw.objects.given().filter(clinic=clinic)
    return qs.filter(patient=patient) if patient is not None else qs


def draws_used_by[D: _Draw](sessions: Iterable[_Session], draws: Iterable[D]) -> dict[int, list[D]]:
    """The draws whose vials each session used, by session id (a session that used none is
    absent): the one rule for "the lots a session used" that the patient progress PDF, the
    FHIR export (Procedure.used, AdverseEvent suspects) and the cohort analysis share.

    A draw naming a session ("session:<id>", as the session form draws) belongs to that
    session, of the same patient. An exosome session no draw names used the draws of its
    patient and day that name no session: vials drawn at the point of care with no session
    reference, or with one typed by hand (vials are drawn in exosome sessions only, so a
    PRP or transplant session of that day used none). A voided session (entered in error)
    keeps only the draws that name it. ``draws`` are the given ones (``given_draws``), in
    the order to list them."""
    by_id = {s.pk: s for s in sessions}
    named: dict[int, list[D]] = {}
    unnamed: dict[tuple[Any, Any], list[D]] = {}
    for d in draws:
        ref = d.session_ref or ""
        number = ref.removeprefix(SESSION_REF_PREFIX)
        if ref.startswith(SESSION_REF_PREFIX) and ascii_digits(number):
            session = by_id.get(int(number))
            if session is not None and session.patient_id == d.patient_id:
                named.setdefault(session.pk, []).append(d)
        else:
            unnamed.setdefault((d.patient_id, d.drawn_on), []).append(d)
    out: dict[int, list[D]] = {}
    for pk, s in by_id.items():
        used = named.get(pk)
        if used is None and s.voided_at is None and s.modality == Modality.EXOSOME:
            used = unnamed.get((s.patient_id, s.performed_on))
        if used:
            out[pk] = list(used)
    return out


# What people type in an allergy list for "no allergy" (not an allergy to "none").
NO_ALLERGY = {"none", "nil", "no", "nka", "nkda", "no known allergies", "no known allergy",
              "no known drug allergies", "n/a", "na", "-", "—"}  # fmt: skip


def recorded_allergies(patient: Patient) -> list[str] | None:
    """The allergies in the patient's latest medical history; None when no history is
    recorded. "none", "NKDA" and the like are left out."""
    from anagen.assessment.models import MedicalHistory

    history = MedicalHistory.objects.filter(patient=patient).order_by("-version").first()
    if history is None:
        return None
    return [
        a.strip()
        for a in history.allergies or []
        if isinstance(a, str) and a.strip() and a.strip().casefold() not in NO_ALLERGY
    ]
