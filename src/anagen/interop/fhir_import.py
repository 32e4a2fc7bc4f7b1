"""Import a patient from a FHIR R5 Bundle holding one Patient resource.

The bundle is parsed and validated with ``fhir.resources`` before anything is stored; the
patient is then created through ``patients.services.create_patient`` (same rules as the
registration form: required fields, plausible date of birth, MRN unique per clinic), in one
transaction, with the history recording who imported it and from where. Other resources in
the bundle are not imported (they are counted and reported).

A Patient marked inactive (``active: false``, e.g. merged into another record) or deceased
(``deceasedBoolean: true`` or any ``deceasedDateTime``) is refused: registered here it would
be a live patient who is sent follow-up reminders and recall notices.

Errors are field errors: ``ImportRefused.errors`` maps a field name (``file``, ``bundle``,
``name``, ``birthDate``, ``identifier``, ``active``, ``deceased``,
``medical_record_number`` …) to messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction

from anagen.accounts.models import Clinic, User
from anagen.core.text import contains_nul, load_json
from anagen.patients import services as patient_services
from anagen.patients.models import Patient

MAX_BUNDLE_BYTES = 2 * 1024 * 1024
SEX = {"male": "male", "female": "female", "other": "unknown", "unknown": "unknown"}
# Patient fields in our model -> the FHIR element named in an error message.
FIELD_NAMES = {
    "medical_record_number": "identifier",
    "given_name": "name.given",
    "family_name": "name.family",
    "date_of_birth": "birthDate",
    "sex_at_birth": "gender",
    "email": "telecom",
    "phone": "telecom",
    "address": "address",
}


@dataclass
class ImportRefused(Exception):
    errors: dict[str, list[str]]

    def __str__(self) -> str:
        return "; ".join(f"{f}: {' '.join(m)}" for f, m in self.errors.items())


@dataclass
class ImportResult:
    patient: Patient
    skipped: dict[str, int] = field(default_factory=dict)  # resourceType -> count not imported


def _refuse(name: str, message: str) -> ImportRefused:
    return ImportRefused({name: [message]})


def parse_bundle(raw: bytes | str) -> dict[str, Any]:
    """Decoded JSON of a Bundle, checked with fhir.resources; ImportRefused otherwise."""
    if isinstance(raw, str):
        raw = raw.encode()
    if not raw.strip():
        raise _refuse("file", "The file is empty: upload a FHIR Bundle in JSON.")
    if len(raw) > MAX_BUNDLE_BYTES:
        raise _refuse("file", f"The file is larger than {MAX_BUNDLE_BYTES // 1024 // 1024} MB.")
    try:
        data = load_json(raw.decode("utf-8-sig"))  # a BOM (Windows editors) is not content
    except UnicodeDecodeError:
        raise _refuse("file", "The file is not UTF-8 text; upload FHIR JSON.") from None
    except json.JSONDecodeError as exc:
        raise _refuse(
            "file", f"Not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
        ) from None
    except ValueError as exc:  # nested too deeply, or a key named twice
        raise _refuse("file", f"{str(exc).capitalize()}.") from None
    if not isinstance(data, dict):
        raise _refuse("bundle", "Expected a JSON object with resourceType 'Bundle'.")
    if contains_nul(data):
        # PostgreSQL text cannot hold NUL, and no FHIR string may contain it.
        raise _refuse("file", "The bundle contains NUL (\\u0000) characters in its text.")
    kind = data.get("resourceType")
    if kind != "Bundle":
        found = f"'{kind}'" if isinstance(kind, str) and kind else "none"
        raise _refuse("resourceType", f"Expected a FHIR Bundle, found resourceType {found}.")
    from fhir.resources.bundle import Bundle
    from pydantic import ValidationError

    try:
        Bundle.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[:5]
        messages = [
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'Bundle'}: {e.get('msg', '')}"
            for e in first
        ]
        raise ImportRefused({"bundle": ["Not a valid FHIR R5 Bundle.", *messages]}) from None
    except (ValueError, TypeError) as exc:
        raise ImportRefused({"bundle": [f"Not a valid FHIR R5 Bundle: {exc}"]}) from None
    return data


def _mrn(resource: dict[str, Any]) -> str:
    identifiers = [i for i in resource.get("identifier") or [] if i.get("value")]
    for ident in identifiers:
        codes = {c.get("code") for c in (ident.get("type") or {}).get("coding") or []}
        if "MR" in codes:
            return str(ident["value"]).strip()
    return str(identifiers[0]["value"]).strip() if identifiers else ""


def _name(resource: dict[str, Any]) -> tuple[str, str]:
    names = resource.get("name") or []
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    given = " ".join(g for g in chosen.get("given") or [] if g).strip()
    family = (chosen.get("family") or "").strip()
    if not (given and family) and chosen.get("text"):
        parts = chosen["text"].split()
        if len(parts) >= 2:
            given, family = given or " ".join(parts[:-1]), family or parts[-1]
    return given, family


def _status_errors(resource: dict[str, Any]) -> dict[str, list[str]]:
    """Why a record that is not a living, active patient cannot be registered (empty when it
    is one). The bundle has passed fhir.resources, so ``active`` and ``deceasedBoolean`` are
    booleans and ``deceasedDateTime`` a FHIR dateTime."""
    errors: dict[str, list[str]] = {}
    if resource.get("active") is False:
        errors["active"] = [
            "The Patient is marked inactive (active: false), e.g. merged into another "
            "record; import the active record instead."
        ]
    died = resource.get("deceasedDateTime")
    if died is not None or resource.get("deceasedBoolean") is True:
        when = f" on {died}" if died is not None else ""
        errors["deceased"] = [
            f"The Patient is recorded as deceased{when}; a deceased patient is not "
            "registered, so no reminders or recall notices go out."
        ]
    return errors


def patient_fields(resource: dict[str, Any]) -> dict[str, Any]:
    """Our Patient fields from a FHIR Patient resource; ImportRefused names what is missing,
    and refuses an inactive or deceased patient."""
    errors = _status_errors(resource)
    mrn = _mrn(resource)
    if not mrn:
        errors["identifier"] = ["The medical record number is missing (Patient.identifier)."]
    given, family = _name(resource)
    if not given:
        errors["name"] = ["The given name is missing (Patient.name.given)."]
    if not family:
        errors.setdefault("name", []).append("The family name is missing (Patient.name.family).")
    birth = resource.get("birthDate")
    born = None
    if not birth:
        errors["birthDate"] = ["The date of birth is missing (Patient.birthDate)."]
    else:
        try:
            born = date.fromisoformat(str(birth))
        except ValueError:
            errors["birthDate"] = [
                f"The date of birth must be a full date (YYYY-MM-DD), not {birth} "
                "(Patient.birthDate)."
            ]
    gender = resource.get("gender") or "unknown"
    if gender not in SEX:
        errors["gender"] = [
            f"The sex (Patient.gender) must be one of {', '.join(SEX)}, not {gender}."
        ]
    if errors:
        raise ImportRefused(errors)
    telecom = resource.get("telecom") or []
    # A contact point without a value (null or absent) says nothing: it is left out.
    phone = next((str(t["value"]) for t in telecom
                  if t.get("system") == "phone" and t.get("value")), "")  # fmt: skip
    email = next((str(t["value"]) for t in telecom
                  if t.get("system") == "email" and t.get("value")), "")  # fmt: skip
    addresses = resource.get("address") or []
    address = ""
    if addresses:
        a = addresses[0]
        address = a.get("text") or "\n".join(
            p
            for p in [
                *(a.get("line") or []),
                " ".join(x for x in (a.get("postalCode"), a.get("city")) if x),
                a.get("country") or "",
            ]
            if p
        )
    return {
        "medical_record_number": mrn,
        "given_name": given,
        "family_name": family,
        "date_of_birth": born,
        "sex_at_birth": SEX[gender],
        "phone": phone,  # too long for the record: refused by the patient service, not cut
        "email": email,
        "address": address,
    }


def import_patient_bundle(
    clinic: Clinic, user: User, raw: bytes | str, *, confirm_not_duplicate: bool = False
) -> ImportResult:
    data = parse_bundle(raw)
    resources = [e.get("resource") or {} for e in data.get("entry") or []]
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    if not patients:
        raise _refuse("bundle", "The bundle holds no Patient resource.")
    if len(patients) > 1:
        raise _refuse(
            "bundle", f"The bundle holds {len(patients)} Patient resources; import one at a time."
        )
    values = patient_fields(patients[0])
    skipped: dict[str, int] = {}
    for r in resources:
        if r.get("resourceType") != "Patient":
            kind = str(r.get("resourceType"))
            skipped[kind] = skipped.get(kind, 0) + 1
    try:
        with transaction.atomic():
            patient = patient_services.create_patient(
                clinic, user, values, confirm_not_duplicate=confirm_not_duplicate
            )
            record = patient.history.order_by("-history_id").first()
            if record is not None:
                record.history_change_reason = "created by FHIR import"
                record.save(update_fields=["history_change_reason"])
    except patient_services.PatientError as exc:
        raise ImportRefused(
            {FIELD_NAMES.get(f, f): list(msgs) for f, msgs in exc.errors.items()}
        ) from None
    return ImportResult(patient, skipped)
