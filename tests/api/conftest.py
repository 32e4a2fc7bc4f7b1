"""Fixtures shared by the API tests: a clinician of clinic A and GET with their token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from anagen.accounts.roles import Role


@pytest.fixture
def clinician(clinic_a, make_user):
    return make_user(Role.CLINICIAN, clinic_a)


@pytest.fixture
def clinician_get(client, clinician, clinic_a, api_token) -> Callable[..., Any]:
    """``GET url`` with the query ``params`` and the clinician's API token: the response."""
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}

    def do(url: str, **params):
        return client.get(url, params, headers=headers)

    return do
