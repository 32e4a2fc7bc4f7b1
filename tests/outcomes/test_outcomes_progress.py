"""Per-patient change from baseline (pure): which changes image analysis cannot tell from
measurement noise; hair counts of target areas of different sizes."""

from __future__ import annotations

from datetime import date

from anagen.outcomes.progress import (
    COHORT_CHART_DODGE_WEEKS,
    VisitPoint,
    _legend_counts,
    build_progress,
    cohort_chart_spec,
    mark_within_noise,
    progress_chart_spec,
)

KEYS = ("hair_count", "density_per_cm2", "mean_diameter_um")


def _visit(visit_id: int, day: int, count: float, diameter: float) -> VisitPoint:
    return VisitPoint(
        visit_id=visit_id,
        visit_date=date(2026, 1, 1 + day),
        is_baseline=visit_id == 1,
        values={"hair_count": count, "density_per_cm2": count * 10, "mean_diameter_um": diameter},
    )


def _progress():
    # Baseline 100 hairs of 60 µm; then +10 % / +5 %, +40 % / +15 %, +10 % / +5 %.
    points = [_visit(1, 0, 100, 60), _visit(2, 7, 110, 63), _visit(3, 14, 140, 69),
              _visit(4, 21, 110, 63)]  # fmt: skip
    return build_progress(points, 1)


def _noise(result):
    return {r.visit_id: tuple(r.cells[k].within_noise for k in KEYS) for r in result.rows}


# Least significant changes of one engine: count and density 27 %, mean diameter 12 %.
ENGINE = {"hair_count": 27.0, "density_per_cm2": 27.0, "mean_diameter_um": 12.0}


def test_changes_under_each_measures_least_significant_change_are_within_noise():
    result = _progress()
    # Visits 1-3 measured by image analysis; visit 4 by hand.
    mark_within_noise(result, {1: ENGINE, 2: ENGINE, 3: ENGINE})
    assert _noise(result) == {
        1: (False, False, False),  # the baseline has no change
        2: (True, True, True),  # +10 % < 27 %, +5 % < 12 %
        3: (False, False, False),  # +40 % and +15 %
        4: (False, False, False),  # counted by hand: the engine's noise does not apply
    }
    assert result.has_within_noise


def test_progress_without_marks_says_so():
    result = _progress()
    assert not result.has_within_noise
    mark_within_noise(result, {1: ENGINE, 3: ENGINE})  # only the +40 % / +15 % visit
    assert not result.has_within_noise


def test_a_measure_without_a_figure_is_never_marked():
    result = _progress()
    counts_only = {"hair_count": 27.0}
    mark_within_noise(result, {1: counts_only, 2: counts_only})
    assert _noise(result)[2] == (True, False, False)


def test_nothing_is_marked_when_the_baseline_was_not_measured_by_image_analysis():
    result = _progress()
    mark_within_noise(result, {2: ENGINE, 3: ENGINE, 4: ENGINE})
    assert not any(any(v) for v in _noise(result).values())


def test_with_two_engine_versions_the_larger_least_significant_change_applies():
    result = _progress()
    older = {"hair_count": 45.0, "density_per_cm2": 45.0, "mean_diameter_um": 20.0}
    mark_within_noise(result, {1: older, 3: ENGINE})
    assert _noise(result)[3] == (True, True, True)  # +40 % < 45 %, +15 % < 20 %


# --- hair counts of target areas of different sizes ---------------------------------------


def _counted(visit_id: int, day: int, count: float, area: float) -> VisitPoint:
    return VisitPoint(
        visit_id=visit_id,
        visit_date=date(2026, 1, 1 + day),
        is_baseline=visit_id == 1,
        values={"hair_count": count, "density_per_cm2": count / area, "target_area_cm2": area},
    )


