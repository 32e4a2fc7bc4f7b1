"""Every source line a clinician sees (scales, codes, screening rules, protocol templates,
plan reasons) cites the primary source, never the project's internal REFERENCE.md."""

from __future__ import annotations

import pytest

from anagen.assessment import coding, protocols, scales, screening

SCALE_SOURCES = {
    "NORWOOD_SOURCE": "PMC6580804 Table 1 [C]",
    "LUDWIG_SOURCE": "Ludwig 1977 (labels [C], boundary wording [M])",
    "SINCLAIR_SOURCE": "PMID 30565210 [C] (per-grade wording [M])",
    "BASP_SOURCE": "Lee, JAAD 2007 [C]",
    "SALT_SOURCE": "Olsen 2004 JAAD 51:440 [C]",
    "PULL_TEST_SOURCE": "fpnotebook (secondary source) [M]",
}


@pytest.mark.parametrize(("name", "text"), SCALE_SOURCES.items())
def test_scale_sources_cite_the_primary_source_with_its_tag(name, text):
    assert getattr(scales, name) == text


def test_codes_and_their_notes():
    assert "REFERENCE" not in coding.SOURCE
    for dx in coding.DIAGNOSES.values():
        assert not any("REFERENCE" in n for n in dx.notes), dx.key


def test_screening_rule_sources():
    rules = screening.load_default_ruleset().rules
    assert not [r.id for r in rules if "REFERENCE" in r.source]
    by_id = {r.id: r.source for r in rules}
    assert by_id["EXO-INFECTION"] == "IRCT 76960 exclusion (sepsis) [C]"
    assert by_id["PRP-SCALP-SITE"] == "PMC8922312 [C]"


def test_protocol_template_sources_and_plan_reasons():
    assert not [k for k, t in protocols.TEMPLATES.items() if "REFERENCE" in t.source]
    shown = []
    for dx, stage, sex in (
        ("aga_male", "VI", "male"),
        ("aga_female", "III", "female"),
        ("te_chronic", None, "female"),
        ("aa_patchy", None, "male"),
    ):
        for p in protocols.propose_plans(dx, stage, sex, None, include_blocked=True):
            shown += [*p.reasons, *p.flags, *p.notices]
    assert shown and not [s for s in shown if "REFERENCE" in s]
