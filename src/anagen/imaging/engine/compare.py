"""Two-visit digital trichogram: register the images, match hairs, classify growth.

Hairs are clipped at visit 1 and imaged again ``days`` later. Anagen hairs grow (about
0.3-0.4 mm/day); telogen hairs do not. A hair of visit 1 is anagen when it grew by at least
``growth_mm_per_day * days``: its shaft is pushed out of the skin along its own axis, so on the
registered second image hair lies where there was bare skin beyond its visit-1 end, along that
whole distance. Every hair of visit 1 whose growth path lies mostly inside both images is assessed,
whether or not the second image's hair detection followed it: grown hairs cross each other and
are detected in pieces, and counting only the hairs matched between the two detections left out
mostly grown ones (benchmarks/results_imaging.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from .analyze import _to_work_rc, analyze, search_contrast, validate_calibration
from .io import coerce_image
from .measure import bilinear
from .models import Analysis, Hair
from .record import TRICHOGRAM_RECORD
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
# Shown wherever the engine's anagen % is, and the reason it is not recorded: the figures of
# benchmarks/imaging_trichogram.py (engine/record.py).
ANAGEN_NOT_VALIDATED = TRICHOGRAM_RECORD.note()


@dataclass
class HairGrowth:
    """One hair of visit 1, assessed."""

    id_before: int
    id_after: int | None  # the visit-2 detection that follows it (None: none does)
    length_before_um: float
    length_after_um: float | None
    growth_um: float | None  # detected length at visit 2 - at visit 1 (None: not followed)
    # Share of the growth path beyond the visit-1 end (threshold long) where the second image
    # shows hair over what was bare skin in the first.
    path_cover: float
    anagen: bool


@dataclass
class Comparison:
    days: float
    shift_px: tuple[float, float]  # (dx, dy): content of `after` = content of `before` + shift
    registration_score: float  # 0..1, from the alignment's peak-to-sidelobe ratio (register)
    threshold_um: float
    assessed: list[HairGrowth] = field(default_factory=list)  # the hairs of visit 1 assessed
    not_assessable: int = 0  # at the image edge, or their growth path mostly outside an image
    unmatched_before: list[int] = field(default_factory=list)
    unmatched_after: list[int] = field(default_factory=list)
    rotation_deg: float = 0.0  # the camera's turn about the image centre, before the shift

    @property
    def anagen_pct(self) -> float | None:
        n = len(self.assessed)
        return 100.0 * sum(m.anagen for m in self.assessed) / n if n else None

    @property
    def telogen_pct(self) -> float | None:
        a = self.anagen_pct
        return None if a is None else 100.0 - a

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "shift_px": [round(float(v), 2) for v in self.shift_px],
            "rotation_deg": round(float(self.rotation_deg), 2),
            "registration_score": round(float(self.registration_score), 4),
            "threshold_um": round(float(self.threshold_um), 1),
            "n_assessed": len(self.assessed),
            "anagen_pct": None if self.anagen_pct is None else round(self.anagen_pct, 2),
            "telogen_pct": None if self.telogen_pct is None else round(self.telogen_pct, 2),
            "not_assessable": self.not_assessable,
            "unmatched_before": list(self.unmatched_before),
            "unmatched_after": list(self.unmatched_after),
            "assessed": [
                {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(m).items()}
                for m in self.assessed
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


@dataclass(frozen=True)
class Registration:
    """How the camera moved between the captures: scalp content of `before` turned by
    ``rotation_deg`` about ``centre_px`` (the image centre), then shifted by (dx, dy) px, is
    where it lies in `after`."""

    dx: float
    dy: float
    score: float  # 0..1: 1 - PSR_FLOOR / PSR of the best alignment
    rotation_deg: float = 0.0
    centre_px: tuple[float, float] = (0.0, 0.0)

    def to_after(self, pts: np.ndarray) -> np.ndarray:
        """Points (x, y) of `before` where they lie in `after`."""
        return moved_px(pts, (self.dx, self.dy), self.rotation_deg, self.centre_px)

    def to_before(self, pts: np.ndarray) -> np.ndarray:
        """Points (x, y) of `after` where they lay in `before`."""
        c = np.asarray(self.centre_px, float)
        return (np.asarray(pts, float) - c - (self.dx, self.dy)) @ _turn(self.rotation_deg) + c


def _turn(rotation_deg: float) -> np.ndarray:
    a = np.deg2rad(rotation_deg)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def moved_px(
    pts: np.ndarray,
    shift_px: tuple[float, float],
    rotation_deg: float = 0.0,
    centre_px: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Where points (x, y, px) of a capture lie in a capture whose camera turned by
    ``rotation_deg`` about ``centre_px`` and then moved by ``shift_px`` (the generator renders
    repeated captures with it)."""
    p = np.asarray(pts, float)
    if rotation_deg:
        c = np.asarray(centre_px, float)
        p = (p - c) @ _turn(rotation_deg).T + c
    return p + np.asarray(shift_px, float)