def test_counts_of_areas_of_different_sizes_are_not_compared_and_the_page_says_so():
    # 152 hairs in 1 cm², then 80 in 0.5 cm²: density rose 152 → 160, the count did not fall.
    result = build_progress([_counted(1, 0, 152, 1.0), _counted(2, 28, 80, 0.5)], 1)
    follow_up = result.rows[1].cells
    assert follow_up["hair_count"].value == 80 and follow_up["hair_count"].change is None
    assert follow_up["density_per_cm2"].change == 8.0
    assert result.count_areas == [1.0, 0.5]
    assert any("target areas of different sizes (1 cm², 0.5 cm²)" in m for m in result.messages)


def test_the_chart_leaves_out_counts_of_areas_of_different_sizes_and_plots_density():
    result = build_progress([_counted(1, 0, 152, 1.0), _counted(2, 28, 80, 0.5)], 1)
    measures = {v["measure"] for v in progress_chart_spec(result)["data"]["values"]}
    assert measures == {"Hair density (hairs/cm²)"}


def test_counts_of_one_area_are_compared_and_plotted():
    result = build_progress([_counted(1, 0, 100, 0.5), _counted(2, 28, 110, 0.5)], 1)
    assert result.rows[1].cells["hair_count"].change == 10.0
    assert not any("different sizes" in m for m in result.messages)
    measures = {v["measure"] for v in progress_chart_spec(result)["data"]["values"]}
    assert len(measures) == 2 and "Hair density (hairs/cm²)" in measures


def test_the_chart_plots_every_measure_with_its_baseline_as_a_dashed_rule():
    values = {"hair_count": 100, "density_per_cm2": 100, "mean_diameter_um": 60,
              "terminal_pct": 70, "vellus_pct": 30, "anagen_pct": 80}  # fmt: skip
    later = {**values, "anagen_pct": 86, "density_per_cm2": 110}
    points = [
        VisitPoint(visit_id=1, visit_date=date(2026, 1, 1), is_baseline=True, values=values),
        VisitPoint(visit_id=2, visit_date=date(2026, 1, 29), is_baseline=False, values=later),
    ]
    spec = progress_chart_spec(build_progress(points, 1))
    data = spec["data"]["values"]
    anagen = [v for v in data if v["measure"] == "Anagen hairs (%)"]
    assert [(v["value"], v["baseline"]) for v in anagen] == [(80, 80), (86, 80)]
    density = [v for v in data if v["measure"] == "Hair density (hairs/cm²)"]
    assert {v["baseline"] for v in density} == {100}
    line, rule = spec["spec"]["layer"]
    assert line["mark"]["type"] == "line"
    assert rule["mark"]["type"] == "rule" and rule["mark"]["strokeDash"]
    assert rule["encoding"]["y"]["field"] == "baseline"
    # Panels follow the table's order (count, density, ...), not the alphabet.
    order = spec["facet"]["sort"]
    assert order.index("Hair density (hairs/cm²)") < order.index("Anagen hairs (%)")
    assert order[-1] == "Cumulative thickness (mm/cm²)" and len(order) == 7


# --- change within one measurement source --------------------------------------------------


def _sourced(visit_id: int, day: int, **by_source: dict) -> VisitPoint:
    shown = by_source.get("manual") or by_source.get("imaging") or {}
    source = "manual" if "manual" in by_source else "imaging"
    return VisitPoint(
        visit_id=visit_id,
        visit_date=date(2026, 1, 1 + day),
        is_baseline=visit_id == 1,
        values={**shown, "source": source},
        by_source=by_source,
    )


