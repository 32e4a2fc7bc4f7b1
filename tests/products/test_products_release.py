"""Specification of the lot-release engine (REFERENCE.md A.6.2)."""

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anagen.products import release as rel
from anagen.products.release import ReleaseInputError, Status, check_release, validate_coa

SPEC = rel.load_default_spec()


def good_coa(**changes):
    coa = {
        "labelled_particles_per_ml": 1.0e11,
        "particles_per_ml": 1.1e11,
        "size_mode_nm": 120,
        "particles_50_400nm_pct": 95,
        "cd9": "positive",
        "cd63": "Positive",
        "cd81": "+",
        "calnexin": "negative",
        "tem_morphology": "conforms",
        "particles_per_ug_protein": 5e9,
        "sterility": "no growth",
        "endotoxin_eu_per_ml": 0.1,
        "mycoplasma": "not detected",
        "adventitious_virus": "negative",
        "antibiotic_residue": "negative",
        "residual_dna_ng_per_dose": 2,
        "donor_screening": "negative",
    }
    coa.update(changes)
    return coa


def status(report, field):
    return next(r for r in report.results if r.field == field).status


class TestSpec:
    def test_versioned_and_sourced(self):
        assert SPEC.version
        assert all(c.source for c in SPEC.criteria)

    def test_limits_from_reference(self):
        assert SPEC.criterion("size_mode_nm").limit == (80.0, 150.0)
        assert SPEC.criterion("endotoxin_eu_per_ml").limit == 0.25
        assert SPEC.criterion("particles_per_ml").limit == 20.0
        assert SPEC.criterion("calnexin").limit == "negative"

    def test_bad_spec_rejected(self):
        with pytest.raises(rel.SpecError):
            rel.parse_spec({"version": "x", "criteria": [
                {"field": "a", "comparator": "~", "limit": 1, "source": "s"}]})  # fmt: skip
        with pytest.raises(rel.SpecError):
            rel.parse_spec({"version": "x", "criteria": [{"field": "a", "comparator": "<",
                "limit": 1, "unit": "furlongs", "source": "s"}]})  # fmt: skip


