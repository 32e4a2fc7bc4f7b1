"""A patient's record as a FHIR R5 Bundle (type ``collection``), built and validated with
``fhir.resources`` (docs/data-dictionary.md, "FHIR mapping").

Every resource gets a ``urn:uuid:`` full URL derived from the clinic, the model and the row id
(UUID version 5), so an export is reproducible and every reference resolves inside the
bundle. Codes that have no standard terminology (modalities, scalp zones, measurements,
CTCAE grades) use local CodeSystems under ``LOCAL``; ICD-10, ICD-11 and SNOMED CT codes are
exported with the system and version stored with the diagnosis.

Records voided as entered in error (docs/voiding.md) are not left out: each is exported with
FHIR status ``entered-in-error`` under its usual stable full URL, so a receiver that took an
earlier export learns that the record was retracted. A voided visit takes its measurements,
global assessment, questionnaire answers and photos with it; a voided patient record
(``Patient.active`` false) takes its Observations, Procedures, QuestionnaireResponses,
DocumentReferences, AdverseEvents, MedicationStatements, CarePlans and Consents with it
(status ``entered-in-error``), and its Conditions and AllergyIntolerances
(``verificationStatus`` ``entered-in-error``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from django.utils import timezone

from anagen.accounts.services import display_name
from anagen.assessment.labels import CONDITION_LABELS, MEDICATION_LABELS, SCALP_LABELS
from anagen.assessment.models import (
    MODALITY_LABELS,
    Consent,
    Diagnosis,
    MedicalHistory,
    TreatmentPlan,
)
from anagen.monitoring.models import (
    HGQ_ITEMS,
    AdverseEvent,
    Measurement,
    Photo,
    ScheduledVisit,
    Visit,
)
from anagen.outcomes import cohort
from anagen.patients.models import Patient
from anagen.products.models import Lot, VialDraw
from anagen.treatments import scalp_zones
from anagen.treatments import selectors as treatment_selectors
from anagen.treatments.models import TreatmentSession

FHIR_VERSION = "5.0.0"
LOCAL = "https://anagen.example/fhir"
CS_MODALITY = f"{LOCAL}/CodeSystem/modality"
CS_SCALP_ZONE = f"{LOCAL}/CodeSystem/scalp-zone"
CS_MEASURE = f"{LOCAL}/CodeSystem/hair-measure"
CS_CTCAE = f"{LOCAL}/CodeSystem/ctcae-term"
# The clinic's relatedness scale (not related … definitely related) has no exact match in
# R5's example WHO-UMC binding (no "not related"), so it is sent in its own words.
CS_AE_RELATEDNESS = f"{LOCAL}/CodeSystem/ae-relatedness"
CS_AE_ACTION = f"{LOCAL}/CodeSystem/ae-action-taken"
CS_PHOTO = f"{LOCAL}/CodeSystem/photo-kind"
CS_PHOTO_VIEW = f"{LOCAL}/CodeSystem/photo-view"
CS_CONSENT = f"{LOCAL}/CodeSystem/consent-modality"
CS_HISTORY_CONDITION = f"{LOCAL}/CodeSystem/history-condition"
CS_MEDICATION_CLASS = f"{LOCAL}/CodeSystem/medication-class"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
MEDICATION_ADHERENCE = "http://hl7.org/fhir/CodeSystem/medication-statement-adherence"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
# Answers of the medical-history questionnaire that are conditions of their own (the list of
# screening conditions and scalp conditions aside): field -> (code, display).
HISTORY_FLAGS = {
    "autoimmune_disease": ("autoimmune_disease", "Autoimmune disease"),
    "bleeding_disorder": ("bleeding_disorder", "Bleeding disorder"),
    "keloid": ("keloid", "Keloid tendency"),
}
# Version 2: every item scores higher for better (the bald-spot item ran the other way).
Q_HGQ = f"{LOCAL}/Questionnaire/hgq|2"
EXT_CTCAE_GRADE = f"{LOCAL}/StructureDefinition/ctcae-grade"
EXT_INVESTIGATIONAL = f"{LOCAL}/StructureDefinition/investigational"
EXT_ASSERTED_DATE = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"
MRN_TYPE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": "MR",
            "display": "Medical record number",
        }
    ]
}
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
# History answers with a LOINC code (codes and answers as the HL7 International Patient
# Summary and US Core use them): field -> (code, display, answers for True / False).
LOINC_PREGNANCY = ("82810-3", "Pregnancy status")
LOINC_BREASTFEEDING = ("63895-7", "Breastfeeding status")
LOINC_PLATELETS = ("777-3", "Platelets [#/volume] in Blood by Automated count")
HISTORY_STATUS_ANSWERS: dict[str, tuple[tuple[str, str], dict[bool, tuple[str, str]]]] = {
    "pregnant": (
        LOINC_PREGNANCY,
        {True: ("LA15173-0", "Pregnant"), False: ("LA26683-5", "Not pregnant")},
    ),
    "lactating": (
        LOINC_BREASTFEEDING,
        {
            True: ("LA29252-6", "Currently breastfeeding"),
            False: ("LA29253-4", "Not currently breastfeeding"),
        },
    ),
}
# The status every R5 resource exported here takes when its record was voided.
ENTERED_IN_ERROR = "entered-in-error"
NAMESPACE = uuid.UUID("6f1d3c52-8a8e-4c55-9d4e-3b1f2a7c9e10")

GENDER = {"female": "female", "male": "male", "intersex": "other", "unknown": "unknown"}

# Measurement field -> (display, UCUM code, unit text); the codes are those of CS_MEASURE.
MEASURES: dict[str, tuple[str, str | None, str]] = {
    "hair_count": ("Hair count in the target area", "{hairs}", "hairs"),
    "density_per_cm2": ("Hair density", "/cm2", "hairs/cm²"),
    "mean_diameter_um": ("Mean hair shaft diameter", "um", "µm"),
    "terminal_pct": ("Terminal hairs", "%", "%"),
    "vellus_pct": ("Vellus hairs", "%", "%"),
    "anagen_pct": ("Anagen hairs", "%", "%"),
    "target_area_cm2": ("Target area", "cm2", "cm²"),
}

# The app's outcome (CTCAE/ICH words) -> the code of
# http://terminology.hl7.org/CodeSystem/adverse-event-outcome, which has exactly resolved,
# recovering, ongoing, resolvedWithSequelae, fatal and unknown
# (https://hl7.org/fhir/R4B/codesystem-adverse-event-outcome.html); the app's own words go in
# the concept's text.
AE_OUTCOME = {
    "recovering": ("recovering", "Recovering"),
    "recovered": ("resolved", "Resolved"),
    "recovered_sequelae": ("resolvedWithSequelae", "Resolved with Sequelae"),
    "not_recovered": ("ongoing", "Ongoing"),
    "fatal": ("fatal", "Fatal"),
    "unknown": ("unknown", "Unknown"),
}


def urn(clinic_id: int, kind: str, pk: Any) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{clinic_id}/{kind}/{pk}')}"


def _dt(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def _day_span(day: date) -> tuple[str, str]:
    """The whole of ``day`` in the clinic's time zone, as FHIR instants (start, end)."""
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return _dt(start), _dt(start + timedelta(days=1))