def test_a_value_of_a_source_the_baseline_lacks_has_no_change_and_the_page_says_so():
    # A hand count of 1 cm² at baseline; an engine's 0.18 cm² field at week 4.
    result = build_progress(
        [
            _sourced(1, 0, manual={"density_per_cm2": 103.0, "target_area_cm2": 1.0}),
            _sourced(2, 28, imaging={"density_per_cm2": 65.1, "target_area_cm2": 0.18}),
        ],
        1,
    )
    cell = result.rows[1].cells["density_per_cm2"]
    assert cell.value == 65.1 and cell.change is None and cell.change_pct is None
    assert cell.source == "imaging" and result.rows[1].source == "imaging"
    assert any(
        "No change shown for values measured by image analysis on 2026-01-29" in m
        and "baseline visit has no value by image analysis" in m
        for m in result.messages
    )


def test_a_visit_with_both_sources_is_compared_manual_against_manual():
    base = {"density_per_cm2": 100.0, "mean_diameter_um": 60.0}
    result = build_progress(
        [
            _sourced(1, 0, manual=base, imaging={"density_per_cm2": 70.0}),
            _sourced(
                2, 28, manual={"density_per_cm2": 110.0, "mean_diameter_um": 66.0},
                imaging={"density_per_cm2": 91.0},
            ),
        ],
        1,
    )  # fmt: skip
    cells = result.rows[1].cells
    assert (cells["density_per_cm2"].change, cells["density_per_cm2"].source) == (10.0, "manual")
    assert cells["cumulative_thickness_mm_per_cm2"].change == 110 * 66 / 1000 - 100 * 60 / 1000
    assert not any("No change shown" in m for m in result.messages)


def test_a_visit_with_both_sources_uses_image_analysis_where_only_that_has_a_baseline():
    result = build_progress(
        [
            _sourced(1, 0, imaging={"density_per_cm2": 70.0}),
            _sourced(2, 28, manual={"density_per_cm2": 110.0}, imaging={"density_per_cm2": 77.0}),
        ],
        1,
    )
    cell = result.rows[1].cells["density_per_cm2"]
    assert (cell.value, cell.change, cell.source) == (77.0, 7.0, "imaging")
    assert cell.change_pct == 10.0


def test_only_image_analysis_changes_are_marked_within_noise():
    result = build_progress(
        [
            _sourced(1, 0, manual={"density_per_cm2": 100.0}, imaging={"density_per_cm2": 70.0}),
            _sourced(2, 28, manual={"density_per_cm2": 101.0}, imaging={"density_per_cm2": 71.0}),
        ],
        1,
    )
    mark_within_noise(result, {1: ENGINE, 2: ENGINE})
    assert not result.has_within_noise  # +1 % manual: the engine's noise does not apply


def test_the_cohort_chart_sets_arms_side_by_side_and_sizes_points_by_patients():
    rows = [
        {"arm": "exosome", "week": 12, "mean": 5.0, "lower": 1.0, "upper": 9.0, "n": 7},
        {"arm": "prp", "week": 12, "mean": 8.0, "lower": 2.0, "upper": 14.0, "n": 1},
        {"arm": "prp", "week": 24, "mean": None, "lower": None, "upper": None, "n": 0},
    ]
    spec = cohort_chart_spec(rows, "hairs/cm²", {"exosome": "Exosome", "prp": "PRP"})
    values = spec["data"]["values"]
    assert [(v["arm"], v["week"], v["n"]) for v in values] == [("Exosome", 12, 7), ("PRP", 12, 1)]
    # Plotted half a dodge either side of week 12; the tooltip keeps the true week.
    assert [v["at"] for v in values] == [12 - COHORT_CHART_DODGE_WEEKS / 2,
                                         12 + COHORT_CHART_DODGE_WEEKS / 2]  # fmt: skip
    points = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")
    assert points["encoding"]["size"]["field"] == "n"
    assert {"field": "week"} in points["encoding"]["tooltip"]


