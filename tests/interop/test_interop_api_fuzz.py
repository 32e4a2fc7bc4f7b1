"""Fuzz the interop and reports endpoints from the OpenAPI document: never a 5xx, and every
4xx answers JSON with "detail" (the whole-API fuzz in tests/api covers the rest)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from anagen.accounts.roles import Role
from anagen.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application).include(
    path_regex="^/api/v1/(interop|reports)/"
)


@pytest.fixture
def token_headers(clinic_a, make_user, make_patient, api_token):
    user = make_user(Role.ADMIN, clinic_a)
    for _ in range(2):
        make_patient(clinic_a, user)
    return {"Authorization": f"Bearer {api_token(user, clinic_a)}"}


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_interop_and_reports_api_never_answer_5xx(case, token_headers):
    response = case.call(headers=token_headers)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    if response.status_code >= 400:
        assert "detail" in response.json()
