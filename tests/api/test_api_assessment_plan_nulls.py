"""PATCH .../plans/{id}: null clears the fields a page may empty (start, sessions, interval);
null for the notes is refused (leave it out to keep them, send "" to clear them)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role

from .. import builders

BASE = "/api/v1/consultation"


@pytest.fixture
def api(client, clinic_a, make_user, api_token):
    clinician = make_user(Role.CLINICIAN, clinic_a)
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}

    def call(method, path, body):
        return client.generic(
            method, BASE + path, json.dumps(body), content_type="application/json", headers=headers
        )

    call.user = clinician
    return call


@pytest.fixture
def plan(api, clinic_a, make_patient):
    patient = make_patient(
        clinic_a, api.user, sex_at_birth="female", date_of_birth=date(1988, 3, 3)
    )
    p = patient.pk
    history = builders.history_answers(pregnant=False, lactating=False)
    assert api("POST", f"/{p}/history", history).status_code == 201
    assert api("POST", f"/{p}/exams", {"ludwig": "II", "sinclair": 3}).status_code == 201
    assert api("POST", f"/{p}/diagnoses", {"condition": "aga_female"}).status_code == 201
    start = (timezone.localdate() + timedelta(days=7)).isoformat()
    made = api("POST", f"/{p}/plans", {"proposal_key": "minoxidil", "start_on": start})
    assert made.status_code == 201, made.json()
    return f"/{p}/plans/{made.json()['id']}"


def test_null_clears_the_start_date(api, plan):
    answer = api("PATCH", plan, {"start_on": None})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["start_on"] is None


def test_null_notes_are_refused_and_kept(api, plan):
    assert api("PATCH", plan, {"notes": "Review in 3 months"}).status_code == 200
    answer = api("PATCH", plan, {"notes": None})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("notes: cannot be null")
    assert api("PATCH", plan, {}).json()["notes"] == "Review in 3 months"


def test_the_openapi_document_offers_null_only_where_it_clears(client):
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["PlanPatch"]
    props = schema["properties"]
    assert props["notes"]["type"] == "string" and "null" not in str(props["notes"])
    for name in ("sessions_planned", "interval_weeks", "start_on"):
        assert {"type": "null"} in props[name]["anyOf"], name
    assert schema["additionalProperties"] is False
