"""Specification of the contraindication screening engine (REFERENCE.md A.3.1)."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anagen.assessment import screening as sc
from anagen.assessment.screening import (
    MedicalHistory,
    Medication,
    Outcome,
    Override,
    OverrideError,
    PriorTreatment,
    ScreeningInputError,
)
from anagen.assessment.screening_doc import render_rules_markdown

ON = date(2026, 6, 1)
RULES = sc.load_default_ruleset()
ADULT_MAN = {"age": 40, "sex": "male"}


def history(**kw) -> MedicalHistory:
    base = dict(ADULT_MAN)
    base.update(kw)
    return MedicalHistory(**base)


def med(cls, stop=None, start=date(2025, 1, 1)):
    return Medication(drug_class=cls, name=cls, start=start, stop=stop)


# One history per rule that makes that rule fire. A new rule without a witness fails
# test_every_rule_has_a_witness, so every rule is exercised at least once.
_SCALP = {"scalp_conditions": ["active_infection"]}
_INFECT = {"conditions": ["sepsis"]}
_PLT = {"platelet_count_10e9_per_l": 90}
_PREG = {"sex": "female", "age": 30, "pregnant": True, "lactating": False}
_PREG_UNKNOWN = {"sex": "female", "age": 30}
_ACTIVE_CA = {"malignancy": "active"}
_PAST_CA = {"malignancy": "past"}
_IMMUNO = {"medications": [med("immunosuppressant")]}
_REFER = {"scalp_conditions": ["scarring"]}
_KELOID = {"keloid": True}
_AUTO = {"autoimmune_disease": True}
WITNESS = {
    "EXO-SCALP-SITE": _SCALP,
    "EXO-INFECTION": _INFECT,
    "EXO-PLATELETS": _PLT,
    "EXO-ANTITHROMBOTIC": {"medications": [med("antiplatelet", stop=ON - timedelta(days=5))]},
    "EXO-MALIGNANCY-ACTIVE": {"medications": [med("chemotherapy")]},
    "EXO-MALIGNANCY-PAST": _PAST_CA,
    "EXO-PREGNANCY": _PREG,
    "EXO-PREGNANCY-UNKNOWN": _PREG_UNKNOWN,
    "EXO-IMMUNOSUPPRESSION": {"conditions": ["immunodeficiency"]},
    "EXO-AUTOIMMUNE": _AUTO,
    "EXO-KELOID": _KELOID,
    "EXO-SYSTEMIC": {"conditions": ["liver_disease"]},
    "EXO-HYPERSENSITIVITY": {"allergies": ["Human Serum Albumin"]},
    "EXO-MINOR": {"age": 16},
    "EXO-INTERVAL": {"prior_treatments": [PriorTreatment("exosome", ON - timedelta(days=7))]},
    "EXO-REFER": _REFER,
    "PRP-SCALP-SITE": {"scalp_conditions": ["open_wound"]},
    "PRP-INFECTION": {"conditions": ["chronic_infection"]},
    "PRP-PLATELETS": {"conditions": ["hypofibrinogenemia"]},
    "PRP-ANTICOAGULANT": {"medications": [med("anticoagulant")]},
    "PRP-ANTIPLATELET-NSAID": {"medications": [med("nsaid", stop=ON - timedelta(days=2))]},
    "PRP-MALIGNANCY-ACTIVE": _ACTIVE_CA,
    "PRP-MALIGNANCY-PAST": _PAST_CA,
    "PRP-PREGNANCY": {"sex": "female", "age": 30, "pregnant": False, "lactating": True},
    "PRP-PREGNANCY-UNKNOWN": _PREG_UNKNOWN,
    "PRP-IMMUNOSUPPRESSION": _IMMUNO,
    "PRP-AUTOIMMUNE": _AUTO,
    "PRP-KELOID": _KELOID,
    "PRP-HEMODYNAMIC": {"conditions": ["hemodynamic_instability"]},
    "PRP-SYSTEMIC": {"conditions": ["systemic_disorder"]},
    "PRP-INTERVAL": {"prior_treatments": [PriorTreatment("prp", ON - timedelta(days=13))]},
    "PRP-REFER": {"scalp_conditions": ["pus"]},
    "MIN-SCALP-SITE": {"scalp_conditions": ["active_dermatosis"]},
    "MIN-PREGNANCY": _PREG,
    "MIN-PREGNANCY-UNKNOWN": _PREG_UNKNOWN,
    "MIN-ALLERGY": {"allergies": ["Minoxidil"]},
    "MIN-PROPYLENE-GLYCOL": {"allergies": ["propylene-glycol"]},
    "MIN-CARDIOVASCULAR": {"conditions": ["hypotension"]},
    "MIN-MINOR": {"age": 17},
    "MIN-REFER": {"scalp_conditions": ["patchy_loss"]},
    "TX-SCALP-SITE": _SCALP,
    "TX-INFECTION": {"conditions": ["acute_infection"]},
    "TX-BLEEDING": {"bleeding_disorder": True},
    "TX-ANTITHROMBOTIC": {"medications": [med("anticoagulant")]},
    "TX-MALIGNANCY-ACTIVE": _ACTIVE_CA,
    "TX-PREGNANCY": _PREG,
    "TX-IMMUNOSUPPRESSION": _IMMUNO,
    "TX-KELOID": _KELOID,
    "TX-ISOTRETINOIN": {"medications": [med("isotretinoin", stop=ON - timedelta(days=100))]},
    "TX-YOUNG": {"age": 22},
    "TX-SYSTEMIC": {"conditions": ["cardiovascular_disease"]},
    "TX-ANESTHETIC-ALLERGY": {"allergies": ["lidocaine"]},
    "TX-REFER": {"scalp_conditions": ["scalp_pain"]},
    "MN-SCALP-SITE": _SCALP,
    "MN-INFECTION": _INFECT,
    "MN-BLEEDING": _PLT,
    "MN-ISOTRETINOIN": {"medications": [med("isotretinoin")]},
    "MN-KELOID": _KELOID,
    "MN-IMMUNE-ONCOLOGY": _ACTIVE_CA,
    "MN-PREGNANCY": _PREG,
    "MN-REFER": _REFER,
    "LLLT-PHOTOSENSITIVITY": {"conditions": ["photosensitivity_disorder"]},
    "LLLT-SCALP-SITE": _SCALP,
    "LLLT-MALIGNANCY-ACTIVE": _ACTIVE_CA,
    "LLLT-PREGNANCY": _PREG,
    "LLLT-MINOR": {"age": 12},
    "LLLT-REFER": _REFER,
}
PRODUCT = ("human serum albumin", "trehalose")


def test_ruleset_has_version_and_covers_every_modality():
    assert RULES.version
    assert {r.modality for r in RULES.rules} == set(sc.MODALITIES)


def test_every_rule_has_a_source_and_reason():
    for r in RULES.rules:
        assert r.source.strip(), r.id
        assert r.reason.strip(), r.id


def test_every_rule_has_a_witness():
    assert set(WITNESS) == {r.id for r in RULES.rules}


@pytest.mark.parametrize("rule_id", sorted(WITNESS))
def test_witness_fires_its_rule_and_sets_at_least_its_outcome(rule_id):
    rule = RULES.rule(rule_id)
    result = sc.screen(history(**WITNESS[rule_id]), on=ON, product_components=PRODUCT)
    mod = result.modalities[rule.modality]
    assert rule_id in {f.rule_id for f in mod.findings}
    assert mod.outcome.severity >= rule.outcome.severity


def test_healthy_adult_man_is_ok_everywhere():
    result = sc.screen(history(), on=ON)
    assert all(r.outcome is Outcome.OK and r.findings == () for r in result.modalities.values())


class TestReferenceTable:
    """The PRP / exosome columns of REFERENCE.md A.3.1."""

    @pytest.mark.parametrize(
        ("kw", "prp", "exo"),
        [
            (_SCALP, "BLOCK", "BLOCK"),
            (_INFECT, "BLOCK", "BLOCK"),
            ({"conditions": ["thrombocytopenia"]}, "BLOCK", "WARN"),
            (_ACTIVE_CA, "BLOCK", "BLOCK"),
            (_PAST_CA, "WARN", "WARN"),
            (_PREG, "BLOCK", "BLOCK"),
            (_IMMUNO, "WARN", "BLOCK"),
            (_AUTO, "WARN", "WARN"),
            (_KELOID, "WARN", "WARN"),
            ({"conditions": ["liver_disease"]}, "WARN", "WARN"),
            (_REFER, "REFER", "REFER"),
        ],
    )
    def test_row(self, kw, prp, exo):
        r = sc.screen(history(**kw), on=ON, modalities=["prp", "exosome"])
        assert (r.outcome("prp"), r.outcome("exosome")) == (prp, exo)

    def test_product_allergy_blocks_exosome_only_when_component_matches(self):
        h = history(allergies=["trehalose"])
        assert sc.screen(h, on=ON, product_components=PRODUCT).outcome("exosome") == "BLOCK"
        assert sc.screen(h, on=ON, product_components=["dmso"]).outcome("exosome") == "OK"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("local anaesthetics", "local anesthetic"),  # plural and British spelling
        ("Lidocaïne", "lidocaine"),  # accent
        ("lignocaine", "lidocaine hydrochloride"),  # British name (BAN) and INN
        ("adrenaline", "Epinephrine"),
        ("lidocaine", "Xylocaine spray"),  # a brand read as its substance
        ("Xylocaine", "lidocaine 2% with adrenaline"),
        ("lidocaine", "EMLA cream"),  # lidocaine and prilocaine
        ("prilocaine", "EMLA cream"),
        ("bupivacaine", "Marcaine 0.5%"),
    ],
)
def test_names_of_one_substance_match(a, b):
    assert sc.substances_match(a, b) and sc.substances_match(b, a)


def test_a_brand_matches_only_the_substances_it_contains():
    assert not sc.substances_match("bupivacaine", "Xylocaine spray")
    assert not sc.substances_match("tetracaine", "EMLA cream")


@pytest.mark.parametrize(("a", "b"), [("glass", "gla"), ("virus", "viru"), ("lens", "len")])
def test_words_ending_in_s_that_are_not_plurals_are_not_cut(a, b):
    assert not sc.substances_match(a, b)


class TestProductAllergyMatchesWholeWords:
    """An allergy matched a component only when the texts were equal: "bovine serum
    albumin" against "Bovine serum albumin (BSA)" screened OK (a review found it)."""

    @pytest.mark.parametrize(
        ("allergy", "component"),
        [
            ("bovine serum albumin", "Bovine serum albumin (BSA)"),
            ("Bovine serum albumin (BSA)", "bovine serum albumin"),
            ("trehalose", "Trehalose dihydrate"),
            ("DMSO", "dmso"),
            ("human-serum albumin", "Human serum albumin"),
            ("Trehalosé", "trehalose"),  # accents folded
            ("DMSO", "DMSOs"),
        ],
    )
    def test_all_words_of_one_in_the_other_block(self, allergy, component):
        h = history(allergies=[allergy])
        assert sc.screen(h, on=ON, product_components=[component]).outcome("exosome") == "BLOCK"

    @pytest.mark.parametrize(
        ("allergy", "component"),
        [
            ("BSA", "bovine serum albumin"),  # an abbreviation is not its words
            ("glycol", "glycolic acid"),  # part of a word
            ("egg albumin", "Bovine serum albumin"),
            ("", "trehalose"),
        ],
    )
    def test_no_shared_whole_words_is_no_match(self, allergy, component):
        h = history(allergies=[allergy])
        assert sc.screen(h, on=ON, product_components=[component]).outcome("exosome") == "OK"

    def test_a_named_allergy_rule_matches_on_words_too(self):
        h = history(allergies=["Lidocaine hydrochloride"])
        assert sc.screen(h, on=ON, modalities=["transplant"]).outcome("transplant") == "WARN"


