"""Specification of CTCAE grading (REFERENCE.md A.4)."""

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anagen.monitoring import ctcae
from anagen.monitoring.ctcae import CTCAEError, grade_event, is_serious_or_high_grade

D = date(2026, 3, 1)


def test_version_is_stored_with_every_grade():
    assert ctcae.CTCAE_VERSION == "5.0"
    assert grade_event("headache", 1, D).ctcae_version == "5.0"


def test_generic_grades_from_reference():
    assert ctcae.GENERIC_GRADES[1].startswith("Mild")
    assert "Life-threatening" in ctcae.GENERIC_GRADES[4]
    assert "Death" in ctcae.GENERIC_GRADES[5]


@pytest.mark.parametrize(
    "key",
    ["injection_site_reaction", "pain", "headache", "alopecia", "pruritus", "rash_maculopapular",
     "skin_infection", "allergic_reaction", "anaphylaxis", "folliculitis", "syncope",
     "vasovagal_reaction", "hematoma", "bruising", "edema_face", "paresthesia"],
)  # fmt: skip
def test_required_terms_present(key):
    assert key in ctcae.TERMS


def test_injection_site_reaction_text_from_reference():
    t = ctcae.TERMS["injection_site_reaction"]
    assert "Tenderness" in t.grades[1]
    assert "Ulceration" in t.grades[3]
    assert t.grades[4] == ctcae.GENERIC_GRADES[4]
    assert t.generic_text == (4, 5)


def test_term_without_specific_text_uses_generic_text_and_says_so():
    t = ctcae.TERMS["folliculitis"]
    assert all(t.grades[g] == ctcae.GENERIC_GRADES[g] for g in t.grades)
    assert t.generic_text == (1, 2, 3) and all(t.is_generic(g) for g in t.grades)
    assert any("Generic CTCAE v5.0 grade definitions shown" in n for n in t.notes)


@pytest.mark.parametrize(
    ("key", "grades", "texts"),
    [
        ("alopecia", (1, 2), {1: "Hair loss of <50% of normal", 2: "Hair loss of >=50% normal"}),
        ("paresthesia", (1, 2, 3), {1: "Mild symptoms",
                                    2: "Moderate symptoms; limiting instrumental ADL",
                                    3: "Severe symptoms; limiting self care ADL"}),
        ("rash_maculopapular", (1, 2, 3), {1: "Macules/papules covering <10% BSA",
                                           2: "Macules/papules covering 10–30% BSA",
                                           3: "Macules/papules covering >30% BSA"}),
        ("anaphylaxis", (3, 4, 5), {3: "Symptomatic bronchospasm",
                                    4: "Life-threatening consequences; urgent intervention",
                                    5: "Death"}),
    ],
)  # fmt: skip
def test_term_specific_text_from_memory_is_tagged_m(key, grades, texts):
    t = ctcae.TERMS[key]
    assert tuple(t.grades) == grades
    assert t.generic_text == ()
    for g, start in texts.items():
        assert t.grades[g].startswith(start)
        assert t.grades[g] != ctcae.GENERIC_GRADES[g] or g == 5
    assert t.source == "NCI CTCAE v5.0 [M]"
    assert any("[M]" in n and "verify" in n for n in t.notes)


def test_alopecia_wig_criterion_separates_grade_1_from_2():
    t = ctcae.TERMS["alopecia"]
    assert "does not require a wig" in t.grades[1]
    assert "wig or hair piece is necessary" in t.grades[2]
    assert "psychosocial impact" in t.grades[2]


@pytest.mark.parametrize(
    ("term", "grade", "graded"),
    [("alopecia", 3, "1–2"), ("alopecia", 5, "1–2"), ("paresthesia", 4, "1–3"),
     ("rash_maculopapular", 4, "1–3"), ("anaphylaxis", 2, "3–5"), ("syncope", 4, "3")],
)  # fmt: skip
def test_a_grade_the_term_does_not_have_is_refused_with_its_range(term, grade, graded):
    with pytest.raises(CTCAEError) as err:
        grade_event(term, grade, D)
    assert err.value.field == "grade"
    name = ctcae.TERMS[term].name
    assert err.value.message.startswith(f"{name} has no grade {grade} in CTCAE v5.0")
    assert f"it is graded {graded} only" in err.value.message


