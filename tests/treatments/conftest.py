"""A patient ready for treatment: history, screening, diagnosis, exosome plan, consent,
and a released exosome lot — all through the services a clinic uses."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.assessment import services as assessment
from anagen.products.models import Lot, LotStatus, Product


@pytest.fixture
def clinician(clinic_a, make_user):
    return make_user(Role.CLINICIAN, clinic_a)


def prepare(patient, user, *, consent: bool = True, history: dict | None = None):
    assessment.record_history(patient, user, history or {})
    assessment.run_screening(patient, user)
    assessment.record_diagnosis(patient, user, {"condition": "aga_male", "stage": "III"})
    found, missing = assessment.proposals(patient)
    assert not missing, missing
    exosome = next(p for p in found if p.key.startswith("exosome") and not p.blocked_modalities)
    plan = assessment.accept_plan(patient, user, {"proposal_key": exosome.key})
    if consent:
        assessment.record_consent(
            plan, user, modality="exosome", signed_name=patient.full_name, signed_on=date.today()
        )
    return plan


@pytest.fixture
def ready(clinic_a, clinician, make_patient):
    patient = make_patient(
        clinic_a, clinician, sex_at_birth="male", given_name="Tom", family_name="Ready"
    )
    return patient, prepare(patient, clinician)


def make_lot(
    clinic,
    user,
    *,
    vials: int = 5,
    status: str = LotStatus.RELEASED,
    expiry: date | None = None,
    number: str = "L-1",
) -> Lot:
    product, _ = Product.objects.get_or_create(
        clinic=clinic,
        manufacturer="Acme Bio",
        name="UC-MSC exosomes",
        defaults={
            "source_tissue": "umbilical_cord",
            "donor_type": "allogeneic",
            "form": "frozen_liquid",
            "labelled_particles_per_vial": 1e10,
            "volume_ml": Decimal("2.0"),
            "storage_min_temperature_c": -90,
            "storage_max_temperature_c": -60,
            "storage_requirement": "−80 °C",
        },
    )
    return Lot.objects.create(
        clinic=clinic,
        product=product,
        lot_number=number,
        expiry_date=expiry or date.today() + timedelta(days=200),
        quantity_received=vials,
        quantity_on_hand=vials,
        status=status,
        received_at=timezone.now(),
        received_by=user,
    )


@pytest.fixture
def lot(clinic_a, clinician):
    # Released directly: the release workflow itself is tested in tests/products.
    return make_lot(clinic_a, clinician)
