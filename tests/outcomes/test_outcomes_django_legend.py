"""The comparison page explains its certainty tags with the shared legend."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_comparison_page_shows_the_shared_legend(client, clinician):
    client.force_login(clinician)
    page = client.get("/outcomes/comparison/").content.decode()
    assert 'class="muted evidence-legend"' in page
    assert "Certainty: C = confirmed in a retrieved source; M = from memory" in page
    assert "low = the source rates its own certainty low." in page
    assert "Sources: the published trials and meta-analyses named on each row." in page
