"""Consultation API refusals a client can act on: a female-pattern diagnosis on a male
record (400 on the condition, as the scalp exam answers Ludwig/Sinclair on a male record),
and a history dated before birth (400 on its date)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.assessment.models import Diagnosis

from .. import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client, clinic_a, make_user, make_patient, api_token):
    clinician = make_user(Role.CLINICIAN, clinic_a)
    man = make_patient(clinic_a, clinician, sex_at_birth="male", date_of_birth=date(1980, 1, 1))
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}

    def post(path: str, body: dict):
        return client.post(
            f"/api/v1/consultation/{man.pk}/{path}",
            body,
            content_type="application/json",
            headers=headers,
        )

    return man, post


def test_female_pattern_diagnosis_on_a_male_record_is_a_400_on_the_condition(setup):
    man, post = setup
    response = post("diagnoses", {"condition": "aga_female"})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "condition: Female-pattern diagnosis on a male record; choose male-pattern androgenetic "
        "alopecia, or confirm a female-type pattern with a Ludwig or Sinclair grade on the "
        f"scalp exam first: there is no scalp exam on or before {timezone.localdate()}."
    )
    assert not Diagnosis.objects.filter(patient=man).exists()


def test_a_confirmed_norwood_only_exam_or_a_later_exam_does_not_unlock_it(setup):
    """The box alone, with only a Norwood stage, is no female-pattern evidence (it was
    stored with stage IV); nor is an exam dated after the diagnosis."""
    man, post = setup
    body = {"norwood_hamilton": "IV", "female_pattern_confirmed": True}
    assert post("exams", body).status_code == 201
    response = post("diagnoses", {"condition": "aga_female"})
    assert response.status_code == 400
    assert response.json()["detail"].endswith("records no Ludwig or Sinclair grade.")
    exam_day = timezone.localdate() - timedelta(days=10)
    body = {"examined_on": exam_day.isoformat(), "ludwig": "II", "female_pattern_confirmed": True}
    assert post("exams", body).status_code == 201
    before = (exam_day - timedelta(days=1)).isoformat()
    response = post("diagnoses", {"condition": "aga_female", "diagnosed_on": before})
    assert response.status_code == 400
    assert response.json()["detail"].endswith(f"no scalp exam on or before {before}.")
    response = post("diagnoses", {"condition": "aga_female", "diagnosed_on": exam_day.isoformat()})
    assert response.status_code == 201, response.json()
    assert response.json()["stage"] == "II"
    assert not Diagnosis.objects.filter(patient=man, stage="IV").exists()


def test_the_exam_refuses_a_female_scale_the_same_way(setup):
    _, post = setup
    response = post("exams", {"ludwig": "II"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("ludwig: female-pattern scale on a male record")


def test_accepted_once_the_exam_confirms_a_female_type_pattern(setup):
    man, post = setup
    assert post("exams", {"ludwig": "II", "female_pattern_confirmed": True}).status_code == 201
    response = post("diagnoses", {"condition": "aga_female"})
    assert response.status_code == 201, response.json()
    assert response.json()["condition"] == "aga_female"


def test_a_history_dated_before_birth_names_its_date_not_the_engines_age(setup):
    """The screening engine's field ("age: must be a whole number 0–130, got -1") was
    answered to the client, who never sent an age."""
    _, post = setup
    response = post("history", builders.history_answers(recorded_on="1979-06-01"))
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "recorded_on: Before the patient's date of birth (1980-01-01); check the date."
    )
