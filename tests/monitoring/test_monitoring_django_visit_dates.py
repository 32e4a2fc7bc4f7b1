"""Issue 5 bad input: a follow-up visit dated before the first session is a field error and
stores nothing (page, service and API); a baseline visit before the first session is fine."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.monitoring import services
from anagen.monitoring.models import Measurement, ScheduledVisit, Visit

TODAY = date.today()
FIRST = TODAY - timedelta(weeks=6)


@pytest.fixture
def clinician(clinic_a, make_user):
    return make_user(Role.CLINICIAN, clinic_a)


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(clinic_a, clinician, given_name="Fiona", family_name="Followup")


@pytest.fixture
def course(patient, clinician):
    return services.create_follow_up_plan(
        patient, clinician, first_session_date=FIRST, sessions_planned=3, interval_weeks=4
    )


def test_service_refuses_a_follow_up_visit_before_the_first_session(clinician, patient, course):
    week4 = course.visits.get(week=4)
    with pytest.raises(services.MonitoringError) as err:
        services.record_visit(
            patient, clinician,
            {"visit_date": FIRST - timedelta(days=1), "density_per_cm2": 140},
            scheduled_visit=week4,
        )  # fmt: skip
    assert "first session" in " ".join(err.value.errors["visit_date"])
    assert not Visit.objects.filter(patient=patient).exists()
    assert not Measurement.objects.exists()
    week4.refresh_from_db()
    assert week4.status == ScheduledVisit.Status.PLANNED
    # On or after the first session it is accepted; the baseline may be before it.
    baseline = course.visits.get(kind="baseline")
    services.record_visit(
        patient, clinician, {"visit_date": FIRST - timedelta(days=2)}, scheduled_visit=baseline
    )
    services.record_visit(patient, clinician, {"visit_date": FIRST}, scheduled_visit=week4)
    assert Visit.objects.filter(patient=patient).count() == 2


def test_page_shows_the_field_error_and_stores_nothing(client, clinician, patient, course):
    week12 = course.visits.get(week=12)
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/visits/new/?scheduled={week12.pk}"
    response = client.post(
        url,
        {"scheduled": week12.pk, "visit_date": (FIRST - timedelta(days=7)).isoformat(),
         "density_per_cm2": "150", "pull_test": "not_done"},
    )  # fmt: skip
    assert response.status_code in (200, 400)
    assert b'id="id_visit_date_error"' in response.content
    assert b"first session" in response.content
    assert not Visit.objects.filter(patient=patient).exists()


def test_api_names_the_field(client, clinician, patient, course, clinic_a, api_token):
    week4 = course.visits.get(week=4)
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    response = client.post(
        f"/api/v1/monitoring/patients/{patient.pk}/visits",
        data=json.dumps(
            {"visit_date": (FIRST - timedelta(days=3)).isoformat(),
             "scheduled_visit_id": week4.pk, "density_per_cm2": 150}
        ),
        content_type="application/json",
        headers=headers,
    )  # fmt: skip
    assert response.status_code in (400, 422), response.content
    assert "visit_date" in json.dumps(response.json())
    assert not Visit.objects.filter(patient=patient).exists()


def test_api_an_unknown_appointment_is_a_400_naming_the_field(
    client, clinician, patient, course, clinic_a, api_token
):
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    response = client.post(
        f"/api/v1/monitoring/patients/{patient.pk}/visits",
        data=json.dumps({"visit_date": FIRST.isoformat(), "scheduled_visit_id": 987_654,
                         "density_per_cm2": 150}),
        content_type="application/json",
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("scheduled_visit_id: No such appointment")
    assert not Visit.objects.filter(patient=patient).exists()
