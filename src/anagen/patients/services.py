"""Writes of patient data: validation, transactions and audit in one place."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import Truncator

from anagen.accounts.models import Clinic, User
from anagen.core.checks import Refusal, is_phone
from anagen.core.dates import add_years
from anagen.core.history import save_with_history
from anagen.core.text import dialable_phone, hidden_characters, printed_code, search_key
from anagen.patients.models import Patient, SexAtBirth

EDITABLE_FIELDS = (
    "medical_record_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex_at_birth",
    "phone",
    "email",
    "address",
)
OLDEST_PLAUSIBLE_AGE_YEARS = 130
_IDENTIFYING_TEXT = frozenset({"medical_record_number", "given_name", "family_name"})
_NAMES = frozenset({"given_name", "family_name"})
NAME_JOINERS = "\u200c\u200d"  # zero-width non-joiner and joiner (e.g. Persian "می‌خواهم")


class PatientError(Refusal):
    """A write was refused; `errors` maps field name -> list of messages."""


# The same limit on every channel (form, API, FHIR import): an address, not a document.
ADDRESS_MAX_CHARS = 2000


def validate_date_of_birth(value: date, today: date | None = None) -> None:
    today = today or timezone.localdate()
    if value > today:
        raise ValidationError("Date of birth cannot be in the future.")
    # By the date, not the year: 1 January and 31 December of one year were a year apart
    # in age yet one was taken and the other refused. (29 February counts from 28 February.)
    oldest = add_years(today, -OLDEST_PLAUSIBLE_AGE_YEARS)
    if value < oldest:
        raise ValidationError(
            f"Date of birth is more than {OLDEST_PLAUSIBLE_AGE_YEARS} years ago; check the year."
        )


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        errors["__all__"] = [f"Unknown field(s): {', '.join(sorted(unknown))}."]
    cleaned: dict[str, Any] = {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items()}
    mrn = cleaned.get("medical_record_number")
    if isinstance(mrn, str):
        # Stored as it prints (NFKC): "ＭＲＮ-００４６" from an input method left in full-width
        # mode is MRN-0046, not a second number for the same person.
        cleaned["medical_record_number"] = printed_code(mrn)
    for field in ("medical_record_number", "given_name", "family_name"):
        if field in cleaned and not cleaned[field]:
            errors.setdefault(field, []).append("This field is required.")
    if "date_of_birth" in cleaned:
        try:
            validate_date_of_birth(cleaned["date_of_birth"])
        except ValidationError as exc:
            errors.setdefault("date_of_birth", []).extend(exc.messages)
    for field, value in cleaned.items():
        if not isinstance(value, str):
            continue
        # A tab, bell or right-to-left override in a record number or name hides what it
        # shows (a FHIR import stored "IMP 13\n\tX"); an address keeps its line breaks.
        # Zero-width and other format characters too in the identifying fields: "MRN-1\u200b2"
        # looks like MRN-12 but is another number.
        hidden = hidden_characters(
            value,
            # Names keep the zero-width (non-)joiners that Persian and Indic spellings need;
            # a record number, compared for duplicates, keeps none.
            allow="\n\r" if field == "address" else NAME_JOINERS if field in _NAMES else "",
            invisible=field in _IDENTIFYING_TEXT,
        )
        if hidden:
            errors.setdefault(field, []).append(
                f"Remove the control or invisible character(s) {', '.join(hidden)}."
            )
    if isinstance(cleaned.get("address"), str) and len(cleaned["address"]) > ADDRESS_MAX_CHARS:
        errors.setdefault("address", []).append(
            f"At most {ADDRESS_MAX_CHARS} characters (this has {len(cleaned['address'])})."
        )
    phone = cleaned.get("phone")
    if isinstance(phone, str):
        phone = cleaned["phone"] = dialable_phone(phone)
    if isinstance(phone, str) and phone and len(phone) <= 40 and not is_phone(phone):
        # "call me maybe" and a 40-digit run were stored, and a reminder list of such numbers
        # reaches nobody.
        errors.setdefault("phone", []).append(
            "Not a phone number: use digits with spaces, +, -, ( ) or . (e.g. +44 20 7946 "
            "0018; an extension as “ext 12”), at most 20 digits."
        )
    if "sex_at_birth" in cleaned and cleaned["sex_at_birth"] not in SexAtBirth.values:
        errors.setdefault("sex_at_birth", []).append(
            f"Must be one of: {', '.join(SexAtBirth.values)}."
        )
    if errors:
        raise PatientError(errors)
    return cleaned


def _save(patient: Patient, user: User, reason: str) -> Patient:
    try:
        patient.full_clean(exclude=["clinic", "voided_by"])
    except ValidationError as exc:
        raise PatientError(exc.message_dict) from exc
    try:
        with transaction.atomic():
            save_with_history(patient, user, reason)
    except IntegrityError as exc:
        taken = (
            Patient.objects.filter(
                clinic_id=patient.clinic_id, medical_record_number=patient.medical_record_number
            )
            .exclude(pk=patient.pk)
            .exists()
        )
        if not taken:
            raise  # not the one constraint a person can put right: a fault, not their input
        raise PatientError(
            {
                "medical_record_number": [
                    "This medical record number is already used in this clinic."
                ]
            }
        ) from exc
    return patient


def lock_patient(patient: Patient) -> Patient:
    """Lock the patient's row until the transaction ends (PostgreSQL; SQLite serialises
    writers), so that two writes checked against the same record (a form sent twice) cannot
    both pass the check. Call inside ``transaction.atomic``. Returned: the row as it stands
    now, to check again what may have changed meanwhile (a void committed by someone else)."""
    # NO KEY: two lockers still wait for each other, but a transaction that holds a visit lock
    # and inserts a row referring to the patient (its foreign-key check takes KEY SHARE on
    # the patient at commit) is not blocked by it, which would deadlock against a locker
    # waiting for that visit (add_photos: patient, then visit).
    return Patient.objects.select_for_update(no_key=True).get(pk=patient.pk)


def create_patient(
    clinic: Clinic, user: User, data: dict[str, Any], *, confirm_not_duplicate: bool = False
) -> Patient:
    """Register a patient. A person already registered with the same name (ignoring accents
    and case) and date of birth is refused unless ``confirm_not_duplicate``: two records of
    one person split their history, allergies and adverse events."""
    data = dict(data)
    confirm_not_duplicate = bool(data.pop("confirm_not_duplicate", confirm_not_duplicate))
    cleaned = _clean(data)
    missing = [
        f
        for f in (
            "medical_record_number",
            "given_name",
            "family_name",
            "date_of_birth",
            "sex_at_birth",
        )
        if f not in cleaned
    ]
    if missing:
        raise PatientError({f: ["This field is required."] for f in missing})
    with transaction.atomic():
        # One registration of a clinic at a time: two of one person sent at the same moment
        # (from two desks) both passed the duplicate check, which reads and then writes; two
        # record numbers differing only in case ("abc-1", "ABC-1") both passed the number's
        # (the database's constraint compares the case).
        Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
        _check_mrn_free(clinic, cleaned["medical_record_number"])
        same = possible_duplicates(clinic, cleaned)
        if same and not confirm_not_duplicate:
            raise PatientError({DUPLICATE_FIELD: [_duplicate_message(same)]})
        return _save(Patient(clinic=clinic, **cleaned), user, "created")


# The field that confirms a registration despite a possible duplicate (form, API, import).
DUPLICATE_FIELD = "confirm_not_duplicate"


def _duplicate_message(same: list[Patient]) -> str:
    listed = "; ".join(
        f"{p.family_name}, {p.given_name} ({p.medical_record_number})" for p in same[:3]
    )
    return (
        f"A patient with this name and date of birth is already registered: {listed}. Open "
        "that record instead; if this is a different person, confirm it and save again."
    )


# Letters that are not an accented form of another (NFKD leaves them) but are typed as one
# on a keyboard without them: "Øster" registered again as "Oster".
_PLAIN_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d",
                                "þ": "th", "ı": "i"})  # fmt: skip


def _name_key(name: str) -> str:
    """Letters only: "Anne-Marie" is "Anne Marie", "O'Neil" is "ONeil"."""
    return "".join(ch for ch in search_key(name).translate(_PLAIN_LETTERS) if ch.isalnum())


def possible_duplicates(clinic: Clinic, cleaned: dict[str, Any]) -> list[Patient]:
    """Patients of the clinic, not voided, with the same date of birth and the same given
    and family names (either way round), compared on letters only with accents, case and
    letters such as ø (typed o) folded."""
    given, family = _name_key(cleaned["given_name"]), _name_key(cleaned["family_name"])
    names = {(given, family), (family, given)}
    return [
        p
        for p in Patient.objects.filter(
            clinic=clinic, date_of_birth=cleaned["date_of_birth"], voided_at__isnull=True
        ).order_by("id")
        if (_name_key(p.given_name), _name_key(p.family_name)) in names
    ]


def _check_mrn_free(clinic: Clinic, mrn: str, patient: Patient | None = None) -> None:
    """One record number per patient in a clinic, whatever its case ("demo-0046" is
    DEMO-0046: two records for one person split their history)."""
    others = Patient.objects.filter(clinic=clinic, medical_record_number__iexact=mrn)
    if patient is not None:
        others = others.exclude(pk=patient.pk)
    taken = others.first()
    if taken is not None:
        number = taken.medical_record_number
        shown = "" if number == mrn else f" (as {number})"
        message = f"This medical record number is already used in this clinic{shown}."
        if taken.is_voided:
            # A void made in error is undone on that record, not by registering again.
            message = (
                f"This medical record number belongs to a voided record{shown}: "
                f"{taken.full_name}, voided {timezone.localtime(taken.voided_at):%Y-%m-%d} "
                f"({Truncator(taken.void_reason).chars(80)}). "
                "If that record was voided in error, a clinician or administrator can "
                "restore it instead of registering the person again."
            )
        raise PatientError({"medical_record_number": [message]})


def field_problems(
    clinic: Clinic, data: dict[str, Any], patient: Patient | None = None
) -> dict[str, list[str]]:
    """What the services would refuse in ``data`` (text, dates, a record number taken), without
    saving: a form that has its own errors shows these beside them, all in one round."""
    problems: dict[str, list[str]] = {}
    try:
        _clean(data)
    except PatientError as exc:
        problems.update(exc.errors)
    mrn = data.get("medical_record_number")
    if isinstance(mrn, str) and mrn.strip() and "medical_record_number" not in problems:
        try:
            _check_mrn_free(clinic, printed_code(mrn.strip()), patient)
        except PatientError as exc:
            problems.update(exc.errors)
    return problems


def update_patient(patient: Patient, user: User, data: dict[str, Any]) -> Patient:
    """Change some fields. A change of name or date of birth that makes the record read as
    another registered person's is refused unless ``data["confirm_not_duplicate"]``."""
    if patient.is_voided:
        raise PatientError({"__all__": ["This record is voided and cannot be edited."]})
    data = dict(data)
    confirm_not_duplicate = bool(data.pop("confirm_not_duplicate", False))
    cleaned = _clean(data)
    mrn = cleaned.get("medical_record_number")
    with transaction.atomic():
        if mrn:
            # Under the clinic's lock, as a registration checks it (taken before the patient's
            # row, in the order a registration takes them).
            Clinic.objects.select_for_update().filter(pk=patient.clinic_id).first()
            _check_mrn_free(patient.clinic, mrn, patient)
        # Locked, then read: the row saved is the one as it stands, so a void or another
        # edit committed meanwhile is not overwritten with what this request read before.
        fresh = lock_patient(patient)
        if fresh.is_voided:
            raise PatientError({"__all__": ["This record is voided and cannot be edited."]})
        return _apply_edit(fresh, user, cleaned, confirm_not_duplicate)


