"""Specification of scalp zones, map validation, totals, limits and the SVG."""

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anagen.treatments import scalp_zones as sz
from anagen.treatments.scalp_zones import MapEntry, MapError

SVG = "{http://www.w3.org/2000/svg}"


def paths(svg):
    return ET.fromstring(svg).iter(f"{SVG}path")


def zone_paths_in(svg):
    return {p.get("data-zone"): p for p in paths(svg) if p.get("data-zone")}


class TestZones:
    def test_eight_zones(self):
        assert set(sz.ZONES) == {
            "frontal", "mid_scalp", "vertex", "temporal_left", "temporal_right",
            "parietal_left", "parietal_right", "occipital",
        }  # fmt: skip

    def test_every_zone_has_four_cells(self):
        assert len(sz.CELLS) == 32
        assert sz.parent_zone("vertex.3") == "vertex"

    def test_top_view_has_geometry_for_every_code(self):
        assert set(sz.zone_paths("top")) == set(sz.ALL_CODES)

    def test_side_views_show_only_their_side(self):
        left = sz.zone_paths("side_left")
        right = sz.zone_paths("side_right")
        assert "temporal_left" in left
        assert "temporal_right" not in left
        assert "parietal_right" in right
        assert {"frontal", "vertex", "occipital"} <= set(left) & set(right)


class TestValidation:
    def test_valid_map(self):
        assert sz.validate_map([MapEntry("frontal", 20, 1.0, spacing_mm=10, depth_mm=3)]) == []

    def test_dicts_accepted(self):
        assert sz.validate_map([{"zone": "vertex.2", "points": 5, "volume_ml": 0.25}]) == []

    @pytest.mark.parametrize(
        ("entry", "field"),
        [
            (MapEntry("forehead", 1, 0.1), "entries[0].zone"),
            (MapEntry("frontal", -1, 0.1), "entries[0].points"),
            (MapEntry("frontal", 1, -0.1), "entries[0].volume_ml"),
            (MapEntry("frontal", 1, 0.1, spacing_mm=-1), "entries[0].spacing_mm"),
            (MapEntry("frontal", 1, 0.1, depth_mm=-2), "entries[0].depth_mm"),
            (MapEntry("frontal", 0, 0.5), "entries[0].points"),
            (MapEntry("frontal", 1, float("nan")), "entries[0].volume_ml"),
            (MapEntry("frontal", 1.5, 0.1), "entries[0].points"),
        ],
    )
    def test_invalid_entries_named(self, entry, field):
        assert field in {e.field for e in sz.validate_map([entry])}

    def test_index_in_field_name(self):
        errs = sz.validate_map([MapEntry("frontal", 1, 0.1), MapEntry("nope", 1, 0.1)])
        assert [e.field for e in errs] == ["entries[1].zone"]


class TestRecordingLimits:
    """Hard limits for a new session: no real scalp session reaches them."""

    def test_a_real_session_is_within_them(self):
        entries = [
            MapEntry("frontal", 40, 2.0, spacing_mm=10, depth_mm=3),
            MapEntry("vertex", 40, 2.0),
        ]
        assert sz.check_recording_limits(entries) == []

    def test_the_prefix_names_the_field_as_the_caller_sent_it(self):
        errs = sz.validate_map([MapEntry("nope", 1, 0.1)], prefix="map")
        assert [e.field for e in errs] == ["map[0].zone"]

    @pytest.mark.parametrize(
        ("entry", "field"),
        [
            (MapEntry("frontal", sz.MAX_POINTS_PER_ZONE + 1, 1.0), "map[0].points"),
            (MapEntry("frontal", 2**63, 1.0), "map[0].points"),
            (MapEntry("frontal", 10, sz.MAX_VOLUME_ML_PER_ZONE + 0.1), "map[0].volume_ml"),
            (MapEntry("frontal", 10, 1e300), "map[0].volume_ml"),
            (MapEntry("frontal", 10, 1.0, spacing_mm=1e300), "map[0].spacing_mm"),
            (MapEntry("frontal", 10, 1.0, depth_mm=sz.MAX_DEPTH_MM + 1), "map[0].depth_mm"),
        ],
    )
    def test_each_entry_has_a_ceiling(self, entry, field):
        assert [e.field for e in sz.check_recording_limits([entry], prefix="map")] == [field]

    def test_a_zone_listed_twice_names_the_second_row(self):
        errs = sz.check_recording_limits([MapEntry("vertex", 1, 0.1)] * 2, prefix="map")
        assert [e.field for e in errs] == ["map[1].zone"]
        assert "listed twice" in errs[0].message

    def test_the_session_has_ceilings_on_the_totals(self):
        cells = [MapEntry(c, sz.MAX_POINTS_PER_ZONE, sz.MAX_VOLUME_ML_PER_ZONE) for c in sz.CELLS]
        errs = sz.check_recording_limits(cells, prefix="map")
        assert [e.field for e in errs] == ["map", "map"]

    def test_values_of_the_wrong_type_are_left_to_validate_map(self):
        assert sz.check_recording_limits([{"zone": 3, "points": "x", "volume_ml": None}]) == []