class TestMedicationWindows:
    def test_aspirin_stopped_8_days_ago_no_longer_warns(self):
        h = history(medications=[med("antiplatelet", stop=ON - timedelta(days=8))])
        assert sc.screen(h, on=ON, modalities=["prp"]).outcome("prp") == "OK"

    def test_aspirin_stopped_7_days_ago_still_warns(self):
        h = history(medications=[med("antiplatelet", stop=ON - timedelta(days=7))])
        assert sc.screen(h, on=ON, modalities=["prp"]).outcome("prp") == "WARN"

    def test_drug_starting_after_the_date_is_ignored(self):
        h = history(medications=[med("anticoagulant", start=ON + timedelta(days=1))])
        assert sc.screen(h, on=ON, modalities=["prp"]).outcome("prp") == "OK"

    def test_worst_outcome_wins_and_all_findings_listed(self):
        h = history(medications=[med("anticoagulant"), med("nsaid")], keloid=True)
        r = sc.screen(h, on=ON).modalities["prp"]
        assert r.outcome == "BLOCK"
        assert [f.rule_id for f in r.findings] == [
            "PRP-ANTICOAGULANT",
            "PRP-ANTIPLATELET-NSAID",
            "PRP-KELOID",
        ]


class TestInputValidation:
    @pytest.mark.parametrize(
        ("kw", "field"),
        [
            ({"conditions": ["flu"]}, "conditions"),
            ({"scalp_conditions": ["dandruff"]}, "scalp_conditions"),
            ({"medications": [Medication("statin")]}, "medications[0]"),
            ({"sex": "M"}, "sex"),
            ({"age": -1}, "age"),
            ({"malignancy": "yes"}, "malignancy"),
            ({"pregnant": True}, "pregnant"),  # male record
            (
                {
                    "medications": [
                        Medication("nsaid", start=date(2026, 2, 1), stop=date(2026, 1, 1))
                    ]
                },
                "medications[0].stop",
            ),
        ],
    )
    def test_invalid_history_names_field(self, kw, field):
        with pytest.raises(ScreeningInputError) as err:
            history(**kw)
        assert err.value.field == field

    def test_an_unknown_medication_class_is_named_with_the_known_ones(self):
        with pytest.raises(ScreeningInputError) as err:
            history(medications=[Medication("statin", start=date(2020, 1, 1))])
        assert err.value.message.startswith("unknown medication class 'statin'; one of: ")
        assert "Medication(" not in err.value.message and "datetime" not in err.value.message

    def test_a_platelet_count_per_microlitre_is_refused_with_the_unit_to_use(self):
        """250000 is a normal count per µL, typed into a field in 10⁹/L."""
        with pytest.raises(ScreeningInputError) as err:
            history(platelet_count_10e9_per_l=250000)
        assert err.value.field == "platelet_count_10e9_per_l"
        assert "a count per µL, such as 250000, is 250 × 10⁹/L" in err.value.message

    def test_unknown_modality(self):
        with pytest.raises(ScreeningInputError):
            sc.screen(history(), on=ON, modalities=["botox"])


