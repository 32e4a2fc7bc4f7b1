"""The ground-truth generator: reproducible, within its documented ranges, physically sensible."""

from __future__ import annotations

import numpy as np
import pytest

from anagen.imaging.engine import synth

SMALL = dict(width=480, height=384)


def test_same_seed_gives_identical_image_and_truth():
    p = synth.SynthParams(**SMALL, um_per_px=5.0, density_per_cm2=200)
    a, ta = synth.generate(p, 11)
    b, tb = synth.generate(p, 11)
    np.testing.assert_array_equal(a, b)
    assert [h.diameter_um for h in ta.hairs] == [h.diameter_um for h in tb.hairs]


def test_new_noise_seed_changes_pixels_but_not_the_scene():
    p = synth.SynthParams(**SMALL, um_per_px=5.0, density_per_cm2=200)
    scene = synth.make_scene(p, 3)
    a, ta = synth.render(scene, noise_seed=1)
    b, tb = synth.render(scene, noise_seed=2)
    assert a.shape == (384, 480, 3) and a.dtype == np.uint8
    assert np.mean(a != b) > 0.2
    assert ta.count == tb.count


def test_density_matches_the_requested_density_on_average():
    # Poisson over many fields: the mean count per cm² is the requested density (±10 %).
    p = synth.SynthParams(width=640, height=512, um_per_px=8.0, density_per_cm2=250)
    dens = [
        synth.Truth(
            hairs=synth.make_scene(p, s).counted_hairs(),
            field_area_cm2=0.0,
            um_per_px=8.0,
            shift_px=(0, 0),
            blur_px=1.0,
        ).count
        / synth.make_scene(p, s).field_area_cm2
        for s in range(12)
    ]
    assert np.mean(dens) == pytest.approx(250, rel=0.10)


def test_hair_parameters_stay_in_documented_ranges():
    p = synth.SynthParams(
        width=640, height=512, um_per_px=8.0, density_per_cm2=300, vellus_share=0.4
    )
    scene = synth.make_scene(p, 5)
    d = np.array([h.base_diameter_um for h in scene.hairs])
    vel = np.array([h.vellus for h in scene.hairs])
    assert 0.25 < vel.mean() < 0.55
    assert 55 < np.median(d[~vel]) < 85 and 20 < np.median(d[vel]) < 36
    units = {}
    for h in scene.hairs:
        units[h.unit_id] = units.get(h.unit_id, 0) + 1
    assert set(units.values()) <= {1, 2, 3, 4}
    lengths = np.array([h.length_um for h in scene.hairs])
    assert lengths.min() >= 45 and lengths.max() <= 600


def test_natural_tips_taper_and_cut_hairs_are_blunt():
    p = synth.SynthParams(**SMALL, vellus_share=1.0)
    scene = synth.make_scene(p, 2)
    tap = [h for h in scene.hairs if h.tapered]
    cut = [h for h in scene.hairs if not h.tapered]
    assert tap and cut
    tip = np.array([0.97])
    assert all(synth._diameter_profile(h, tip)[0] < 0.5 * h.base_diameter_um for h in tap)
    assert all(synth._diameter_profile(h, tip)[0] == h.base_diameter_um for h in cut)
    # The taper covers the last third only, so the median along the shaft is the shaft's own.
    assert all(h.diameter_um == pytest.approx(h.base_diameter_um) for h in tap + cut)


def test_growth_lengthens_anagen_hairs_only():
    p = synth.SynthParams(**SMALL, anagen_fraction=0.5)
    scene = synth.make_scene(p, 4)
    later = synth.grow(scene, 3.0)
    for h0, h1 in zip(scene.hairs, later.hairs, strict=True):
        if h0.anagen:
            assert h1.length_um - h0.length_um == pytest.approx(
                h0.growth_mm_per_day * 3000, rel=0.02, abs=1.0
            )
        else:
            assert h1.length_um == pytest.approx(h0.length_um)
        np.testing.assert_allclose(h1.control_um[0], h0.control_um[0])  # base stays put