def _apply_edit(
    fresh: Patient, user: User, cleaned: dict[str, Any], confirm_not_duplicate: bool
) -> Patient:
    if cleaned.get("sex_at_birth", fresh.sex_at_birth) != fresh.sex_at_birth:
        _check_sex_fits_history(fresh, cleaned["sex_at_birth"])
    born = cleaned.get("date_of_birth")
    if born is not None and born > fresh.date_of_birth:
        _check_birth_before_records(fresh, born)
    identity = ("given_name", "family_name", "date_of_birth")
    if not confirm_not_duplicate and any(
        f in cleaned and cleaned[f] != getattr(fresh, f) for f in identity
    ):
        after = {f: cleaned.get(f, getattr(fresh, f)) for f in identity}
        others = [p for p in possible_duplicates(fresh.clinic, after) if p.pk != fresh.pk]
        if others:
            raise PatientError({DUPLICATE_FIELD: [_duplicate_message(others)]})
    for field, value in cleaned.items():
        setattr(fresh, field, value)
    return _save(fresh, user, "edited")


def _check_sex_fits_history(patient: Patient, sex_at_birth: str) -> None:
    """A male record cannot keep a history that records pregnancy or breastfeeding: the
    screening engine refuses that combination, so the patient could no longer be screened."""
    if sex_at_birth != SexAtBirth.MALE:
        return
    from anagen.assessment.models import MedicalHistory  # assessment depends on patients

    latest = MedicalHistory.objects.filter(patient=patient).order_by("-version").first()
    if latest is not None and (latest.pregnant or latest.lactating):
        answered = "pregnancy" if latest.pregnant else "breastfeeding"
        raise PatientError(
            {
                "sex_at_birth": [
                    f"The latest medical history (version {latest.version}, "
                    f"{latest.recorded_on.isoformat()}) records {answered}, which cannot apply "
                    "to a male record. Record a new history version without it first."
                ]
            }
        )  # nothing changed: not saved, no history entry