def test_a_forecast_names_the_modalities_it_does_not_model():
    """Microneedling read 'Plan modelled: No treatment' with no word of what was left out."""
    from anagen.outcomes.progress import forecast_panel

    panel = forecast_panel(
        sex="male", diagnosis="aga_male", stage="III",
        modalities=["microneedling", "minoxidil"], baseline_density=150.0,
    )  # fmt: skip
    assert panel.ok and panel.plan == "minoxidil"
    assert any(n.startswith("Not modelled: Microneedling") for n in panel.notes)
    zero = forecast_panel(
        sex="male", diagnosis="aga_male", stage="III", modalities=["minoxidil"],
        baseline_density=0.0,
    )  # fmt: skip
    assert any("No baseline density" in n for n in zero.notes)
    assert not any(n.startswith("Not modelled") for n in zero.notes)


def test_no_forecast_for_a_baseline_beyond_every_virtual_patient_of_the_stage():
    """A stage-V scalp measured at 600/cm² is a wrong stage or a wrong measurement: the panel
    said so in a note under a confident band."""
    from anagen.outcomes.progress import forecast_panel

    panel = forecast_panel(
        sex="male", diagnosis="aga_male", stage="V", modalities=["minoxidil"],
        baseline_density=600.0,
    )  # fmt: skip
    assert not panel.ok and not panel.rows
    assert panel.message.startswith("No forecast: the measured baseline 600/cm² is beyond every")
    assert panel.message.endswith("check the stage and the measurement.")


def test_the_cohort_charts_size_legend_shows_whole_patients():
    """One patient's chart read 0.2, 0.4, … 1.0 patients."""
    rows = [{"arm": "prp", "week": w, "mean": 1.0, "lower": 0.0, "upper": 2.0, "n": 1}
            for w in (4, 12)]  # fmt: skip
    spec = cohort_chart_spec(rows, "hairs/cm²", {})
    [points] = [layer for layer in spec["layer"] if layer["mark"]["type"] == "point"]
    assert points["encoding"]["size"]["legend"]["values"] == [1]
    assert _legend_counts([1, 2, 3, 5, 8, 13, 21]) == [1, 3, 8, 21]


def test_an_arm_keeps_its_colour_whatever_other_arms_are_shown():
    """PRP was red on the whole cohort and orange among women: colours followed the order."""

    def colours(arms: list[str]) -> dict[str, str]:
        rows = [{"arm": a, "week": 12, "mean": 1.0, "lower": 0.0, "upper": 2.0, "n": 5}
                for a in arms]  # fmt: skip
        scale = cohort_chart_spec(rows, "hairs/cm²", {})["layer"][1]["encoding"]["color"]["scale"]
        return dict(zip(scale["domain"], scale["range"], strict=True))

    everyone = colours(["exosome", "exosome+minoxidil", "none", "prp"])
    assert colours(["prp"])["prp"] == everyone["prp"]
    assert colours(["exosome+minoxidil"])["exosome+minoxidil"] == everyone["exosome+minoxidil"]
    assert len(set(everyone.values())) == 4
    unlisted = colours(["microneedling+prp"])["microneedling+prp"]
    assert unlisted == colours(["microneedling+prp", "none"])["microneedling+prp"]


def test_the_chart_draws_one_line_per_source_not_one_through_both():
    """Manual counts of 106-151 /cm² and a 357 /cm² image-analysis field were one line."""
    result = build_progress(
        [
            _sourced(1, 0, manual={"density_per_cm2": 106.0, "target_area_cm2": 1.0}),
            _sourced(2, 28, manual={"density_per_cm2": 151.0, "target_area_cm2": 1.0}),
            _sourced(3, 29, imaging={"density_per_cm2": 357.0, "target_area_cm2": 0.18}),
        ],
        1,
    )
    spec = progress_chart_spec(result)
    density = [v for v in spec["data"]["values"] if v["measure"] == "Hair density (hairs/cm²)"]
    assert [(v["value"], v["source"]) for v in density] == [
        (106.0, "manual count"), (151.0, "manual count"), (357.0, "image analysis")
    ]  # fmt: skip
    line = spec["spec"]["layer"][0]
    assert line["encoding"]["color"]["field"] == "source"
