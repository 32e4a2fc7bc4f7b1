"""Forms of the imaging pages. The service reads and checks the values (imaging.services), so
the fields pass the text through: a decimal comma, a range and its message are decided once."""

from __future__ import annotations

from django import forms

from anagen.core.forms import Form, OpenedValuesForm
from anagen.imaging.models import ImagingSettings


def _text(label: str, help_text: str = "", inputmode: str = "") -> forms.CharField:
    attrs = {"inputmode": inputmode} if inputmode else {}
    return forms.CharField(
        label=label, required=False, help_text=help_text, widget=forms.TextInput(attrs=attrs)
    )


class CalibrationForm(OpenedValuesForm, Form):
    """The clinic's calibration. Each field carries its value as opened: a save changes what
    this person changed, so a scale another administrator saved meanwhile is not put back."""

    um_per_px = _text(
        "Image scale (µm per pixel)",
        "Empty: no default; enter the scale per image.",
        "decimal",
    )
    image_long_side_px = _text(
        "Longer side of the calibrated images (px)",
        "The longer side of the dermatoscope's images the scale was measured on. A photo whose "
        "longer side differs (a resized export) waits for its own scale instead of being "
        "measured wrong; a portrait shot of the same camera passes. Empty: not checked.",
        "numeric",
    )
    terminal_cutoff_um = _text(
        "Terminal/vellus cut-off (µm)", "40 µm (TrichoScan) by default; 30 µm is also used.",
        "decimal",
    )  # fmt: skip
    calibration_note = _text("Note (device, magnification, date of calibration)")

    @staticmethod
    def stored_values(cfg: ImagingSettings) -> dict[str, str]:
        """The stored settings as the fields show them."""
        return {
            "um_per_px": "" if cfg.um_per_px is None else f"{cfg.um_per_px:g}",
            "image_long_side_px": (
                "" if cfg.image_long_side_px is None else str(cfg.image_long_side_px)
            ),
            "terminal_cutoff_um": f"{cfg.terminal_cutoff_um:g}",
            "calibration_note": cfg.calibration_note,
        }