class TestCheckRelease:
    def test_good_lot_is_releasable(self):
        report = check_release(good_coa())
        assert report.releasable
        assert all(r.status is Status.PASS for r in report.results)

    def test_endotoxin_over_limit_fails(self):
        report = check_release(good_coa(endotoxin_eu_per_ml=0.3))
        assert status(report, "endotoxin_eu_per_ml") is Status.FAIL
        assert not report.releasable

    def test_endotoxin_at_limit_fails_because_limit_is_strict(self):
        assert (
            status(check_release(good_coa(endotoxin_eu_per_ml=0.25)), "endotoxin_eu_per_ml")
            == "FAIL"
        )

    def test_a_derived_purity_exactly_at_its_limit_passes(self):
        # 9.8e9 particles/mL ÷ 4.9 µg/mL is 2e9 particles/µg, the limit ≥ 2e9; in binary it
        # is 1999999999.9999998, which failed: "2 × 10⁹ FAIL ≥ 2 × 10⁹" blocked the release.
        assert 9.8e9 / 4.9 < 2e9
        report = check_release(good_coa(particles_per_ug_protein=9.8e9 / 4.9))
        assert status(report, "particles_per_ug_protein") is Status.PASS
        assert report.releasable

    def test_a_converted_value_exactly_at_a_strict_limit_fails(self):
        # 0.02 EU in a 0.1 mL vial is 0.2 EU/mL, the limit of "< 0.2": 0.19999999999999998 in
        # binary, and it passed.
        spec = rel.parse_spec({"version": "t", "criteria": [{
            "field": "endotoxin_eu_per_ml", "comparator": "<", "limit": 0.2, "unit": "EU/mL",
            "source": "s"}]})  # fmt: skip
        coa = {"endotoxin_eu_per_ml": {"value": 0.02, "unit": "EU/vial"}}
        report = check_release(coa, spec, vial_volume_ml=0.1)
        assert status(report, "endotoxin_eu_per_ml") is Status.FAIL
        # Just below the limit, by more than rounding, still passes.
        coa = {"endotoxin_eu_per_ml": {"value": 0.0199, "unit": "EU/vial"}}
        assert check_release(coa, spec, vial_volume_ml=0.1).releasable

    def test_size_in_micrometres_at_the_range_ends_passes(self):
        for micrometres in (0.08, 0.15):
            coa = good_coa(size_mode_nm={"value": micrometres, "unit": "µm"})
            assert status(check_release(coa), "size_mode_nm") is Status.PASS

    def test_concentration_within_20_percent_of_label(self):
        # label 1.0e11; 1.2e11 is +20 % → PASS; 1.21e11 is +21 % → FAIL; 0.8e11 is −20 % → PASS
        assert (
            status(check_release(good_coa(particles_per_ml=1.2e11)), "particles_per_ml") == "PASS"
        )
        assert (
            status(check_release(good_coa(particles_per_ml=1.21e11)), "particles_per_ml") == "FAIL"
        )
        assert (
            status(check_release(good_coa(particles_per_ml=0.8e11)), "particles_per_ml") == "PASS"
        )

    def test_particles_per_vial_converted_with_vial_volume(self):
        # 2.2e11 particles in a 2 mL vial = 1.1e11 particles/mL, within ±20 % of 1.0e11
        coa = good_coa(particles_per_ml={"value": 2.2e11, "unit": "particles/vial"})
        report = check_release(coa, vial_volume_ml=2.0)
        res = next(r for r in report.results if r.field == "particles_per_ml")
        assert res.status is Status.PASS
        assert res.measured == pytest.approx(1.1e11)
        assert res.unit == "particles/mL"

    def test_per_vial_without_volume_is_an_error_naming_the_field(self):
        coa = good_coa(particles_per_ml={"value": 2.2e11, "unit": "particles/vial"})
        with pytest.raises(ReleaseInputError) as err:
            check_release(coa)
        assert err.value.field == "particles_per_ml"

    def test_endotoxin_per_vial(self):
        # 0.6 EU in a 2 mL vial = 0.3 EU/mL ≥ 0.25 → FAIL
        coa = good_coa(endotoxin_eu_per_ml={"value": 0.6, "unit": "EU/vial"})
        assert status(check_release(coa, vial_volume_ml=2), "endotoxin_eu_per_ml") == "FAIL"

    def test_size_in_micrometres_converted(self):
        coa = good_coa(size_mode_nm={"value": 0.1, "unit": "µm"})  # 100 nm
        assert status(check_release(coa), "size_mode_nm") == "PASS"

    def test_unknown_unit_names_field(self):
        with pytest.raises(ReleaseInputError) as err:
            check_release(good_coa(endotoxin_eu_per_ml={"value": 0.1, "unit": "IU/mL"}))
        assert err.value.field == "endotoxin_eu_per_ml"
        assert "IU/mL" in str(err.value)

    def test_identity_marker_negative_fails(self):
        report = check_release(good_coa(cd63="negative", calnexin="positive"))
        assert status(report, "cd63") == "FAIL"
        assert status(report, "calnexin") == "FAIL"
        assert len(report.failed) == 2

    def test_missing_required_not_releasable(self):
        coa = good_coa()
        del coa["sterility"]
        report = check_release(coa)
        assert status(report, "sterility") is Status.MISSING
        assert not report.releasable

    def test_missing_optional_still_releasable(self):
        coa = good_coa()
        del coa["residual_dna_ng_per_dose"]
        report = check_release(coa)
        assert status(report, "residual_dna_ng_per_dose") is Status.MISSING
        assert report.releasable

    def test_failing_optional_blocks_release(self):
        assert not check_release(good_coa(residual_dna_ng_per_dose=11)).releasable

    def test_missing_label_makes_concentration_missing(self):
        report = check_release(good_coa(labelled_particles_per_ml=None))
        assert status(report, "particles_per_ml") is Status.MISSING
        assert not report.releasable

    def test_result_carries_value_limit_unit(self):
        r = next(x for x in check_release(good_coa()).results if x.field == "size_mode_nm")
        assert (r.measured, r.limit, r.unit) == (120.0, "80–150 nm", "nm")


