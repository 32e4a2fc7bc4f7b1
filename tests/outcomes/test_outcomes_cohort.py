"""Cohort analysis on plain tables (pure): what each patient is compared as (the initial
regimen, from an untreated baseline, until the treatment changes), which visit is the
landmark, and how p-values are reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from anagen.outcomes import cohort
from anagen.outcomes.stats import NotEnoughDataError, ancova

DAY0 = pd.Timestamp("2026-01-05")


def _sessions(*rows: tuple[int, str, int]) -> pd.DataFrame:
    """(patient, modality, day after DAY0) per session."""
    return pd.DataFrame(
        {
            "patient_id": [r[0] for r in rows],
            "modality": [r[1] for r in rows],
            "performed_on": [DAY0 + pd.Timedelta(days=r[2]) for r in rows],
        }
    )


def _visits_and_measurements(
    visits: list[tuple[int, int, float]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(patient, day after DAY0, density) per visit; each patient's first visit is baseline."""
    v = pd.DataFrame(
        {
            "patient_id": [p for p, _, _ in visits],
            "visit_id": range(1, len(visits) + 1),
            "visit_date": [DAY0 + pd.Timedelta(days=d) for _, d, _ in visits],
        }
    )
    v["is_baseline"] = ~v.duplicated("patient_id")
    m = pd.DataFrame(
        {
            "visit_id": v["visit_id"],
            "measurement_id": v["visit_id"],
            "manual": True,
            **{c: np.nan for c in cohort.MEASURED_COLUMNS},
        }
    )
    m["density_per_cm2"] = [x for _, _, x in visits]
    return v, m


def test_modalities_begun_within_four_weeks_form_the_arm_and_a_later_one_changes_it():
    courses = cohort.treatment_courses(
        _sessions(
            (1, "exosome", 0),
            (1, "exosome", 28),
            (1, "minoxidil", 21),  # one regimen
            (2, "minoxidil", 0),
            (2, "transplant", 210),  # transplant at week 30
            (3, "prp", 0),
        )  # fmt: skip
    ).set_index("patient_id")
    assert courses.loc[1, "arm"] == "exosome+minoxidil"
    assert pd.isna(courses.loc[1, "changed_on"]) and courses.loc[1, "added"] == ""
    assert courses.loc[2, "arm"] == "minoxidil"
    assert courses.loc[2, "changed_on"] == DAY0 + pd.Timedelta(days=210)
    assert courses.loc[2, "added"] == "transplant"
    assert courses.loc[3, "arm"] == "prp"
    assert courses.loc[1, "first_session"] == DAY0


def test_no_sessions_give_no_courses():
    assert cohort.treatment_courses(_sessions()).empty


def test_visits_after_a_modality_is_added_are_not_analysed():
    visits, measurements = _visits_and_measurements(
        [(2, 0, 120.0), (2, 84, 130.0), (2, 168, 135.0), (2, 252, 200.0), (2, 336, 210.0)]
    )
    courses = cohort.treatment_courses(_sessions((2, "minoxidil", 0), (2, "transplant", 210)))
    long = cohort.build_long(visits, measurements, "density_per_cm2", courses)
    assert long.rows["week"].tolist() == [12.0, 24.0]  # weeks 36 and 48 follow the transplant
    assert long.censored_visit_ids.tolist() == [2, 2]
    without = cohort.build_long(visits, measurements, "density_per_cm2")
    assert without.rows["week"].tolist() == [12.0, 24.0, 36.0, 48.0]


def test_a_baseline_after_the_first_session_is_not_an_untreated_baseline():
    visits, measurements = _visits_and_measurements(
        [
            (1, 0, 120.0),
            (1, 84, 130.0),  # baseline on the day of the first session: fine
            (2, 26, 120.0),
            (2, 84, 147.0),  # first visit 26 days after treatment began
        ]  # fmt: skip
    )
    courses = cohort.treatment_courses(_sessions((1, "minoxidil", 0), (2, "minoxidil", 0)))
    long = cohort.build_long(visits, measurements, "density_per_cm2", courses)
    assert long.rows["patient_id"].tolist() == [1]
    assert long.baselines["patient_id"].tolist() == [1]
    assert long.late_baseline_ids.tolist() == [2]

    attributes = pd.DataFrame({"patient_id": [1, 2], "arm": ["minoxidil", "minoxidil"]})
    result = cohort.analyse_cohort(long, attributes, cohort.CohortOptions())
    assert any("1 patient not analysed: the baseline visit came after" in n for n in result.notes)


def test_default_landmark_is_the_best_filled_comparable_week_not_the_last_one():
    # Arms a and b are well filled at weeks 12 and 24; arm c (one patient) reaches week 48.
    counts = pd.DataFrame(
        {"a": [9, 6, 1], "b": [8, 5, 0], "c": [1, 1, 1]}, index=[12.0, 24.0, 48.0]
    )
    assert cohort.default_landmark(counts) == 12
    # A tie goes to the later week.
    tie = pd.DataFrame({"a": [5, 5], "b": [3, 3]}, index=[12.0, 24.0])
    assert cohort.default_landmark(tie) == 24
    # With no comparable week, the week with the most patients.
    thin = pd.DataFrame({"a": [1, 3], "b": [1, 0]}, index=[12.0, 24.0])
    assert cohort.default_landmark(thin) == 24