class TestOverrides:
    def test_clinic_makes_past_malignancy_block_exosome(self):
        rs = sc.apply_overrides(
            RULES, [Override("EXO-MALIGNANCY-PAST", "set_outcome", "clinic policy", Outcome.BLOCK)]
        )
        r = sc.screen(history(**_PAST_CA), on=ON, ruleset=rs).modalities["exosome"]
        assert r.outcome == "BLOCK"
        assert r.findings[0].override_reason == "clinic policy"
        assert rs.effective_version != RULES.version
        # the base ruleset is unchanged
        assert RULES.rule("EXO-MALIGNANCY-PAST").outcome == "WARN"

    def test_outcome_may_be_given_as_text(self):
        rs = sc.apply_overrides(RULES, [Override("TX-YOUNG", "set_outcome", "x", "REFER")])
        assert sc.screen(history(age=22), on=ON, ruleset=rs).outcome("transplant") == "REFER"

    def test_disable_rule(self):
        rs = sc.apply_overrides(RULES, [Override("TX-YOUNG", "disable", "surgeon's policy")])
        assert sc.screen(history(age=22), on=ON, ruleset=rs).outcome("transplant") == "OK"

    def test_locked_rule_cannot_be_weakened_or_disabled(self):
        with pytest.raises(OverrideError):
            sc.apply_overrides(RULES, [Override("EXO-PREGNANCY", "disable", "x")])
        with pytest.raises(OverrideError):
            sc.apply_overrides(RULES, [Override("EXO-PREGNANCY", "set_outcome", "x", Outcome.WARN)])

    def test_locked_rule_can_be_made_stricter(self):
        # Already BLOCK; setting BLOCK again is allowed (no weakening).
        sc.apply_overrides(RULES, [Override("EXO-PREGNANCY", "set_outcome", "x", Outcome.BLOCK)])

    @pytest.mark.parametrize(
        "rule_id",
        ["PRP-PREGNANCY", "MIN-PREGNANCY", "TX-PREGNANCY", "TX-MALIGNANCY-ACTIVE", "MN-INFECTION"],
    )
    def test_pregnancy_infection_and_cancer_blocks_cannot_be_disabled(self, rule_id):
        with pytest.raises(OverrideError, match="locked"):
            sc.apply_overrides(RULES, [Override(rule_id, "disable", "clinic policy")])


