"""The overlay as shown on the page: a small image is enlarged by a whole factor so the hair
numbers are readable, the hairs stay on their pixels, and every number lies inside the image
without covering another."""

from __future__ import annotations

import numpy as np
import pytest

from anagen.imaging.display import display_overlay, display_scale, label_boxes
from anagen.imaging.engine import Analysis, Hair, Summary
from anagen.imaging.engine.overlay import TERMINAL_RGB


@pytest.mark.parametrize(
    ("size", "scale"),
    [((240, 180), 4.0), ((800, 640), 1.0), ((1000, 400), 1.0), ((3200, 2400), 0.5)],
)
def test_small_images_are_enlarged_by_a_whole_factor_and_large_ones_reduced(size, scale):
    assert display_scale(*size, min_side=800, max_side=1600) == scale


def _analysis(hairs: list[tuple[int, list[list[float]]]], shape: tuple[int, int]) -> Analysis:
    summary = Summary(**{f: 0 for f in Summary.__dataclass_fields__})
    return Analysis(
        hairs=[
            Hair(id=i, centreline_px=np.asarray(p, float), length_um=100, diameter_um=80, unit_id=i)
            for i, p in hairs
        ],
        summary=summary,
        quality={},
        um_per_px=5.0,
        image_shape=shape,
    )


def test_a_small_image_is_drawn_enlarged_with_each_hair_on_its_own_pixels():
    image = np.full((180, 240, 3), 90, np.uint8)
    analysis = _analysis([(1, [[40, 90], [120, 90]])], (180, 240))
    im = display_overlay(image, analysis)
    assert im.size == (960, 720)
    rgb = np.asarray(im)
    # image pixel (80, 90) is overlay pixels 320-323 x 360-363: on the (terminal) hair
    assert tuple(rgb[361, 321]) == TERMINAL_RGB
    # away from the hair and its number the photo is unchanged
    assert tuple(rgb[600, 100]) == (90, 90, 90)


def test_numbers_stay_inside_the_image_and_crowded_numbers_do_not_cover_each_other():
    bases = [(958.0, 5.0), (955.0, 10.0), (950.0, 8.0), (957.0, 715.0)]
    sizes = [(20.0, 12.0)] * len(bases)
    boxes = label_boxes(bases, sizes, (960, 720), gap=6)
    for left, top, right, bottom in boxes:
        assert left >= 0 and right <= 960 and top >= 0 and bottom <= 720
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            assert not overlap, (a, b)


def test_the_numbers_of_a_dense_unit_spread_round_it_without_covering_each_other():
    # Eighteen hairs leaving one small area (crowded units side by side, as in the demo's
    # densest fields): more than the 16 places tried before round a base.
    bases = [(400.0 + 3 * (k % 6), 300.0 + 2 * (k // 6)) for k in range(18)]
    boxes = label_boxes(bases, [(22.0, 16.0)] * len(bases), (960, 720), gap=6)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    # Each stays near its hair: within the rings tried round the base.
    for (bx, by), (left, top, right, bottom) in zip(bases, boxes, strict=True):
        assert abs((left + right) / 2 - bx) < 150 and abs((top + bottom) / 2 - by) < 150


def test_a_number_goes_where_no_hair_is_drawn_over_it():
    # A hair runs right-upwards from the base, through the first place tried for its number.
    base = (300.0, 300.0)
    hair = np.array([[300.0 + t, 300.0 - t] for t in np.linspace(0, 80, 81)])
    (box,) = label_boxes([base], [(22.0, 16.0)], (960, 720), gap=6, hair_points=hair)
    x, y = hair[:, 0], hair[:, 1]
    inside = (x > box[0]) & (x < box[2]) & (y > box[1]) & (y < box[3])
    assert not inside.any(), box
    (first,) = label_boxes([base], [(22.0, 16.0)], (960, 720), gap=6)
    assert first != box  # without the hair the first place tried is taken


def test_a_long_narrow_image_is_reduced_no_further_than_the_overlay_can_be_drawn():
    """A 200 × 4000 px image (accepted at upload: 128-8000 px a side) was reduced to 80 ×
    1600 px for the screen, under the 128 px a side the engine draws on: no overlay at all."""
    image = np.full((4000, 200, 3), 90, np.uint8)
    analysis = _analysis([(1, [[100, 500], [100, 900]])], (4000, 200))
    im = display_overlay(image, analysis)
    assert im.size == (128, 2560)
