"""Recording treatment sessions: pre-session checklist, injection map, vials, post-care.

Everything about one session is stored in one transaction: if any vial cannot be drawn
(lot not usable, not enough stock) or the map is invalid, nothing is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.accounts.services import display_name, recorded_by_at
from anagen.assessment.labels import in_sentence, modality_label
from anagen.core.checks import FieldErrors, Refusal, read_decimal, read_text, read_whole
from anagen.core.history import save_with_history
from anagen.core.locks import lock_names
from anagen.core.text import long_date
from anagen.patients.services import lock_patient
from anagen.products import services as product_services
from anagen.products.models import Lot
from anagen.treatments import scalp_zones, selectors
from anagen.treatments.models import (
    INJECTED,
    GraftRecord,
    InjectionMapEntry,
    Modality,
    PostCareTemplate,
    PrpPreparation,
    TreatmentSession,
)
from anagen.treatments.postcare_defaults import DEFAULT_POSTCARE

# Free text without a column limit (notes, immediate reactions): a long page at most.
MAX_TEXT = 5000


@dataclass
class SessionError(Refusal):
    """A session was refused; `errors` maps field name -> messages. ``same_day_count``: how
    many sessions of that modality the patient already has that day (a refusal under
    ``performed_on`` names them; the form confirms against that count)."""

    same_day_count: int = 0


@dataclass
class ChecklistItem:
    key: str
    ok: bool
    blocking: bool
    message: str
    # Passed, but with something to check first (a screening WARN or REFER): shown as "!",
    # not as a tick, and the session is recorded only once that is confirmed.
    caution: bool = False


@dataclass
class Checklist:
    items: list[ChecklistItem] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(i.blocking and not i.ok for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "blocked": self.blocked,
            "items": [
                {
                    "key": i.key,
                    "ok": i.ok,
                    "blocking": i.blocking,
                    "message": i.message,
                    "caution": i.caution,
                }  # fmt: skip
                for i in self.items
            ],
        }


# Vials from one lot in one session: the page offers up to 50; a session uses one or two.
MAX_VIALS_PER_ROW = 50


@dataclass
class VialRequest:
    lot: Lot
    quantity: int


@dataclass
class ScreeningStatus:
    ok: bool
    message: str
    caution: bool = False  # allowed, with findings to check first (WARN, REFER, an override)


def screening_status(patient: Any, modality: str, on_date: date) -> ScreeningStatus:
    """Is the latest screening current, and does it allow this modality (or was it overridden)?

    "Current" means screened on the latest medical-history version: any new answer in the
    history (a new medication, a pregnancy) needs a new screening before the next session.
    """
    from anagen.assessment.models import MedicalHistory, Screening

    latest = (
        Screening.objects.filter(patient=patient, screened_on__lte=on_date)
        .select_related("medical_history")
        .order_by("-screened_on", "-id")
        .first()
    )
    if latest is None:
        later = Screening.objects.filter(patient=patient).order_by("screened_on").first()
        if later is not None:
            return ScreeningStatus(
                False,
                f"The session date ({on_date}) is before the first screening "
                f"({later.screened_on}): check the session's date.",
            )
        return ScreeningStatus(False, "No contraindication screening on record: screen first.")
    newest_history = (
        MedicalHistory.objects.filter(patient=patient)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    if newest_history is not None and newest_history > latest.medical_history.version:
        since = (
            Screening.objects.filter(
                patient=patient, screened_on__gt=on_date, medical_history__version=newest_history
            )
            .order_by("screened_on")
            .first()
        )
        if since is not None:
            # A session entered afterwards, dated before the screening of the current history.
            return ScreeningStatus(
                False,
                f"The session date ({on_date}) is before the screening of the current medical "
                f"history ({since.screened_on}): check the session's date.",
            )
        return ScreeningStatus(
            False,
            f"The medical history changed (version {newest_history}) since the last "
            f"screening on {latest.screened_on}: screen again before this session.",
        )
    stale = _rules_or_record_changed(patient, latest)
    if stale is not None:
        return ScreeningStatus(False, f"Screening on {latest.screened_on}: {stale}")
    outcome = latest.result["modalities"].get(modality, {}).get("outcome", "OK")
    findings = latest.result["modalities"].get(modality, {}).get("findings", [])
    rules = [f["rule_id"] for f in findings if f["outcome"] == "BLOCK"]
    # The findings short of a block, in words: a bare "WARN" beside a tick told whoever
    # injects nothing of what to check ("pregnancy status unknown: confirm before treating").
    to_check = "; ".join(
        f"{f['rule_id']} ({f['outcome']}): {f['reason'].rstrip('.')}"  # the sentence ends it
        for f in findings
        if f["outcome"] in ("WARN", "REFER")
    )
    if outcome == "BLOCK":
        from anagen.assessment import services as assessment

        override = assessment.standing_overrides(latest).get(modality)
        if override is None:
            # A locked BLOCK cannot be overridden: the checklist must not ask for it.
            locked = assessment.locked_block_rules(latest, modality)
            return ScreeningStatus(
                False,
                f"Screening on {latest.screened_on} BLOCKS {_words(modality)} "
                f"({', '.join(rules)}); "
                + (
                    f"locked rule {', '.join(locked)} cannot be overridden: no session while "
                    "it holds."
                    if locked
                    else "a clinician must override in writing first."
                ),
            )
        also = f" Also to check: {to_check}." if to_check else ""
        return ScreeningStatus(
            True,
            f"BLOCK ({', '.join(rules)}) overridden by "
            f"{override.overridden_by.get_full_name() or override.overridden_by.username}: "
            f"{override.reason.rstrip('.')}.{also}",
            caution=True,
        )
    if to_check:
        return ScreeningStatus(
            True,
            f"Screening on {latest.screened_on}: {outcome} for {_words(modality)}. "
            f"To check before the session: {to_check}.",
            caution=True,
        )
    return ScreeningStatus(
        True, f"Screening on {latest.screened_on}: {outcome} for {_words(modality)}."
    )


def _rules_or_record_changed(patient: Any, latest: Any) -> str | None:
    """Why the patient's newest screening no longer stands, for every reason assessment's
    :func:`screening_staleness` gives (the one function plans and sessions both ask): a clinic
    rule made stricter since (a keloid WARN for PRP raised to BLOCK), a date of birth or sex
    corrected since, signs of infection or scarring at a later exam that the history lacks,
    answers more than a year old. None for an older screening (a session entered for a day
    before the newest one) and while it stands."""
    from anagen.assessment import services as assessment
    from anagen.assessment.models import Screening

    newest = Screening.objects.filter(patient=patient).order_by("-screened_on", "-id").first()
    if newest is None or newest.pk != latest.pk:
        return None
    # All of them: a session went ahead over exam signs of infection or year-old answers
    # that held the plan on the consultation page (review).
    return assessment.screening_staleness(patient, latest)


def _words(modality: str) -> str:
    """A modality code in words, inside a sentence ("platelet-rich plasma")."""
    return in_sentence(modality_label(modality))


def pre_session_checklist(plan: Any, modality: str, on_date: date) -> Checklist:
    """What must hold before a session starts: plan, screening, consent (not the lots).

    Lots are checked when vials are drawn, by the product module's single check.
    """
    from anagen.assessment import services as assessment

    checklist = Checklist()
    checklist.items.append(
        ChecklistItem(
            "plan",
            plan.status == "active" and modality in plan.modalities,
            True,
            "Plan is active and includes this modality."
            if plan.status == "active" and modality in plan.modalities
            else f"The active plan does not include {_words(modality)}.",
        )
    )
    status = screening_status(plan.patient, modality, on_date)
    checklist.items.append(
        ChecklistItem("screening", status.ok, True, status.message, caution=status.caution)
    )
    consent_ok = assessment.has_valid_consent(plan, modality, on_date)
    signed_later = (
        None
        if consent_ok
        else plan.consents.filter(modality=modality, signed_on__gt=on_date)
        .order_by("signed_on")
        .first()
    )
    withdrawn = (
        None
        if consent_ok
        else plan.consents.filter(
            modality=modality, signed_on__lte=on_date, withdrawal__withdrawn_on__lte=on_date
        )
        .select_related("withdrawal")
        .order_by("-withdrawal__withdrawn_on", "-id")
        .first()
    )
    if consent_ok:
        consent_message = "Valid signed consent for this modality."
    elif withdrawn is not None:
        # "Record consent first" read as a form to fill in; the patient withdrew it (a
        # session on the day of the withdrawal, entered after it, is refused too).
        consent_message = (
            f"The patient withdrew the consent to {_words(modality)} (signed on "
            f"{withdrawn.signed_on}) on {withdrawn.withdrawal.withdrawn_on}: no session on or "
            "after that day. Only a new consent, signed by the patient, allows one."
        )
    elif signed_later is not None:
        consent_message = (
            f"The session date ({on_date}) is before the consent to {_words(modality)} signed "
            f"on {signed_later.signed_on}: check the session's date."
        )
    else:
        consent_message = (
            f"No valid signed consent for {_words(modality)} on this plan: record consent first."
        )
    checklist.items.append(ChecklistItem("consent", consent_ok, True, consent_message))
    stop = stop_decision(plan, on_date)
    if stop is not None:
        checklist.items.append(
            ChecklistItem(
                "decision",
                False,
                True,
                f"At the visit of {long_date(stop.visit.visit_date)}, "
                f"{display_name(stop.decided_by)} decided “{stop.get_decision_display()}”: "
                "no further session on this plan. A clinician records a new decision at a "
                "visit, or a new treatment plan, first.",
            )
        )
    stopped = stopping_event(plan, on_date)
    if stopped is not None:
        event = stopped.event
        checklist.items.append(
            ChecklistItem(
                "adverse_event",
                False,
                True,
                f"Adverse event {event.term_name} grade {event.grade} (onset "
                f"{long_date(event.onset_date)}), recorded by {display_name(event.reported_by)} "
                "with the action “Treatment stopped”: no further session until a clinician "
                "records a decision at a visit, or a new treatment plan.",
            )
        )
    return checklist


def stopping_event(plan: Any, on_date: date) -> Any:
    """The adverse event recorded with the action “Treatment stopped” that holds for
    ``plan`` on ``on_date`` (monitoring's ``stopping_event``), unless the plan was made after
    the action was set (a new course). None when sessions may go on."""
    from anagen.monitoring.selectors import stopping_event as find  # monitoring reads us

    found = find(plan.patient, on_date)
    if found is None or plan.created_at > found.stopped_at:
        return None
    return found


def stored_checklist(checklist: Checklist, patient: Any, vials: list[VialRequest]) -> dict:
    """The checklist as the session keeps it ("as it stood"): with the lines the form showed
    beside it, the allergies and the lots, which it left out."""
    from anagen.treatments.selectors import recorded_allergies

    allergies = recorded_allergies(patient)
    if allergies is None:
        line = "No medical history recorded: allergies unknown."
    elif allergies:
        line = (
            f"Recorded allergies: {', '.join(allergies)}; checked against the components of "
            "the products drawn and the anaesthetic named."
        )
    else:
        line = "No allergies recorded in the medical history."
    items = [*checklist.items, ChecklistItem("allergies", allergies == [], False, line)]
    if vials:
        numbers = ", ".join(dict.fromkeys(v.lot.lot_number for v in vials))
        items.append(
            ChecklistItem(
                "lots",
                True,
                False,
                f"Vials drawn from lot{'s' if len({v.lot.pk for v in vials}) > 1 else ''} "
                f"{numbers}: released, unexpired, not blocked and in stock when drawn.",
            )  # fmt: skip
        )
    return Checklist(items).as_dict()


def stop_decision(plan: Any, on_date: date) -> Any:
    """The clinician's decision to stop treatment that holds for ``plan`` on ``on_date``:
    the patient's latest live decision at a visit on or before that day, when it is a stop
    and the plan was made before it (a plan accepted after a stop is a new course). None when
    sessions may go on."""
    from anagen.monitoring.selectors import stop_in_force  # monitoring reads treatments

    stop = stop_in_force(plan.patient, on_date)
    if stop is None or plan.created_at > stop.decided_at:
        return None
    return stop


def _column(model: type[models.Model], name: str) -> models.Field:
    column = model._meta.get_field(name)
    assert isinstance(column, models.Field)
    return column


def _decimal(
    value: Any,
    name: str,
    errors: FieldErrors,
    column: models.Field,
    *,
    minimum: float = 0,
    maximum: float,
    positive: bool = False,
) -> Decimal | None:
    """``value`` as a Decimal within [minimum, maximum] rounded to ``column``'s places and
    storable in it (its max_digits), so that nothing stored can fail to read back; or None."""
    assert isinstance(column, models.DecimalField)
    places, digits = column.decimal_places or 0, column.max_digits or 0
    return read_decimal(
        errors, name, value, minimum, maximum, places=places, max_digits=digits, positive=positive
    )


def _text(value: Any, name: str, errors: FieldErrors, column: models.Field) -> str:
    """Stripped text that fits ``column`` (its max_length) and holds no NUL character."""
    return read_text(errors, name, value, max_len=column.max_length or MAX_TEXT)


def allergy_problems(patient: Any, lots: dict[int, Lot], anaesthesia: str) -> dict[str, list[str]]:
    """Allergies in the patient's latest medical history that the session would meet: a
    component of a drawn lot's product (``vials[i].lot``) or the anaesthetic named
    (``anaesthesia``). Screening matches product components only when they are typed in;
    this is the check at the point of use, with the products actually drawn."""
    from anagen.treatments.selectors import NO_ALLERGY, recorded_allergies

    allergies = recorded_allergies(patient) or []
    out: dict[str, list[str]] = {}
    if not allergies:
        return out
    if anaesthesia.strip().casefold() in NO_ALLERGY:
        anaesthesia = ""  # "none": no anaesthetic given
    for i, lot in lots.items():
        for component in lot.product.components or []:
            for allergy in allergies:
                if _allergen_matches(allergy, component):
                    out.setdefault(f"vials[{i}].lot", []).append(
                        f"Lot {lot.lot_number}: {lot.product.name} contains {component}, and "
                        f"the patient's medical history records an allergy to {allergy}. Do not "
                        "use this product for this patient."
                    )
    for allergy in allergies:
        if anaesthesia and _allergen_matches(allergy, anaesthesia, anaesthetic=True):
            out.setdefault("anaesthesia", []).append(
                f"The patient's medical history records an allergy to {allergy}: choose "
                "another anaesthetic."
            )
    return out


# "Allergic to local anaesthetics" names a class: any -caine drug, or a local technique whose
# drug is not named (tumescent, ring or nerve block, infiltration).
_LOCAL_ANAESTHETIC_CLASS = re.compile(r"\blocal\s+an(a)?esthe(tic|sia)s?\b|\bcaines?\b", re.I)
_LOCAL_ANAESTHETIC_USE = re.compile(r"\w+caine\b|\blocal\b|tumescent|\bblock\b|infiltrat", re.I)


def _allergen_matches(allergy: str, given: str, *, anaesthetic: bool = False) -> bool:
    """Whether an allergy entry names what is given, word by word (screening's
    substances_match), ignoring a reaction noted in brackets ("albumin (anaphylaxis)");
    for an anaesthetic also an allergy to local anaesthetics as a class."""
    from anagen.assessment.screening import substances_match

    substance = re.sub(r"\([^)]*\)", " ", allergy).strip()
    if substance and substances_match(substance, given):
        return True
    return bool(
        anaesthetic
        and _LOCAL_ANAESTHETIC_CLASS.search(substance)
        and _LOCAL_ANAESTHETIC_USE.search(given)
    )


@dataclass
class _MapRow:
    zone: str
    points: int
    volume_ml: Decimal
    spacing_mm: Decimal | None


def _clean_map(
    modality: str, entries: list[dict[str, Any]], fine_grid: bool, errors: FieldErrors
) -> list[_MapRow]:
    """The injection map, checked (types, hard limits, whole zones or fine-grid cells as
    ``fine_grid`` says, columns) and rounded; errors name ``map[i].<field>``, as the API's
    ``map`` and the page's zone rows. Every recorded zone has at least one point and at
    least 0.01 mL as stored, so an injected session's total volume is above 0."""
    if modality not in INJECTED:
        if entries:
            errors.setdefault("map", []).append(
                "Only exosome and PRP sessions have an injection map; leave it empty."
            )
        return []
    if not entries:
        errors.setdefault("map", []).append(
            "Enter the injection map: at least one zone with points and volume."
        )
    found = scalp_zones.validate_map(entries, prefix="map")
    found += scalp_zones.check_recording_limits(entries, prefix="map")
    found += scalp_zones.check_grid(entries, fine_grid, prefix="map")
    for err in found:
        errors.setdefault(err.field, []).append(err.message)
    rows = []
    for i, entry in enumerate(entries):
        if any(e.field.startswith(f"map[{i}].") for e in found):
            continue
        volume = _decimal(
            entry["volume_ml"],
            f"map[{i}].volume_ml",
            errors,
            _column(InjectionMapEntry, "volume_ml"),
            maximum=scalp_zones.MAX_VOLUME_ML_PER_ZONE,
        )
        spacing = _decimal(
            entry.get("spacing_mm"),
            f"map[{i}].spacing_mm",
            errors,
            _column(InjectionMapEntry, "spacing_mm"),
            maximum=scalp_zones.MAX_SPACING_MM,
            positive=True,
        )
        if volume is not None:
            rows.append(_MapRow(entry["zone"], entry["points"], volume, spacing))
    return rows


@dataclass
class _GraftRow:
    zone: str
    grafts: int
    technique: str


def _clean_grafts(
    modality: str, grafts: list[dict[str, Any]], errors: FieldErrors
) -> list[_GraftRow]:
    if modality != Modality.TRANSPLANT:
        if grafts:
            errors.setdefault("grafts", []).append(
                "Graft rows are recorded only for a hair transplant session; leave them empty."
            )
        return []
    if not grafts:
        errors.setdefault("grafts", []).append("Record the grafts by zone.")
    techniques = dict(GraftRecord.TECHNIQUES)
    rows = []
    for i, g in enumerate(grafts):
        zone, technique = g.get("zone"), g.get("technique")
        zone_ok = isinstance(zone, str) and zone in scalp_zones.ALL_CODES
        if not zone_ok:
            errors.setdefault(f"grafts[{i}].zone", []).append("Unknown zone.")
        count = read_whole(
            errors,
            f"grafts[{i}].grafts",
            g.get("grafts"),
            1,
            scalp_zones.MAX_GRAFTS_PER_ROW,
            message=f"Between 1 and {scalp_zones.MAX_GRAFTS_PER_ROW} grafts.",
        )
        if count is None and f"grafts[{i}].grafts" not in errors:
            errors[f"grafts[{i}].grafts"] = ["At least one graft."]
        technique_ok = isinstance(technique, str) and technique in techniques
        if not technique_ok:
            errors.setdefault(f"grafts[{i}].technique", []).append(
                f"Choose one of: {', '.join(techniques)}."
            )
        if zone_ok and technique_ok and count is not None:
            rows.append(_GraftRow(str(zone), count, str(technique)))
    total = sum(r.grafts for r in rows)
    if total > scalp_zones.MAX_GRAFTS_PER_SESSION:
        errors.setdefault("grafts", []).append(
            f"{total} grafts in all; at most {scalp_zones.MAX_GRAFTS_PER_SESSION} per session."
        )
    return rows


def course_warnings(plan: Any, modality: str, on_date: date) -> list[str]:
    """What a session on ``on_date`` would break in the plan's course: sooner after (or
    before) another session of its kind on the plan than the protocol's shortest interval,
    or more sessions than planned (the plan's number when it has one session-based
    protocol, else the protocol's most), counted as treatment days. Sessions on the same day
    are the same-day rule's."""
    ended = _ended_course_warning(plan, modality, on_date)
    protocols = [p for p in plan.protocols if p.get("sessions_min") is not None]
    protocol = next((p for p in protocols if p.get("modality") == modality), None)
    if protocol is None:
        return [ended] if ended else []
    others = list(
        TreatmentSession.objects.filter(
            plan=plan, modality=modality, voided_at__isnull=True
        ).values_list("performed_on", flat=True)
    )
    warnings = []
    words = _words(modality)
    min_weeks = protocol.get("interval_weeks_min")
    near = [d for d in others if d != on_date]
    if min_weeks and near:
        closest = min(near, key=lambda d: abs((d - on_date).days))
        gap = abs((closest - on_date).days)
        if gap < min_weeks * 7:
            when = "before" if closest < on_date else "after"
            warnings.append(
                f"The {words} session of {long_date(closest)} on this plan is {gap} day"
                f"{'s' if gap != 1 else ''} {when} this one; the protocol "
                f"({protocol.get('title', words)}) asks for at least {min_weeks:g} weeks "
                "between sessions."
            )
    planned = plan.sessions_planned if len(protocols) == 1 else None
    most = planned or protocol.get("sessions_max")
    # Counted as treatment days, as the timeline and the proposal count them: a second
    # record on a session day (a separate session confirmed as such) is not one more session.
    number = len({*others, on_date})
    if most and on_date not in others and number > most:
        whose = f"the plan has {most} planned" if planned else f"the protocol has at most {most}"
        warnings.append(f"This would be session {number} of {words} on this plan; {whose}.")
    return [ended, *warnings] if ended else warnings


def _ended_course_warning(plan: Any, modality: str, on_date: date) -> str | None:
    """A session on or after the day the patient's course of this treatment was ended early
    (docs/monitoring.md: ending a course stops the treatment) is a resumed treatment, which
    was recorded without a word; the course in force is the newest begun by ``on_date``."""
    from anagen.monitoring.models import FollowUpPlan  # monitoring reads treatments
    from anagen.monitoring.selectors import course_modality

    course = (
        FollowUpPlan.objects.filter(
            clinic=plan.clinic,
            patient=plan.patient,
            voided_at__isnull=True,
            first_session_date__lte=on_date,
        )
        .select_related("ended_by")
        .order_by("-first_session_date", "-id")
        .first()
    )
    if course is None or course.ended_on is None or course.ended_on > on_date:
        return None
    if course_modality(course) not in ("", modality):
        return None
    by = f" by {display_name(course.ended_by)}" if course.ended_by else ""
    return (
        f"The course begun {long_date(course.first_session_date)} was ended early on "
        f"{long_date(course.ended_on)}{by} ({course.end_reason}); a session after that resumes "
        "a stopped treatment. If treatment goes on, a clinician starts a new course on the "
        "schedule page."
    )


def same_day_sessions(patient: Any, modality: str, on_date: date) -> list[TreatmentSession]:
    """The patient's sessions of this modality on this date that are not voided."""
    return list(
        TreatmentSession.objects.filter(
            patient=patient, modality=modality, performed_on=on_date, voided_at__isnull=True
        )
        .select_related("clinician")
        .order_by("created_at", "id")
    )


def same_day_message(earlier: list[TreatmentSession]) -> str:
    """Why a second session of the same modality on the same day is held back, and what to do."""
    first = earlier[0]
    recorded = recorded_by_at((s.clinician, s.created_at) for s in earlier)
    sessions = "a session" if len(earlier) == 1 else f"{len(earlier)} sessions"
    return (
        f"This patient already has {sessions} of {in_sentence(first.get_modality_display())} "
        f"on {long_date(first.performed_on)} (recorded by {recorded}). Recording another may "
        "double the dose. If it is the same session, do not record it twice; if it really is a "
        "separate session on the same day (e.g. a second treatment area), confirm that it is "
        "(the box “This is a separate session on the same day”; in the API, "
        "confirm_same_day: true)."
    )


@transaction.atomic
def record_session(
    clinic: Clinic,
    user: User,
    plan: Any,
    data: dict[str, Any],
    *,
    map_entries: list[dict[str, Any]] | None = None,
    vials: list[VialRequest] | None = None,
    prp: dict[str, Any] | None = None,
    grafts: list[dict[str, Any]] | None = None,
) -> TreatmentSession:
    """Record a session after the checklist passes; draws vials atomically through products.

    Every value is checked (ranges, the hard limits in ``scalp_zones``, what each column
    holds) before anything is written; a refusal raises SessionError naming each field
    (``map[i].volume_ml``, ``vials[i].lot``, ``prp.spin_protocol``, ``grafts[i].zone``).

    A second non-voided session of the same modality for the patient on the same date is
    refused (``performed_on``: it may be a double dose) unless ``data["confirm_same_day"]``
    is True; the confirmation is then kept in the session's notes and history. A page sends
    with it ``data["same_day_seen"]``, how many sessions that day its refusal named: the
    confirmation holds only while that is still the number.
    """
    errors = FieldErrors()
    modality = data.get("modality")
    if not isinstance(modality, str) or modality not in Modality.values:
        raise SessionError({"modality": [f"Choose one of: {', '.join(Modality.values)}."]})
    performed_on = data.get("performed_on")
    if not isinstance(performed_on, date):
        raise SessionError({"performed_on": ["Enter the session date."]})
    if performed_on > timezone.localdate():
        errors.setdefault("performed_on", []).append("A session cannot be in the future.")
    born = plan.patient.date_of_birth
    if performed_on < born:
        errors.setdefault("performed_on", []).append(
            f"The session date is before the patient's date of birth ({born.isoformat()})."
        )
    elif plan.start_on and performed_on < plan.start_on:
        errors.setdefault("performed_on", []).append(
            f"The plan starts on {plan.start_on}; the session cannot be earlier."
        )
    if plan.clinic_id != clinic.id:
        raise SessionError({"plan": ["No such plan."]})
    # Asked first and reported with the field errors: a PRP session posted on an exosome-only
    # plan was told of its missing PRP fields, and only once they were filled that the plan
    # does not include PRP.
    checklist = pre_session_checklist(plan, modality, performed_on)
    if checklist.blocked:
        errors["checklist"] = [i.message for i in checklist.items if i.blocking and not i.ok]

    text = {
        name: _text(data.get(name), name, errors, _column(TreatmentSession, name))
        for name in ("anaesthesia", "technique", "immediate_reactions", "notes")
    }
    gauge = read_whole(
        errors,
        "needle_gauge",
        data.get("needle_gauge"),
        18,
        34,
        message="Needle gauge must be between 18G and 34G.",
    )
    depth = _decimal(
        data.get("depth_mm"),
        "depth_mm",
        errors,
        _column(TreatmentSession, "depth_mm"),
        maximum=scalp_zones.MAX_DEPTH_MM,
        positive=True,
    )

    fine_grid = bool(data.get("fine_grid"))
    map_rows = _clean_map(modality, list(map_entries or []), fine_grid, errors)
    vials = list(vials or [])
    if modality == Modality.EXOSOME and not vials:
        errors.setdefault("vials", []).append("Record the vials drawn (lot and number).")
    elif modality != Modality.EXOSOME and vials:
        # The lots are exosome products: drawn for another treatment, the lot trace and a
        # recall would name the patient as treated with them.
        errors.setdefault("vials", []).append(
            "Product vials are drawn in exosome sessions only; this session is "
            f"{Modality(modality).label}: remove the lot rows."
        )
    seen_lots: dict[int, int] = {}
    for i, v in enumerate(vials):
        if isinstance(v.quantity, bool) or not isinstance(v.quantity, int) or v.quantity < 1:
            errors.setdefault(f"vials[{i}].quantity", []).append("At least one vial.")
        elif v.quantity > MAX_VIALS_PER_ROW:
            errors.setdefault(f"vials[{i}].quantity", []).append(
                f"At most {MAX_VIALS_PER_ROW} vials from one lot in a session."
            )
        if v.lot.clinic_id != clinic.id:
            errors.setdefault(f"vials[{i}].lot", []).append("No such lot.")
        elif v.lot.pk in seen_lots:
            errors.setdefault(f"vials[{i}].lot", []).append(
                f"Lot {v.lot.lot_number} listed twice (row {seen_lots[v.lot.pk] + 1} too); "
                "give one row with the quantity."
            )
        else:
            seen_lots[v.lot.pk] = i
            if f"vials[{i}].quantity" not in errors and not errors.get("vials"):
                # Asked now so that a lot refusal shows with every other error (the draw
                # below asks again with the lot row locked).
                for name, msgs in product_services.draw_problems(
                    v.lot, v.quantity, performed_on
                ).items():
                    errors.setdefault(f"vials[{i}].{name}", []).extend(
                        _about_lot(v.lot, m) for m in msgs
                    )
    for name, msgs in allergy_problems(
        plan.patient,
        {i: v.lot for i, v in enumerate(vials) if v.lot.clinic_id == clinic.id},
        text.get("anaesthesia", ""),
    ).items():
        errors.setdefault(name, []).extend(msgs)
    prep: PrpPreparation | None = None
    if modality == Modality.PRP:
        prp = prp or {}
        blood = _decimal(
            prp.get("blood_volume_ml"),
            "prp.blood_volume_ml",
            errors,
            _column(PrpPreparation, "blood_volume_ml"),
            minimum=1,
            maximum=200,
        )
        if blood is None and "prp.blood_volume_ml" not in errors:
            errors["prp.blood_volume_ml"] = ["Enter the blood volume drawn (mL)."]
        spin = _text(
            prp.get("spin_protocol"),
            "prp.spin_protocol",
            errors,
            _column(PrpPreparation, "spin_protocol"),
        )
        if not spin and "prp.spin_protocol" not in errors:
            errors["prp.spin_protocol"] = ["Describe the spin protocol."]
        platelets = _decimal(
            prp.get("platelet_concentration_10e9_per_l"),
            "prp.platelet_concentration_10e9_per_l",
            errors,
            _column(PrpPreparation, "platelet_concentration_10e9_per_l"),
            maximum=10000,
        )
        if blood is not None:
            prep = PrpPreparation(
                blood_volume_ml=blood,
                spin_protocol=spin,
                platelet_concentration_10e9_per_l=platelets,
            )
    elif prp and any(v not in (None, "") for v in prp.values()):
        # Refused, not dropped: the caller believes a PRP preparation was recorded.
        errors.setdefault("prp", []).append(
            "PRP details are recorded only for a platelet-rich plasma session; leave them empty."
        )
    graft_rows = _clean_grafts(modality, list(grafts or []), errors)
    # Two sessions posted at once cannot both find the day empty.
    if lock_patient(plan.patient).is_voided:  # voided since the page was opened
        errors.setdefault("__all__", []).append("The patient record is voided.")
    earlier = same_day_sessions(plan.patient, modality, performed_on)
    confirmed_same_day = data.get("confirm_same_day") is True
    seen = data.get("same_day_seen")
    if confirmed_same_day and isinstance(seen, int) and seen != len(earlier):
        # Confirmed against fewer sessions than there are now: the form was saved again
        # (the browser's Back, then Save), and a session recorded twice draws its vials
        # twice (nurse review). Asked again, naming them all.
        confirmed_same_day = False
    # Asked together with the volume confirmation below, not one round after the other.
    to_confirm: dict[str, list[str]] = {}
    if earlier and not confirmed_same_day:
        to_confirm["performed_on"] = [same_day_message(earlier)]
    if errors:
        raise SessionError({**errors, **to_confirm}, same_day_count=len(earlier))

    # Totals and warnings from the values as stored (rounded), so they add up on paper.
    stored = [
        {"zone": r.zone, "points": r.points, "volume_ml": float(r.volume_ml)} for r in map_rows
    ]
    totals = scalp_zones.map_totals(stored) if stored else None
    vial_volume = sum(float(v.lot.product.volume_ml) * v.quantity for v in vials) if vials else None
    protocol_max = (
        max(
            (
                p.get("max_volume_ml_per_session") or 0
                for p in plan.protocols
                if p.get("modality") == modality
            ),
            default=0,
        )
        or None
    )
    warnings = (
        scalp_zones.check_limits(totals, vial_volume, protocol_max) if totals is not None else []
    )
    if warnings and data.get("confirm_limits") is not True:
        # More than the vials held, or over the protocol's limit: a typing slip as often as a
        # dilution. It was saved with a warning shown beside "Session recorded."; now it is
        # saved once someone has looked at it.
        to_confirm["confirm_limits"] = [
            *(w.message for w in warnings),
            "If the volumes are right (for example, the product was diluted), tick the "
            "confirmation and save again; the warning stays with the session.",
        ]
    course = course_warnings(plan, modality, performed_on)
    if course and data.get("confirm_schedule") is not True:
        to_confirm["confirm_schedule"] = [
            *course,
            "If this is right (a session brought forward, or an extra session decided at a "
            "visit), tick the confirmation and save again; the warning stays with the session.",
        ]
    cautions = [i.message for i in checklist.items if i.caution]
    if cautions and data.get("confirm_screening") is not True:
        to_confirm["confirm_screening"] = [
            *cautions,
            "Once checked with the patient, tick the confirmation and save again; it is kept "
            "with the session.",
        ]
    if to_confirm:
        raise SessionError(to_confirm, same_day_count=len(earlier))

    session = TreatmentSession(
        clinic=clinic,
        patient=plan.patient,
        plan=plan,
        modality=modality,
        performed_on=performed_on,
        clinician=user,
        checklist=stored_checklist(checklist, plan.patient, vials),
        needle_gauge=gauge,
        depth_mm=depth,
        fine_grid=fine_grid,
        total_points=sum(r.points for r in map_rows),
        total_volume_ml=sum((r.volume_ml for r in map_rows), Decimal("0.00")),
        limit_warnings=[
            *({"code": w.code, "message": w.message} for w in warnings),
            *({"code": "course", "message": m} for m in course),
        ],
        **text,
    )
    reason = "session recorded"
    if cautions:
        reason = (
            f"session recorded; screening findings confirmed as checked by {display_name(user)}"
        )
    if earlier and confirmed_same_day:
        # The confirmation stays with the session: in its notes (on the page and on paper)
        # and in its history entry.
        confirmation = (
            f"Confirmed by {display_name(user)} as a separate {modality} session on "
            f"{long_date(performed_on)}, besides the one recorded by "
            f"{recorded_by_at((s.clinician, s.created_at) for s in earlier)}."
        )
        session.notes = f"{session.notes}\n\n{confirmation}".strip()
        reason = f"{reason}; {confirmation}"
    save_with_history(session, user, reason)
    for r in map_rows:
        row = InjectionMapEntry(
            session=session,
            zone=r.zone,
            points=r.points,
            volume_ml=r.volume_ml,
            spacing_mm=r.spacing_mm,
        )
        save_with_history(row, user, "recorded with the session")
    draw_errors = FieldErrors()
    for i, v in enumerate(vials):
        try:
            product_services.draw_vials(
                v.lot,
                plan.patient,
                v.quantity,
                user,
                on_date=performed_on,
                session_ref=selectors.session_ref(session),
            )
        except product_services.ProductError as exc:
            # Each refusal under its row (the lot not usable, not enough vials in it); every
            # row is tried so that all are reported at once.
            for name, msgs in exc.errors.items():
                key = f"vials[{i}].{name}" if name in ("lot", "quantity") else "vials"
                for m in msgs:
                    draw_errors.setdefault(key, []).append(_about_lot(v.lot, m))
    if draw_errors:
        # Roll back the whole session: nothing half-stored.
        transaction.set_rollback(True)
        raise SessionError(draw_errors)
    if prep is not None:
        prep.session = session
        save_with_history(prep, user, "recorded with the session")
    for g in graft_rows:
        graft = GraftRecord(session=session, zone=g.zone, grafts=g.grafts, technique=g.technique)
        save_with_history(graft, user, "recorded with the session")
    return session


VOID_REASON_MIN = 5


def void_session(
    session: TreatmentSession, user: User, reason: str, *, vials_returned: bool = False
) -> TreatmentSession:
    """Void a session entered in error: kept in the database and its history, with who,
    when and why, and left out of every count of sessions from then on.

    Its vial draws stay on the lot trace: a recall must reach anyone who may have been
    exposed. Only when the user says the vials were not used (``vials_returned``: the
    session was entered twice, or for the wrong patient, and the vials are back in storage
    unopened) do they go back in stock, the draws marked returned; otherwise correcting a
    session by voiding and entering it again took its vials from stock twice.
    """
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if len(reason) < VOID_REASON_MIN or "\x00" in reason:
        raise SessionError({"reason": ["Give the reason for voiding (at least 5 characters)."]})
    if not isinstance(vials_returned, bool):
        raise SessionError({"vials_returned": ["Expected true or false."]})
    with transaction.atomic():
        fresh = TreatmentSession.objects.select_for_update().get(pk=session.pk)
        if fresh.voided_at is not None:
            raise SessionError({"__all__": ["This session is already voided."]})
        fresh.voided_at = timezone.now()
        fresh.voided_by = user
        fresh.void_reason = reason
        note = f"voided: {reason}"
        if vials_returned:
            try:
                returned = product_services.return_drawn_vials(
                    selectors.session_ref(fresh), fresh.patient, user, f"session voided: {reason}"
                )
            except product_services.ProductError as exc:
                raise SessionError(exc.errors) from exc
            note += f"; {returned} vial(s) returned to stock unused" if returned else ""
        save_with_history(fresh, user, note)
    return fresh


def postcare_template(
    clinic: Clinic, modality: str, *, as_of: datetime | None = None
) -> PostCareTemplate | None:
    templates = PostCareTemplate.objects.filter(clinic=clinic, modality=modality)
    if as_of is not None:
        templates = templates.filter(created_at__lte=as_of)
    return templates.order_by("-version").first()


def session_postcare_text(session: TreatmentSession) -> PostCareText:
    """The text a patient was given with ``session``: the version in force when the session
    was recorded (a later edit of the clinic's text does not rewrite what they took home)."""
    return postcare_text(session.clinic, session.modality, as_of=session.created_at)


@dataclass(frozen=True)
class PostCareText:
    """The sheet text, a label saying which version it is, and whether the clinic has
    reviewed it (has saved a version of its own)."""

    body: str
    version: str
    reviewed: bool


def postcare_text(clinic: Clinic, modality: str, *, as_of: datetime | None = None) -> PostCareText:
    """The clinic's text for ``modality``: its newest version, or the newest saved by
    ``as_of`` (the text in force then; before any, the shipped default)."""
    template = postcare_template(clinic, modality, as_of=as_of)
    if template is None:
        return PostCareText(
            DEFAULT_POSTCARE[modality],
            "Anagen default text, not yet reviewed by the clinic",
            reviewed=False,
        )
    return PostCareText(template.body, f"Clinic version {template.version}", reviewed=True)


@transaction.atomic
def save_postcare_template(
    clinic: Clinic, user: User, modality: str, body: str
) -> PostCareTemplate:
    body = (body or "").strip()
    if modality not in Modality.values:
        raise SessionError({"modality": ["Unknown modality."]})
    if len(body) < 20:
        raise SessionError({"body": ["Write the instructions (at least 20 characters)."]})
    with transaction.atomic():
        # Two people saving at once would both take the next version number and the second
        # would fail on the unique version: the second waits and becomes the version after.
        lock_names([f"postcare:{clinic.pk}:{modality}"])
        current = postcare_template(clinic, modality)
        if current is not None and current.body == body:
            # A new version with the same text would blur which text a patient was given.
            raise SessionError(
                {"body": [f"Nothing changed: this is the text of version {current.version}."]}
            )
        template = PostCareTemplate(
            clinic=clinic,
            modality=modality,
            body=body,
            created_by=user,
            version=(current.version + 1) if current else 1,
        )
        save_with_history(template, user, f"post-care text v{template.version}")
    return template


def _about_lot(lot: Lot, message: str) -> str:
    """A lot's refusal under its vial row, saying which lot ("Lot X: …") unless it already
    begins with the lot ("Lot X was received on …" read "Lot X: Lot X was …")."""
    named = f"Lot {lot.lot_number}"
    return message if message.startswith(named) else f"{named}: {message}"