def _leaves(cond):
    """Every (predicate, argument) pair in a condition tree, through any/all/not."""
    ((key, arg),) = cond.items()
    if key in ("any", "all"):
        return [leaf for c in arg for leaf in _leaves(c)]
    if key == "not":
        return []  # a negated predicate does not make the rule about that risk
    return [(key, arg)]


def _direct_harm(rule) -> str | None:
    """The locked-policy category (yaml header) a BLOCK rule falls in, read from its condition."""
    for key, arg in _leaves(rule.when):
        if key == "condition" and {"sepsis", "acute_infection", "chronic_infection"} & set(arg):
            return "infection"
        if key == "scalp" and "active_infection" in arg:
            return "infection"
        if key == "flag" and arg in ("pregnant", "lactating"):
            return "pregnancy"
        if key in ("allergy", "allergy_to_product"):
            return "anaphylaxis"
        if key == "malignancy" and arg == "active":
            return "tumour promotion"
        if key == "medication" and "chemotherapy" in arg["classes"]:
            return "tumour promotion"
    return None


@pytest.mark.parametrize(
    "rule",
    [r for r in RULES.rules if r.outcome is Outcome.BLOCK and _direct_harm(r)],
    ids=lambda r: r.id,
)
def test_every_direct_harm_block_is_locked(rule):
    # The yaml header and the rules page promise these can be made stricter, never weaker.
    assert rule.locked, f"{rule.id} blocks for {_direct_harm(rule)} but is not locked"