class TestValidateCoa:
    def test_good_coa_has_no_errors(self):
        assert validate_coa(good_coa()) == []

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"particles_per_ml": -1}, "particles_per_ml"),
            ({"size_mode_nm": 5}, "size_mode_nm"),
            ({"size_mode_nm": 1500}, "size_mode_nm"),
            ({"particles_50_400nm_pct": 101}, "particles_50_400nm_pct"),
            ({"endotoxin_eu_per_ml": -0.1}, "endotoxin_eu_per_ml"),
            ({"endotoxin_eu_per_ml": {"value": 1, "unit": "ng"}}, "endotoxin_eu_per_ml"),
            ({"cd9": "maybe"}, "cd9"),
            ({"size_mode_nm": "big"}, "size_mode_nm"),
            ({"mycoplasma": None}, "mycoplasma"),
            ({"labelled_particles_per_ml": 0}, "labelled_particles_per_ml"),
        ],
    )
    def test_impossible_values_named(self, changes, field):
        assert field in {e.field for e in validate_coa(good_coa(**changes))}

    @pytest.mark.parametrize(
        ("field", "value", "expected"),
        [
            ("sterility", "Pass", "positive or negative"),
            ("mycoplasma", "conforms", "positive or negative"),
            ("cd9", "does not conform", "positive or negative"),
            ("tem_morphology", "negative", "conforms or does not conform"),
        ],
    )
    def test_a_result_of_the_other_kind_is_refused_naming_the_kind(self, field, value, expected):
        # "Pass" on a sterility certificate read as "conforms", not "negative": the lot
        # FAILed sterility and was to be rejected as unsafe.
        errors = [e for e in validate_coa(good_coa(**{field: value})) if e.field == field]
        assert len(errors) == 1
        assert repr(value) in errors[0].message and expected in errors[0].message

    def test_out_of_spec_but_possible_is_not_a_validation_error(self):
        assert validate_coa(good_coa(endotoxin_eu_per_ml=0.4, size_mode_nm=300)) == []


# --- properties ----------------------------------------------------------------------------

NUMERIC = [c for c in SPEC.criteria if c.comparator in ("<", "<=", ">", ">=", "between")]
finite = st.floats(min_value=-1e13, max_value=1e13, allow_nan=False)


def violates(c, x):
    """The limit as written, a value within rounding of it being at it (rel.at_limit)."""

    def at(limit):
        return abs(x - limit) <= 1e-12 * max(abs(x), abs(limit))

    if c.comparator == "<":
        return not x < c.limit or at(c.limit)
    if c.comparator == "<=":
        return not (x <= c.limit or at(c.limit))
    if c.comparator == ">":
        return not x > c.limit or at(c.limit)
    if c.comparator == ">=":
        return not (x >= c.limit or at(c.limit))
    lo, hi = c.limit
    return not ((lo <= x or at(lo)) and (x <= hi or at(hi)))


@settings(max_examples=200, deadline=None)
@given(c=st.sampled_from(NUMERIC), x=finite)
def test_any_numeric_violation_fails_and_blocks_release(c, x):
    report = check_release(good_coa(**{c.field: x}))
    if violates(c, x):
        assert status(report, c.field) is Status.FAIL
        assert not report.releasable
    else:
        assert status(report, c.field) is Status.PASS
        assert report.releasable