def test_holm_adjusted_p_values_sit_beside_the_unadjusted_ones():
    contrasts = [{"p": 0.01}, {"p": 0.04}, {"p": 0.03}, {"p": None}]
    notes = cohort.add_holm(contrasts)
    expected = multipletests([0.01, 0.04, 0.03], method="holm")[1]
    assert [c["p_holm"] for c in contrasts[:3]] == pytest.approx(list(expected))
    assert contrasts[3]["p_holm"] is None
    assert notes and "3 comparisons" in notes[0] and "unadjusted" in notes[0]
    single = [{"p": 0.2}]
    assert cohort.add_holm(single) == [] and single[0]["p_holm"] == pytest.approx(0.2)


def test_a_threshold_against_the_good_direction_counts_worsening_not_responders():
    visits, measurements = _visits_and_measurements(
        [(1, 0, 120.0), (1, 84, 110.0), (2, 0, 130.0), (2, 84, 140.0)]
    )
    long = cohort.build_long(visits, measurements, "density_per_cm2")
    attributes = pd.DataFrame({"patient_id": [1, 2], "arm": ["prp", "prp"]})
    worse = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(threshold=-5))
    assert worse.sections["responders"].title.startswith("Worsening (not responders) at week 12")
    better = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(threshold=5))
    assert better.sections["responders"].title.startswith("Responders at week 12")


def test_a_worsening_rate_says_missing_patients_make_it_too_low_and_counts_worsened():
    visits, measurements = _visits_and_measurements(
        [(1, 0, 120.0), (1, 84, 110.0), (2, 0, 130.0), (2, 84, 140.0), (3, 0, 125.0)]
    )
    long = cohort.build_long(visits, measurements, "density_per_cm2")
    attributes = pd.DataFrame({"patient_id": [1, 2, 3], "arm": ["prp"] * 3})
    worse = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(threshold=-5))
    section = worse.sections["responders"]
    assert section.data["counted"] == "Worsened"
    assert "counted neither as worsening nor as not worsening" in section.missing_data
    assert section.missing_data.endswith("If those who stayed away did worse, the rate is too low.")
    better = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(threshold=5))
    assert better.sections["responders"].data["counted"] == "Responders"
    assert better.sections["responders"].missing_data.endswith("the rate is too high.")


def test_a_threshold_of_minus_zero_reads_as_zero():
    visits, measurements = _visits_and_measurements(
        [(1, 0, 120.0), (1, 84, 110.0), (2, 0, 130.0), (2, 84, 140.0)]
    )
    long = cohort.build_long(visits, measurements, "density_per_cm2")
    attributes = pd.DataFrame({"patient_id": [1, 2], "arm": ["prp", "prp"]})
    result = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(threshold=-0.0))
    assert "change ≥ 0 " in result.sections["responders"].title


def _three_arms_one_absent_at_week_12() -> tuple[pd.DataFrame, pd.DataFrame]:
    # Exosome 1-4 (4 missing at week 12), none 5-8, and minoxidil 9-10 never back at week 12
    # (9 came back at week 4 only, so minoxidil is an arm of the cohort).
    visits = []
    for pid, base, later in ((1, 100.0, 115.0), (2, 90.0, 105.0), (3, 110.0, 118.0),
                             (4, 95.0, None), (5, 104.0, 101.0), (6, 92.0, 99.0),
                             (7, 108.0, 104.0), (8, 99.0, 97.0), (9, 101.0, None),
                             (10, 97.0, None)):  # fmt: skip
        visits.append((pid, 0, base))
        if pid == 9:
            visits.append((pid, 28, 104.0))
        if later is not None:
            visits.append((pid, 84, later))
    v, m = _visits_and_measurements(visits)
    attributes = pd.DataFrame(
        {"patient_id": range(1, 11), "arm": ["exosome"] * 4 + ["none"] * 4 + ["minoxidil"] * 2}
    )
    return cohort.build_long(v, m, "density_per_cm2"), attributes


def test_an_arm_with_no_value_at_the_landmark_is_counted_and_named_in_the_ancova():
    long, attributes = _three_arms_one_absent_at_week_12()
    result = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(landmark_week=12))
    section = result.sections["ancova"]
    assert section.ok, section.message
    # 4, 9 and 10: the minoxidil arm's two patients count too (they were left out unsaid).
    assert "3 subjects with a baseline but no value at week 12 were left out." in (
        section.missing_data
    )
    assert section.missing_data.endswith(
        "Arm not compared because no patient has a value at week 12: "
        "Topical minoxidil (2 with a baseline)."
    )
    rows = {r["arm"]: r for r in result.sections["responders"].data["rows"]}
    assert rows["minoxidil"]["message"] == (
        "No patient of this arm has a value at week 12 (2 with a baseline)."
    )
    # No "Small n: ... has only 0 patients" line for the arm without values.
    assert not any("only 0" in w for w in result.sections["responders"].warnings)


def _cohort(
    arms: dict[str, list[tuple[float, float]]], min_reference_n: int = 0
) -> cohort.CohortResult:
    """Each arm's patients as (baseline, week-12 value), analysed at week 12."""
    visits, arm_of = [], {}
    for arm, patients in arms.items():
        for base, later in patients:
            pid = len(arm_of) + 1
            arm_of[pid] = arm
            visits += [(pid, 0, base), (pid, 84, later)]
    v, m = _visits_and_measurements(visits)
    attributes = pd.DataFrame({"patient_id": list(arm_of), "arm": list(arm_of.values())})
    long = cohort.build_long(v, m, "density_per_cm2")
    options = cohort.CohortOptions(landmark_week=12, min_reference_n=min_reference_n)
    return cohort.analyse_cohort(long, attributes, options)


