"""The plan API answers a second active plan of the same modality with a 400 naming the
field and the existing plan (the rule is the service's: assessment.services.accept_plan)."""

from __future__ import annotations

from datetime import date

import pytest

from anagen.accounts.roles import Role
from anagen.assessment import services
from anagen.assessment.models import TreatmentPlan

pytestmark = pytest.mark.django_db


def test_a_second_exosome_plan_is_a_400_and_another_modality_is_accepted(
    client, clinic_a, make_user, make_patient, api_token
):
    clinician = make_user(Role.CLINICIAN, clinic_a)
    man = make_patient(clinic_a, clinician, sex_at_birth="male", date_of_birth=date(1980, 1, 1))
    services.record_history(man, clinician, {})
    services.record_exam(man, clinician, {"norwood_hamilton": "III"})
    services.record_diagnosis(man, clinician, {"condition": "aga_male"})
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}

    def post(key: str):
        return client.post(
            f"/api/v1/consultation/{man.pk}/plans",
            {"proposal_key": key},
            content_type="application/json",
            headers=headers,
        )

    assert post("exosome").status_code == 201
    response = post("exosome")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "proposal_key: This patient already has an active exosome / EV injections plan"
    )
    assert TreatmentPlan.objects.filter(patient=man).count() == 1
    assert post("minoxidil").status_code == 201
