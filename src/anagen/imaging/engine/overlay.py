"""Overlay for the clinician: each hair drawn along its centreline, coloured by class, numbered."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .io import coerce_image
from .models import Analysis

TERMINAL_RGB = (40, 220, 60)  # green
VELLUS_RGB = (255, 200, 0)  # amber
MANUAL_RGB = (0, 200, 255)  # cyan: added or edited by hand
EXCLUDED_RGB = (160, 160, 160)  # base outside the field: drawn, not counted


def hair_colour(h, cutoff_um: float) -> tuple[int, int, int]:
    if not h.counted:
        return EXCLUDED_RGB
    if h.source == "manual":
        return MANUAL_RGB
    return TERMINAL_RGB if h.diameter_um > cutoff_um else VELLUS_RGB


def render_overlay(image: np.ndarray, analysis: Analysis, numbers: bool = True) -> np.ndarray:
    """Return an RGB uint8 image with the hairs of ``analysis`` drawn over ``image``.

    Terminal hairs are green, vellus amber (at the analysis's cut-off), hand-added cyan, hairs
    whose base lies outside the field grey. The base of each hair is a dot; the number next to
    it is the hair id used in the per-hair table and in corrections.
    """
    rgb = coerce_image(image)
    im = Image.fromarray(rgb).convert("RGB")
    draw = ImageDraw.Draw(im)
    H, W = rgb.shape[:2]
    lw = max(1, int(round(min(H, W) / 400)))
    try:
        font = ImageFont.load_default(size=max(12, int(min(H, W) / 45)))
    except TypeError:  # older Pillow without sized default font
        font = ImageFont.load_default()
    # Numbers first, hairs over them: a label must never hide another hair's line.
    if numbers:
        for h in analysis.hairs:
            col = hair_colour(h, analysis.terminal_cutoff_um)
            bx, by = (float(v) for v in np.asarray(h.centreline_px, float)[0])
            draw.text(
                (bx + 3 * lw, by - 3 * lw),
                str(h.id),
                fill=col,
                font=font,
                stroke_width=1,
                stroke_fill=(0, 0, 0),
            )
    # Hairs outside the field first, so counted hairs are drawn on top of them.
    for h in sorted(analysis.hairs, key=lambda h: h.counted):
        col = hair_colour(h, analysis.terminal_cutoff_um)
        pl = [tuple(map(float, p)) for p in np.asarray(h.centreline_px, float)]
        if len(pl) >= 2:
            draw.line(pl, fill=col, width=lw)
        bx, by = pl[0]
        r = lw + 1.5
        draw.ellipse([bx - r, by - r, bx + r, by + r], outline=col, fill=col)
    return np.asarray(im, dtype=np.uint8)
