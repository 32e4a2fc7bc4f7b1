"""The segmentation's fast helpers give the same result as the library functions they replace.

Each helper exists for speed only (benchmarks/imaging_speed.py); these tests hold them to
SciPy's and scikit-image's results on random masks and images, edges included.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.filters import apply_hysteresis_threshold
from skimage.transform import resize

from anagen.imaging.engine import segment, synth
from anagen.imaging.engine.segment import (
    _dilate_sparse,
    _hysteresis,
    _inner_distance,
    _median_filter_halves,
    _open2x2,
    _upsample,
    dilate3,
)


def random_masks(n: int = 12, shape: tuple[int, int] = (57, 83)) -> list[np.ndarray]:
    """Blobby masks of varied density, touching the image edges."""
    rng = np.random.default_rng(11)
    return [
        ndi.gaussian_filter(rng.random(shape), 1.2 + 0.3 * (i % 3)) > 0.48 + 0.01 * (i % 5)
        for i in range(n)
    ]


def test_dilate3_equals_binary_dilation_with_the_cross_and_the_square():
    for m in random_masks():
        np.testing.assert_array_equal(dilate3(m), ndi.binary_dilation(m))
        np.testing.assert_array_equal(
            dilate3(m, eight=True), ndi.binary_dilation(m, np.ones((3, 3), bool))
        )


def test_open2x2_equals_binary_opening_with_a_2x2_square():
    for m in random_masks():
        np.testing.assert_array_equal(_open2x2(m), ndi.binary_opening(m, np.ones((2, 2), bool)))


@pytest.mark.parametrize("iterations", [1, 3, 10])
def test_dilate_sparse_equals_iterated_binary_dilation(iterations):
    m = np.zeros((60, 90), bool)
    m[2, 3] = m[40:44, 70:75] = True  # one spot near a corner
    np.testing.assert_array_equal(
        _dilate_sparse(m, iterations), ndi.binary_dilation(m, iterations=iterations)
    )
    assert not _dilate_sparse(np.zeros((5, 5), bool), 3).any()


def test_hysteresis_equals_skimage():
    rng = np.random.default_rng(3)
    for _ in range(6):
        c = ndi.gaussian_filter(rng.normal(size=(64, 96)), 1.5)
        lo, hi = np.quantile(c, [0.6, 0.95])
        np.testing.assert_array_equal(_hysteresis(c, lo, hi), apply_hysteresis_threshold(c, lo, hi))


def test_inner_distance_equals_the_euclidean_distance_transform_where_asked():
    rng = np.random.default_rng(8)
    for m in random_masks():
        where = rng.random(m.shape) < 0.3
        got = _inner_distance(m, where)
        ref = ndi.distance_transform_edt(m)
        np.testing.assert_allclose(got[where], ref[where], rtol=0, atol=1e-12)
        assert not got[~where].any()
    full = np.ones((9, 12), bool)  # no background pixel at all
    np.testing.assert_allclose(
        _inner_distance(full, full), ndi.distance_transform_edt(full), atol=1e-12
    )


@pytest.mark.parametrize("shape", [(97, 131), (40, 40), (301, 7)])
def test_upsample_equals_skimage_resize(shape):
    coarse = np.random.default_rng(1).random((9, 6)).astype(np.float32)
    ref = resize(coarse, shape, order=1, mode="edge", anti_aliasing=False)
    np.testing.assert_allclose(_upsample(coarse, shape), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("shape", "size"), [((101, 57), 11), ((30, 40), 7), ((8, 9), 7)])
def test_median_filter_in_two_halves_equals_one_pass(shape, size):
    a = np.random.default_rng(2).random(shape).astype(np.float32)
    np.testing.assert_array_equal(_median_filter_halves(a, size), ndi.median_filter(a, size=size))


def _background_without_recomputed(y: np.ndarray, work_um: float, glare: np.ndarray) -> np.ndarray:
    """The glare-free background computed in full: skin means per cell, cells under glare
    filled from the nearest cell of skin, median, smoothing, upsampling."""
    m = max(1, int(round(segment.BACKGROUND_CELL_UM / work_um)))
    gh, gw = y.shape[0] // m, y.shape[1] // m
    g, yc = glare[: gh * m, : gw * m], y[: gh * m, : gw * m]
    skin = segment.block_mean((~g).astype(np.float32), m)
    sums = segment.block_mean(np.where(g, 0, yc).astype(np.float32), m)
    means = np.where(skin > 0, sums / np.maximum(skin, 1e-6), 0).astype(np.float32)
    valid = skin >= segment.GLARE_CELL_SKIN_MIN
    idx = ndi.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    median = ndi.median_filter(means[idx[0], idx[1]], size=segment._median_size(m, work_um))
    smooth = ndi.gaussian_filter(median, segment._smooth_sigma(m, work_um))
    return resize(smooth, y.shape, order=1, mode="edge", anti_aliasing=False)


@pytest.mark.parametrize("seed", [0, 2, 3, 4])
def test_background_without_glare_equals_the_full_recomputation(seed):
    """prepare recomputes the dark hairs' background only near glare; it must equal the
    background computed over the whole image."""
    p = synth.random_params(np.random.default_rng(seed))
    p = synth.SynthParams.from_dict({**p.to_dict(), "width": 500, "height": 400, "glare": 0.6})
    img, _ = synth.render(synth.make_scene(p, seed), noise_seed=seed)
    prep = segment.prepare(img, p.um_per_px)
    assert prep.dark is not None, "the scene needs glare"
    background, contrast = prep.dark()
    ref = _background_without_recomputed(prep.y_work, prep.work_um, prep.glare_halo)
    np.testing.assert_allclose(background, ref, rtol=1e-5, atol=1e-6)
    # The contrast's change is not smoothed again (under 0.003 next to a spot; noise 0.01-0.05).
    np.testing.assert_allclose(
        contrast, segment.log_contrast(ref.astype(np.float32), prep.y_work), atol=3e-3
    )
    # Far from every spot the background is the one with glare in (these scenes have such skin).
    assert (background == prep.background).any()


def test_upsample_read_at_pixels_equals_the_whole_upsampled_grid():
    coarse = np.random.default_rng(4).random((9, 6)).astype(np.float32)
    shape = (97, 131)
    rr, cc = np.nonzero(np.random.default_rng(5).random(shape) < 0.2)
    rr, cc = np.concatenate([rr, [0, 96, 0, 96]]), np.concatenate([cc, [0, 130, 130, 0]])
    np.testing.assert_allclose(
        segment._upsample_at(coarse, shape, rr, cc), _upsample(coarse, shape)[rr, cc], atol=1e-6
    )


def test_bilinear_equals_map_coordinates_of_order_one_with_nearest_edges():
    from anagen.imaging.engine.measure import bilinear

    rng = np.random.default_rng(6)
    image = rng.random((37, 53)).astype(np.float32)
    rows, cols = rng.uniform(-4, 41, 3000), rng.uniform(-4, 57, 3000)
    rows[:4], cols[:4] = [0, 36, 0, 36], [0, 52, 52, 0]  # the corners exactly
    ref = ndi.map_coordinates(image, [rows, cols], order=1, mode="nearest")
    np.testing.assert_allclose(bilinear(image, rows, cols), ref, atol=1e-6)