@pytest.mark.parametrize(
    "rule",
    [r for r in RULES.rules if r.outcome is Outcome.BLOCK and "exclusion" in r.source],
    ids=lambda r: r.id,
)
def test_every_published_trial_exclusion_that_blocks_is_locked(rule):
    # IRCT 76960 / NCT05658094 exclusions (sepsis, immunosuppression, cancer, pregnancy).
    assert rule.locked


def test_the_direct_harm_policy_finds_the_rules_it_should():
    found = {r.id for r in RULES.rules if r.outcome is Outcome.BLOCK and _direct_harm(r)}
    assert {"PRP-PREGNANCY", "TX-MALIGNANCY-ACTIVE", "MN-INFECTION", "MIN-ALLERGY"} <= found


class TestBadOverrides:
    @pytest.mark.parametrize(
        "ov",
        [
            Override("NOPE", "disable", "x"),
            Override("TX-YOUNG", "disable", "  "),
            Override("TX-YOUNG", "set_outcome", "x", None),
            Override("TX-YOUNG", "set_outcome", "x", Outcome.OK),
            Override("TX-YOUNG", "set_outcome", "x", "FORBID"),
            Override("TX-YOUNG", "delete", "x"),
        ],
    )
    def test_bad_overrides(self, ov):
        with pytest.raises(OverrideError):
            sc.apply_overrides(RULES, [ov])