def _lot_status(lot: Lot) -> tuple[dict[str, str], str]:
    """(productStatus, why in words): unavailable when the lot is blocked (rejected,
    recalled...) or past its expiry date. The Coding carries the code system's own display
    ("Unavailable"); a receiver reading "Lot recalled" as the display of ``unavailable`` was
    told a meaning the code system does not give, so the lot's status goes in a property."""
    expired = lot.expiry_date < timezone.localdate()
    words = f"Lot {lot.get_status_display().lower()}"
    if expired:
        words += f", expired {lot.expiry_date.isoformat()}"
    code = "unavailable" if lot.blocked or expired else "available"
    coding = {
        "system": "http://hl7.org/fhir/biologicallyderived-product-status",
        "code": code,
        "display": code.capitalize(),
    }
    return coding, words


def _ref(full_url: str, display: str | None = None) -> dict[str, str]:
    out = {"reference": full_url}
    if display:
        out["display"] = display
    return out


@dataclass(frozen=True)
class SessionEntry:
    """A session's Procedure full URL and the lots (ids) used in it."""

    url: str
    lots: frozenset[int]


def _suspects(
    events: list[AdverseEvent],
    session_urls: dict[date, list[SessionEntry]],
    draws: Iterable[VialDraw],
    lot_urls: dict[int, str],
) -> tuple[dict[int, int], dict[int, list[str]]]:
    """Per event id: the lot it names (id) and the Procedure URLs it is charged to, as the
    cohort analysis decides (``cohort.event_lots``, ``cohort.event_sessions``)."""
    entries = [(day, x) for day, xs in sorted(session_urls.items()) for x in xs]
    sessions = pd.DataFrame(
        [
            (i, 0, pd.Timestamp(day), lot)
            for i, (day, x) in enumerate(entries)
            for lot in ([str(lot_id) for lot_id in sorted(x.lots)] or [""])
        ],
        columns=["session_id", "patient_id", "performed_on", "lot"],
    )
    lots = pd.DataFrame(
        sorted({(str(d.lot_id), d.lot.lot_number) for d in draws if d.lot_id in lot_urls}),
        columns=["lot", "lot_number"],
    )
    table = pd.DataFrame(
        [
            (e.pk, 0, pd.Timestamp(e.onset_date),
             pd.Timestamp(e.related_session_date) if e.related_session_date else pd.NaT,
             e.product_lot_number or "")
            for e in events
        ],
        columns=["event_id", "patient_id", "onset_date", "related_session_date", "lot_number"],
    )  # fmt: skip
    table["related_lot"] = cohort.event_lots(table, lots, sessions)
    lot_of = {
        int(eid): int(lot)
        for eid, lot in zip(table["event_id"], table["related_lot"], strict=True)
        if lot
    }
    pairs, _ = cohort.event_sessions(sessions, table)
    charged: dict[int, list[str]] = {}
    for eid, sid in zip(pairs["event_id"], pairs["session_id"], strict=True):
        charged.setdefault(int(eid), []).append(entries[int(sid)][1].url)
    return lot_of, charged


