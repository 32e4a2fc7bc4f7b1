"""The overlay as shown on the page (pure: no Django).

The engine's ``render_overlay`` draws at the image's own size, so a small image (a 240 × 180 px
crop) gives a small overlay whose hair numbers run together and are cut off at the edges.
Here the image is first brought to a size fit for the screen (small images enlarged by a whole
factor, pixel for pixel; large ones reduced), the hair numbers are drawn at a fixed readable
size, each moved to a free spot beside its hair's base and kept inside the image, and then
the engine draws the hairs over them. The click-to-place script maps clicks back through the
image's real size (``data-width-px``), so any display size keeps pointing at image pixels.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from anagen.imaging.engine import Analysis, render_overlay
from anagen.imaging.engine.io import MIN_SIDE
from anagen.imaging.engine.overlay import hair_colour

# Small images are enlarged until their longer side is at least this (a whole factor).
MIN_DISPLAY_SIDE = 800
# Large images are reduced to this longer side.
MAX_DISPLAY_SIDE = 1600
LABEL_PX = 16  # hair-number height on the displayed overlay


def display_scale(width: int, height: int, min_side: int, max_side: int) -> float:
    """The factor from image pixels to overlay pixels: a whole number ≥ 1 that brings the
    longer side to at least ``min_side`` for a small image, below 1 for one over ``max_side``."""
    longer = max(width, height)
    if longer > max_side:
        return max_side / longer
    if longer < min_side:
        return float(math.ceil(min_side / longer))
    return 1.0


def _scaled(analysis: Analysis, s: float) -> Analysis:
    """``analysis`` with every centreline in overlay pixels (pixel centres stay centres)."""
    if s == 1.0:
        return analysis
    hairs = [
        replace(h, centreline_px=(np.asarray(h.centreline_px, float) + 0.5) * s - 0.5)
        for h in analysis.hairs
    ]
    return replace(analysis, hairs=hairs)


Box = tuple[float, float, float, float]  # left, top, right, bottom in overlay pixels


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# How far out a number may move from its base, in number heights: a dense unit's numbers
# spread round it instead of piling up (reviewed on the demo's clusters of 4-5 bases).
LABEL_RINGS = 6


def _overlap_area(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def label_boxes(
    bases: list[tuple[float, float]],
    sizes: list[tuple[float, float]],
    image_size: tuple[int, int],
    gap: float,
    hair_points: np.ndarray | None = None,
) -> list[Box]:
    """Where each number goes: beside its base (``bases``, x y), at the first place free of
    the numbers placed before it and of the hairs (``hair_points``, (n, 2) x y along every
    centreline: the hairs are drawn over the numbers), trying round the base (right-above,
    right-below, left-above, left-below, right, left, above, below), then the same one
    number's height further out each round; where none is free of both, the first free of
    the numbers; else the place that overlaps them least. Every box is moved inside the
    image."""
    W, H = image_size
    points = np.zeros((0, 2)) if hair_points is None else np.asarray(hair_points, float)

    def clear_of_hairs(b: Box) -> bool:
        x, y = points[:, 0], points[:, 1]
        return not bool(np.any((x > b[0] - 1) & (x < b[2] + 1) & (y > b[1] - 1) & (y < b[3] + 1)))

    placed: list[Box] = []
    for (bx, by), (tw, th) in zip(bases, sizes, strict=True):
        boxes = []
        for step in range(LABEL_RINGS):
            out = step * th
            for cx, cy in (
                (bx + gap, by - gap - th - out),
                (bx + gap, by + gap + out),
                (bx - gap - tw, by - gap - th - out),
                (bx - gap - tw, by + gap + out),
                (bx + gap + out, by - th / 2),
                (bx - gap - tw - out, by - th / 2),
                (bx - tw / 2, by - gap - th - out),
                (bx - tw / 2, by + gap + out),
            ):
                cx = min(max(cx, 0.0), max(W - tw, 0.0))
                cy = min(max(cy, 0.0), max(H - th, 0.0))
                boxes.append((cx, cy, cx + tw, cy + th))
        free = [b for b in boxes if not any(_overlaps(b, p) for p in placed)]
        clear = next((b for b in free if clear_of_hairs(b)), None)
        if clear is not None:
            placed.append(clear)
        elif free:
            placed.append(free[0])
        else:
            placed.append(min(boxes, key=lambda b: sum(_overlap_area(b, p) for p in placed)))
    return placed


def _points_along(analysis: Analysis, step: float) -> np.ndarray:
    """Points every ``step`` pixels along every hair's centreline (x, y)."""
    out = [np.zeros((0, 2))]
    for h in analysis.hairs:
        line = np.asarray(h.centreline_px, float)
        for a, b in zip(line[:-1], line[1:], strict=True):
            n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
            out.append(a + (b - a) * np.linspace(0.0, 1.0, n + 1)[:, None])
        out.append(line[-1:])
    return np.concatenate(out)


def _draw_numbers(im: Image.Image, analysis: Analysis, gap: float) -> None:
    """Each hair's number, in its hair's colour, at the place ``label_boxes`` gives."""
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=LABEL_PX)
    texts = [str(h.id) for h in analysis.hairs]
    bboxes = [draw.textbbox((0, 0), t, font=font, stroke_width=1) for t in texts]
    bases = [np.asarray(h.centreline_px, float)[0] for h in analysis.hairs]
    boxes = label_boxes(
        [(float(x), float(y)) for x, y in bases],
        [(b[2] - b[0], b[3] - b[1]) for b in bboxes],
        im.size,
        gap,
        hair_points=_points_along(analysis, step=3.0),
    )
    for h, text, bb, box in zip(analysis.hairs, texts, bboxes, boxes, strict=True):
        draw.text(
            (box[0] - bb[0], box[1] - bb[1]),
            text,
            fill=hair_colour(h, analysis.terminal_cutoff_um),
            font=font,
            stroke_width=1,
            stroke_fill=(0, 0, 0),
        )


def display_overlay(
    image: np.ndarray,
    analysis: Analysis,
    min_side: int = MIN_DISPLAY_SIDE,
    max_side: int = MAX_DISPLAY_SIDE,
) -> Image.Image:
    """The overlay of ``analysis`` on ``image`` (H, W, 3 uint8) at a size fit for the screen."""
    height, width = image.shape[:2]
    s = display_scale(width, height, min_side, max_side)
    if s < 1.0:
        # A long narrow image is reduced no further than the engine draws on (MIN_SIDE a
        # side): a 200 × 4000 px upload gave no overlay at all ("image file missing").
        s = min(1.0, max(s, MIN_SIDE / min(width, height)))
    im = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    if s != 1.0:
        size = (max(1, round(width * s)), max(1, round(height * s)))
        im = im.resize(size, Image.Resampling.NEAREST if s > 1 else Image.Resampling.LANCZOS)
    shown = _scaled(analysis, s)
    lw = max(1, int(round(min(im.size) / 400)))  # the engine's line width at this size
    _draw_numbers(im, shown, gap=3 * lw)
    # Hairs over the numbers: a number must never hide another hair's line.
    return Image.fromarray(render_overlay(np.asarray(im), shown, numbers=False))