class TestRecordedZonesHoldSomething:
    """A recorded zone was injected: at least one point and 0.01 mL as stored."""

    def test_a_zone_with_no_points_and_no_volume_is_refused(self):
        errs = sz.check_recording_limits([MapEntry("frontal", 0, 0.0)], prefix="map")
        assert sorted(e.field for e in errs) == ["map[0].points", "map[0].volume_ml"]

    def test_a_volume_that_rounds_to_zero_is_refused(self):
        errs = sz.check_recording_limits([MapEntry("frontal", 10, 0.004)], prefix="map")
        assert [e.field for e in errs] == ["map[0].volume_ml"]
        assert "0.01 mL" in errs[0].message

    def test_a_volume_that_rounds_up_to_the_step_is_kept(self):
        assert sz.check_recording_limits([MapEntry("frontal", 10, 0.005)]) == []
        assert sz.stored_volume_ml(0.005) == sz.VOLUME_STEP_ML

    def test_points_without_volume_are_reported_once(self):
        errs = sz.validate_map([MapEntry("frontal", 0, 0.5)], prefix="map")
        errs += sz.check_recording_limits([MapEntry("frontal", 0, 0.5)], prefix="map")
        assert [e.field for e in errs] == ["map[0].points"]


class TestGrid:
    """A new map is in whole zones or in fine-grid cells, as the session's fine_grid says."""

    def test_whole_zones_without_the_fine_grid_and_cells_with_it_pass(self):
        assert sz.check_grid([MapEntry("frontal", 1, 0.1)], fine_grid=False) == []
        assert sz.check_grid([MapEntry("frontal.1", 1, 0.1)], fine_grid=True) == []

    @pytest.mark.parametrize("fine_grid", [False, True])
    def test_a_zone_with_its_own_cells_is_refused_on_the_zone_row(self, fine_grid):
        entries = [MapEntry("frontal.1", 5, 0.1), MapEntry("frontal", 10, 0.5)]
        errs = sz.check_grid(entries, fine_grid, prefix="map")
        assert [e.field for e in errs] == ["map[1].zone"]
        assert "both as a whole zone and as its fine-grid cells (map[0])" in errs[0].message

    def test_cells_without_the_fine_grid_are_refused(self):
        errs = sz.check_grid(
            [MapEntry("frontal", 1, 0.1), MapEntry("vertex.2", 1, 0.1)], False, prefix="map"
        )
        assert [e.field for e in errs] == ["map[1].zone"]
        assert "fine grid is off" in errs[0].message

    def test_whole_zones_with_the_fine_grid_are_refused(self):
        errs = sz.check_grid([MapEntry("vertex", 1, 0.1)], True, prefix="map")
        assert [e.field for e in errs] == ["map[0].zone"]
        assert "fine grid is on" in errs[0].message


class TestTotalsAndLimits:
    ENTRIES = [
        MapEntry("frontal", 20, 1.5),
        MapEntry("vertex.1", 5, 0.5),
        MapEntry("vertex.4", 5, 0.5),
        MapEntry("temporal_left", 8, 0.6),
    ]

    def test_totals(self):
        t = sz.map_totals(self.ENTRIES)
        # 1.5 + 0.5 + 0.5 + 0.6 = 3.1 mL; 20 + 5 + 5 + 8 = 38 points
        assert t.volume_ml == pytest.approx(3.1)
        assert t.points == 38
        assert t.by_zone["vertex"] == sz.ZoneTotal(10, 1.0)
        assert t.by_code["vertex.1"] == sz.ZoneTotal(5, 0.5)

    def test_invalid_map_raises_with_all_errors(self):
        with pytest.raises(MapError) as err:
            sz.map_totals([MapEntry("x", -1, 0.1)])
        assert len(err.value.errors) == 2

    def test_within_limits(self):
        assert sz.check_limits(sz.map_totals(self.ENTRIES), 4.0, 7.0) == []

    def test_exceeds_vial(self):
        warnings = sz.check_limits(sz.map_totals(self.ENTRIES), 3.0, 7.0)
        assert [w.code for w in warnings] == ["exceeds_vial"]

    def test_exceeds_protocol(self):
        warnings = sz.check_limits(sz.map_totals(self.ENTRIES), 10.0, 3.0)
        assert [w.code for w in warnings] == ["exceeds_protocol"]

    def test_exact_limit_not_exceeded_despite_float_sum(self):
        # 0.1 × 10 sums to 0.9999999999999999 or 1.0000000000000002 naively
        t = sz.map_totals([MapEntry("frontal", 1, 0.1)] * 10)
        assert sz.check_limits(t, 1.0, 1.0) == []

    def test_unknown_limits_skipped(self):
        assert sz.check_limits(sz.map_totals(self.ENTRIES), None, None) == []