class _Builder:
    def __init__(self, patient: Patient, base_url: str) -> None:
        self.patient = patient
        self.clinic_id = patient.clinic_id
        self.base_url = base_url.rstrip("/")
        self.entries: list[dict[str, Any]] = []

    def url(self, kind: str, pk: Any) -> str:
        return urn(self.clinic_id, kind, pk)

    def add(self, kind: str, pk: Any, resource: dict[str, Any]) -> str:
        full = self.url(kind, pk)
        resource.setdefault("id", full.removeprefix("urn:uuid:"))
        self.entries.append({"fullUrl": full, "resource": resource})
        return full

    @property
    def subject(self) -> dict[str, str]:
        return _ref(self.url("patient", self.patient.pk), self.patient.full_name)

    # --- resources -------------------------------------------------------------------------

    def patient_resource(self) -> None:
        p = self.patient
        telecom = []
        if p.phone:
            telecom.append({"system": "phone", "value": p.phone})
        if p.email:
            telecom.append({"system": "email", "value": p.email})
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "identifier": [
                {
                    "use": "usual",
                    "type": MRN_TYPE,
                    "system": f"{LOCAL}/clinic/{p.clinic.slug}/mrn",
                    "value": p.medical_record_number,
                }
            ],
            "active": not p.is_voided,
            "name": [{"use": "official", "family": p.family_name, "given": [p.given_name]}],
            "gender": GENDER.get(p.sex_at_birth, "unknown"),
            "birthDate": p.date_of_birth.isoformat(),
        }
        if telecom:
            resource["telecom"] = telecom
        if p.address.strip():
            resource["address"] = [{"text": p.address.strip()}]
        self.add("patient", p.pk, resource)

    def conditions(self, diagnoses: Iterable[Diagnosis]) -> None:
        for d in diagnoses:
            codings = []
            for code, system, version in (
                (d.icd10_code, d.icd10_system, d.icd10_version),
                (d.icd11_code, d.icd11_system, d.icd11_version),
                (d.snomed_code, d.snomed_system, d.snomed_version),
            ):
                if code and system:
                    # No display: the code system's own wording is not stored, and the
                    # clinic's label ("Androgenetic alopecia, male pattern" for SNOMED's "Male
                    # pattern alopecia", or a hand-typed one for L65.9) is not it. The label
                    # is the concept's text.
                    c = {"system": system, "code": code}
                    if version:
                        c["version"] = version
                    codings.append(c)
            resource: dict[str, Any] = {
                "resourceType": "Condition",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "verificationStatus": {
                    "coding": [
                        {
                            "system": CONDITION_VERIFICATION,
                            "code": ENTERED_IN_ERROR if self.patient.is_voided else "confirmed",
                        }
                    ]
                },
                "code": {"coding": codings, "text": d.label} if codings else {"text": d.label},
                "subject": self.subject,
                # The day of diagnosis is not when the hair loss began (Condition.onset),
                # which the clinic does not record: it goes in the core extension for the
                # day the condition was asserted.
                "extension": [{"url": EXT_ASSERTED_DATE, "valueDateTime": _dt(d.diagnosed_on)}],
                "recordedDate": _dt(d.created_at),
            }
            if d.stage:
                # After its scale's name ("Norwood–Hamilton III", "Ludwig III"): a bare
                # "III" is the mildest recession on one scale and the widest female loss on
                # the other, and the receiver has no other way to tell which.
                resource["stage"] = [{"summary": {"text": d.named_stage}}]
            if d.notes:
                resource["note"] = [{"text": d.notes}]
            self.add("diagnosis", d.pk, resource)

    def history(self, h: MedicalHistory, earlier: Sequence[MedicalHistory] = ()) -> None:
        """The latest version of the medical-history questionnaire: its conditions (problem
        list), medications (MedicationStatement) and allergies (AllergyIntolerance).

        Each answer keeps one identity across versions (keyed by the patient and what it is,
        not by the version), so a receiver updates it instead of adding a copy; an answer of
        an ``earlier`` version that the latest no longer lists is sent as no longer current
        (problem and allergy inactive, medication not taken), not left active there."""
        current = self._history_items(h)
        for key, (kind, build) in current.items():
            self.add(kind, key, build(None))
        gone: dict[str, tuple[str, Any]] = {}
        for old in sorted(earlier, key=lambda v: -v.version):  # the latest wording of each
            for key, item in self._history_items(old).items():
                if key not in current and key not in gone:
                    gone[key] = item
        for key, (kind, build) in gone.items():
            self.add(kind, key, build(h))

    def _history_items(self, h: MedicalHistory) -> dict[str, tuple[str, Any]]:
        """key -> (kind, build): ``build(None)`` the resource as this version states it,
        ``build(latest)`` the same answer marked as no longer listed in ``latest``."""
        pid = h.patient_id
        recorded = _dt(h.recorded_on)
        items: dict[str, tuple[str, Any]] = {}

        def dropped_note(latest: MedicalHistory) -> str:
            return (
                f"Not listed in the medical history of {latest.recorded_on.isoformat()} "
                f"(version {latest.version}); recorded on {h.recorded_on.isoformat()}."
            )

        problems: list[tuple[str, str, str]] = []  # (code, display, clinical status)
        problems += [(c, CONDITION_LABELS.get(c, c), "active") for c in h.conditions]
        problems += [(c, SCALP_LABELS.get(c, c), "active") for c in h.scalp_conditions]
        for field, (code, display) in HISTORY_FLAGS.items():
            if getattr(h, field):
                problems.append((code, display, "active"))
        if h.malignancy != "none":
            # A past malignancy stays on the problem list as inactive.
            status = "active" if h.malignancy == "active" else "inactive"
            problems.append(("malignancy", "Malignancy", status))

        def problem(concept: dict[str, Any], status: str, note: str) -> Any:
            def build(latest: MedicalHistory | None) -> dict[str, Any]:
                if latest is None:
                    return self._problem_resource(concept, status, recorded, note)
                notes = " ".join(x for x in (note, dropped_note(latest)) if x)
                return self._problem_resource(concept, "inactive", recorded, notes)

            return build

        for code, display, status in problems:
            concept = {
                "coding": [{"system": CS_HISTORY_CONDITION, "code": code, "display": display}],
                "text": display,
            }
            note = h.malignancy_details if code == "malignancy" else ""
            items[f"{pid}/{code}"] = ("history-condition", problem(concept, status, note))
        if h.other_conditions.strip():
            text = h.other_conditions.strip()
            items[f"{pid}/other/{text.casefold()}"] = (
                "history-condition", problem({"text": text}, "active", ""),
            )  # fmt: skip

        def medication(med: dict[str, Any]) -> Any:
            drug_class = med.get("drug_class") or "other"
            label = MEDICATION_LABELS.get(drug_class, drug_class)
            name = (med.get("name") or "").strip()

            def build(latest: MedicalHistory | None) -> dict[str, Any]:
                resource: dict[str, Any] = {
                    "resourceType": "MedicationStatement",
                    "status": ENTERED_IN_ERROR if self.patient.is_voided else "recorded",
                    "medication": {
                        "concept": {
                            "coding": [
                                {"system": CS_MEDICATION_CLASS, "code": drug_class,
                                 "display": label}
                            ],
                            "text": name or label,
                        }
                    },
                    "subject": self.subject,
                    "dateAsserted": recorded,
                }  # fmt: skip
                period = {}
                if med.get("start"):
                    period["start"] = med["start"]
                if med.get("stop"):
                    period["end"] = med["stop"]
                if period:
                    resource["effectivePeriod"] = period
                if latest is not None:
                    resource["adherence"] = {"code": {"coding": [
                        {"system": MEDICATION_ADHERENCE, "code": "not-taking",
                         "display": "Not Taking"}
                    ]}}  # fmt: skip
                    resource["note"] = [{"text": dropped_note(latest)}]
                return resource

            return build

        for med in h.medications:
            name = (med.get("name") or "").strip().casefold()
            key = f"{pid}/medication/{med.get('drug_class') or 'other'}/{name}"
            n = 1
            while f"{key}#{n}" in items:  # the same drug listed twice stays twice
                n += 1
            items[f"{key}#{n}"] = ("medication", medication(med))

        def allergy(substance: str) -> Any:
            def build(latest: MedicalHistory | None) -> dict[str, Any]:
                resource: dict[str, Any] = {
                    "resourceType": "AllergyIntolerance",
                    "code": {"text": substance},
                    "patient": self.subject,
                    "recordedDate": recorded,
                }
                if self.patient.is_voided:
                    # Retracted with the record; no clinicalStatus beside it (R5 ait-2).
                    resource["verificationStatus"] = {
                        "coding": [{"system": ALLERGY_VERIFICATION, "code": ENTERED_IN_ERROR}]
                    }
                else:
                    # R5 ait-1: clinicalStatus SHALL be present unless entered in error. Still
                    # listed in the latest history: active; dropped from it: inactive.
                    resource["clinicalStatus"] = {
                        "coding": [{"system": ALLERGY_CLINICAL,
                                    "code": "active" if latest is None else "inactive"}]
                    }  # fmt: skip
                if latest is not None:
                    resource["note"] = [{"text": dropped_note(latest)}]
                return resource

            return build

        for substance in h.allergies:
            text = str(substance).strip()
            if text:
                items[f"{pid}/allergy/{text.casefold()}"] = ("allergy", allergy(text))
        return items

    def history_observations(self, h: MedicalHistory) -> None:
        """Pregnancy and breastfeeding status and the platelet count of the latest history,
        where answered, as LOINC-coded Observations dated when each answer was given."""
        for name, ((code, display), answers) in HISTORY_STATUS_ANSWERS.items():
            value = getattr(h, name)
            if value is None:  # not recorded
                continue
            answer, answer_display = answers[value]
            self._history_observation(
                h, name, code, display, "social-history",
                {"valueCodeableConcept": {"coding": [
                    {"system": LOINC, "code": answer, "display": answer_display}
                ]}},
            )  # fmt: skip
        if h.platelet_count_10e9_per_l is not None:
            code, display = LOINC_PLATELETS
            quantity = {
                "value": float(h.platelet_count_10e9_per_l),
                "unit": "×10⁹/L",
                "system": UCUM,
                "code": "10*9/L",
            }
            self._history_observation(
                h, "platelet_count_10e9_per_l", code, display, "laboratory",
                {"valueQuantity": quantity},
            )  # fmt: skip

    def _history_observation(
        self,
        h: MedicalHistory,
        field: str,
        code: str,
        display: str,
        category: str,
        value: dict[str, Any],
    ) -> None:
        answered = h.answered_on.get(field) or h.recorded_on.isoformat()
        # One identity per answer given (a new version repeating it keeps it): a changed
        # answer is a new observation of its day, the old one stays true of its own day.
        self.add(
            "history-observation",
            f"{h.patient_id}/{field}/{answered}",
            {
                "resourceType": "Observation",
                "status": ENTERED_IN_ERROR if self.patient.is_voided else "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "observation-category",
                                "code": category,
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "subject": self.subject,
                "effectiveDateTime": answered,
                **value,
            },
        )

    def _problem_resource(
        self, concept: dict[str, Any], status: str, recorded: str, note: str = ""
    ) -> dict[str, Any]:
        """A Condition on the problem list (told apart from diagnoses by its category)."""
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": status}]},
            "category": [
                {
                    "coding": [
                        {
                            "system": CONDITION_CATEGORY,
                            "code": "problem-list-item",
                            "display": "Problem List Item",
                        }
                    ]
                }
            ],
            "code": concept,
            "subject": self.subject,
            "recordedDate": recorded,
        }
        if self.patient.is_voided:
            # Retracted with the record (R5 keeps clinicalStatus required beside it).
            resource["verificationStatus"] = {
                "coding": [{"system": CONDITION_VERIFICATION, "code": ENTERED_IN_ERROR}]
            }
        if note:
            resource["note"] = [{"text": note}]
        return resource

    def care_plans(self, plans: Iterable[TreatmentPlan]) -> None:
        """Treatment plans: modalities, sessions and interval, the diagnosis they address."""
        for plan in plans:
            modalities = ", ".join(MODALITY_LABELS.get(m, m) for m in plan.modalities)
            parts = [modalities] if modalities else []
            if plan.sessions_planned:
                parts.append(f"{plan.sessions_planned} sessions planned")
            if plan.interval_weeks:
                parts.append(f"every {plan.interval_weeks:g} weeks")
            resource: dict[str, Any] = {
                "resourceType": "CarePlan",
                "status": ENTERED_IN_ERROR
                if self.patient.is_voided
                else ("active" if plan.is_active else "revoked"),
                "intent": "plan",
                "title": plan.title,
                "subject": self.subject,
                "created": _dt(plan.created_at),
                "addresses": [
                    {
                        "reference": _ref(
                            self.url("diagnosis", plan.diagnosis_id), plan.diagnosis.label
                        )
                    }
                ],
            }
            if parts:
                resource["description"] = "; ".join(parts) + "."
            if plan.start_on:
                resource["period"] = {"start": _dt(plan.start_on)}
            notes = [str(n) for n in plan.notices] + ([plan.notes] if plan.notes else [])
            if plan.cancel_reason:
                notes.append(f"Cancelled: {plan.cancel_reason}")
            if notes:
                resource["note"] = [{"text": n} for n in notes]
            if plan.is_investigational:
                resource["extension"] = [{"url": EXT_INVESTIGATIONAL, "valueBoolean": True}]
            self.add("plan", plan.pk, resource)

    def products(self, draws: Iterable[VialDraw]) -> dict[int, str]:
        """One BiologicallyDerivedProduct per lot the patient received; lot id -> full URL."""
        lots: dict[int, Lot] = {}
        for dr in draws:
            lots.setdefault(dr.lot_id, dr.lot)
        out = {}
        for lot in lots.values():
            product = lot.product
            status, status_words = _lot_status(lot)
            resource: dict[str, Any] = {
                "resourceType": "BiologicallyDerivedProduct",
                # R5: productCategory and productStatus are Codings.
                "productCategory": {
                    "system": "http://hl7.org/fhir/product-category",
                    "code": "biologicalAgent",
                    "display": "BiologicalAgent",
                },
                "productCode": {"text": f"{product.manufacturer} — {product.name}"},
                "identifier": [
                    {"system": f"{LOCAL}/product/{product.pk}/lot", "value": lot.lot_number}
                ],
                "productStatus": status,
                "expirationDate": _dt(lot.expiry_date),
                "storageTempRequirements": {
                    "low": {
                        "value": float(product.storage_min_temperature_c),
                        "unit": "°C",
                        "system": UCUM,
                        "code": "Cel",
                    },
                    "high": {
                        "value": float(product.storage_max_temperature_c),
                        "unit": "°C",
                        "system": UCUM,
                        "code": "Cel",
                    },
                },
                "property": [
                    {
                        "type": {"text": "Labelled particles per vial"},
                        "valueQuantity": {
                            "value": product.labelled_particles_per_vial,
                            "unit": "particles",
                        },
                    },
                    {"type": {"text": "Source tissue"}, "valueString": product.source_tissue},
                    {"type": {"text": "Lot status"}, "valueString": status_words},
                ],
                "extension": [{"url": EXT_INVESTIGATIONAL, "valueBoolean": True}],
            }
            out[lot.pk] = self.add("lot", lot.pk, resource)
        return out

    def procedures(
        self, sessions: Iterable[TreatmentSession], lot_urls: dict[int, str], draws: list
    ) -> dict[date, list[SessionEntry]]:
        """One Procedure per session, voided ones included (entered-in-error). Returns the
        sessions not voided by day, every session of a day (two sessions on one day are both
        kept), each with the lots it used (``treatments.selectors.draws_used_by``: draws
        naming it, else draws of its day naming no session), which Procedure.used lists."""
        by_date: dict[date, list[SessionEntry]] = {}
        sessions = list(sessions)
        used_by = treatment_selectors.draws_used_by(sessions, draws)
        for s in sessions:
            session_draws = used_by.get(s.pk, [])
            body_sites = []
            for e in s.map_entries.all():
                label = scalp_zones.ALL_CODES.get(e.zone, e.zone)
                body_sites.append(
                    {
                        "coding": [{"system": CS_SCALP_ZONE, "code": e.zone, "display": label}],
                        "text": f"{label}: {e.points} points, {e.volume_ml:g} mL",
                    }
                )
            used = [
                {"reference": _ref(lot_urls[lot_id], f"lot {lot.lot_number}")}
                for lot_id, lot in {d.lot_id: d.lot for d in session_draws}.items()
                if lot_id in lot_urls
            ]
            resource: dict[str, Any] = {
                "resourceType": "Procedure",
                "status": ENTERED_IN_ERROR
                if s.voided_at or self.patient.is_voided
                else "completed",
                "code": {
                    "coding": [
                        {
                            "system": CS_MODALITY,
                            "code": s.modality,
                            "display": s.get_modality_display(),
                        }
                    ],
                    "text": s.get_modality_display(),
                },
                "subject": self.subject,
                "occurrenceDateTime": _dt(s.performed_on),
                "recorded": _dt(s.created_at),
                "performer": [{"actor": {"display": display_name(s.clinician)}}],
            }
            if body_sites:
                resource["bodySite"] = body_sites
            if used:
                resource["used"] = used
            notes = []
            if s.is_investigational:
                notes.append("Investigational product: not approved.")
                resource["extension"] = [{"url": EXT_INVESTIGATIONAL, "valueBoolean": True}]
            if s.total_points:
                notes.append(f"{s.total_points} points, {s.total_volume_ml:g} mL in total.")
            if notes:
                resource["note"] = [{"text": " ".join(notes)}]
            full = self.add("session", s.pk, resource)
            if not s.voided_at:
                lots = {d.lot_id for d in session_draws}
                by_date.setdefault(s.performed_on, []).append(SessionEntry(full, frozenset(lots)))
        return by_date

    def _voided(self, record: Visit | AdverseEvent) -> bool:
        """The record is voided, or the whole patient record is (voided as entered in
        error: every clinical record in it is retracted with it, as a voided visit takes
        its measurements; ``Patient.active`` false alone left them final)."""
        return record.is_voided or self.patient.is_voided

    def observations(self, visits: Iterable[Visit]) -> None:
        """Measurements and the global assessment of every visit, voided ones included:
        a voided measurement, and every Observation of a voided visit, is entered-in-error."""
        for v in visits:
            for m in v.measurements.all():
                self._measurement(v, m, voided=self._voided(v) or m.is_voided)
            if v.global_assessment is not None:
                self.add(
                    "global",
                    v.pk,
                    {
                        "resourceType": "Observation",
                        "status": ENTERED_IN_ERROR if self._voided(v) else "final",
                        "code": {
                            "coding": [
                                {
                                    "system": CS_MEASURE,
                                    "code": "global_assessment",
                                    "display": "Global photographic assessment (7-point)",
                                }
                            ]
                        },
                        "subject": self.subject,
                        "effectiveDateTime": _dt(v.visit_date),
                        "valueInteger": v.global_assessment,
                    },
                )

    def questionnaire_responses(self, visits: Iterable[Visit]) -> None:
        """The patient's Hair Growth Questionnaire at each visit where any item was answered
        (REFERENCE.md: consultation data as QuestionnaireResponse). Each answer is the
        7-point score, −3 (greatly worse) … +3 (greatly better; for the bald spot: smaller).
        The answers given at a voided visit are entered-in-error."""
        for v in visits:
            items = [
                {"linkId": name, "text": label, "answer": [{"valueInteger": answer}]}
                for name, label in HGQ_ITEMS
                if (answer := getattr(v, name)) is not None
            ]
            if not items:
                continue
            self.add(
                "hgq",
                v.pk,
                {
                    "resourceType": "QuestionnaireResponse",
                    "questionnaire": Q_HGQ,
                    "status": ENTERED_IN_ERROR if self._voided(v) else "completed",
                    "subject": self.subject,
                    "authored": _dt(v.visit_date),
                    "item": items,
                },
            )

    def _measurement(self, v: Visit, m: Measurement, *, voided: bool) -> None:
        for name, (display, ucum, unit) in MEASURES.items():
            value = getattr(m, name)
            if value is None:
                continue
            quantity: dict[str, Any] = {"value": float(value), "unit": unit}
            if ucum:
                quantity.update(system=UCUM, code=ucum)
            self.add(
                f"measurement-{name}",
                m.pk,
                {
                    "resourceType": "Observation",
                    "status": ENTERED_IN_ERROR if voided else "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "observation-category",
                                    "code": "exam",
                                }
                            ]
                        }
                    ],
                    "code": {"coding": [{"system": CS_MEASURE, "code": name, "display": display}]},
                    "subject": self.subject,
                    "effectiveDateTime": _dt(v.visit_date),
                    "valueQuantity": quantity,
                    "method": {"text": m.get_source_display()},
                    "bodySite": {"text": "Marked target area"},
                },
            )

    def adverse_events(
        self,
        events: Iterable[AdverseEvent],
        session_urls: dict[date, list[SessionEntry]],
        draws: Iterable[VialDraw] = (),
        lot_urls: dict[int, str] | None = None,
    ) -> None:
        """Every adverse event; a voided one is entered-in-error.

        Suspect entities: the Procedures the cohort analysis charges the event to
        (``cohort.event_sessions``: the session day it names, else the latest session with
        the lot it names, else the latest session, within ``cohort.AE_WINDOW_DAYS`` before
        onset; of that day's sessions those that used the lot when any did, else all;
        ``session_urls`` holds the sessions not voided, so only those are named); then the
        lot it names (its BiologicallyDerivedProduct; a number shared by lots of several
        products names none, ``cohort.event_lots``)."""
        lot_urls = lot_urls or {}
        events = list(events)
        lot_of_event, suspects_of = _suspects(events, session_urls, draws, lot_urls)
        for e in events:
            resource: dict[str, Any] = {
                "resourceType": "AdverseEvent",
                "status": ENTERED_IN_ERROR if self._voided(e) else "completed",
                "actuality": "actual",
                "code": {
                    "coding": [
                        {
                            "system": CS_CTCAE,
                            "version": e.ctcae_version,
                            "code": e.term_key,
                            "display": e.term_name,
                        }
                    ],
                    "text": e.term_name,
                },
                "subject": self.subject,
                # Onset to resolution (R5's occurrence[x] takes a Period; there is no other
                # end date): the resolution date, on the progress report, was lost here.
                "occurrencePeriod": {"start": _dt(e.onset_date)}
                | ({"end": _dt(e.resolution_date)} if e.resolution_date else {}),
                "recordedDate": _dt(e.created_at),
                # R5 AdverseEvent has no severity: the CTCAE grade is an extension.
                "extension": [{"url": EXT_CTCAE_GRADE, "valueInteger": e.grade}],
                "seriousness": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/"
                            "adverse-event-seriousness",
                            "code": "serious" if e.is_serious else "non-serious",
                        }
                    ]
                },
                "outcome": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "adverse-event-outcome",
                                "code": AE_OUTCOME[e.outcome][0],
                                "display": AE_OUTCOME[e.outcome][1],
                            }
                        ],
                        "text": e.get_outcome_display(),
                    }
                ],
            }
            relatedness = e.get_relatedness_display()
            text = (
                f"CTCAE v{e.ctcae_version} grade {e.grade}: {e.grade_text}. Relatedness to "
                f"treatment: {relatedness}"
            )
            if e.is_serious:
                # Which ICH E2A criteria made it serious (seriousness says only that it is).
                text += f". Serious: {', '.join(e.seriousness_labels)}"
            action = e.get_action_taken_display()
            # What was done about the event ("Treatment stopped", "Medication given"); R5's
            # element for it is mitigatingAction (CodeableConcept, example binding only).
            # "None" has no element of its own: the note says it, so that "no action" reads
            # differently from an exporter that leaves the action out.
            text += f". Action taken: {action}"
            if e.action_taken != AdverseEvent.Action.NONE:
                resource["mitigatingAction"] = [
                    {
                        "itemCodeableConcept": {
                            "coding": [
                                {"system": CS_AE_ACTION, "code": e.action_taken,
                                 "display": action}
                            ],
                            "text": action,
                        }
                    }
                ]  # fmt: skip
            if e.description:
                text += f" — {e.description}"
            resource["note"] = [{"text": text}]
            if e.meddra_code:
                resource["code"]["coding"].append(
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/mdr",
                        "version": e.meddra_version,
                        "code": e.meddra_code,
                    }
                )
            lot_id = lot_of_event.get(e.pk)
            suspects: list[dict[str, Any]] = [
                {"instanceReference": _ref(url, "treatment session")}
                for url in suspects_of.get(e.pk, [])
            ]
            if lot_id is not None:
                suspects.append(
                    {"instanceReference": _ref(lot_urls[lot_id], f"lot {e.product_lot_number}")}
                )
            causality = {
                "entityRelatedness": {
                    "coding": [
                        {"system": CS_AE_RELATEDNESS, "code": e.relatedness,
                         "display": relatedness}
                    ],
                    "text": relatedness,
                }
            }  # fmt: skip
            for suspect in suspects:
                # The clinician judged relatedness to the treatment: each suspect carries it.
                suspect["causality"] = causality
            if suspects:
                resource["suspectEntity"] = suspects
            self.add("adverse-event", e.pk, resource)

    def appointments(self, scheduled: Iterable[ScheduledVisit]) -> None:
        """The follow-up agenda still ahead (proposed), what was cancelled and what was missed.

        Anagen keeps a due date, not a time. R5 lets only proposed, cancelled or waitlisted
        appointments go without a start and end (invariant app-3). A visit that took place is
        not exported as an Appointment (its Observations carry the date). A missed one is a
        no-show, which needs a start and end, so it spans the whole due day; researchers need
        it to tell loss to follow-up from visits not yet due. A voided one is entered-in-error,
        also spanning its due day, with no cancellation reason (invariant app-4). So is an
        appointment still planned for a voided patient record (the record was entered in
        error: it left the agenda and the reminders with it).
        """
        status: dict[str, str] = {
            ScheduledVisit.Status.PLANNED: "proposed",
            ScheduledVisit.Status.CANCELLED: "cancelled",
            ScheduledVisit.Status.MISSED: "noshow",
        }
        record_voided = self.patient.is_voided
        for sv in scheduled:
            if sv.status not in status:
                continue
            in_error = sv.is_voided or (
                record_voided and sv.status == ScheduledVisit.Status.PLANNED
            )
            due = _dt(sv.due_date)
            resource: dict[str, Any] = {
                "resourceType": "Appointment",
                "status": ENTERED_IN_ERROR if in_error else status[sv.status],
                "description": sv.label,
                "subject": self.subject,
                "created": _dt(sv.created_at),
                "requestedPeriod": [{"start": due, "end": due}],
                "participant": [{"actor": self.subject, "status": "needs-action"}],
            }
            if in_error or sv.status == ScheduledVisit.Status.MISSED:
                resource["start"], resource["end"] = _day_span(sv.due_date)
            if not in_error and sv.status != ScheduledVisit.Status.PLANNED:
                # The reason is kept with the change that set the status ("missed: why").
                last = sv.history.first()
                why = (last.history_change_reason or "") if last is not None else ""
                if why.startswith(f"{sv.status}: "):
                    resource["cancellationReason"] = {"text": why.removeprefix(f"{sv.status}: ")}
            if sv.due_date != sv.original_due_date:
                resource["note"] = [{"text": f"Moved from {_dt(sv.original_due_date)}."}]
            self.add("appointment", sv.pk, resource)

    def consents(self, consents: Iterable[Consent]) -> None:
        for c in consents:
            withdrawn = c.withdrawn
            resource: dict[str, Any] = {
                "resourceType": "Consent",
                "status": ENTERED_IN_ERROR
                if self.patient.is_voided
                else ("inactive" if withdrawn else "active"),
                "category": [
                    {
                        "coding": [
                            {
                                "system": CS_CONSENT,
                                "code": c.modality,
                                "display": f"Consent to {c.modality} treatment",
                            }
                        ]
                    }
                ],
                "subject": self.subject,
                "date": _dt(c.signed_on),
                "decision": "permit",
                "sourceAttachment": [
                    {"title": f"{c.form.title} (version {c.form.version})", "language": "en"}
                ],
            }
            if withdrawn:
                resource["period"] = {
                    "start": _dt(c.signed_on),
                    "end": _dt(c.withdrawal.withdrawn_on),
                }
            self.add("consent", c.pk, resource)

    def documents(self, photos: Iterable[Photo]) -> None:
        """Photos as DocumentReferences; the image is linked, never embedded. The link needs
        the server's absolute URL (a relative path resolves nowhere for a receiver), so
        without a base URL it is left out. A voided photo, or one of a voided visit, is
        entered-in-error and never linked."""
        for ph in photos:
            voided = ph.is_voided or self._voided(ph.visit)
            view = ph.get_view_display() if ph.view else ""
            attachment: dict[str, Any] = {"contentType": ph.content_type}
            if self.base_url and not voided:
                attachment["url"] = f"{self.base_url}/monitoring/{ph.patient_id}/photos/{ph.pk}/"
            attachment.update(
                size=str(ph.size_bytes),
                title=f"{ph.get_kind_display()} {view}".strip(),
                creation=_dt(ph.uploaded_at),
            )
            if ph.width_px:
                attachment["width"] = ph.width_px
            if ph.height_px:
                attachment["height"] = ph.height_px
            resource: dict[str, Any] = {
                "resourceType": "DocumentReference",
                "status": ENTERED_IN_ERROR if voided else "current",
                "type": {
                    "coding": [
                        {"system": CS_PHOTO, "code": ph.kind, "display": ph.get_kind_display()}
                    ]
                },
                "subject": self.subject,
                "date": _dt(ph.uploaded_at),
                "content": [{"attachment": attachment}],
            }
            if ph.view:
                resource["bodySite"] = [
                    {
                        "concept": {
                            "coding": [{"system": CS_PHOTO_VIEW, "code": ph.view, "display": view}]
                        }
                    }
                ]
            if ph.target_area:
                resource["description"] = f"Target area: {ph.target_area}"
            self.add("photo", ph.pk, resource)