def test_no_meddra_codes_bundled():
    assert all(t.meddra_code is None for t in ctcae.TERMS.values())


@pytest.mark.parametrize(
    ("term", "key"),
    [("erythema", "injection_site_reaction"), ("Scalp pain", "pain"),
     ("Injection site reaction", "injection_site_reaction"), ("swelling", "edema_face")],
)  # fmt: skip
def test_aliases(term, key):
    assert ctcae.resolve_term(term).key == key


class TestValidation:
    @pytest.mark.parametrize("grade", [0, 6, -1, 2.0, True, "3"])
    def test_grade_outside_1_to_5(self, grade):
        with pytest.raises(CTCAEError) as err:
            grade_event("pain", grade, D)
        assert err.value.field == "grade"

    @pytest.mark.parametrize(
        ("term", "grade"),
        [("headache", 4), ("anaphylaxis", 1), ("anaphylaxis", 2), ("syncope", 1),
         ("bruising", 3), ("alopecia", 3)],
    )  # fmt: skip
    def test_grade_not_allowed_for_term(self, term, grade):
        with pytest.raises(CTCAEError) as err:
            grade_event(term, grade, D)
        assert err.value.field == "grade"

    def test_anaphylaxis_starts_at_grade_3(self):
        assert grade_event("anaphylaxis", 3, D).grade == 3

    def test_resolution_before_onset(self):
        with pytest.raises(CTCAEError) as err:
            grade_event("pain", 1, D, D - timedelta(days=1))
        assert err.value.field == "resolved"
        assert err.value.message == "The resolution date is before the onset date."

    def test_resolution_before_onset_same_day_datetimes(self):
        with pytest.raises(CTCAEError):
            grade_event("pain", 1, datetime(2026, 3, 1, 12), datetime(2026, 3, 1, 9))

    def test_same_day_resolution_ok(self):
        e = grade_event("pain", 1, D, D)
        assert (e.onset, e.resolved, e.grade_text) == (D, D, "Mild pain")

    def test_unknown_term(self):
        with pytest.raises(CTCAEError) as err:
            grade_event("sadness", 1, D)
        assert err.value.field == "term"


class TestSeriousness:
    @pytest.mark.parametrize(("grade", "expected"), [(1, False), (2, False), (3, True), (5, True)])
    def test_grade_3_or_more_is_high(self, grade, expected):
        assert is_serious_or_high_grade(grade) is expected

    def test_serious_regardless_of_grade(self):
        assert is_serious_or_high_grade(2, seriousness=["hospitalization"])

    def test_unknown_seriousness(self):
        with pytest.raises(CTCAEError):
            is_serious_or_high_grade(1, seriousness=["scary"])


@given(term=st.sampled_from(sorted(ctcae.TERMS)), grade=st.integers(-3, 8))
def test_grade_accepted_iff_defined_for_term(term, grade):
    allowed = grade in ctcae.TERMS[term].grades
    try:
        grade_event(term, grade, D)
    except CTCAEError:
        assert not allowed
    else:
        assert allowed
        assert 1 <= grade <= 5


def test_shown_sources_and_notes_cite_ctcae_not_the_internal_reference_file():
    """Clinicians see ``source`` and ``notes``; REFERENCE.md is a project file, not shipped."""
    assert ctcae.SOURCE == "NCI CTCAE v5.0"
    for term in ctcae.TERMS.values():
        assert term.source.startswith("NCI CTCAE v5.0 [")  # keeps its [C]/[M] tag
        assert not any("REFERENCE" in n for n in term.notes), term.key
    alopecia = ctcae.TERMS["alopecia"]
    assert alopecia.notes == (
        "CTCAE v5.0 Alopecia has grades 1–2 only.",
        "Term-specific text from memory [M]; verify against the NCI CTCAE v5.0 table.",
    )
    assert alopecia.generic_text == ()


def test_the_grade_and_an_admission_imply_their_seriousness_criteria():
    assert ctcae.implied_seriousness(4, []) == ["life_threatening"]
    assert ctcae.implied_seriousness(5, ["hospitalization"]) == ["death", "hospitalization"]
    assert ctcae.implied_seriousness(2, [], hospitalised=True) == ["hospitalization"]
    assert ctcae.implied_seriousness(3, []) == []
