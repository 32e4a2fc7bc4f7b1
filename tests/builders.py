"""Clinical records for tests, built the way a clinic builds them: one place for the exosome
product, a released lot and an accepted exosome plan with consent, so every test folder sets
up the same valid data."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from anagen.assessment import services as assessment
from anagen.products.models import Lot, LotStatus, Product


def history_answers(**given) -> dict:
    """A whole medical-history questionnaire for the API, all "no" unless ``given`` (the API
    takes every answer, never a part: an omitted answer is not a "no")."""
    body = {
        "conditions": [], "other_conditions": "", "medications": [], "allergies": [],
        "pregnant": None, "lactating": None, "malignancy": "none", "malignancy_details": "",
        "autoimmune_disease": False, "bleeding_disorder": False,
        "platelet_count_10e9_per_l": None, "keloid": False, "scalp_conditions": [],
        "prior_treatments": [],
    }  # fmt: skip
    body.update(given)
    return body


def exosome_product(clinic) -> Product:
    """The clinic's UC-MSC exosome product (created once per clinic)."""
    product, _ = Product.objects.get_or_create(
        clinic=clinic,
        manufacturer="Acme Bio",
        name="UC-MSC exosomes",
        defaults={
            "source_tissue": "umbilical_cord",
            "donor_type": "allogeneic_single",
            "form": "frozen_liquid",
            "labelled_particles_per_vial": 1e10,
            "volume_ml": Decimal("2.0"),
            "storage_min_temperature_c": -90,
            "storage_max_temperature_c": -60,
            "storage_requirement": "Store at −80 °C",
            "regulatory_status": {"US": "Not FDA-approved", "EU": "Not authorised"},
        },
    )
    return product


def released_lot(
    clinic,
    user,
    *,
    number: str = "L-1",
    vials: int = 5,
    on_hand: int | None = None,
    status: str = LotStatus.RELEASED,
    expiry: date | None = None,
    received_days_ago: int = 0,
) -> Lot:
    """A lot of ``exosome_product`` (the same lot again if ``number`` exists).

    Released directly: the release workflow itself is tested in tests/products.
    """
    lot, _ = Lot.objects.get_or_create(
        clinic=clinic,
        product=exosome_product(clinic),
        lot_number=number,
        defaults={
            "expiry_date": expiry or date.today() + timedelta(days=200),
            "quantity_received": vials,
            "quantity_on_hand": vials if on_hand is None else on_hand,
            "status": status,
            "received_at": timezone.now() - timedelta(days=received_days_ago),
            "received_by": user,
        },
    )
    return lot


def exosome_plan(
    patient,
    user,
    *,
    on: date | None = None,
    history: dict | None = None,
    exam: bool = False,
    consent: bool = True,
):
    """History, screening, (scalp exam,) diagnosis, the accepted exosome plan and consent.

    ``on`` dates the records (default today); pass it inside ``demo_clock(on)`` for past dates.
    """
    return accepted_plan(
        patient, user, "exosome", on=on, history=history, exam=exam, consent=consent
    )


def _once(record, patient, user, data) -> None:
    """Record an exam or diagnosis unless the same one is recorded already (a second plan
    for the patient on the same day rests on the same diagnosis; a copy is refused)."""
    try:
        record(patient, user, data)
    except assessment.AssessmentError as exc:
        if "is already recorded" not in str(exc):
            raise


def accepted_plan(
    patient,
    user,
    proposal: str,
    *,
    on: date | None = None,
    history: dict | None = None,
    exam: bool = False,
    consent: bool = True,
):
    """As ``exosome_plan`` for the first unblocked proposal whose key starts with
    ``proposal`` (e.g. "prp" for PRP with minoxidil); consent to each of its modalities."""
    on = on or date.today()
    female = patient.sex_at_birth == "female"
    facts = {"recorded_on": on} | (history or {})
    if female:
        facts = {"pregnant": False, "lactating": False} | facts
    assessment.record_history(patient, user, facts)
    assessment.run_screening(patient, user)
    if exam:
        scale = {"ludwig": "II"} if female else {"norwood_hamilton": "III"}
        _once(assessment.record_exam, patient, user, {"examined_on": on, **scale})
    diagnosis = {"condition": "aga_female" if female else "aga_male", "diagnosed_on": on}
    if not female:
        diagnosis["stage"] = "III"
    _once(assessment.record_diagnosis, patient, user, diagnosis)
    found, missing = assessment.proposals(patient)
    assert not missing, missing
    chosen = next(p for p in found if p.key.startswith(proposal) and not p.blocked_modalities)
    plan = assessment.accept_plan(patient, user, {"proposal_key": chosen.key})
    if consent:
        for modality in chosen.modalities:
            assessment.record_consent(
                plan, user, modality=modality, signed_name=patient.full_name, signed_on=on
            )
    return plan