class TestSvg:
    ENTRIES = [MapEntry("frontal", 20, 2.0), MapEntry("vertex", 10, 1.0)]

    def test_is_well_formed_svg(self):
        root = ET.fromstring(sz.render_scalp_svg(self.ENTRIES, "top", False))
        assert root.tag == f"{SVG}svg"
        assert root.get("role") == "img"
        assert "3 mL in 30 points" in root.get("aria-label")

    def test_interactive_zones_are_keyboard_buttons(self):
        zones = zone_paths_in(sz.render_scalp_svg(self.ENTRIES, "top", True))
        assert set(zones) == set(sz.ZONES)
        for p in zones.values():
            assert p.get("role") == "button"
            assert p.get("tabindex") == "0"
            assert p.get("aria-label")
        assert zones["frontal"].get("aria-label") == "Frontal: 2 mL, 20 points"

    def test_static_zones_are_not_buttons(self):
        for p in zone_paths_in(sz.render_scalp_svg(self.ENTRIES, "top", False)).values():
            assert p.get("role") is None
            assert p.get("tabindex") is None

    def test_shading_follows_volume(self):
        zones = zone_paths_in(sz.render_scalp_svg(self.ENTRIES, "top", False))
        op = {z: float(p.get("fill-opacity")) for z, p in zones.items()}
        assert op["frontal"] > op["vertex"] > op["occipital"] == 0.0

    def test_cells_drawn_where_entered(self):
        zones = zone_paths_in(sz.render_scalp_svg([MapEntry("vertex.2", 3, 0.3)], "top", True))
        assert {"vertex.1", "vertex.2", "vertex.3", "vertex.4", "frontal"} <= set(zones)
        assert "vertex" not in zones

    def test_fine_grid_draws_all_cells(self):
        zones = zone_paths_in(sz.render_scalp_svg([], "top", True, fine_grid=True))
        assert set(zones) == set(sz.CELLS)

    def test_side_view_rolls_cells_up(self):
        zones = zone_paths_in(
            sz.render_scalp_svg([MapEntry("vertex.2", 3, 0.3)], "side_left", True)
        )
        assert zones["vertex"].get("data-volume-ml") == "0.3"
        assert "temporal_right" not in zones

    def test_a_refused_zone_is_outlined_and_labelled_and_drawn_last(self):
        svg = sz.render_scalp_svg(self.ENTRIES, "top", True, error_codes=["vertex"])
        zones = zone_paths_in(svg)
        assert zones["vertex"].get("class") == "zone-error"
        assert zones["vertex"].get("aria-label").endswith("(this row was refused: see the table)")
        assert zones["frontal"].get("class") is None
        assert "refused" not in zones["frontal"].get("aria-label")
        drawn = [p.get("data-zone") for p in ET.fromstring(svg).iter(f"{SVG}path")
                 if p.get("data-zone")]  # fmt: skip
        assert drawn[-1] == "vertex"

    def test_a_refused_zone_outlines_its_cells_on_the_fine_grid(self):
        zones = zone_paths_in(sz.render_scalp_svg([], "top", True, fine_grid=True,
                                                  error_codes=["vertex"]))  # fmt: skip
        outlined = {z for z, p in zones.items() if p.get("class") == "zone-error"}
        assert outlined == {"vertex.1", "vertex.2", "vertex.3", "vertex.4"}

    def test_unknown_view(self):
        with pytest.raises(ValueError, match="view"):
            sz.render_scalp_svg([], "front", False)

    def test_invalid_map_not_drawn(self):
        with pytest.raises(MapError):
            sz.render_scalp_svg([MapEntry("frontal", -1, 0.1)], "top", False)


entries = st.lists(
    st.builds(
        MapEntry,
        st.sampled_from(sorted(sz.ALL_CODES)),
        st.integers(1, 200),
        st.floats(0, 5, allow_nan=False),
    ),
    max_size=12,
)


@given(es=entries, view=st.sampled_from(sz.VIEWS), interactive=st.booleans())
def test_any_valid_map_renders_and_totals_add_up(es, view, interactive):
    t = sz.map_totals(es)
    assert t.volume_ml == pytest.approx(sum(e.volume_ml for e in es))
    assert sum(z.points for z in t.by_zone.values()) == t.points
    ET.fromstring(sz.render_scalp_svg(es, view, interactive))