# A repeated capture is turned a little as well as shifted. Angles up to MAX_ROTATION_DEG are
# searched in ROTATION_STEP_DEG (then halved twice round the best) on a plane of twice the
# block size, and the last quarter degree, the shift and the score at the full block size.
# Without the search a 2 degree turn failed registration on 11 of 30 generated pairs and a
# 4 degree turn on 29 of 30.
MAX_ROTATION_DEG = 5.0
ROTATION_STEP_DEG = 1.0


def register(before: np.ndarray, after: np.ndarray, um_per_px: float) -> Registration:
    """The camera's movement (shift and turn) from `before` to `after`, with a 0..1 score.

    The score is not a correlation: with hairs grown and glare moved between the captures,
    the correlation of one site's two images (0.3-0.9 on generated pairs) overlapped that of
    two sites of one scalp (0-0.65). How far the best shift stands out from every other shift
    (peak-to-sidelobe ratio, PSR) tells them apart: benchmarks/results_imaging.md.
    """
    k = max(1, int(8.0 / um_per_px))
    h = min(before.shape[0], after.shape[0]) // k * k
    w = min(before.shape[1], after.shape[1]) // k * k
    centre = ((w - 1) / 2, (h - 1) / 2)
    a_full, b_full = _texture(before[:h, :w], um_per_px, k), _texture(after[:h, :w], um_per_px, k)
    a_half = _texture(before[:h, :w], um_per_px, 2 * k)
    b_half = _texture(after[:h, :w], um_per_px, 2 * k)
    fa_half = _spectrum(a_half)
    psr_half: dict[float, float] = {}  # the refinement revisits the best angle

    def coarse_psr(ang: float) -> float:
        if ang not in psr_half:
            psr_half[ang] = _psr_at(fa_half, b_half, ang, 2 * k)[2]
        return psr_half[ang]

    n_steps = int(round(MAX_ROTATION_DEG / ROTATION_STEP_DEG))
    angles = [i * ROTATION_STEP_DEG for i in range(-n_steps, n_steps + 1)]
    best = max(angles, key=coarse_psr)
    step = ROTATION_STEP_DEG

    def around(ang: float) -> list[float]:
        return [
            float(np.clip(ang + d, -MAX_ROTATION_DEG, MAX_ROTATION_DEG)) for d in (-step, 0.0, step)
        ]

    for _ in range(2):
        step /= 2
        best = max(around(best), key=coarse_psr)
    # The last quarter degree at the full block size, which also gives the shift and score.
    fa_full = _spectrum(a_full)
    fits = [(_psr_at(fa_full, b_full, ang, k), ang) for ang in around(best)]
    (ux, uy, psr), best = max(fits, key=lambda f: f[0][2])
    score = max(0.0, 1.0 - PSR_FLOOR / psr) if psr > 0 else 0.0
    # The correlation found the shift of the turned-back image: turn it with the camera.
    ang = np.deg2rad(best)
    dx = ux * np.cos(ang) - uy * np.sin(ang)
    dy = ux * np.sin(ang) + uy * np.cos(ang)
    return Registration(float(dx), float(dy), float(score), float(best), centre)