@settings(max_examples=100, deadline=None)
@given(label=st.floats(1e6, 1e14), ratio=st.floats(0.0, 3.0))
def test_concentration_fails_exactly_outside_20_percent(label, ratio):
    report = check_release(
        good_coa(labelled_particles_per_ml=label, particles_per_ml=label * ratio)
    )
    outside = abs(ratio - 1) > 0.2 + 1e-9
    inside = abs(ratio - 1) < 0.2 - 1e-9
    if outside:
        assert status(report, "particles_per_ml") is Status.FAIL
        assert not report.releasable
    if inside:
        assert status(report, "particles_per_ml") is Status.PASS


CATEGORICAL = [c for c in SPEC.criteria if c.comparator == "equals"]


@settings(max_examples=100, deadline=None)
@given(c=st.sampled_from(CATEGORICAL), value=st.sampled_from(["positive", "negative", "conforms",
                                                             "does not conform"]))  # fmt: skip
def test_categorical_mismatch_fails(c, value):
    if (value in rel.DETECTION_RESULTS) != (c.limit in rel.DETECTION_RESULTS):
        # A result of the other kind says nothing of this criterion: refused, never FAILed
        # or PASSed ("pass" for sterility FAILed it, "reject the lot").
        with pytest.raises(ReleaseInputError):
            check_release(good_coa(**{c.field: value}))
        assert c.field in {e.field for e in validate_coa(good_coa(**{c.field: value}))}
        return
    report = check_release(good_coa(**{c.field: value}))
    assert (status(report, c.field) is Status.FAIL) == (value != c.limit)
    assert report.releasable == (value == c.limit)


@settings(max_examples=100, deadline=None)
@given(drop=st.sets(st.sampled_from([c.field for c in SPEC.criteria]), min_size=1))
def test_missing_required_is_never_releasable(drop):
    coa = {k: v for k, v in good_coa().items() if k not in drop}
    report = check_release(coa)
    required_dropped = any(SPEC.criterion(f).required for f in drop)
    assert report.releasable == (not required_dropped)
    for f in drop:
        assert status(report, f) is Status.MISSING


def test_docs_match_the_yaml():
    doc = Path(__file__).resolve().parents[2] / "docs" / "release-spec.md"
    assert doc.read_text(encoding="utf-8") == rel.render_spec_markdown(), (
        "docs/release-spec.md is stale: "
        "run `python -m anagen.products.release > docs/release-spec.md`"
    )


class TestImpossibleNumbers:
    @pytest.mark.parametrize(
        "value", [10**400, {"value": 10**400, "unit": "particles/mL"}, -(10**400)]
    )
    def test_integers_beyond_float_range_are_an_error_naming_the_field(self, value):
        [error] = validate_coa(good_coa(particles_per_ml=value))
        assert error.field == "particles_per_ml" and "too large" in error.message
        with pytest.raises(ReleaseInputError, match="particles_per_ml"):
            check_release(good_coa(particles_per_ml=value))

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("particles_per_ml", 1e99),
            ("particles_per_ml", 1.1e14),
            ("labelled_particles_per_ml", 1e15),
            ("particles_per_ug_protein", 1e14),
            ("protein_ug_per_ml", 2e5),
            ("endotoxin_eu_per_ml", 2e6),
            ("residual_dna_ng_per_dose", 2e6),
        ],
    )
    def test_values_beyond_what_is_physically_possible_are_errors(self, field, value):
        [error] = validate_coa(good_coa(**{field: value}))
        assert error.field == field and "not a possible result" in error.message

    def test_the_plausible_limits_themselves_are_accepted(self):
        coa = good_coa(particles_per_ml=1e14, labelled_particles_per_ml=1e14)
        assert validate_coa(coa) == []


def spec_data(**changes):
    data = {"version": "t-1", "criteria": [dict(c) for c in DEFAULT_CRITERIA]}
    data.update(changes)
    return data


DEFAULT_CRITERIA = [
    {"field": f, "comparator": "equals", "limit": "negative", "source": "REFERENCE.md A.6.2"}
    for f in ("sterility", "mycoplasma", "adventitious_virus", "donor_screening")
] + [
    {
        "field": "endotoxin_eu_per_ml",
        "comparator": "<",
        "limit": 0.25,
        "unit": "EU/mL",
        "source": "REFERENCE.md A.6.2",
    }
]


