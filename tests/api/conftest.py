"""Fixtures shared by the API tests: GET with the token of clinic A's clinician."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def clinician_get(client, clinician, clinic_a, api_token) -> Callable[..., Any]:
    """``GET url`` with the query ``params`` and the clinician's API token: the response."""
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}

    def do(url: str, **params):
        return client.get(url, params, headers=headers)

    return do