# The dated clinical records of a patient, each of which must fall on or after the date of
# birth (the apps that hold them depend on this one, so they are named, not imported).
DATED_RECORDS = (
    ("assessment.MedicalHistory", "recorded_on", "medical history"),
    ("assessment.Screening", "screened_on", "screening"),
    ("assessment.ScalpExam", "examined_on", "scalp examination"),
    ("assessment.Diagnosis", "diagnosed_on", "diagnosis"),
    ("assessment.Consent", "signed_on", "consent"),
    ("treatments.TreatmentSession", "performed_on", "treatment session"),
    ("monitoring.Visit", "visit_date", "visit"),
    ("monitoring.AdverseEvent", "onset_date", "adverse event"),
)


def earliest_record(patient: Patient) -> tuple[date, str] | None:
    """The earliest date of the patient's records kept (voided ones left out), with what it
    is: "visit", "start of finasteride", ... None when there is none."""
    found: list[tuple[date, str]] = []
    for label, field, what in DATED_RECORDS:
        model = apps.get_model(label)
        rows = model._default_manager.filter(patient=patient)
        if any(f.name == "voided_at" for f in model._meta.get_fields()):
            rows = rows.filter(voided_at__isnull=True)
        first = rows.order_by(field).values_list(field, flat=True).first()
        if first is not None:
            found.append((first, what))
    history = apps.get_model("assessment.MedicalHistory")
    latest = history.objects.filter(patient=patient).order_by("-version").first()
    if latest is not None:
        for med in latest.medications or []:
            started = _iso_date(med.get("start"))
            if started is not None:
                found.append((started, f"start of {med.get('name') or med.get('drug_class')}"))
        for prior in latest.prior_treatments or []:
            on = _iso_date(prior.get("on"))
            if on is not None:
                found.append((on, f"prior treatment ({prior.get('modality')})"))
    return min(found, default=None)