def test_an_arm_of_one_patient_at_the_landmark_is_not_compared_in_the_ancova():
    """Its "adjusted difference" would be that patient's residual, with a p-value counted in
    the Holm family; the MMRM leaves such an arm out too."""
    result = _cohort({
        "exosome": [(100.0, 115.0), (90.0, 105.0), (110.0, 118.0)],
        "none": [(104.0, 101.0), (92.0, 99.0), (108.0, 104.0)],
        "prp": [(97.0, 130.0)],
    })  # fmt: skip
    section = result.sections["ancova"]
    assert section.ok, section.message
    assert [c["arm"] for c in section.data["contrasts"]] == ["exosome"]
    assert "prp" not in section.data["arms"]
    assert (
        "Not compared (too few patients with a value at week 12 to estimate; an arm needs "
        "two): Platelet-rich plasma."
    ) in section.missing_data
    # "No subject was excluded." read beside the arm just left out (review).
    assert "No subject was excluded" not in section.missing_data
    assert "1 patient with a value at week 12 excluded with their arm." in section.missing_data


def test_a_change_of_a_share_is_in_percentage_points():
    """ "Responders: change ≥ 5 %" read as a rise of five per cent of the baseline (review)."""
    share = cohort.OUTCOMES["anagen_pct"]
    assert share.change_unit == "percentage points"
    assert cohort.OUTCOMES["density_per_cm2"].change_unit == "hairs/cm²"


def test_the_ancova_needs_two_arms_of_two_patients():
    result = _cohort({"exosome": [(100.0, 115.0), (90.0, 105.0)], "none": [(104.0, 101.0)]})
    section = result.sections["ancova"]
    assert not section.ok
    assert section.message == (
        "Not enough data: fewer than two arms have at least two patients with a value at "
        "week 12; a comparison needs two. Widen the filters."
    )


def test_an_arm_with_baselines_only_is_listed_in_the_responders_table_not_dropped():
    long, attributes = _three_arms_one_absent_at_week_12()
    attributes.loc[attributes["patient_id"] == 9, "arm"] = "prp"  # 9 has a week-4 value
    result = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(landmark_week=12))
    assert "minoxidil" not in result.arms  # patient 10 has a baseline only
    rows = {r["arm"]: r for r in result.sections["responders"].data["rows"]}
    assert rows["minoxidil"]["message"] == (
        "No patient of this arm has a value at week 12 (1 with a baseline)."
    )
    assert result.sections["ancova"].missing_data.endswith(
        "Arms not compared because no patient has a value at week 12: Topical minoxidil "
        "(1 with a baseline), Platelet-rich plasma (1 with a baseline)."
    )
    reference = cohort.analyse_cohort(
        long, attributes, cohort.CohortOptions(landmark_week=12, reference_arm="minoxidil")
    )
    assert (
        "The chosen reference arm Topical minoxidil has no patient with a follow-up value in "
        "this selection; the comparisons use No session recorded."
    ) in reference.notes


def test_a_chosen_reference_arm_that_cannot_be_used_is_named_with_the_one_used():
    long, attributes = _three_arms_one_absent_at_week_12()
    absent = cohort.analyse_cohort(
        long, attributes, cohort.CohortOptions(landmark_week=12, reference_arm="minoxidil")
    )
    ancova_section = absent.sections["ancova"]
    assert ancova_section.data["reference_arm"] == "none"
    assert (
        "The reference arm Topical minoxidil has no value at week 12; the contrasts are "
        "against No session recorded instead."
    ) in ancova_section.warnings
    unknown = cohort.analyse_cohort(
        long, attributes, cohort.CohortOptions(landmark_week=12, reference_arm="prp")
    )
    assert (
        "The chosen reference arm Platelet-rich plasma has no patient with a follow-up value "
        "in this selection; the comparisons use No session recorded."
    ) in unknown.notes
    plain = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(landmark_week=12))
    assert not any("reference arm" in w for w in plain.sections["ancova"].warnings)


def test_ancova_refuses_a_fit_without_residual_variance():
    # Change is exactly 10 in arm x and 11 in arm y: a "p" here would be rounding noise.
    with pytest.raises(NotEnoughDataError, match="no residual variance"):
        ancova(
            [1, 2, 3, 4, 5, 6], list("xxxyyy"), [1] * 6, [100, 110, 120, 100, 110, 120],
            [10, 10, 10, 11, 11, 11], landmark_visit=1,
        )  # fmt: skip
    with pytest.raises(NotEnoughDataError, match="no residual variance"):
        ancova(
            [1, 2, 3, 4, 5, 6], list("xxxyyy"), [1] * 6, [100, 110, 120, 100, 110, 120],
            [5] * 6, landmark_visit=1,
        )  # fmt: skip


