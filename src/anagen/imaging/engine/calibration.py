"""Image scale (µm per pixel) from a stage micrometer image or a known field of view."""

from __future__ import annotations

import math

import numpy as np

from .analyze import MAX_UM_PER_PX, MIN_UM_PER_PX
from .errors import CalibrationError
from .io import coerce_image


def calibrate_from_field_of_view(image_width_px: int, field_width_mm: float) -> float:
    """µm/px when the image width spans a known field (e.g. the dermatoscope's 10 mm window)."""
    if not (isinstance(image_width_px, int | np.integer) and image_width_px > 0):
        raise CalibrationError("image width must be a positive number of pixels")
    if not (math.isfinite(field_width_mm) and field_width_mm > 0):
        raise CalibrationError("field width must be a positive number of millimetres")
    return float(field_width_mm) * 1000.0 / int(image_width_px)


# The rulings' spectral peak against the median of the spectrum at the same spatial frequency
# (an annulus of ±15 %, the peak's own neighbourhood left out). Measured 2026-12-06 on
# generated images: micrometers (0.6-20 µm/px, 10 and 100 µm rulings, resolvable) 21-9,100;
# 16 trichoscopy fields of random parameters 1.1-17.9 (the strongest "peak" there is the
# illumination's, a period of 300-500 px). Against the median of the whole spectrum, as
# before, those fields scored 780-2,900 and passed: a hair image gave 0.23-0.63 µm/px (review).
MIN_PEAK_TO_RING = 20.0
# Rulings closer than this are blurred into each other by the optics and JPEG.
MIN_RULING_PERIOD_PX = 3.0


def calibrate_from_micrometer(
    image: np.ndarray, spacing_um: float = 100.0, min_contrast: float = MIN_PEAK_TO_RING
) -> float:
    """µm/px from an image of a stage micrometer with rulings every ``spacing_um``.

    The rulings make a strong peak in the 2-D spectrum, far above the rest of the spectrum at
    that frequency; its direction gives the orientation of the scale, and a fine frequency
    search on the profile across the rulings gives the period to well under 0.5 %. Raises
    CalibrationError when no periodic ruling is found, or the scale is outside the range the
    analysis accepts.
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
    # Periods down to 2.2 px are searched so that rulings too fine to measure are found (and
    # refused below) rather than a weaker harmonic taken for them: 10 µm rulings at 3.7 µm/px
    # (2.7 px apart) read as 2.67 µm/px when the search stopped at 3 px.
    F[(f < 2.0 / min(H, W)) | (f > 1 / 2.2)] = 0
    iy, ix = np.unravel_index(np.argmax(F), F.shape)
    peak = F[iy, ix]
    f_peak = f[iy, ix]
    ring = (np.abs(f - f_peak) < max(0.15 * f_peak, 4.0 / min(H, W))) & (F > 0)
    ring &= ~((np.abs(fy - fy[iy, 0]) <= 3.0 / H) & (np.abs(fx - fx[0, ix]) <= 3.0 / W))
    bg = float(np.median(F[ring])) if np.count_nonzero(ring) >= 8 else math.inf
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
    if period_px < MIN_RULING_PERIOD_PX:
        raise CalibrationError(
            f"the rulings are {period_px:.1f} px apart, too close to measure (at least "
            f"{MIN_RULING_PERIOD_PX:g} px); image wider rulings (e.g. the 100 µm ones) or "
            "magnify more"
        )
    um = spacing_um / period_px
    if not (MIN_UM_PER_PX <= um <= MAX_UM_PER_PX):
        raise CalibrationError(
            f"the rulings give {um:.3f} µm/px, outside the {MIN_UM_PER_PX}-{MAX_UM_PER_PX} µm/px "
            f"that analysis accepts; check the ruling spacing ({spacing_um:g} µm given)"
        )
    return float(um)