def _iso_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _check_birth_before_records(patient: Patient, born: date) -> None:
    """A date of birth after a record of the patient would leave that record dated before
    birth, which every clinical form refuses (a review moved one past a visit, a diagnosis
    and a medication)."""
    first = earliest_record(patient)
    if first is not None and first[0] < born:
        on, what = first
        raise PatientError(
            {
                "date_of_birth": [
                    f"The patient's {what} on {on.isoformat()} would be before this date of "
                    "birth: check the date, or correct that record first."
                ]
            }
        )


def void_patient(patient: Patient, user: User, reason: str) -> Patient:
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise PatientError({"reason": ["Give the reason for voiding (at least 5 characters)."]})
    if patient.is_voided:
        raise PatientError({"__all__": ["This record is already voided."]})
    with transaction.atomic():
        fresh = lock_patient(patient)  # an edit saving the row meanwhile would undo the void
        if fresh.is_voided:
            raise PatientError({"__all__": ["This record is already voided."]})
        fresh.voided_at = timezone.now()
        fresh.voided_by = user
        fresh.void_reason = reason
        return _save(fresh, user, f"voided: {reason}")


def restore_patient(patient: Patient, user: User, reason: str) -> Patient:
    """Undo a void made in error (the wrong record voided): the record is current again and
    editable; the history keeps the void and the restoration, each with its reason.

    Refused when another current record of the clinic holds the same person (the same date
    of birth and names, as at registration): restoring would make them two."""
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise PatientError({"reason": ["Give the reason for restoring (at least 5 characters)."]})
    with transaction.atomic():
        fresh = lock_patient(patient)
        if not fresh.is_voided:
            raise PatientError({"__all__": ["This record is not voided."]})
        same = [
            p
            for p in possible_duplicates(fresh.clinic, {
                "given_name": fresh.given_name, "family_name": fresh.family_name,
                "date_of_birth": fresh.date_of_birth,
            })
            if p.pk != fresh.pk
        ]  # fmt: skip
        if same:
            raise PatientError(
                {
                    "__all__": [
                        "The person has a current record since: "
                        + ", ".join(f"{p.full_name} ({p.medical_record_number})" for p in same)
                        + ". Go on in that record; void it first if this one should be kept."
                    ]
                }
            )
        fresh.voided_at = None
        fresh.voided_by = None
        fresh.void_reason = ""
        return _save(fresh, user, f"restored: {reason}")
