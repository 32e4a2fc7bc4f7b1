"""Exceptions raised by the imaging engine; both are ValueErrors so callers can catch either."""


class ImageInputError(ValueError):
    """The input is not a usable image (not an image, truncated, wrong size or type)."""


class CalibrationError(ValueError):
    """A physical quantity (µm, /cm²) was requested without a valid µm-per-pixel calibration."""
