"""The release spec page explains the evidence tags its sources carry."""

from __future__ import annotations

import pytest

from anagen.accounts.roles import Role

pytestmark = pytest.mark.django_db


def test_the_spec_page_explains_the_evidence_tags(client, clinic_a, make_user):
    client.force_login(make_user(Role.QUALITY, clinic_a))
    response = client.get("/products/specs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Certainty: C = confirmed in a retrieved source; M = from memory" in page
    assert "? = unconfirmed or conflicting" in page