def patient_bundle_dict(patient: Patient, *, base_url: str = "") -> dict[str, Any]:
    """The bundle as plain JSON-ready data (not yet validated)."""
    b = _Builder(patient, base_url)
    b.patient_resource()
    b.conditions(Diagnosis.objects.filter(clinic=patient.clinic, patient=patient).order_by("id"))
    versions = list(
        MedicalHistory.objects.filter(clinic=patient.clinic, patient=patient).order_by("version")
    )
    if versions:
        history = versions[-1]
        b.history(history, versions[:-1])
        b.history_observations(history)
    b.care_plans(
        TreatmentPlan.objects.filter(clinic=patient.clinic, patient=patient)
        .select_related("diagnosis")
        .order_by("created_at", "id")
    )
    draws = list(
        treatment_selectors.given_draws(patient.clinic, patient)
        .select_related("lot__product")
        .order_by("drawn_on", "id")
    )
    lot_urls = b.products(draws)
    sessions = (
        TreatmentSession.objects.filter(clinic=patient.clinic, patient=patient)
        .select_related("clinician")
        .prefetch_related("map_entries")
        .order_by("performed_on", "id")
    )
    session_urls = b.procedures(sessions, lot_urls, draws)
    # Voided records are exported too, as entered-in-error (docs/voiding.md).
    visits = (
        Visit.objects.filter(clinic=patient.clinic, patient=patient)
        .prefetch_related("measurements")
        .order_by("visit_date", "id")
    )
    b.observations(visits)
    b.questionnaire_responses(visits)
    b.adverse_events(
        AdverseEvent.objects.filter(clinic=patient.clinic, patient=patient).order_by(
            "onset_date", "id"
        ),
        session_urls,
        draws,
        lot_urls,
    )
    b.appointments(
        ScheduledVisit.objects.filter(clinic=patient.clinic, patient=patient).order_by(
            "due_date", "id"
        )
    )
    b.consents(
        Consent.objects.filter(clinic=patient.clinic, patient=patient)
        .select_related("form", "withdrawal")
        .order_by("signed_on", "id")
    )
    b.documents(
        Photo.objects.filter(clinic=patient.clinic, patient=patient)
        .select_related("visit")
        .order_by("visit__visit_date", "id")
    )
    return {
        "resourceType": "Bundle",
        "id": urn(patient.clinic_id, "bundle", patient.pk).removeprefix("urn:uuid:"),
        "meta": {"lastUpdated": _dt(timezone.now())},
        "type": "collection",
        "timestamp": _dt(timezone.now()),
        "entry": b.entries,
    }


def linked_photos(patient: Patient) -> int:
    """How many photos the export links to the server (those not voided, at visits not
    voided): the links that a missing base URL leaves out."""
    return Photo.objects.filter(
        clinic=patient.clinic,
        patient=patient,
        voided_at__isnull=True,
        visit__voided_at__isnull=True,
    ).count()


def patient_bundle(patient: Patient, *, base_url: str = ""):
    """The validated ``fhir.resources`` Bundle (R5); raises pydantic's error if invalid."""
    from fhir.resources.bundle import Bundle

    return Bundle.model_validate(patient_bundle_dict(patient, base_url=base_url))


def patient_bundle_json(patient: Patient, *, base_url: str = "") -> str:
    return patient_bundle(patient, base_url=base_url).model_dump_json(indent=2)