def test_events_after_sessions_without_a_product_are_not_called_unattributed():
    # Patient 1: an exosome session (product 7) with an event; patient 2: a PRP session (no
    # product) with an event. The by-product table lists product 7 only and says why.
    sessions = pd.DataFrame(
        {
            "session_id": [1, 2],
            "patient_id": [1, 2],
            "modality": ["exosome", "prp"],
            "performed_on": [DAY0, DAY0],
            "product": ["7", ""],
            "lot": ["70", ""],
        }
    )
    events = pd.DataFrame(
        {
            "event_id": [1, 2],
            "patient_id": [1, 2],
            "onset_date": [DAY0 + pd.Timedelta(days=1)] * 2,
            "related_session_date": [pd.NaT, pd.NaT],
        }
    )
    section = cohort.ae_incidence(sessions, events, by="product", recorded_only=True)
    assert [r["group"] for r in section.data["rows"]] == ["7"]
    assert section.data["unattributed"] == 0
    assert "1 sessions without a product (PRP, minoxidil, transplant)" in section.missing_data
    assert "1 of them were followed by an adverse event" in section.missing_data
    by_modality = cohort.ae_incidence(sessions, events, by="modality")
    assert {r["group"]: r["sessions_with_event"] for r in by_modality.data["rows"]} == {
        "exosome": 1, "prp": 1,
    }  # fmt: skip


def test_lots_are_listed_in_number_order_not_as_text():
    # Lot ids 5, 10 and 12 as text sorted "10", "12", "5".
    sessions = pd.DataFrame(
        {
            "session_id": [1, 2, 3],
            "patient_id": [1, 2, 3],
            "modality": ["exosome"] * 3,
            "performed_on": [DAY0] * 3,
            "product": ["7"] * 3,
            "lot": ["10", "5", "12"],
        }
    )
    events = pd.DataFrame(
        {"event_id": [], "patient_id": [], "onset_date": [], "related_session_date": []}
    )
    section = cohort.ae_incidence(sessions, events, by="lot", recorded_only=True)
    assert [r["group"] for r in section.data["rows"]] == ["5", "10", "12"]


def test_small_n_warnings_name_arms_in_words_and_count_in_the_singular_for_one():
    warnings = cohort._small_n_warnings({"exosome+minoxidil": 1, "prp": 7}, "patients")
    assert warnings[0].startswith(
        "Small n: Exosome / EV injections + Topical minoxidil has only 1 patient; "
    )
    assert warnings[1].startswith("Small n: Platelet-rich plasma has only 7 patients; ")
    [at_week] = cohort._small_n_warnings({"prp": 1}, "patients", " at week 12")
    assert at_week.startswith("Small n: Platelet-rich plasma has only 1 patient at week 12; ")


def _same_day_sessions() -> pd.DataFrame:
    """Patient 1 on DAY0: an exosome session with lot 70 (product 7) and a minoxidil start."""
    return pd.DataFrame(
        {
            "session_id": [1, 2],
            "patient_id": [1, 1],
            "modality": ["exosome", "minoxidil"],
            "performed_on": [DAY0, DAY0],
            "product": ["7", ""],
            "lot": ["70", ""],
        }
    )


def _event(related_session_date: pd.Timestamp | None, related_lot: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [5],
            "patient_id": [1],
            "onset_date": [DAY0],
            "related_session_date": [related_session_date or pd.NaT],
            "related_lot": [related_lot],
        }
    )


def _with_event(section: cohort.Section) -> dict[str, tuple[int, int]]:
    return {r["group"]: (r["sessions_with_event"], r["sessions"]) for r in section.data["rows"]}


@pytest.mark.parametrize("named_day", [DAY0, None])
def test_an_event_naming_a_lot_is_charged_to_the_session_that_used_that_lot(named_day):
    sessions, events = _same_day_sessions(), _event(named_day, "70")
    by_modality = cohort.ae_incidence(sessions, events, by="modality")
    assert _with_event(by_modality) == {"exosome": (1, 1), "minoxidil": (0, 1)}
    by_lot = cohort.ae_incidence(sessions, events, by="lot", recorded_only=True)
    assert _with_event(by_lot) == {"70": (1, 1)}
    by_product = cohort.ae_incidence(sessions, events, by="product", recorded_only=True)
    assert _with_event(by_product) == {"7": (1, 1)}
    assert by_modality.data["unattributed"] == 0


@pytest.mark.parametrize("named_day", [DAY0, None])
def test_an_event_naming_no_lot_is_charged_to_every_session_of_its_day(named_day):
    sessions, events = _same_day_sessions(), _event(named_day, "")
    by_modality = cohort.ae_incidence(sessions, events, by="modality")
    assert _with_event(by_modality) == {"exosome": (1, 1), "minoxidil": (1, 1)}
    by_lot = cohort.ae_incidence(sessions, events, by="lot", recorded_only=True)
    assert _with_event(by_lot) == {"70": (1, 1)}
    assert "else to every one of them" in by_modality.missing_data


def test_an_event_charged_to_two_sessions_of_one_modality_counts_once_for_it():
    sessions = pd.DataFrame(
        {
            "session_id": [1, 2],
            "patient_id": [1, 1],
            "modality": ["exosome", "exosome"],
            "performed_on": [DAY0, DAY0],
            "product": ["7", "7"],
            "lot": ["70", "71"],
        }
    )
    events = _event(DAY0, "")
    by_modality = cohort.ae_incidence(sessions, events, by="modality")
    assert _with_event(by_modality) == {"exosome": (1, 2)}
    by_lot = cohort.ae_incidence(sessions, events, by="lot", recorded_only=True)
    assert _with_event(by_lot) == {"70": (1, 1), "71": (1, 1)}


