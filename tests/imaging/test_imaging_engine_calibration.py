"""Calibration from a stage micrometer or a known field of view."""

from __future__ import annotations

import numpy as np
import pytest

from anagen.imaging.engine import (
    CalibrationError,
    calibrate_from_field_of_view,
    calibrate_from_micrometer,
    synth,
)


@pytest.mark.parametrize(("um_per_px", "angle"), [(2.0, 0.0), (3.7, 4.0), (6.25, -9.0), (8.0, 2.0)])
def test_micrometer_scale_is_recovered_within_half_a_percent(um_per_px, angle):
    img = synth.render_micrometer(um_per_px, spacing_um=100.0, angle_deg=angle, seed=3)
    assert calibrate_from_micrometer(img, 100.0) == pytest.approx(um_per_px, rel=0.005)


def test_micrometer_with_10_um_rulings():
    img = synth.render_micrometer(1.0, spacing_um=10.0, seed=1)
    assert calibrate_from_micrometer(img, 10.0) == pytest.approx(1.0, rel=0.005)


def test_image_without_rulings_is_refused():
    rng = np.random.default_rng(0)
    noise = rng.integers(100, 140, size=(256, 256, 3), dtype=np.uint8)
    with pytest.raises(CalibrationError, match="no stage-micrometer rulings"):
        calibrate_from_micrometer(noise, 100.0)


def test_field_of_view():
    assert calibrate_from_field_of_view(2000, 10.0) == pytest.approx(5.0)
    with pytest.raises(CalibrationError):
        calibrate_from_field_of_view(0, 10.0)
    with pytest.raises(CalibrationError):
        calibrate_from_field_of_view(1000, -1.0)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_a_trichoscopy_field_is_not_taken_for_a_micrometer(seed):
    """Hair images gave 0.23-0.63 µm/px with no warning (review): the illumination's broad
    peak stood far above the spectrum's median, though not above its own frequency's."""
    params = synth.random_params(np.random.default_rng(seed))
    image, _ = synth.render(synth.make_scene(params, seed), noise_seed=seed)
    with pytest.raises(CalibrationError, match="no stage-micrometer rulings"):
        calibrate_from_micrometer(image, 100.0)


def test_a_scale_the_analysis_would_refuse_is_refused_here_naming_the_range():
    img = synth.render_micrometer(2.0, spacing_um=100.0, seed=3)
    # Rulings 50 µm apart taken for 2 µm (a unit slip) or 3 mm.
    with pytest.raises(CalibrationError, match=r"0\.040 µm/px, outside the 0\.5-30\.0 µm/px"):
        calibrate_from_micrometer(img, 2.0)
    with pytest.raises(CalibrationError, match=r"59\.9\d+ µm/px, outside"):
        calibrate_from_micrometer(img, 3000.0)


def test_rulings_too_close_to_measure_are_refused():
    img = synth.render_micrometer(1.0, spacing_um=2.8, seed=1)
    with pytest.raises(CalibrationError, match=r"2\.8 px apart, too close to measure"):
        calibrate_from_micrometer(img, 2.8)
