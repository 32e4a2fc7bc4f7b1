"""Specification of the pure scale calculators (REFERENCE.md Part A section 1)."""

import pytest

from anagen.assessment import scales
from anagen.assessment.scales import AASeverity, ScaleError


class TestNorwoodHamilton:
    def test_all_twelve_categories_exist(self):
        assert list(scales.NORWOOD_HAMILTON) == [
            "I", "II", "IIa", "III", "IIIa", "IIIv", "IV", "IVa", "V", "Va", "VI", "VII",
        ]  # fmt: skip

    @pytest.mark.parametrize(
        ("raw", "code"),
        [("III vertex", "IIIv"), ("iiia", "IIIa"), ("vii", "VII"), (" IVa ", "IVa"), ("V", "V")],
    )
    def test_accepts_spellings(self, raw, code):
        assert scales.norwood_hamilton(raw) == code

    @pytest.mark.parametrize("raw", ["VIII", "0", "", "IIb"])
    def test_unknown_category_names_the_field(self, raw):
        with pytest.raises(ScaleError) as err:
            scales.norwood_hamilton(raw)
        assert err.value.field == "norwood_hamilton"

    def test_scale_error_is_a_value_error(self):
        assert issubclass(ScaleError, ValueError)


class TestFemaleScales:
    def test_ludwig_grades(self):
        assert [scales.ludwig(g, sex="female") for g in ("i", "II", "III")] == ["I", "II", "III"]

    def test_ludwig_refused_on_male_record(self):
        with pytest.raises(ScaleError) as err:
            scales.ludwig("II", sex="male")
        assert err.value.field == "ludwig"

    def test_ludwig_on_male_allowed_when_pattern_confirmed(self):
        assert scales.ludwig("II", sex="male", allow_in_male=True) == "II"

    def test_sinclair_refused_on_male_record(self):
        with pytest.raises(ScaleError) as err:
            scales.sinclair(3, sex="male")
        assert err.value.field == "sinclair"

    @pytest.mark.parametrize("grade", [0, 6, "3", True])
    def test_sinclair_outside_1_to_5(self, grade):
        with pytest.raises(ScaleError):
            scales.sinclair(grade, sex="female")

    def test_norwood_is_allowed_for_women(self):
        # Male-pattern loss occurs in women; Norwood is not restricted by sex.
        assert scales.norwood_hamilton("III") == "III"

    def test_unknown_sex(self):
        with pytest.raises(ScaleError) as err:
            scales.ludwig("I", sex="f")
        assert err.value.field == "sex"


class TestBasp:
    def test_final_type_is_basic_plus_specific(self):
        assert scales.basp("M2", v="V1").final == "M2V1"
        assert scales.basp("C1", f="F2", v="V3").final == "C1F2V3"
        assert scales.basp("L").final == "L"

    @pytest.mark.parametrize("final", ["M2V1", "LF1", "U3F3V3", "C0"])
    def test_parse_round_trip(self, final):
        assert scales.parse_basp(final).final == final

    @pytest.mark.parametrize("bad", ["M4", "U0", "L0", "F1", "M2V4", "M2V1F1", "X"])
    def test_parse_rejects_invalid(self, bad):
        with pytest.raises(ScaleError) as err:
            scales.parse_basp(bad)
        assert err.value.field == "basp"

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [({"basic": "M5"}, "basp_basic"), ({"basic": "M1", "f": "F4"}, "basp_f"),
         ({"basic": "M1", "v": "F1"}, "basp_v")],
    )  # fmt: skip
    def test_components_validated(self, kwargs, field):
        with pytest.raises(ScaleError) as err:
            scales.basp(**kwargs)
        assert err.value.field == field


class TestSalt:
    def test_total_loss_is_100_s5_iga4(self):
        r = scales.salt(100, 100, 100, 100)
        assert (r.score, r.band, r.aa_iga) == (100.0, "S5", 4)

    def test_no_loss(self):
        assert scales.salt(0, 0, 0, 0) == scales.SaltResult(0.0, "S0", 0)

    def test_worked_example(self):
        # top 50 % × 0.40 = 20.0; posterior 25 % × 0.24 = 6.0;
        # right 10 % × 0.18 = 1.8; left 0 % × 0.18 = 0 → SALT 27.8 → S2, AA-IGA 2
        r = scales.salt(top=50, posterior=25, right=10, left=0)
        assert r.score == pytest.approx(27.8)
        assert r.band == "S2"
        assert r.aa_iga == 2

    def test_region_weights(self):
        # Each region alone at 100 % gives its weight × 100.
        assert scales.salt_score(100, 0, 0, 0) == 40.0
        assert scales.salt_score(0, 100, 0, 0) == 24.0
        assert scales.salt_score(0, 0, 100, 0) == 18.0
        assert scales.salt_score(0, 0, 0, 100) == 18.0

    @pytest.mark.parametrize(
        ("score", "band"),
        [(0, "S0"), (0.5, "S1"), (24, "S1"), (24.9, "S1"), (25, "S2"), (49.9, "S2"),
         (50, "S3"), (74.9, "S3"), (75, "S4"), (99.9, "S4"), (100, "S5")],
    )  # fmt: skip
    def test_band_boundaries(self, score, band):
        assert scales.salt_band(score) == band

    @pytest.mark.parametrize(
        ("score", "iga"),
        [(0, 0), (1, 1), (20, 1), (20.1, 2), (49, 2), (50, 3), (94, 3), (94.9, 3), (95, 4),
         (100, 4)],
    )  # fmt: skip
    def test_aa_iga_boundaries(self, score, iga):
        assert scales.aa_iga(score) == iga

    @pytest.mark.parametrize(
        ("args", "field"),
        [((101, 0, 0, 0), "salt_top"), ((0, -1, 0, 0), "salt_posterior"),
         ((0, 0, 100.5, 0), "salt_right"), ((0, 0, 0, float("nan")), "salt_left")],
    )  # fmt: skip
    def test_region_out_of_range_names_region(self, args, field):
        with pytest.raises(ScaleError) as err:
            scales.salt(*args)
        assert err.value.field == field