class TestSpecShape:
    @pytest.mark.parametrize(("raw", "text"), [(9, "9"), (2026.1, "2026.1"), (" v2 ", "v2")])
    def test_a_version_may_be_text_or_a_number(self, raw, text):
        assert rel.parse_spec(spec_data(version=raw)).version == text

    @pytest.mark.parametrize("raw", [date(2026, 1, 1), b"bin", True, None, [1], "", "x" * 41])
    def test_any_other_version_is_refused(self, raw):
        with pytest.raises(rel.SpecError, match="version"):
            rel.parse_spec(spec_data(version=raw))

    @pytest.mark.parametrize("limit", [10**400, float("nan"), float("inf")])
    def test_limits_must_be_finite_floats(self, limit):
        data = spec_data()
        data["criteria"][-1]["limit"] = limit
        with pytest.raises(rel.SpecError, match="endotoxin_eu_per_ml"):
            rel.parse_spec(data)

    @pytest.mark.parametrize("raw", ["false", "no", "optional", 0, 1, None])
    def test_required_must_be_true_or_false(self, raw):
        # "false" (quoted in the YAML) was read as required, and a lot missing an optional
        # test was refused as "required but not reported".
        data = spec_data()
        data["criteria"][-1]["required"] = raw
        with pytest.raises(rel.SpecError, match="endotoxin_eu_per_ml: required must be true or"):
            rel.parse_spec(data, new=True)
        # A version stored before is read as it was (refusing it would stop every release).
        assert rel.parse_spec(data).criteria[-1].required is bool(raw)

    def test_required_may_be_left_out_and_is_then_true(self):
        assert rel.parse_spec(spec_data()).criteria[-1].required is True

    def test_criteria_must_be_a_list_of_mappings(self):
        with pytest.raises(rel.SpecError):
            rel.parse_spec(spec_data(criteria="sterility"))
        with pytest.raises(rel.SpecError):
            rel.parse_spec(spec_data(criteria=["sterility"]))


class TestMandatorySafetyCriteria:
    def test_the_default_spec_and_the_minimal_safety_set_are_safe(self):
        assert rel.safety_problems(rel.load_default_spec()) == []
        assert rel.safety_problems(rel.parse_spec(spec_data())) == []

    def test_a_spec_without_criteria_is_unsafe(self):
        assert rel.safety_problems(rel.parse_spec(spec_data(criteria=[]))) == [
            "the specification has no criteria"
        ]

    @pytest.mark.parametrize(
        "field", ["sterility", "mycoplasma", "adventitious_virus", "donor_screening"]
    )
    def test_each_negative_safety_test_must_be_present_and_required(self, field):
        data = spec_data()
        data["criteria"] = [c for c in data["criteria"] if c["field"] != field]
        assert field in " ".join(rel.safety_problems(rel.parse_spec(data)))
        data = spec_data()
        next(c for c in data["criteria"] if c["field"] == field)["required"] = False
        assert field in " ".join(rel.safety_problems(rel.parse_spec(data)))

    @pytest.mark.parametrize(
        ("changes", "safe"),
        [
            ({"limit": 0.5}, True),
            ({"limit": 0.5, "comparator": "<="}, True),
            ({"limit": 0.51}, False),
            ({"limit": 99999}, False),
            ({"comparator": ">"}, False),
            ({"required": False}, False),
        ],
    )
    def test_endotoxin_may_be_no_looser_than_half_an_eu_per_ml(self, changes, safe):
        data = spec_data()
        data["criteria"][-1].update(changes)
        problems = rel.safety_problems(rel.parse_spec(data))
        assert (problems == []) is safe


def test_a_limit_relative_to_the_label_names_the_labelled_amount_in_words():
    criterion = rel.load_default_spec().criterion("particles_per_ml")
    assert criterion.limit_text == "labelled amount ± 20 %"