class TestRulesetLoading:
    def test_unknown_predicate_rejected(self):
        bad = {"version": "t", "rules": [{"id": "X", "modality": "prp", "when": {"zodiac": 1},
               "outcome": "WARN", "reason": "r", "source": "s"}]}  # fmt: skip
        with pytest.raises(sc.RulesetError):
            sc.parse_ruleset(bad)

    def test_ok_outcome_rejected(self):
        bad = {"version": "t", "rules": [{"id": "X", "modality": "prp", "when": {"flag": "keloid"},
               "outcome": "OK", "reason": "r", "source": "s"}]}  # fmt: skip
        with pytest.raises(sc.RulesetError):
            sc.parse_ruleset(bad)


# --- property-based ------------------------------------------------------------------------

dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))


@st.composite
def medications(draw):
    start = draw(st.none() | dates)
    stop = draw(st.none() | dates)
    if start and stop and stop < start:
        start, stop = stop, start
    return Medication(draw(st.sampled_from(sorted(sc.MEDICATION_CLASSES))), "", start, stop)


@st.composite
def histories(draw):
    sex = draw(st.sampled_from(sorted(sc.SEXES)))
    preg = st.none() | st.booleans() if sex != "male" else st.none() | st.just(False)
    return MedicalHistory(
        age=draw(st.none() | st.integers(0, 130)),
        sex=sex,
        conditions=draw(st.lists(st.sampled_from(sorted(sc.CONDITIONS)), max_size=4)),
        medications=draw(st.lists(medications(), max_size=4)),
        allergies=draw(
            st.lists(
                st.sampled_from(["trehalose", "lidocaine", "minoxidil", "latex", ""]), max_size=3
            )
        ),
        pregnant=draw(preg),
        lactating=draw(preg),
        malignancy=draw(st.sampled_from(sorted(sc.MALIGNANCY))),
        autoimmune_disease=draw(st.booleans()),
        bleeding_disorder=draw(st.booleans()),
        platelet_count_10e9_per_l=draw(st.none() | st.floats(0, 1000)),
        keloid=draw(st.booleans()),
        scalp_conditions=draw(st.lists(st.sampled_from(sorted(sc.SCALP_CONDITIONS)), max_size=3)),
        prior_treatments=draw(
            st.lists(st.builds(PriorTreatment, st.sampled_from(sc.MODALITIES), dates), max_size=3)
        ),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=histories(), on=dates)
def test_engine_never_crashes_and_outcome_is_worst_finding(h, on):
    result = sc.screen(h, on=on, ruleset=RULES, product_components=PRODUCT)
    assert set(result.modalities) == set(sc.MODALITIES)
    for m, r in result.modalities.items():
        fired = [rule for rule in RULES.rules if rule.modality == m and
                 sc.condition_holds(rule, h, on, PRODUCT)]  # fmt: skip
        assert {f.rule_id for f in r.findings} == {rule.id for rule in fired}
        # every BLOCK rule whose condition holds makes its modality BLOCK
        if any(rule.outcome is Outcome.BLOCK for rule in fired):
            assert r.outcome is Outcome.BLOCK
        # OK exactly when no rule fires
        assert (r.outcome is Outcome.OK) == (not fired)
        if fired:
            assert r.outcome.severity == max(rule.outcome.severity for rule in fired)
    result.to_dict()  # serialisable form never fails either


