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