def test_an_event_naming_a_lot_goes_to_the_latest_session_with_that_lot_in_the_window():
    sessions = pd.DataFrame(
        {
            "session_id": [1, 2],
            "patient_id": [1, 1],
            "modality": ["exosome", "prp"],
            "performed_on": [DAY0, DAY0 + pd.Timedelta(days=10)],
            "product": ["7", ""],
            "lot": ["70", ""],
        }
    )
    events = _event(None, "70").assign(onset_date=DAY0 + pd.Timedelta(days=12))
    pairs, unattributed = cohort.event_sessions(sessions, events)
    assert pairs.to_dict("records") == [{"event_id": 5, "session_id": 1}]
    assert unattributed == 0


def _measurement_rows(*rows: tuple[int, bool, float]) -> pd.DataFrame:
    """(visit id, manual, density) per measurement."""
    m = pd.DataFrame(
        {
            "visit_id": [r[0] for r in rows],
            "measurement_id": range(1, len(rows) + 1),
            "manual": [r[1] for r in rows],
            **{c: np.nan for c in cohort.MEASURED_COLUMNS},
        }
    )
    m["density_per_cm2"] = [r[2] for r in rows]
    return m


def test_change_is_taken_within_one_measurement_source():
    visits = pd.DataFrame(
        {
            "patient_id": [1, 1, 2, 2],
            "visit_id": [1, 2, 3, 4],
            "visit_date": [DAY0, DAY0 + pd.Timedelta(weeks=12)] * 2,
            "is_baseline": [True, False, True, False],
        }
    )
    measurements = _measurement_rows(
        (1, True, 100.0),  # patient 1: hand count at baseline ...
        (2, False, 404.0),  # ... image analysis of a small field at week 12
        (3, True, 100.0),  # patient 2: both at baseline ...
        (3, False, 110.0),
        (4, False, 120.0),  # ... image analysis at week 12
    )
    long = cohort.build_long(visits, measurements, "density_per_cm2")
    rows = long.rows.set_index("patient_id")
    assert np.isnan(rows.loc[1, "change"]) and rows.loc[1, "value"] == 404.0
    assert rows.loc[2, "change"] == 10.0 and rows.loc[2, "source"] == "imaging"
    assert rows.loc[2, "baseline"] == 110.0
    assert long.source_mismatch_ids.tolist() == [1]
    attributes = pd.DataFrame({"patient_id": [1, 2], "arm": ["exosome", "exosome"]})
    result = cohort.analyse_cohort(long, attributes, cohort.CohortOptions())
    by_visit = result.sections["by_visit"]
    assert [r["mean"] for r in by_visit.data["rows"]] == [10.0]
    assert "1 follow-up value of 1 patient left out: measured by a different source" in (
        by_visit.missing_data
    )


def test_hair_counts_of_different_target_areas_are_not_compared():
    """A 0.5 cm² count of 58 after a 1 cm² count of 106 is not a loss of 48 hairs."""
    visits = pd.DataFrame(
        {
            "patient_id": [1, 1, 2, 2],
            "visit_id": [1, 2, 3, 4],
            "visit_date": [DAY0, DAY0 + pd.Timedelta(weeks=12)] * 2,
            "is_baseline": [True, False, True, False],
        }
    )
    m = pd.DataFrame(
        {
            "visit_id": [1, 2, 3, 4],
            "measurement_id": [1, 2, 3, 4],
            "manual": True,
            **{c: np.nan for c in cohort.MEASURED_COLUMNS},
            cohort.AREA_COLUMN: [1.0, 0.5, 1.0, 1.0],
        }
    )
    m["hair_count"] = [106.0, 58.0, 100.0, 104.0]
    m["density_per_cm2"] = [106.0, 116.0, 100.0, 104.0]
    long = cohort.build_long(visits, m, "hair_count")
    rows = long.rows.set_index("patient_id")
    assert np.isnan(rows.loc[1, "change"]) and rows.loc[1, "value"] == 58.0
    assert rows.loc[2, "change"] == 4.0
    assert long.area_mismatch_ids.tolist() == [1] and long.source_mismatch_ids.size == 0
    attributes = pd.DataFrame({"patient_id": [1, 2], "arm": ["prp", "prp"]})
    by_visit = cohort.analyse_cohort(long, attributes, cohort.CohortOptions()).sections["by_visit"]
    assert [r["mean"] for r in by_visit.data["rows"]] == [4.0]
    assert "1 follow-up hair count of 1 patient left out: counted over another target area" in (
        by_visit.missing_data
    )
    # Density is count ÷ area: it is compared.
    density = cohort.build_long(visits, m, "density_per_cm2")
    assert density.rows.set_index("patient_id").loc[1, "change"] == 10.0
    assert density.area_mismatch_ids.size == 0


