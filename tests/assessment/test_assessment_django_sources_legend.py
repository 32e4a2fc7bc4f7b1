"""The scale sources are shown where the scales are used (the scalp exam step), and the
evidence tags ([C], [M], [?]) are explained wherever sources carry them."""

from __future__ import annotations

import html

import pytest

from anagen.accounts.roles import Role
from anagen.assessment import scales

pytestmark = pytest.mark.django_db

LEGEND = "Certainty: C = confirmed in a retrieved source; M = from memory or a secondary source"


def exam_step(page: str) -> str:
    return page.split('id="step-exam"')[1].split("</section>")[0]


def test_the_exam_step_names_the_source_of_each_scale(client, clinic_a, make_user, make_patient):
    clinician = make_user(Role.CLINICIAN, clinic_a)
    patient = make_patient(clinic_a, clinician)
    client.force_login(clinician)
    step = html.unescape(exam_step(client.get(f"/consultation/{patient.pk}/").content.decode()))
    assert "Sources: " in step
    for name, source in scales.SCALE_SOURCES:
        assert f"{name}: {source}" in step
    assert "Norwood–Hamilton: PMC6580804 Table 1 [C]" in step
    # The pull-test rule has only a secondary website behind it: tagged as such.
    assert "Pull test: fpnotebook (secondary source) [M]" in step
    assert LEGEND in step
    assert "REFERENCE" not in step


def test_the_rules_page_explains_the_evidence_tags(client, clinic_a, make_user):
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    page = client.get("/consultation/rules/").content.decode()
    assert "[C]" in page and LEGEND in page
    assert "? = unconfirmed or conflicting" in page
