"""A patient ready for treatment: history, screening, diagnosis, exosome plan, consent,
and a released exosome lot — all through the services a clinic uses (tests/builders.py)."""

from __future__ import annotations

from datetime import date

import pytest

from anagen.products.models import Lot, LotStatus

from ..builders import exosome_plan, released_lot


def prepare(patient, user, *, consent: bool = True, history: dict | None = None):
    return exosome_plan(patient, user, history=history, consent=consent)


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
    return released_lot(clinic, user, vials=vials, status=status, expiry=expiry, number=number)


@pytest.fixture
def lot(clinic_a, clinician):
    return make_lot(clinic_a, clinician)