def _hair_pixels(img, truth):
    """Mean colour on hair centrelines (truth) vs the image median."""
    vals = []
    for pl in truth.polylines_px():
        mid = pl[len(pl) // 2]
        x, y = int(round(mid[0])), int(round(mid[1]))
        if 0 <= x < img.shape[1] and 0 <= y < img.shape[0]:
            vals.append(img[y, x].astype(float))
    return np.mean(vals, axis=0), np.median(img.reshape(-1, 3), axis=0)


def test_black_hair_is_dark_and_grey_hair_is_light_on_dark_skin():
    base = dict(
        **SMALL,
        um_per_px=4.0,
        density_per_cm2=250,
        glare=0,
        dandruff=0,
        vessels=0,
        vellus_share=0.0,
    )
    img, t = synth.generate(synth.SynthParams(**base, hair_colour="black", fitzpatrick=2), 1)
    hair, skin = _hair_pixels(img, t)
    assert hair.mean() < 0.35 * skin.mean()
    img, t = synth.generate(synth.SynthParams(**base, hair_colour="grey", fitzpatrick=5), 1)
    hair, skin = _hair_pixels(img, t)
    assert hair.mean() > skin.mean()


def test_skin_gets_darker_with_fitzpatrick_type():
    means = []
    for f in (1, 3, 6):
        img, _ = synth.generate(
            synth.SynthParams(**SMALL, fitzpatrick=f, density_per_cm2=50, glare=0), 0
        )
        means.append(np.median(img))
    assert means[0] > means[1] > means[2]


def test_params_round_trip_through_dict():
    p = synth.random_params(np.random.default_rng(1))
    assert synth.SynthParams.from_dict(p.to_dict()) == p


def test_a_moved_camera_sees_the_skin_move_with_the_hairs():
    """The skin's texture and flakes belong to the scalp: they stayed put when the camera
    moved, and registration locked onto them at shift 0 on fields of light hair."""
    params = synth.SynthParams(
        width=320, height=256, um_per_px=5.0, glare=0.0, noise=0.0, jpeg_quality=None,
        vignetting=0.0, dandruff=0.5,
    )  # fmt: skip
    scene = synth.make_scene(params, 3)
    still, _ = synth.render(scene)
    moved, _ = synth.render(scene, shift_px=(12.0, 0.0))
    # Content moves by +12 px in x: what was at x lies at x + 12.
    same = np.abs(moved[:, 12:].astype(int) - still[:, :-12].astype(int)).mean()
    stayed = np.abs(moved.astype(int) - still.astype(int)).mean()
    assert same < 0.5
    assert stayed > 3 * same + 1


def test_a_turned_camera_sees_hairs_skin_and_truth_turn_together():
    """A repeated capture turned about the image centre: the image is the unturned one turned
    (away from the edges), and the truth's centrelines turn with it."""
    params = synth.SynthParams(
        width=320, height=256, um_per_px=5.0, glare=0.0, noise=0.0, jpeg_quality=None,
        vignetting=0.0, dandruff=0.5, density_per_cm2=250,
    )  # fmt: skip
    scene = synth.make_scene(params, 3)
    still, _ = synth.render(scene)
    turned, truth = synth.render(scene, rotation_deg=4.0)
    # Where the turned image shows pixel q, the still one showed compare.moved_px^-1(q).
    yy, xx = np.mgrid[40:216, 40:280]
    q = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(float)
    a = np.deg2rad(-4.0)
    c = np.array(truth.centre_px)
    back = (q - c) @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T + c
    seen = still[np.round(back[:, 1]).astype(int), np.round(back[:, 0]).astype(int)].astype(int)
    here = turned[yy.ravel(), xx.ravel()].astype(int)
    unturned = still[yy.ravel(), xx.ravel()].astype(int)
    assert np.abs(here - seen).mean() < 0.5 * np.abs(here - unturned).mean()
    # The truth's centrelines lie on dark (hair) pixels of the turned image.
    lum = turned.mean(axis=2)
    on_hair = [lum[int(round(y)), int(round(x))] for pl in truth.polylines_px() for x, y in pl
               if 0 <= x < 319.5 and 0 <= y < 255.5]  # fmt: skip
    assert np.median(on_hair) < np.median(lum) - 10