def _texture(img: np.ndarray, um_per_px: float, k: int) -> np.ndarray:
    """Log brightness in blocks of k px, high-passed, glare and the darkest cores clipped."""
    g = np.log(block_mean(SRGB_TO_LINEAR[img].mean(axis=2), k) + 1e-3)
    g = g - ndi.gaussian_filter(g, REGISTRATION_HIGH_PASS_UM / um_per_px / k)
    lo, hi = np.percentile(g, [1, 97])  # glare moves between the captures
    g = np.clip(g, lo, hi)
    return g - g.mean()


def _spectrum(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    return np.conj(np.fft.rfft2(a, s=(2 * h, 2 * w)))


def _psr_at(fa: np.ndarray, b: np.ndarray, angle_deg: float, k: int) -> tuple[float, float, float]:
    """Shift (image px) and PSR of `b` turned back by ``angle_deg`` about its centre against
    the plane whose conjugate spectrum is ``fa`` (zero-padded: no wrap-around)."""
    h, w = b.shape
    if angle_deg:
        # Output pixel o reads b at R(o - c) + c: b turned back (row, col form of R).
        t = np.deg2rad(angle_deg)
        rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
        c = (np.array([h, w], float) - 1) / 2
        b = ndi.affine_transform(b, rot, offset=c - rot @ c, order=1, mode="constant")
    full = np.fft.irfft2(np.fft.rfft2(b, s=(2 * h, 2 * w)) * fa, s=(2 * h, 2 * w))
    qy, qx = max(1, int(h * MAX_SHIFT_FRACTION)), max(1, int(w * MAX_SHIFT_FRACTION))
    rows = np.r_[2 * h - qy : 2 * h, 0 : qy + 1]
    cols = np.r_[2 * w - qx : 2 * w, 0 : qx + 1]
    cc = full[np.ix_(rows, cols)]  # cc[qy + dy, qx + dx]
    iy, ix = np.unravel_index(int(np.argmax(cc)), cc.shape)
    near = np.zeros(cc.shape, bool)
    near[max(0, iy - 5) : iy + 6, max(0, ix - 5) : ix + 6] = True
    side = cc[~near]
    spread = float(side.std())
    psr = (float(cc[iy, ix]) - float(side.mean())) / spread if spread > 0 else 0.0
    return float((int(ix) - qx) * k), float((int(iy) - qy) * k), psr


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
    reg = register(b_img, a_img, upp)
    thr = growth_mm_per_day * days * 1000.0
    hb, ha = a0.hairs, a1.hairs
    out = Comparison(
        days=float(days),
        shift_px=(reg.dx, reg.dy),
        registration_score=reg.score,
        threshold_um=thr,
        rotation_deg=reg.rotation_deg,
    )
    if not hb or not ha:
        out.unmatched_before = [h.id for h in hb]
        out.unmatched_after = [h.id for h in ha]
        return out
    cost = _match_cost(hb, ha, reg, 120.0 / upp)
    r, c = linear_sum_assignment(cost)
    follows = {int(i): int(j) for i, j in zip(r, c, strict=True) if cost[i, j] < 1e9}
    # Each image in the polarity its own analysis found hairs in: light hair on dark skin can
    # show as dark short stubs and as light long hairs (the vote is close for such hair).
    c_before = _hair_contrast(b_img, upp, _polarity(a0))
    c_after = _hair_contrast(a_img, upp, _polarity(a1))
    fd = a0.meta.get("flow_deg")
    flow = None if fd is None else np.array([np.cos(np.deg2rad(fd)), np.sin(np.deg2rad(fd))])
    for i, h in enumerate(hb):
        cover = None if h.touches_border else _path_cover(h, upp, thr, reg, c_before, c_after, flow)
        if cover is None:
            out.not_assessable += 1
            continue
        j = follows.get(i)
        g = ha[j].length_um - h.length_um if j is not None else None
        # A followed hair that measures the threshold longer grew, even where its path is
        # crossed (a hair cut by the edge at visit 2 is at least that long).
        grew = g is not None and g >= thr
        out.assessed.append(
            HairGrowth(
                id_before=h.id,
                id_after=ha[j].id if j is not None else None,
                length_before_um=h.length_um,
                length_after_um=ha[j].length_um if j is not None else None,
                growth_um=g,
                path_cover=cover,
                anagen=bool(grew or cover >= GROWTH_PATH_COVER),
            )
        )
    out.unmatched_before = [hb[i].id for i in range(len(hb)) if i not in follows]
    used_a = set(follows.values())
    out.unmatched_after = [ha[j].id for j in range(len(ha)) if j not in used_a]
    return out


# A hair grew when the second image shows new hair along at least half of its growth path.
# New hair: contrast above PATH_CONTRAST_SNR noise SDs in the second image where the first
# showed less. Tuning pairs (seeds 41 and 43 of imaging_trichogram's kind, 45 pairs used):
# per hair grown / resting called right 85 / 67 %, anagen % MAE 11.4 points (3 SDs: 84 / 67 %,
# 12.3). In luminance contrast and one polarity for both images, a cover of 0.6 gave 81 / 73 %
# and MAE 14.4, 2 SDs 85 / 65 % and 10.6.
GROWTH_PATH_COVER = 0.5
PATH_CONTRAST_SNR = 2.5
# How far to each side of the path the second image is searched: the hair's radius + 2 px,
# + this share of the distance from the visit-1 end (a detected end's direction is a few
# degrees off). Wider windows find the grown hairs of the same unit beside a resting one.
PATH_SPREAD = 0.03
PATH_SAMPLES = 24
# A hair shorter than this many diameters is a stub whose chord does not tell its direction:
# its paths along the field's hair direction are tried too. Tuning pairs (as above): anagen %
# MAE 11.4 -> 8.9 points, mean -8.4 -> -3.5, correlation with the truth 0.71 -> 0.76; per hair,
# grown / resting called right 85 / 67 -> 87 / 64 % (2.5 diameters: 88 / 61 %, MAE 8.3; the
# field direction instead of the chord: 86 / 64 %, MAE 10.3).
STUB_LENGTH_RATIO = 2.0
# Share of a path that must lie inside both images for the hair to be assessed (on that part).
# Growth is all or nothing (resting hairs do not grow, growing ones pass the threshold), so the
# part inside tells it. Tuning pairs: 1.0 -> 0.6 assessed 19 % more hairs (2,303 -> 2,735) and
# 50 pairs instead of 45 reached 10 hairs; per hair 87 / 64 -> 87 / 65 % right.
MIN_PATH_INSIDE = 0.6


@dataclass
class _Contrast:
    signed: np.ndarray  # working-scale log contrast, hairs positive
    noise: float
    k: int
    shape: tuple[int, int]  # image (H, W)


def _polarity(a: Analysis) -> int:
    """+1: hairs darker than the skin; -1: lighter (grey and blond on dark skin)."""
    pol = a.meta.get("hair_polarity")
    if pol in ("dark", "light"):
        return 1 if pol == "dark" else -1
    contrasts = [h.contrast for h in a.hairs if h.contrast]
    return 1 if not contrasts or float(np.median(contrasts)) >= 0 else -1


def _hair_contrast(img: np.ndarray, um_per_px: float, polarity: int) -> _Contrast:
    prep = search_contrast(img, um_per_px, polarity)
    return _Contrast(prep.contrast * polarity, prep.noise, prep.k, img.shape[:2])


def _path_cover(
    h: Hair,
    um_per_px: float,
    thr_um: float,
    reg: Registration,
    before: _Contrast,
    after: _Contrast,
    flow: np.ndarray | None = None,
) -> float | None:
    """Share of ``h``'s growth path showing new hair at visit 2 (None: too much of the path lies
    outside an image).

    The path runs on from each end of the visit-1 hair along its base-to-tip chord, from just
    past the end to ``thr_um`` beyond it. Both ends are tried (which end is the base is wrong
    for about one hair in ten) and the larger share is kept; a resting hair shows new hair at
    neither end. Places that already showed hair at visit 1 (a crossing hair, the neighbour's
    tip) tell nothing and are left out of the share, as is the part of a path outside either
    image (at most 1 - MIN_PATH_INSIDE of it). A stub barely longer than wide has no
    telling chord: the paths along the field's hair direction ``flow`` (unit vector, image
    x, y) from its two ends are tried too, where they lie inside both images.
    """
    pl = np.asarray(h.centreline_px, float)
    if len(pl) < 2:
        return None
    r = h.diameter_um / um_per_px / 2
    s = np.linspace(r + 2.0, thr_um / um_per_px, PATH_SAMPLES)
    if s[-1] <= s[0]:
        return None
    paths = []  # (start, direction, whether it must lie inside both images)
    for base, tip in ((pl[0], pl[-1]), (pl[-1], pl[0])):
        chord = tip - base
        length = float(np.hypot(*chord))
        if length < 1e-6:
            return None
        paths.append((tip, chord / length, True))
    if flow is not None and h.length_um < STUB_LENGTH_RATIO * h.diameter_um:
        centre = pl.mean(axis=0)
        for u in (flow, -flow):
            paths.append((centre + u * max(float(((pl - centre) @ u).max()), 0.0), u, False))
    offsets = np.linspace(-1.0, 1.0, 9)
    best = 0.0
    for start, u, required in paths:
        pts = start[None, :] + s[:, None] * u[None, :]
        inside = _inside(before, pts) & _inside(after, reg.to_after(pts))
        if inside.mean() < MIN_PATH_INSIDE:
            if required:
                return None
            continue
        pts, d = pts[inside], s[inside]
        n = np.array([-u[1], u[0]])
        was = _max_across(before, pts, n, np.full(len(d), r + 1.0), offsets)
        now = _max_across(after, pts, n, r + 2.0 + PATH_SPREAD * d, offsets, reg)
        bare = was <= PATH_CONTRAST_SNR * before.noise
        if bare.sum() < 0.4 * len(d):
            continue  # mostly hair already at visit 1: this path tells nothing
        new = now > PATH_CONTRAST_SNR * after.noise
        best = max(best, float(np.sum(new & bare)) / float(bare.sum()))
    return best


def _inside(c: _Contrast, pts: np.ndarray) -> np.ndarray:
    H, W = c.shape
    x, y = pts[:, 0], pts[:, 1]
    return (x >= 0) & (y >= 0) & (x <= W - 1) & (y <= H - 1)


def _max_across(
    c: _Contrast,
    pts: np.ndarray,
    normal: np.ndarray,
    half_width: np.ndarray,
    offsets: np.ndarray,
    reg: Registration | None = None,
) -> np.ndarray:
    """Largest contrast across the path at each point, within ``half_width`` px of it; the
    points are of `before`, read where ``reg`` puts them (None: in `before` itself)."""
    p = pts[:, None, :] + offsets[None, :, None] * half_width[:, None, None] * normal
    p = p.reshape(-1, 2)
    if reg is not None:
        p = reg.to_after(p)
    rows, cols = _to_work_rc(p, c.k)
    return bilinear(c.signed, rows, cols).reshape(len(pts), len(offsets)).max(axis=1)


def _match_cost(hb, ha, reg: Registration, cap: float) -> np.ndarray:
    """Cost of pairing hair i (before) with hair j (after); 1e9 where they cannot be one hair.

    Between visits a hair keeps its ostium and is pushed out along its own axis, so the
    before-hair lies along the after-hair: both its ends must be close to the after-hair's
    centreline, and one end of each (the base) must coincide. Which end is the base may be
    decided differently in the two images, so ends are compared both ways round.
    """
    ends_b = np.array([[h.centreline_px[0], h.centreline_px[-1]] for h in hb], float)
    ends_a = np.array(
        [reg.to_before(np.asarray([h.centreline_px[0], h.centreline_px[-1]], float)) for h in ha]
    )
    polys = [_densify(reg.to_before(np.asarray(h.centreline_px, float)), cap / 4) for h in ha]
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