def test_a_hair_count_whose_area_was_not_given_is_compared_only_with_one_alike():
    """An area not given (blank) is no area size: counts without one are compared with each
    other, as the patient's progress does, but not with a count over a measured area."""
    visits = pd.DataFrame(
        {
            "patient_id": [1, 1, 2, 2],
            "visit_id": [1, 2, 3, 4],
            "visit_date": [DAY0, DAY0 + pd.Timedelta(weeks=12)] * 2,
            "is_baseline": [True, False, True, False],
        }
    )
    m = pd.DataFrame(
        {
            "visit_id": [1, 2, 3, 4],
            "measurement_id": [1, 2, 3, 4],
            "manual": True,
            **{c: np.nan for c in cohort.MEASURED_COLUMNS},
            cohort.AREA_COLUMN: [np.nan, np.nan, 2.0, np.nan],
        }
    )
    m["hair_count"] = [100.0, 110.0, 200.0, 150.0]
    long = cohort.build_long(visits, m, "hair_count")
    rows = long.rows.set_index("patient_id")
    assert rows.loc[1, "change"] == 10.0
    assert np.isnan(rows.loc[2, "change"])
    assert long.area_mismatch_ids.tolist() == [2]


def test_the_mmrm_takes_one_source_per_patient_so_each_has_one_baseline():
    """A patient measured by hand at week 4 and by image analysis at week 12 had two
    baselines, and the MMRM refused them: the fit was dropped for the whole cohort."""
    visits = pd.DataFrame(
        {
            "patient_id": [1, 1, 1, 2, 2],
            "visit_id": [1, 2, 3, 4, 5],
            "visit_date": [DAY0, DAY0 + pd.Timedelta(weeks=4), DAY0 + pd.Timedelta(weeks=12),
                           DAY0, DAY0 + pd.Timedelta(weeks=12)],
            "is_baseline": [True, False, False, True, False],
        }
    )  # fmt: skip
    measurements = _measurement_rows(
        (1, True, 100.0), (1, False, 99.0),  # patient 1: both sources at baseline,
        (2, True, 104.0),  # by hand at week 4,
        (3, False, 101.0),  # by image analysis at week 12
        (4, False, 80.0), (5, False, 85.0),  # patient 2: image analysis only
    )  # fmt: skip
    rows = cohort.build_long(visits, measurements, "density_per_cm2").rows
    assert rows.groupby("patient_id")["baseline"].nunique().to_dict() == {1: 2, 2: 1}
    kept = cohort.one_source_per_patient(rows)
    assert kept.groupby("patient_id")["baseline"].nunique().to_dict() == {1: 1, 2: 1}
    assert kept.set_index("patient_id").loc[1, "source"] == "manual"
    assert kept.set_index("patient_id").loc[2, "source"] == "imaging"


def test_the_mmrm_says_which_values_one_source_per_patient_left_out():
    """The value left out by the one-source rule was counted as a missing visit, unnamed."""
    rng = np.random.default_rng(7)
    visit_rows, meas, vid = [], [], 0
    for pid in range(1, 9):
        for week in (0, 4, 12):
            vid += 1
            day = DAY0 + pd.Timedelta(weeks=week)
            visit_rows.append((pid, vid, day, week == 0))
            value = 100.0 + pid + week * (0.5 if pid <= 4 else 1.0) + rng.normal(0, 2)
            if pid == 1 and week == 12:
                meas.append((vid, False, value))  # patient 1: image analysis at week 12
            else:
                meas.append((vid, True, value))
            if pid == 1 and week == 0:
                meas.append((vid, False, value - 1))  # ... and at baseline
    visits = pd.DataFrame(
        visit_rows, columns=["patient_id", "visit_id", "visit_date", "is_baseline"]
    )
    long = cohort.build_long(visits, _measurement_rows(*meas), "density_per_cm2")
    attributes = pd.DataFrame({"patient_id": range(1, 9), "arm": ["exosome"] * 4 + ["prp"] * 4})
    result = cohort.analyse_cohort(long, attributes, cohort.CohortOptions())
    mmrm = result.sections["mmrm"]
    assert mmrm.ok, mmrm.message
    assert "1 value of 1 patient measured by image analysis at some visits" in mmrm.missing_data


def test_a_visit_without_a_value_does_not_displace_one_with_a_value_in_its_window():
    # Both visits fall in the week-12 window; the one on day 84 (nearer) has no density.
    visits = pd.DataFrame(
        {
            "patient_id": [1, 1, 1],
            "visit_id": [1, 2, 3],
            "visit_date": [DAY0, DAY0 + pd.Timedelta(days=78), DAY0 + pd.Timedelta(days=84)],
            "is_baseline": [True, False, False],
        }
    )
    measurements = _measurement_rows((1, True, 100.0), (2, True, 112.0), (3, True, np.nan))
    long = cohort.build_long(visits, measurements, "density_per_cm2")
    assert long.rows[["week", "day", "change"]].to_dict("records") == [
        {"week": 12.0, "day": 78.0, "change": 12.0}
    ]


def test_responders_count_the_arms_patients_without_a_landmark_value_as_missing():
    # Three exosome patients; two came back at week 12.
    v, m = _visits_and_measurements(
        [(1, 0, 100.0), (1, 84, 115.0), (2, 0, 100.0), (2, 84, 105.0), (3, 0, 100.0)]
    )
    long = cohort.build_long(v, m, "density_per_cm2")
    attributes = pd.DataFrame({"patient_id": [1, 2, 3], "arm": ["exosome"] * 3})
    result = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(landmark_week=12))
    (row,) = result.sections["responders"].data["rows"]
    assert (row["n_in_arm"], row["n"], row["n_missing"], row["responders"]) == (3, 2, 1, 1)
    assert row["missing_data"].startswith("1 of 3 subjects without a change value")


