"""People the assessment tests share: a clinician of clinic A, a man and a woman."""

from datetime import date

import pytest


@pytest.fixture
def man(clinic_a, clinician, make_patient):
    return make_patient(
        clinic_a, clinician, given_name="Adam", family_name="Stone",
        sex_at_birth="male", date_of_birth=date(1980, 1, 1),
    )  # fmt: skip


@pytest.fixture
def woman(clinic_a, clinician, make_patient):
    return make_patient(
        clinic_a, clinician, given_name="Eva", family_name="Berg",
        sex_at_birth="female", date_of_birth=date(1990, 1, 1),
    )  # fmt: skip