@settings(max_examples=60, deadline=None)
@given(h=histories(), on=dates, rule_id=st.sampled_from(sorted(WITNESS)))
def test_adding_a_block_condition_to_any_history_blocks(h, on, rule_id):
    # Merge a BLOCK rule's witness into an arbitrary history: the modality must BLOCK.
    rule = RULES.rule(rule_id)
    if rule.outcome is not Outcome.BLOCK:
        return
    w = WITNESS[rule_id]
    merged = {
        "age": w.get("age", h.age),
        "sex": w.get("sex", h.sex if h.sex != "male" or "pregnant" not in w else "female"),
        "conditions": list(h.conditions) + w.get("conditions", []),
        "medications": [
            *h.medications,
            *[Medication(m.drug_class, m.name, None, None) for m in w.get("medications", [])],
        ],
        "allergies": list(h.allergies) + w.get("allergies", []),
        "pregnant": w.get("pregnant", h.pregnant),
        "lactating": w.get("lactating", h.lactating),
        "malignancy": w.get("malignancy", h.malignancy),
        "scalp_conditions": list(h.scalp_conditions) + w.get("scalp_conditions", []),
        "prior_treatments": [
            *h.prior_treatments,
            *[PriorTreatment(p.modality, on) for p in w.get("prior_treatments", [])],
        ],
        "platelet_count_10e9_per_l": w.get(
            "platelet_count_10e9_per_l", h.platelet_count_10e9_per_l
        ),
    }
    for flag in ("keloid", "autoimmune_disease", "bleeding_disorder"):
        merged[flag] = w.get(flag, getattr(h, flag))
    if merged["sex"] == "male":
        merged["pregnant"] = merged["pregnant"] and None
        merged["lactating"] = merged["lactating"] and None
    hist = MedicalHistory(**merged)
    assert sc.condition_holds(rule, hist, on, PRODUCT)
    result = sc.screen(hist, on=on, ruleset=RULES, product_components=PRODUCT)
    assert result.outcome(rule.modality) == "BLOCK"


# --- docs ----------------------------------------------------------------------------------


def test_docs_match_the_yaml():
    doc = Path(__file__).resolve().parents[2] / "docs" / "screening-rules.md"
    assert doc.read_text(encoding="utf-8") == render_rules_markdown(), (
        "docs/screening-rules.md is stale: run "
        "`python -m anagen.assessment.screening_doc > docs/screening-rules.md`"
    )


def test_docs_list_every_rule():
    text = render_rules_markdown()
    for r in RULES.rules:
        assert f"| {r.id} |" in text


@pytest.mark.parametrize("sex", ["other", "unknown"])
def test_an_unrecorded_pregnancy_is_asked_of_everyone_not_recorded_as_male(sex):
    """The WARN "pregnancy or breastfeeding not recorded" fired for women only: an intersex
    patient, or one whose sex at birth is not recorded, aged 30 and never asked, screened OK
    for exosome, PRP and minoxidil, which pregnancy BLOCKs."""
    result = sc.screen(history(sex=sex, age=30), on=ON)
    for modality, rule_id in (
        ("exosome", "EXO-PREGNANCY-UNKNOWN"),
        ("prp", "PRP-PREGNANCY-UNKNOWN"),
        ("minoxidil", "MIN-PREGNANCY-UNKNOWN"),
    ):
        assert [f.rule_id for f in result.modalities[modality].findings] == [rule_id]
    assert (
        sc.screen(history(sex=sex, age=30, pregnant=False, lactating=False), on=ON).outcome(
            "exosome"
        )
        == "OK"
    )
    assert sc.screen(history(sex=sex, age=60), on=ON).outcome("exosome") == "OK"
    assert sc.screen(history(age=30), on=ON).outcome("exosome") == "OK"  # a man is not asked
