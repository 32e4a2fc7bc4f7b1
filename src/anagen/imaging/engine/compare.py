"""Two-visit digital trichogram: register the images, match hairs, classify growth.

Hairs are clipped at visit 1 and imaged again ``days`` later. Anagen hairs grow (about
0.3-0.4 mm/day); telogen hairs do not. A matched hair is anagen when its length grew by at least
``growth_mm_per_day * days``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from .analyze import analyze, validate_calibration
from .io import coerce_image
from .models import Analysis
from .segment import SRGB_TO_LINEAR, block_mean

# Limits of the two-visit trichogram, shared by the web service and the CLI (REFERENCE Part C).
# The clipped site is imaged again 2-3 days later in the published protocols (TrichoScan: 2
# days; TrichoScale: 3 days); 1-7 days are accepted.
COMPARISON_DAYS = (1, 7)
# Hairs growing at least 0.3 mm/day are anagen; scalp hair grows about 0.3-0.4 mm/day, so a
# threshold outside 0.1-1 mm/day cannot tell growing from resting hairs.
GROWTH_MM_PER_DAY = 0.3
GROWTH_MM_PER_DAY_RANGE = (0.1, 1.0)
# Registration score (0..1) below which the two images are not taken to show the same site:
# generated pairs of one site score 0.6-0.85, unrelated fields 0.1-0.35.
MIN_REGISTRATION_SCORE = 0.5
# Measured on generated pairs with known growth (benchmarks/results_imaging.md, 2026-12-06):
# hairs grown 0.6-1 mm cross each other and are found in pieces, so grown hairs read as
# resting. Shown wherever the engine's anagen % is, and the reason it is not recorded.
ANAGEN_NOT_VALIDATED = (
    "Not validated: on 20 generated pairs with known growth, this engine's anagen % read on "
    "average 46 points too low (from 4 to 94 points low): grown hairs cross and are found in "
    "pieces. It is not recorded as the visit's anagen %; count the growing hairs on the two "
    "overlays and enter the anagen % by hand."
)


@dataclass
class HairGrowth:
    id_before: int
    id_after: int
    length_before_um: float
    length_after_um: float
    growth_um: float
    anagen: bool


@dataclass
class Comparison:
    days: float
    shift_px: tuple[float, float]  # (dx, dy): content of `after` = content of `before` + shift
    registration_score: float  # correlation of the aligned contrast images, 0..1
    threshold_um: float
    matched: list[HairGrowth] = field(default_factory=list)
    not_assessable: int = 0  # matched, but a tip touches the image edge in either visit
    unmatched_before: list[int] = field(default_factory=list)
    unmatched_after: list[int] = field(default_factory=list)

    @property
    def anagen_pct(self) -> float | None:
        n = len(self.matched)
        return 100.0 * sum(m.anagen for m in self.matched) / n if n else None

    @property
    def telogen_pct(self) -> float | None:
        a = self.anagen_pct
        return None if a is None else 100.0 - a

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "shift_px": [round(float(v), 2) for v in self.shift_px],
            "registration_score": round(float(self.registration_score), 4),
            "threshold_um": round(float(self.threshold_um), 1),
            "n_matched": len(self.matched),
            "anagen_pct": None if self.anagen_pct is None else round(self.anagen_pct, 2),
            "telogen_pct": None if self.telogen_pct is None else round(self.telogen_pct, 2),
            "not_assessable": self.not_assessable,
            "unmatched_before": list(self.unmatched_before),
            "unmatched_after": list(self.unmatched_after),
            "matched": [
                {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(m).items()}
                for m in self.matched
            ],
        }


# Registration works on the skin's texture (ostia, mottling, hairs), high-passed so that the
# lens's vignetting and the lighting, which stay with the camera, do not pull the shift to 0.
REGISTRATION_HIGH_PASS_UM = 150.0
# The score is 1 - PSR_FLOOR / PSR, PSR being the peak-to-sidelobe ratio of the
# cross-correlation: how far the best shift stands out from all others. It is 0.5 at a PSR of
# 2 x PSR_FLOOR.
PSR_FLOOR = 5.0
MAX_SHIFT_FRACTION = 0.25  # of the field's width and height: a retake is re-centred by hand


def register(before: np.ndarray, after: np.ndarray, um_per_px: float) -> tuple[float, float, float]:
    """Translation (dx, dy) in pixels taking `before` content to `after`, and a 0..1 score.

    The score is not a correlation: with hairs grown and glare moved between the captures,
    the correlation of one site's two images (0.3-0.9 on generated pairs) overlapped that of
    two sites of one scalp (0-0.65). How far the best shift stands out from every other shift
    (peak-to-sidelobe ratio, PSR) tells them apart: benchmarks/results_imaging.md.
    """
    k = max(1, int(8.0 / um_per_px))
    a = np.log(block_mean(SRGB_TO_LINEAR[before].mean(axis=2), k) + 1e-3)
    b = np.log(block_mean(SRGB_TO_LINEAR[after].mean(axis=2), k) + 1e-3)
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    a, b = a[:h, :w], b[:h, :w]
    sigma = REGISTRATION_HIGH_PASS_UM / um_per_px / k
    planes = []
    for g in (a, b):
        g = g - ndi.gaussian_filter(g, sigma)
        # Glare and the darkest hair cores are clipped: glare moves between the captures.
        lo, hi = np.percentile(g, [1, 97])
        g = np.clip(g, lo, hi)
        planes.append(g - g.mean())
    a, b = planes
    # Zero-padded cross-correlation (no wrap-around), shifts up to MAX_SHIFT_FRACTION.
    spectrum = np.fft.rfft2(b, s=(2 * h, 2 * w)) * np.conj(np.fft.rfft2(a, s=(2 * h, 2 * w)))
    full = np.fft.irfft2(spectrum, s=(2 * h, 2 * w))
    qy, qx = max(1, int(h * MAX_SHIFT_FRACTION)), max(1, int(w * MAX_SHIFT_FRACTION))
    rows = np.r_[2 * h - qy : 2 * h, 0 : qy + 1]
    cols = np.r_[2 * w - qx : 2 * w, 0 : qx + 1]
    cc = full[np.ix_(rows, cols)]  # cc[qy + dy, qx + dx]
    iy, ix = np.unravel_index(int(np.argmax(cc)), cc.shape)
    dy, dx = int(iy) - qy, int(ix) - qx
    near = np.zeros(cc.shape, bool)
    near[max(0, iy - 5) : iy + 6, max(0, ix - 5) : ix + 6] = True
    side = cc[~near]
    spread = float(side.std())
    psr = (float(cc[iy, ix]) - float(side.mean())) / spread if spread > 0 else 0.0
    score = max(0.0, 1.0 - PSR_FLOOR / psr) if psr > 0 else 0.0
    return float(dx * k), float(dy * k), score


def compare(
    before: np.ndarray,
    after: np.ndarray,
    days: float,
    *,
    um_per_px: float | None,
    growth_mm_per_day: float = 0.3,
    analyses: tuple[Analysis, Analysis] | None = None,
) -> Comparison:
    """Compare two captures of the same clipped site ``days`` apart."""
    upp = validate_calibration(um_per_px)
    if not (days > 0):
        raise ValueError("days between the visits must be positive")
    b_img, a_img = coerce_image(before), coerce_image(after)
    a0, a1 = analyses if analyses is not None else (analyze(b_img, upp), analyze(a_img, upp))
    dx, dy, score = register(b_img, a_img, upp)
    thr = growth_mm_per_day * days * 1000.0
    hb, ha = a0.hairs, a1.hairs
    out = Comparison(
        days=float(days), shift_px=(dx, dy), registration_score=score, threshold_um=thr
    )
    if not hb or not ha:
        out.unmatched_before = [h.id for h in hb]
        out.unmatched_after = [h.id for h in ha]
        return out
    cost = _match_cost(hb, ha, (dx, dy), 120.0 / upp)
    r, c = linear_sum_assignment(cost)
    used_b, used_a = set(), set()
    for i, j in zip(r, c, strict=True):
        if cost[i, j] >= 1e9:
            continue
        used_b.add(i)
        used_a.add(j)
        g = ha[j].length_um - hb[i].length_um
        # A hair cut by the image edge has an unknown length. At visit 2 the measured growth
        # is then a lower bound: enough to call it anagen if it already passes the threshold
        # (grown hairs reach the edge more often; excluding them would bias anagen % down).
        if hb[i].touches_border or (ha[j].touches_border and g < thr):
            out.not_assessable += 1
            continue
        out.matched.append(
            HairGrowth(hb[i].id, ha[j].id, hb[i].length_um, ha[j].length_um, g, bool(g >= thr))
        )
    out.unmatched_before = [hb[i].id for i in range(len(hb)) if i not in used_b]
    out.unmatched_after = [ha[j].id for j in range(len(ha)) if j not in used_a]
    return out


def _match_cost(hb, ha, shift: tuple[float, float], cap: float) -> np.ndarray:
    """Cost of pairing hair i (before) with hair j (after); 1e9 where they cannot be one hair.

    Between visits a hair keeps its ostium and is pushed out along its own axis, so the
    before-hair lies along the after-hair: both its ends must be close to the after-hair's
    centreline, and one end of each (the base) must coincide. Which end is the base may be
    decided differently in the two images, so ends are compared both ways round.
    """
    sh = np.asarray(shift, float)
    ends_b = np.array([[h.centreline_px[0], h.centreline_px[-1]] for h in hb], float)
    ends_a = np.array([[h.centreline_px[0], h.centreline_px[-1]] for h in ha], float) - sh
    polys = [_densify(np.asarray(h.centreline_px, float) - sh, cap / 4) for h in ha]
    starts = np.cumsum([0] + [len(q) for q in polys[:-1]])
    pts = np.concatenate(polys)
    # Distance from each before-end to the nearest point of each after-hair: (nb, 2, na).
    d = np.hypot(
        ends_b[:, :, None, 0] - pts[None, None, :, 0], ends_b[:, :, None, 1] - pts[None, None, :, 1]
    )
    to_poly = np.minimum.reduceat(d, starts, axis=2)
    along = to_poly.max(axis=1)
    ee = np.hypot(
        ends_b[:, :, None, None, 0] - ends_a[None, None, :, :, 0],
        ends_b[:, :, None, None, 1] - ends_a[None, None, :, :, 1],
    )  # (nb, 2, na, 2)
    end_end = ee.min(axis=(1, 3))

    def unit(e):
        v = e[:, 1] - e[:, 0]
        return v / np.maximum(np.hypot(v[:, 0], v[:, 1]), 1e-9)[:, None]

    cosang = np.abs(unit(ends_b) @ unit(ends_a).T)
    ok = (along <= cap) & (end_end <= cap) & (cosang > 0.7)
    return np.where(ok, along + 0.5 * end_end, 1e9)


def _densify(p: np.ndarray, step: float) -> np.ndarray:
    """Points along a polyline no more than ``step`` apart (for point-to-curve distances)."""
    if len(p) < 2:
        return p
    out = [p[:1]]
    for a, b in zip(p[:-1], p[1:], strict=True):
        n = max(1, int(np.ceil(np.hypot(*(b - a)) / max(step, 0.5))))
        t = np.arange(1, n + 1)[:, None] / n
        out.append(a + (b - a) * t)
    return np.concatenate(out)
