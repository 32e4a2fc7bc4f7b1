"""Per-patient change from baseline (pure): which changes image analysis cannot tell from
measurement noise."""

from __future__ import annotations

from datetime import date

from anagen.outcomes.progress import VisitPoint, build_progress, mark_within_noise


def _visit(visit_id: int, day: int, count: float, diameter: float) -> VisitPoint:
    return VisitPoint(
        visit_id=visit_id,
        visit_date=date(2026, 1, 1 + day),
        is_baseline=visit_id == 1,
        values={"hair_count": count, "density_per_cm2": count * 10, "mean_diameter_um": diameter},
    )


def _progress():
    # Baseline 100 hairs; +10 % at visit 2, +40 % at visit 3, +10 % at visit 4.
    points = [_visit(1, 0, 100, 60), _visit(2, 7, 110, 61), _visit(3, 14, 140, 62),
              _visit(4, 21, 110, 63)]  # fmt: skip
    return build_progress(points, 1)


def _noise(result):
    keys = ("hair_count", "density_per_cm2", "mean_diameter_um")
    return {r.visit_id: tuple(r.cells[k].within_noise for k in keys) for r in result.rows}


def test_count_and_density_changes_under_the_least_significant_change_are_within_noise():
    result = _progress()
    # Visits 1-3 measured by image analysis (least significant change 27 %); visit 4 by hand.
    mark_within_noise(result, {1: 27.0, 2: 27.0, 3: 27.0})
    assert _noise(result) == {
        1: (False, False, False),  # the baseline has no change
        2: (True, True, False),  # +10 % < 27 %; the diameter's error is not the count's
        3: (False, False, False),  # +40 %
        4: (False, False, False),  # counted by hand: the engine's noise does not apply
    }


def test_nothing_is_marked_when_the_baseline_was_not_measured_by_image_analysis():
    result = _progress()
    mark_within_noise(result, {2: 27.0, 3: 27.0, 4: 27.0})
    assert not any(any(v) for v in _noise(result).values())


def test_with_two_engine_versions_the_larger_least_significant_change_applies():
    result = _progress()
    mark_within_noise(result, {1: 45.0, 3: 27.0})
    assert _noise(result)[3] == (True, True, False)  # +40 % < 45 %