class TestAAScale:
    @pytest.mark.parametrize(
        ("score", "sev"),
        [(0, "mild"), (20, "mild"), (21, "moderate"), (49, "moderate"), (50, "severe")],
    )
    def test_base_from_salt(self, score, sev):
        assert scales.aa_scale(score).severity == AASeverity(sev)

    def test_brow_loss_moves_mild_to_moderate(self):
        r = scales.aa_scale(10, brow_or_lash_loss=True)
        assert (r.base, r.severity) == (AASeverity.MILD, AASeverity.MODERATE)

    def test_several_triggers_move_up_only_one_level(self):
        r = scales.aa_scale(10, brow_or_lash_loss=True, qol_impact=8, rapid_loss=True)
        assert r.severity == AASeverity.MODERATE
        assert len(r.upgrade_reasons) == 3

    def test_severe_stays_severe(self):
        assert scales.aa_scale(60, rapid_loss=True).severity == AASeverity.SEVERE

    @pytest.mark.parametrize(("qol", "upgraded"), [(5, False), (6, True)])
    def test_qol_threshold_is_6(self, qol, upgraded):
        assert (scales.aa_scale(30, qol_impact=qol).severity == AASeverity.SEVERE) is upgraded

    @pytest.mark.parametrize(("months", "upgraded"), [(5.9, False), (6, True)])
    def test_treatment_failure_needs_6_months(self, months, upgraded):
        r = scales.aa_scale(30, months_of_failed_treatment=months)
        assert (r.severity == AASeverity.SEVERE) is upgraded

    def test_diffuse_pull_test_upgrades(self):
        assert scales.aa_scale(30, diffuse_positive_pull_test=True).severity == "severe"

    def test_qol_out_of_range(self):
        with pytest.raises(ScaleError) as err:
            scales.aa_scale(30, qol_impact=11)
        assert err.value.field == "qol_impact"


class TestPullTest:
    def test_exactly_10_percent_is_negative(self):
        # 5 / 50 = 10 % — the rule is "more than 10 %", so negative.
        assert scales.pull_test(50, 5).positive is False

    def test_above_10_percent_is_positive(self):
        # 6 / 50 = 12 % > 10 %
        r = scales.pull_test(50, 6)
        assert r.positive is True
        assert r.fraction_out == pytest.approx(0.12)
        assert r.notes == ()

    def test_non_standard_grasp_is_noted(self):
        assert scales.pull_test(20, 1).notes

    @pytest.mark.parametrize(
        ("pulled", "out", "field"),
        [(-1, 0, "hairs_pulled"), (50, -2, "hairs_out"), (10, 11, "hairs_out"),
         (0, 0, "hairs_pulled"), (50.5, 2, "hairs_pulled")],
    )  # fmt: skip
    def test_invalid_counts(self, pulled, out, field):
        with pytest.raises(ScaleError) as err:
            scales.pull_test(pulled, out)
        assert err.value.field == field


class TestPullTestOutcome:
    """The result a count of hairs out stands for, with or without the grasp counted."""

    def test_the_hairs_grasped_decide_when_counted(self):
        assert scales.pull_test_outcome(5, 40) is True  # 12.5 %
        assert scales.pull_test_outcome(5, 60) is False  # 8.3 %

    @pytest.mark.parametrize(("out", "outcome"), [(0, False), (4, False), (5, None),
                                                  (6, None), (7, True), (20, True)])  # fmt: skip
    def test_without_the_grasp_the_standard_40_to_60_decides_where_it_can(self, out, outcome):
        assert scales.pull_test_outcome(out, None) is outcome

    def test_more_out_than_grasped_is_refused(self):
        with pytest.raises(ScaleError) as err:
            scales.pull_test_outcome(12, 10)
        assert err.value.field == "hairs_out"


class TestTrichoscopy:
    def test_checklist_validated_and_normalised(self):
        assert scales.trichoscopy_signs(["yellow_dots", "black_dots", "yellow_dots"]) == (
            "black_dots",
            "yellow_dots",
        )

    def test_unknown_sign(self):
        with pytest.raises(ScaleError) as err:
            scales.trichoscopy_signs(["purple_dots"])
        assert err.value.field == "trichoscopy_signs"

    def test_scarring_signs_trigger_referral_set(self):
        assert "perifollicular_scaling" in scales.TRICHOSCOPY_REFER_SIGNS
        assert "yellow_dots" not in scales.TRICHOSCOPY_REFER_SIGNS