def test_responders_and_ancova_leave_out_patients_without_a_baseline_value_alike():
    # Exosome 1-3 and none 7-9 measured at baseline and week 12; exosome 4-6 never had a
    # baseline density, so they have no change to count, missing or not.
    visits = []
    for pid, base, later in ((1, 100.0, 115.0), (2, 90.0, 105.0), (3, 110.0, 112.0),
                             (4, np.nan, 120.0), (5, np.nan, 118.0), (6, np.nan, 111.0),
                             (7, 95.0, 101.0), (8, 100.0, 99.0), (9, 104.0, 104.0)):  # fmt: skip
        visits += [(pid, 0, base), (pid, 84, later)]
    v, m = _visits_and_measurements(visits)
    long = cohort.build_long(v, m, "density_per_cm2")
    attributes = pd.DataFrame({"patient_id": range(1, 10), "arm": ["exosome"] * 6 + ["none"] * 3})
    result = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(landmark_week=12))
    rows = {r["arm"]: r for r in result.sections["responders"].data["rows"]}
    assert (rows["exosome"]["n_in_arm"], rows["exosome"]["n_missing"]) == (3, 0)
    assert rows["exosome"]["missing_data"] == "No subject was excluded."
    assert "No subject was excluded." in result.sections["ancova"].missing_data


def test_the_ancova_statement_counts_patients_without_a_landmark_value_as_left_out():
    # Exosome 1-4 and none 5-8 have a baseline; 4 and 8 never came back at week 12. The
    # statement said "No subject was excluded." while the responders said "1 of 4".
    visits = []
    for pid, base, later in ((1, 100.0, 115.0), (2, 90.0, 105.0), (3, 110.0, 118.0),
                             (4, 95.0, None), (5, 104.0, 101.0), (6, 92.0, 99.0),
                             (7, 108.0, 104.0), (8, 99.0, None)):  # fmt: skip
        visits.append((pid, 0, base))
        if later is not None:
            visits.append((pid, 84, later))
    v, m = _visits_and_measurements(visits)
    long = cohort.build_long(v, m, "density_per_cm2")
    attributes = pd.DataFrame({"patient_id": range(1, 9), "arm": ["exosome"] * 4 + ["none"] * 4})
    result = cohort.analyse_cohort(long, attributes, cohort.CohortOptions(landmark_week=12))
    assert result.sections["ancova"].ok, result.sections["ancova"].message
    statement = result.sections["ancova"].missing_data
    assert "6 subjects with a value there were analysed" in statement
    assert "2 subjects with a baseline but no value at week 12 were left out." in statement
    assert "No subject was excluded." not in statement


# --- sessions that used two lots; lot numbers shared by products ----------------------------


def _two_lot_sessions() -> pd.DataFrame:
    """Patient 1 on DAY0: an exosome session that used lots 70 and 71 (one row per lot) and
    a minoxidil start with a lot of its own (72)."""
    return pd.DataFrame(
        {
            "session_id": [1, 1, 2],
            "patient_id": [1, 1, 1],
            "modality": ["exosome", "exosome", "minoxidil"],
            "performed_on": [DAY0, DAY0, DAY0],
            "product": ["7", "7", "8"],
            "lot": ["70", "71", "72"],
        }
    )


def test_a_session_that_used_two_lots_is_charged_for_either_and_counted_once_per_group():
    sessions, events = _two_lot_sessions(), _event(None, "71")
    pairs, _ = cohort.event_sessions(sessions, events)
    assert pairs["session_id"].tolist() == [1]  # the session that used lot 71, not the other
    by_modality = cohort.ae_incidence(sessions, events, by="modality")
    assert _with_event(by_modality) == {"exosome": (1, 1), "minoxidil": (0, 1)}
    by_product = cohort.ae_incidence(sessions, events, by="product", recorded_only=True)
    assert _with_event(by_product) == {"7": (1, 1), "8": (0, 1)}
    by_lot = cohort.ae_incidence(sessions, events, by="lot", recorded_only=True)
    assert _with_event(by_lot) == {"70": (0, 1), "71": (1, 1), "72": (0, 1)}


def test_an_event_naming_no_lot_counts_against_every_lot_of_its_sessions():
    sessions, events = _two_lot_sessions(), _event(DAY0, "")
    by_lot = cohort.ae_incidence(sessions, events, by="lot", recorded_only=True)
    assert _with_event(by_lot) == {"70": (1, 1), "71": (1, 1), "72": (1, 1)}


def test_a_lot_number_shared_by_two_products_names_a_lot_only_through_the_patients_sessions():
    lots = pd.DataFrame({"lot": ["70", "80", "90"], "lot_number": ["A-1", "A-1", "B-2"]})
    events = pd.DataFrame(
        {"patient_id": [1, 2, 3, 1, 1], "lot_number": ["A-1", "A-1", "A-1", "B-2", ""]}
    )
    sessions = pd.DataFrame({"patient_id": [1, 3, 3], "lot": ["70", "70", "80"]})
    # 1 used lot 70 only; 2 used neither; 3 used both; B-2 is one lot's number.
    assert cohort.event_lots(events, lots, sessions).tolist() == ["70", "", "", "90", ""]


