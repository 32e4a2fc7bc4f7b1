"""Image scale (µm per pixel) from a stage micrometer image or a known field of view."""

from __future__ import annotations

import math

import numpy as np

from .errors import CalibrationError
from .io import coerce_image


def calibrate_from_field_of_view(image_width_px: int, field_width_mm: float) -> float:
    """µm/px when the image width spans a known field (e.g. the dermatoscope's 10 mm window)."""
    if not (isinstance(image_width_px, int | np.integer) and image_width_px > 0):
        raise CalibrationError("image width must be a positive number of pixels")
    if not (math.isfinite(field_width_mm) and field_width_mm > 0):
        raise CalibrationError("field width must be a positive number of millimetres")
    return float(field_width_mm) * 1000.0 / int(image_width_px)


def calibrate_from_micrometer(
    image: np.ndarray, spacing_um: float = 100.0, min_contrast: float = 8.0
) -> float:
    """µm/px from an image of a stage micrometer with rulings every ``spacing_um``.

    The rulings make a strong peak in the 2-D spectrum; its direction gives the orientation of
    the scale, and a fine frequency search on the profile across the rulings gives the period
    to well under 0.5 %. Raises CalibrationError when no periodic ruling is found.
    """
    if not (math.isfinite(spacing_um) and spacing_um > 0):
        raise CalibrationError("ruling spacing must be a positive number of µm")
    g = coerce_image(image).astype(np.float64).mean(axis=2)
    g -= g.mean()
    H, W = g.shape
    win = np.outer(np.hanning(H), np.hanning(W))
    F = np.abs(np.fft.rfft2(g * win))
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.rfftfreq(W)[None, :]
    f = np.hypot(fy, fx)
    # Periods between 3 px and half the image are plausible rulings.
    F[(f < 2.0 / min(H, W)) | (f > 1 / 3.0)] = 0
    iy, ix = np.unravel_index(np.argmax(F), F.shape)
    peak = F[iy, ix]
    bg = np.median(F[F > 0]) if np.any(F > 0) else 0.0
    if peak <= 0 or peak < min_contrast * bg:
        raise CalibrationError(
            "no stage-micrometer rulings found (no periodic pattern); image the micrometer "
            "in focus with the rulings across the field, or give um_per_px directly"
        )
    vy, vx = fy[iy, 0], fx[0, ix]
    f0 = math.hypot(vy, vx)
    uy, ux = vy / f0, vx / f0
    # Project onto the direction across the rulings and search the frequency finely.
    yy, xx = np.mgrid[0:H, 0:W]
    s = (yy * uy + xx * ux).ravel()
    v = g.ravel()
    best = (0.0, f0)
    for span, n in ((0.08, 161), (0.004, 161)):
        centre = best[1]
        for fr in np.linspace(centre * (1 - span), centre * (1 + span), n):
            ph = 2 * np.pi * fr * s
            a = float(np.dot(v, np.cos(ph)))
            b = float(np.dot(v, np.sin(ph)))
            pw = a * a + b * b
            if pw > best[0]:
                best = (pw, fr)
    period_px = 1.0 / best[1]
    um = spacing_um / period_px
    if not (0.2 <= um <= 50):
        raise CalibrationError(f"implausible calibration {um:.3f} µm/px; check the ruling spacing")
    return float(um)