def test_an_arm_left_out_of_the_mmrm_counts_its_patients_as_excluded():
    """The note said "No subject was excluded." right after an arm had been left out."""
    rng = np.random.default_rng(3)
    visit_rows, meas, vid = [], [], 0
    for pid in range(1, 10):
        for week in (0, 4, 12):
            vid += 1
            visit_rows.append((pid, vid, DAY0 + pd.Timedelta(weeks=week), week == 0))
            meas.append((vid, True, 100.0 + pid + week * 0.7 + rng.normal(0, 2)))
    visits = pd.DataFrame(
        visit_rows, columns=["patient_id", "visit_id", "visit_date", "is_baseline"]
    )
    long = cohort.build_long(visits, _measurement_rows(*meas), "density_per_cm2")
    arms = ["exosome"] * 4 + ["prp"] * 4 + ["minoxidil"]  # one patient: a thin arm
    attributes = pd.DataFrame({"patient_id": range(1, 10), "arm": arms})
    mmrm = cohort.analyse_cohort(long, attributes, cohort.CohortOptions()).sections["mmrm"]
    assert mmrm.ok, mmrm.message
    assert "No subject was excluded" not in mmrm.missing_data
    assert "1 patient excluded with their arm, left out of the MMRM" in mmrm.missing_data


@pytest.mark.parametrize(
    ("arms", "expected"),
    [
        (["exosome", "minoxidil", "none", "prp"], "none"),
        (["exosome", "exosome+minoxidil", "minoxidil", "prp"], "minoxidil"),
        (["exosome", "exosome+prp", "prp", "transplant"], "prp"),
        (["exosome", "exosome+minoxidil"], "exosome"),
        ([], ""),
    ],
)
def test_the_default_reference_is_untreated_else_minoxidil_else_not_the_investigational_arm(
    arms, expected
):
    assert cohort.default_reference(arms) == expected


def test_the_default_reference_passes_over_an_arm_too_small_to_be_shown():
    sizes = {"minoxidil": 3, "exosome": 6, "prp": 7}
    assert cohort.default_reference(sizes, sizes, 5) == "prp"
    assert cohort.default_reference(sizes, sizes, 0) == "minoxidil"
    # No arm large enough: the usual preference stands.
    assert cohort.default_reference(sizes, sizes, 10) == "minoxidil"


def test_a_view_that_withholds_small_arms_compares_against_an_arm_it_shows():
    """Minoxidil, of 3 patients, was the automatic reference of the cohort PDF, which
    withholds arms under 5: every contrast was 'not shown' though exosome (6) and PRP (7)
    could be compared (review)."""
    arms = {
        "exosome": [(100.0 + i, 112.0 + i) for i in range(6)],
        "minoxidil": [(104.0, 110.0), (98.0, 101.0), (101.0, 109.0)],
        "prp": [(95.0 + i, 104.0 + 2 * i) for i in range(7)],
    }
    assert _cohort(arms).reference_arm == "minoxidil"
    result = _cohort(arms, min_reference_n=5)
    assert result.reference_arm == "prp"
    assert result.sections["ancova"].data["reference_arm"] == "prp"
    (note,) = [n for n in result.notes if "use Platelet-rich plasma as the reference" in n]
    # The page shows the small arm's results; only the PDF leaves them out (review).
    assert "fewer than 5 patients, too few to be the reference" in note
    assert "not shown here" not in note


def test_without_an_untreated_arm_the_contrasts_are_against_minoxidil_not_exosome():
    result = _cohort(
        {
            "exosome": [(100.0, 115.0), (90.0, 105.0), (95.0, 104.0)],
            "minoxidil": [(104.0, 110.0), (98.0, 101.0), (101.0, 109.0)],
        }
    )
    assert result.reference_arm == "minoxidil"
    assert result.sections["ancova"].data["reference_arm"] == "minoxidil"


def test_adverse_events_are_counted_per_patient_beside_per_session():
    """A patient prone to reactions has them at every session: per 100 sessions that reads
    as a common reaction (3 of 6 sessions), per patient as one patient in three, with an
    exact interval that holds because patients are independent."""
    from anagen.outcomes.stats import clopper_pearson

    sessions = pd.DataFrame(
        {
            "session_id": [1, 2, 3, 4, 5, 6],
            "patient_id": [1, 1, 1, 2, 2, 3],
            "modality": ["exosome"] * 6,
            "performed_on": [DAY0 + pd.Timedelta(days=28 * i) for i in (0, 1, 2, 0, 1, 0)],
            "product": ["7"] * 6,
            "lot": ["70"] * 6,
        }
    )
    events = pd.DataFrame(
        {
            "event_id": [1, 2, 3],
            "patient_id": [1, 1, 1],
            "onset_date": [DAY0 + pd.Timedelta(days=28 * i + 1) for i in (0, 1, 2)],
            "related_session_date": [pd.NaT] * 3,
        }
    )
    [row] = cohort.ae_incidence(sessions, events, by="modality").data["rows"]
    assert (row["sessions_with_event"], row["sessions"], row["per_100"]) == (3, 6, 50.0)
    assert (row["patients_with_event"], row["patients"]) == (1, 3)
    exact = clopper_pearson(1, 3, 0.95)
    assert row["per_patient"]["pct"] == pytest.approx(100 / 3)
    assert row["per_patient"]["lower"] == pytest.approx(100 * exact.lower)
    assert row["per_patient"]["upper"] == pytest.approx(100 * exact.upper)
