"""Hair segmentation: contrast image, hair mask, skeleton graph, and hair centrelines.

Steps (all at a *working scale* of about 4 µm/px, so the cost does not explode for
high-magnification images):

1. sRGB -> linear luminance; a smooth skin background from a coarse median; the log-contrast
   ``log(background / image)`` (positive for hairs darker than skin, negative for grey/white
   hairs brighter than skin).
2. Hysteresis threshold on the contrast relative to its robust noise level, narrowed to the part
   above a fraction of the local peak (separates touching dark hairs), both polarities.
3. Skeleton -> graph of segments between junctions. Short spurs are pruned, clusters of
   junctions joined; at each junction the segments are paired by straightness (crossing hairs
   go straight through); chains are split at sharp bends (hairs of one follicular unit leaving
   the same ostium form a V).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree
from skimage.filters import gaussian
from skimage.morphology import remove_small_holes, remove_small_objects, skeletonize

from .measure import bilinear

WORK_UM_PER_PX = 4.0
# Trough depth (fraction of the local peak contrast) that cuts touching hairs apart; 0.15 was
# chosen on dev seeds 1000/2000 (0.25 missed more unit hairs, 0.10 added unmatched detections).
GAP_DEPTH = 0.15
SPUR_FACTOR = 1.2
# A thick hair of light colour scatters light back from its core, and a cuticle glint runs
# along some hairs: the hair reads as two dark bands with a lighter line between them. That
# line is a trough like the gap between two touching hairs, and the mask can have a hole there;
# either way the skeleton drew two lines along one hair. A gap is cut only where the ridges
# either side of it lie at least GAP_RIDGE_SEP_UM apart (two touching hairs: about one
# diameter, 30-100 µm; the bands of one light hair: median 21-25 µm, 90th centile 27-32 µm, in
# the generator's truth on tuning seed 31), and holes an erosion by NARROW_HOLE_UM removes are
# filled first. A ridge is the first crest, going out, at least RIDGE_FRAC of the way from the
# trough up to the highest contrast within RIDGE_REACH_UM. Tuning seeds 31/32/33: unmatched
# detections 17.3/16.4/20.5 -> 16.8/16.3/20.2 % of hairs, recall 79.0/75.7/77.2 ->
# 79.0/75.6/77.1 %, count MAE unchanged on average (14.3/14.4/16.3 -> 11.8/15.3/17.9 %).
GAP_RIDGE_SEP_UM = 32.0
RIDGE_FRAC = 0.5
RIDGE_REACH_UM = 80.0
NARROW_HOLE_UM = 14.0
# A hair pixel holds at least this share of the highest contrast within 100 µm (0.3 tried on
# tuning seeds 31/32: fewer unmatched detections, but retest CV of the count 15.9 -> 21.3 %).
PEAK_FRAC = 0.2
# A component counts as line-like in the polarity vote when its moment ellipse is this many
# times longer than wide (a round ostium or flake is ~1; a V of two trimmed hairs ~2-4).
ELONGATION_MIN = 2.5
# Hysteresis thresholds on the log contrast: noise multiples, with floors. The noise level is
# the MAD of the whole contrast image (skin texture included), so a 7-sigma seed level missed
# faint hairs; 4 was chosen on tuning seeds 31 and 32 (count MAE 20.5 -> 19.0 % and 18.6 -> 14.0 %).
LO_SIGMAS, LO_FLOOR = 3.5, 0.035
HI_SIGMAS, HI_FLOOR = 4.0, 0.08
# weigh_colours: the colour-weighted contrast replaces the luminance's when the hairs'
# luminance contrast-to-noise is below COLOUR_LUM_SNR_MAX and the matched filter raises it
# COLOUR_GAIN_MIN times; half of the filter is blended with luminance. Tuning seeds 31/32:
# count MAE 15.4/15.6 -> 14.7/14.9 %, blond-hair fields 32.2/25.6 -> 27.5/21.0 %. Without
# the gate, brown-hair fields with clear luminance contrast gained false detections (count
# MAE 17.6 % on seed 31); the full filter (no blend) raised JPEG chroma blocks and vessels.
COLOUR_LUM_SNR_MAX = 15.0
COLOUR_GAIN_MIN = 1.3
COLOUR_BLEND = 0.5

# Cell of the coarse grid the skin background is taken on (80 µm: more false detections on
# tuning seed 31, count MAE 14.7 -> 17.2 %); the colour channels' backgrounds use 80 µm cells.
BACKGROUND_CELL_UM = 40.0
COLOUR_BACKGROUND_CELL_UM = 80.0
# Smoothing of the log contrast (working px). Tried 2026-12-03 on the tuning seeds: 1.0 found
# more faint wide hairs on seed 31 (count MAE 14.6 -> 13.9 %) but merged touching hairs on
# seed 32 (15.0 -> 15.7 %, dense 14.4 -> 18.6 %); 1.5 merged them on both.
CONTRAST_SIGMA_PX = 0.7
# For dark hairs the luminance background leaves glare out (cells with less skin than this
# share take the nearest skin cell's value).
GLARE_OUT_OF_BACKGROUND = True
GLARE_CELL_SKIN_MIN = 0.5
# Light hairs are not looked for within this many spot radii (+2 px) of a glare spot's edge.
# Tried 1.0 and 0.6 on tuning seeds 31/32/33: recall +0.0-0.6 points, count MAE
# 11.8/14.7/18.6 -> 11.5/15.5/18.0 % (1.0) and 11.4/15.1/19.4 % (0.6), dense stratum of
# seed 33 24.0-28.7 %: no gain beyond noise.
GLARE_HALO_REACH = 1.5
NOISE_STRIDE = 2  # every 2nd row and column: the same MAD (tuning seed 31), a quarter of the work

_x = np.arange(256) / 255.0
SRGB_TO_LINEAR = np.where(_x <= 0.04045, _x / 12.92, ((_x + 0.055) / 1.055) ** 2.4).astype(
    np.float32
)
_EIGHT = np.ones((3, 3), bool)


@dataclass
class Prepared:
    lin: np.ndarray  # full-resolution linear RGB
    lin_y: np.ndarray  # full-resolution linear luminance
    k: int  # working downsample factor
    work_um: float
    y_work: np.ndarray
    background: np.ndarray  # working-scale skin background (linear)
    contrast: np.ndarray  # working-scale log contrast, smoothed
    saturated: np.ndarray  # working-scale glare mask
    noise: float
    glare_halo: np.ndarray | None = None  # wider zone around each glare spot (scaled by size)
    # Set when ``contrast`` is a colour-weighted one (see weigh_colours); None: luminance.
    colour: ColourContrast | None = None
    # Computes (background, contrast) for hairs darker than the skin where they differ from
    # the above (glare left out of the background; see prepare); hair_mask calls it when it
    # picks dark hairs.
    dark: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None


@dataclass
class ColourContrast:
    """What a colour-weighted contrast replaced and how its profiles are read."""

    weights: np.ndarray  # channel weights (R, G, B) of the log contrasts
    # Full-resolution image and working-scale background the candidates' profiles are read
    # from (their ratio is the weighted contrast).
    profile_image: np.ndarray
    profile_background: np.ndarray
    luminance_contrast: np.ndarray  # the luminance contrast and noise it replaced
    luminance_noise: float


def block_mean(a: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return a
    h, w = a.shape[0] // k * k, a.shape[1] // k * k
    return a[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def prepare(rgb: np.ndarray, um_per_px: float) -> Prepared:
    lin = SRGB_TO_LINEAR[rgb]
    # Channel sum rather than mean(axis=2): same values, a third of the time on 5 MP.
    lin_y = (lin[..., 0] + lin[..., 1] + lin[..., 2]) * np.float32(1.0 / 3.0)
    k = max(1, int(WORK_UM_PER_PX / um_per_px + 1e-6))
    work_um = um_per_px * k
    yw = block_mean(lin_y, k).astype(np.float32)
    # Glare: near-white pixels, grown so the bright halo around a reflection goes too.
    sat_full = (rgb[..., 0] >= 242) & (rgb[..., 1] >= 242) & (rgb[..., 2] >= 242)
    sat = block_mean(sat_full.astype(np.float32), k) > 0
    with ThreadPoolExecutor(1) as pool:  # the glare zones beside the contrast
        halo_job = pool.submit(_glare_halo, sat)
        sat = _dilate_sparse(sat, max(2, int(40 / work_um)))
        means, median, coarse = _background_stages(yw, work_um, BACKGROUND_CELL_UM)
        bg = _upsample(coarse, yw.shape)
        c = log_contrast(bg, yw)
        halo = halo_job.result() | sat
    noise = _noise(c, sat)
    prep = Prepared(lin, lin_y, k, work_um, yw, bg, c, sat, noise, halo)
    if GLARE_OUT_OF_BACKGROUND and halo.any():
        # Dark hairs are looked for against a background that leaves glare and its halo out:
        # a background that rises over a spot makes the skin around it read darker, in rings
        # that look like hairs. Light hairs keep the background that follows the halo (their
        # polarity would see the halo itself as bright). Computed once dark hairs are chosen.
        prep.dark = functools.partial(
            _without_glare, yw, work_um, (means, median, coarse), bg, c, halo
        )
    return prep


def _without_glare(
    y: np.ndarray,
    work_um: float,
    stages: tuple[np.ndarray, np.ndarray, np.ndarray],
    background: np.ndarray,
    contrast: np.ndarray,
    glare: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(background, contrast) of a working-scale image with ``glare`` left out of the
    background; ``stages`` (_background_stages), ``background`` and ``contrast``: with it in.

    Cells mostly under glare take the value of the nearest cell of skin. Only the cells with
    glare in them change their mean, only medians whose window reaches them change, and only
    the smoothed background and contrast within reach of those: each step is redone there and
    the rest copied (the same values as recomputing everything, in a fraction of the time).
    """
    means, median, coarse = stages
    m = max(1, int(round(BACKGROUND_CELL_UM / work_um)))
    size = _median_size(m, work_um)
    gh, gw = means.shape
    g = glare[: gh * m, : gw * m]
    rows, cols = np.nonzero(g.any(axis=1))[0], np.nonzero(g.any(axis=0))[0]
    if len(rows) == 0:
        return background, contrast
    # Means of the skin pixels of the cells that hold glare (their bounding box).
    a0, a1, b0, b1 = rows[0] // m, rows[-1] // m + 1, cols[0] // m, cols[-1] // m + 1
    box = (slice(a0 * m, a1 * m), slice(b0 * m, b1 * m))
    skin = block_mean((~g[box]).astype(np.float32), m)
    sums = block_mean(np.where(g[box], np.float32(0), y[box]), m)
    changed = np.zeros(means.shape, bool)
    changed[a0:a1, b0:b1] = skin < 1
    means = means.copy()
    means[a0:a1, b0:b1] = np.where(skin > 0, sums / np.maximum(skin, 1e-6), 0)
    valid = np.ones(means.shape, bool)
    valid[a0:a1, b0:b1] = skin >= GLARE_CELL_SKIN_MIN
    if not valid.any():
        return background, contrast
    if not valid.all():
        idx = ndi.distance_transform_edt(~valid, return_distances=False, return_indices=True)
        means = means[idx[0], idx[1]]
    # Medians whose window reaches a changed cell, from their own windows' cells, spot by spot
    # (the spots' common bounding box is often most of the image).
    r = size // 2
    reached = ndi.maximum_filter(changed, size=size, mode="constant")
    median = median.copy()
    for rows_, cols_ in ndi.find_objects(ndi.label(reached)[0]):
        c0, c1, d0, d1 = rows_.start, rows_.stop, cols_.start, cols_.stop
        e0, e1, f0, f1 = max(c0 - r, 0), min(c1 + r, gh), max(d0 - r, 0), min(d1 + r, gw)
        median[c0:c1, d0:d1] = ndi.median_filter(means[e0:e1, f0:f1], size=size)[
            c0 - e0 : c1 - e0, d0 - f0 : d1 - f0
        ]
    change = ndi.gaussian_filter(median, _smooth_sigma(m, work_um)) - coarse
    rr, cc = np.nonzero(change.any(axis=1))[0], np.nonzero(change.any(axis=0))[0]
    if len(rr) == 0:
        return background, contrast
    bg = background.copy()
    (y0, y1), (x0, x1) = _upsample_span(rr, y.shape[0], gh), _upsample_span(cc, y.shape[1], gw)
    old = background[y0:y1, x0:x1]
    new = old + _upsample(change, y.shape, (y0, y1, x0, x1))
    bg[y0:y1, x0:x1] = new
    # The contrast moves by the change of log background. (log_contrast also smooths it over
    # 0.7 px: left out, the contrast differs by under 0.003 next to a large spot, against a
    # noise SD of 0.01-0.05, and the log of the image is not taken again.)
    c = contrast.copy()
    c[y0:y1, x0:x1] += np.log(new + np.float32(_EPS)) - np.log(old + np.float32(_EPS))
    return bg, c


# Binary morphology with 3x3 and 2x2 structures as shifted ORs/ANDs: the same result as
# ndimage's binary_dilation/binary_opening (outside the image counts as background), a tenth
# of their time on 5 MP images.
def dilate3(m: np.ndarray, eight: bool = False) -> np.ndarray:
    """ndimage.binary_dilation(m) with the 3x3 cross (``eight``: the full 3x3 square)."""
    out = m.copy()
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    rows = out.copy() if eight else m
    out[:, 1:] |= rows[:, :-1]
    out[:, :-1] |= rows[:, 1:]
    return out


def _open2x2(m: np.ndarray) -> np.ndarray:
    """ndimage.binary_opening(m, np.ones((2, 2), bool))."""
    eroded = np.zeros_like(m)
    eroded[1:, 1:] = m[1:, 1:] & m[:-1, 1:] & m[1:, :-1] & m[:-1, :-1]
    out = eroded.copy()
    out[:-1] |= eroded[1:]
    out[:, :-1] |= out[:, 1:].copy()
    return out


def _dilate_sparse(m: np.ndarray, iterations: int) -> np.ndarray:
    """ndimage.binary_dilation(m, iterations=...) computed on the bounding box of ``m`` grown
    by ``iterations`` (glare spots cover a small part of the image, often none)."""
    rows, cols = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
    if len(rows) == 0:
        return m.copy()
    y0, y1 = max(0, rows[0] - iterations), min(m.shape[0], rows[-1] + iterations + 1)
    x0, x1 = max(0, cols[0] - iterations), min(m.shape[1], cols[-1] + iterations + 1)
    out = np.zeros_like(m)
    out[y0:y1, x0:x1] = ndi.binary_dilation(m[y0:y1, x0:x1], iterations=iterations)
    return out


def _median_size(m: int, work_um: float) -> int:
    """Odd median window (cells) of ~400 µm for cells of ``m`` working pixels."""
    return max(3, int(round(400.0 / (m * work_um))) | 1)


def _smooth_sigma(m: int, work_um: float) -> float:
    """Gaussian smoothing (cells) of ~100 µm for cells of ``m`` working pixels."""
    return 100.0 / (work_um * m)


def _background_stages(
    y: np.ndarray, work_um: float, cell_um: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell means, their median and the smoothed median: the background on a grid of
    ~``cell_um`` cells (the last), with the steps before it.

    The median ignores hairs (a minority of the pixels in any window) and keeps the slow
    vignetting and mottling. Both steps run on the coarse grid: the same smooth surface,
    without a 100-tap filter over every pixel of a 5 MP image.
    """
    m = max(1, int(round(cell_um / work_um)))
    means = block_mean(y, m)
    median = _median_filter_halves(means, _median_size(m, work_um))
    return means, median, ndi.gaussian_filter(median, _smooth_sigma(m, work_um))


def _coarse_background(y: np.ndarray, work_um: float, cell_um: float) -> np.ndarray:
    """The background on a grid of ~``cell_um`` cells (see _background_stages)."""
    return _background_stages(y, work_um, cell_um)[2]


def _median_filter_halves(a: np.ndarray, size: int) -> np.ndarray:
    """ndimage.median_filter(a, size) with the top and bottom halves in two threads.

    Each half is filtered with ``size // 2`` rows of the other beside it, so every output row
    sees exactly the rows it would in one pass (the image's own edges keep their mode).
    """
    r, mid = size // 2, a.shape[0] // 2
    if mid <= r:
        return ndi.median_filter(a, size=size)
    with ThreadPoolExecutor(2) as pool:
        top = pool.submit(ndi.median_filter, a[: mid + r], size=size)
        bottom = ndi.median_filter(a[mid - r :], size=size)
        return np.concatenate([top.result()[:mid], bottom[r:]])


def _interp_index(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation from ``n_in`` to ``n_out`` samples with pixel-centre alignment and
    edge clamping (skimage's resize, order=1, mode="edge"): output i is
    (1 - f[i]) * in[i0[i]] + f[i] * in[i1[i]]."""
    r = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i0 = np.floor(r).astype(int)
    return i0, np.minimum(i0 + 1, n_in - 1), (r - i0).astype(np.float32)


def _upsample_span(cells: np.ndarray, n_out: int, n_in: int) -> tuple[int, int]:
    """Output rows (or columns) [start, stop) that read any of the sorted ``cells``."""
    i0, i1, _ = _interp_index(n_out, n_in)
    lo, hi = int(cells[0]), int(cells[-1])
    reads = ((i0 >= lo) & (i0 <= hi)) | ((i1 >= lo) & (i1 <= hi))
    at = np.nonzero(reads)[0]
    return int(at[0]), int(at[-1]) + 1


def _upsample(
    coarse: np.ndarray, shape: tuple[int, ...], box: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """Bilinear upsampling of a small grid to ``shape`` (skimage's resize, order=1,
    mode="edge", up to rounding), separably by gathers: a few passes over the output instead
    of resize's general warp. ``box``: (row0, row1, col0, col1) of the output only."""
    r0, r1, c0, c1 = box if box is not None else (0, shape[0], 0, shape[1])
    i0, i1, f = (a[r0:r1] for a in _interp_index(shape[0], coarse.shape[0]))
    j0, j1, g = (a[c0:c1] for a in _interp_index(shape[1], coarse.shape[1]))
    grid = coarse.astype(np.float32)
    rows = grid[i0] + f[:, None] * (grid[i1] - grid[i0])
    return rows[:, j0] + g[None, :] * (rows[:, j1] - rows[:, j0])


def _upsample_at(
    coarse: np.ndarray, shape: tuple[int, ...], rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """_upsample(coarse, shape) read at (rows, cols) only (the same pixel-centre mapping)."""
    r = (rows + 0.5) * (coarse.shape[0] / shape[0]) - 0.5
    c = (cols + 0.5) * (coarse.shape[1] / shape[1]) - 0.5
    return bilinear(coarse.astype(np.float32), r, c)


_EPS = 2e-3


def log_contrast(background: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log(background) - log(image), lightly smoothed: positive where darker than the skin."""
    c = np.log(background + _EPS) - np.log(y + _EPS)
    return ndi.gaussian_filter(c, CONTRAST_SIGMA_PX).astype(np.float32)


def _noise(c: np.ndarray, saturated: np.ndarray) -> float:
    """Robust SD (MAD) of the contrast outside glare: skin texture and sensor noise."""
    c, saturated = c[::NOISE_STRIDE, ::NOISE_STRIDE], saturated[::NOISE_STRIDE, ::NOISE_STRIDE]
    dev = c[~saturated] if (~saturated).any() else c
    return max(float(1.4826 * np.median(np.abs(dev - np.median(dev)))), 1e-3)


def weigh_colours(prep: Prepared, mask: np.ndarray) -> bool:
    """Replace the luminance contrast by a colour-weighted one when the hairs found in
    ``mask`` are faint in luminance but stand out in colour; True when it did.

    Each channel's log contrast against its own skin background is a vector per pixel. Skin
    texture and shading move all channels together, while melanin absorbs blue far more than
    red, so a light hair differs from the skin mostly in colour (REFERENCE Part C: light,
    grey or blond hairs are a classical failure of luminance-based counting).
    The matched filter w = S^-1 s (s the hairs' median channel contrast over the luminance
    mask, S the channels' covariance on the skin away from it) gives the best contrast-to-
    noise; half of it is blended with luminance (the full filter also raised JPEG chroma
    blocks and vessels), scaled so that a hair of that colour keeps its luminance contrast
    (thresholds and polarity keep their meaning). Used only when the hairs' luminance
    contrast-to-noise is below COLOUR_LUM_SNR_MAX (black and brown hairs: luminance is kept,
    and the channels are not even computed) and the filter raises it COLOUR_GAIN_MIN times.
    """
    sat = prep.saturated
    if not mask.any() or mask.mean() > 0.5:
        return False
    hair_px = mask & ~sat
    skin_px = ~sat & ~dilate3(dilate3(dilate3(mask)))
    skin_px &= np.abs(prep.contrast) < 3.0 * prep.noise
    if hair_px.sum() < 20 or skin_px.sum() < 600:
        return False
    s_lum = float(np.median(prep.contrast[hair_px]))
    snr_lum = abs(s_lum) / max(float(np.std(prep.contrast[skin_px][::3])), 1e-9)
    if snr_lum > COLOUR_LUM_SNR_MAX:
        return False
    # Each channel's log contrast, log(background) - smoothed log(image) (the background is
    # smooth already), read at the hair pixels and a sample of the skin pixels only.
    k, wu = prep.k, prep.work_um

    def channel(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = block_mean(prep.lin[..., i], k)
        lg = np.log(y + np.float32(_EPS))
        # 80 µm cells: a quarter of the pixels and a quarter of the median window of the
        # luminance background (the median is most of the cost on 5 MP).
        background = _coarse_background(y, wu, COLOUR_BACKGROUND_CELL_UM)
        return lg, ndi.gaussian_filter(lg, CONTRAST_SIGMA_PX), background

    with ThreadPoolExecutor(2) as pool:  # ndimage and NumPy release the GIL
        logs, smooth, coarse = zip(*pool.map(channel, range(3)), strict=True)
    shape = prep.contrast.shape

    def contrast_at(px: np.ndarray) -> np.ndarray:
        rr, cc = np.nonzero(px)
        return np.stack(
            [
                np.log(_upsample_at(cb, shape, rr, cc) + _EPS) - sm[rr, cc]
                for cb, sm in zip(coarse, smooth, strict=True)
            ],
            axis=1,
        ).astype(np.float64)

    skin_sample = np.zeros_like(skin_px)
    skin_sample[::3, ::3] = skin_px[::3, ::3]
    s = np.median(contrast_at(hair_px), axis=0)
    cov = np.cov(contrast_at(skin_sample).T) + np.eye(3) * 1e-8
    w = np.linalg.solve(cov, s)
    snr_colour = float(np.sqrt(max(float(s @ w), 0.0)))
    lum = np.full(3, 1.0 / 3.0)
    if snr_colour < COLOUR_GAIN_MIN * snr_lum or min(abs(s_lum), abs(float(lum @ s))) < 1e-6:
        return False
    w *= s_lum / float(w @ s)
    w = COLOUR_BLEND * w + (1 - COLOUR_BLEND) * lum * (s_lum / float(lum @ s))
    w32 = w.astype(np.float32)
    bg_log = sum(wi * np.log(cb + _EPS) for wi, cb in zip(w, coarse, strict=True))
    bg_log_up = _upsample(bg_log, shape)
    luminance_contrast, luminance_noise = prep.contrast, prep.noise
    prep.contrast = bg_log_up - (w32[0] * smooth[0] + w32[1] * smooth[1] + w32[2] * smooth[2])
    prep.noise = _noise(prep.contrast, sat)
    # Profiles read the same combination: prod(channel ** w) at full resolution over
    # prod(background ** w) at working scale.
    full = logs if k == 1 else [np.log(prep.lin[..., i] + np.float32(_EPS)) for i in range(3)]
    prep.colour = ColourContrast(
        weights=w,
        profile_image=np.exp(w32[0] * full[0] + w32[1] * full[1] + w32[2] * full[2]),
        profile_background=np.exp(bg_log_up),
        luminance_contrast=luminance_contrast,
        luminance_noise=luminance_noise,
    )
    return True


def _glare_halo(core: np.ndarray) -> np.ndarray:
    """Pixels within one spot radius of the edge of each saturated spot.

    A specular spot is surrounded by a bright halo about as wide as the spot itself; streaks of
    noise in that halo look like light hairs. (Excluded for bright-hair detection only.)
    """
    if not core.any():
        return core
    lab, n = ndi.label(core)
    radius = np.sqrt(np.bincount(lab.ravel(), minlength=n + 1) / np.pi)
    out = core.copy()
    H, W = core.shape
    # Each spot grown in its own padded box: a handful of small boxes instead of a distance
    # transform (with indices) of the whole image.
    for i, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is None:
            continue
        reach = GLARE_HALO_REACH * radius[i] + 2
        pad = int(np.ceil(reach)) + 1
        y0, y1 = max(0, sl[0].start - pad), min(H, sl[0].stop + pad)
        x0, x1 = max(0, sl[1].start - pad), min(W, sl[1].stop + pad)
        dist = ndi.distance_transform_edt(lab[y0:y1, x0:x1] != i)
        out[y0:y1, x0:x1] |= dist <= reach
    return out


def _hysteresis(c: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """skimage's apply_hysteresis_threshold (components above ``lo``, 4-connected, that reach
    above ``hi``), with a bincount in place of ndimage.sum (a third of the time on 5 MP)."""
    lab, n = ndi.label(c > lo)
    keep = np.zeros(n + 1, bool)
    keep[lab[c > hi]] = True
    keep[0] = False
    return keep[lab]


def _drop_small_and_weigh(
    mask: np.ndarray, max_small: int, weight: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Drop components of at most ``max_small`` pixels (4-connected, as skimage's
    remove_small_objects) and sum ``weight`` over the line-like ones left (moment-ellipse
    elongation at least ELONGATION_MIN) and over all left. One labelling does both."""
    lab, n = ndi.label(mask)
    if n == 0:
        return mask, 0.0, 0.0
    ys, xs = np.nonzero(lab)
    lv = lab[ys, xs]
    cnt = np.bincount(lv, minlength=n + 1).astype(float)
    big = cnt > max_small
    big[0] = False
    kept = big[lv]
    ys, xs, lv = ys[kept], xs[kept], lv[kept]
    out = np.zeros_like(mask)
    out[ys, xs] = True
    cnt[0] = 1.0
    my = np.bincount(lv, ys, minlength=n + 1) / cnt
    mx = np.bincount(lv, xs, minlength=n + 1) / cnt
    dy, dx = ys - my[lv], xs - mx[lv]
    syy = np.bincount(lv, dy * dy, minlength=n + 1) / cnt
    sxx = np.bincount(lv, dx * dx, minlength=n + 1) / cnt
    sxy = np.bincount(lv, dy * dx, minlength=n + 1) / cnt
    half_tr = 0.5 * (syy + sxx)
    root = np.sqrt(0.25 * (syy - sxx) ** 2 + sxy**2)
    major, minor = half_tr + root, np.maximum(half_tr - root, 1.0 / 12.0)
    line_like = big & (np.sqrt(major / minor) >= ELONGATION_MIN)
    w = np.bincount(lv, weight[ys, xs], minlength=n + 1)
    return out, float(w[line_like].sum()), float(w[big].sum())


def _diff_at(
    values: Callable[[np.ndarray, np.ndarray], np.ndarray],
    shape: tuple[int, ...],
    ys: np.ndarray,
    xs: np.ndarray,
    axis: int,
) -> np.ndarray:
    """np.gradient along ``axis`` at the pixels (ys, xs) of an image of ``shape`` read through
    ``values(ys, xs)``: central differences inside, one-sided at the edges."""
    i = ys if axis == 0 else xs
    ip, im = np.minimum(i + 1, shape[axis] - 1), np.maximum(i - 1, 0)
    if axis == 0:
        return (values(ip, xs) - values(im, xs)) / (ip - im)
    return (values(ys, ip) - values(ys, im)) / (ip - im)


def _hessian_at(
    f: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Hrr, Hrc, Hcc) of ``f`` at the given pixels, equal to np.gradient applied twice (as
    skimage.feature.hessian_matrix does after its smoothing)."""
    if len(ys) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return f[yy, xx]

    def d_r(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return _diff_at(at, f.shape, yy, xx, 0)

    def d_c(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return _diff_at(at, f.shape, yy, xx, 1)

    return (
        _diff_at(d_r, f.shape, ys, xs, 0),
        _diff_at(d_r, f.shape, ys, xs, 1),
        _diff_at(d_c, f.shape, ys, xs, 1),
    )


def _ridge_separation(
    cs: np.ndarray,
    ry: np.ndarray,
    rx: np.ndarray,
    vy: np.ndarray,
    vx: np.ndarray,
    wu: float,
    polarity: int,
) -> np.ndarray:
    """Distance (µm) between the contrast ridges on either side of each trough point.

    Each ridge is the first crest, going out across the trough, that rises at least RIDGE_FRAC
    of the way from the trough to the highest contrast within RIDGE_REACH_UM (the first crest
    of any height would stop at a noise ripple). ``cs * polarity``: the contrast of hairs.
    """
    steps = np.arange(0, max(3, int(np.ceil(RIDGE_REACH_UM / wu))) + 1, dtype=float)
    total = np.zeros(len(ry))
    for sgn in (1.0, -1.0):
        rr = ry[:, None] + sgn * vy[:, None] * steps
        cc = rx[:, None] + sgn * vx[:, None] * steps
        prof = polarity * bilinear(cs, rr.ravel(), cc.ravel()).reshape(rr.shape)
        top, here = prof.max(axis=1, keepdims=True), prof[:, :1]
        high = prof >= here + RIDGE_FRAC * (top - here)
        crest = np.ones_like(high)
        crest[:, :-1] = prof[:, :-1] >= prof[:, 1:]
        total += np.argmax(high & crest, axis=1)
    return total * wu


def _fill_narrow_holes(mask: np.ndarray, half_width_px: int) -> np.ndarray:
    """The mask with its holes filled where an erosion by ``half_width_px`` leaves nothing."""
    lab, n = ndi.label(~mask)
    if n <= 1:
        return mask
    edge = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    holes = np.setdiff1d(np.arange(1, n + 1), edge)
    if not len(holes):
        return mask
    out = mask.copy()
    # Each hole in its own box (a whole-image erosion and lookup cost ~90 ms on 5 MP).
    boxes = ndi.find_objects(lab)
    for h in holes:
        sl = boxes[h - 1]
        hole = lab[sl] == h
        if not ndi.binary_erosion(hole, iterations=half_width_px).any():
            out[sl] |= hole
    return out


def hair_mask(prep: Prepared, polarity: int | None = None) -> tuple[np.ndarray, int, float]:
    """Binary hair mask at working scale, the polarity (+1 dark hairs, -1 white hairs) and
    the ratio by which that polarity won the vote (inf when ``polarity`` was given).

    ``polarity``: keep this one instead of voting (the second pass on a colour-weighted
    contrast, where vessels can outweigh light hairs).
    """
    c = prep.contrast
    wu = prep.work_um
    lo = max(LO_SIGMAS * prep.noise, LO_FLOOR)
    hi = max(HI_SIGMAS * prep.noise, HI_FLOOR)
    win = max(3, int(round(100.0 / wu)))
    min_obj = max(4, int(900.0 / wu**2))

    def side(
        sign: int, pool: ThreadPoolExecutor | None = None
    ) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Mask of one polarity, its local peak contrast and its line-like / total votes.
        ``pool``: compute the local peak there, beside the threshold."""
        cs = c if sign > 0 else -c
        peak_job = pool.submit(ndi.maximum_filter, cs, size=win) if pool else None
        m = _hysteresis(cs, lo, hi) & ~prep.saturated
        if sign < 0 and prep.glare_halo is not None:
            m &= ~prep.glare_halo
        peak = peak_job.result() if peak_job else ndi.maximum_filter(cs, size=win)
        m &= cs >= PEAK_FRAC * peak
        m, lines, total = _drop_small_and_weigh(m, min_obj, np.abs(cs))
        return m, peak, lines, total

    # One polarity per image: the one with more line-like contrast. Glare halos and flakes are
    # bright, ostia dark; mixing both would turn them into false hairs. (A field with both dark
    # and white hairs is measured on its majority colour; see docs/imaging.md.)
    # The vote is the contrast summed over line-like components: dark ostia and vessels,
    # bright flakes and glare are blobs, and faint rims around them are weak. (An area vote
    # picked the ostia when grey hair lay on light skin.) Tuning seeds 31/32: the chosen
    # polarity disagreed with the hairs' own contrast on 10 of 95 images, now 3 (all hairs at
    # or below ~0.07 log contrast, barely visible either way).
    # Independent steps run in two threads: ndimage, scikit-image's filters and NumPy release
    # the GIL (the speed target is set for a 2-core machine). The smoothing for the trough
    # Hessian below does not depend on the polarity (smoothing -c gives exactly -smooth(c)).
    with ThreadPoolExecutor(2) as pool:
        if polarity is None:
            sides = [pool.submit(side, 1), pool.submit(side, -1)]
            smooth = gaussian(c, sigma=0.7, mode="constant", cval=0)
            dark, peak_dark, dark_lines, dark_all = sides[0].result()
            bright, peak_bright, bright_lines, bright_all = sides[1].result()
            votes = (dark_lines, bright_lines)
            if dark_lines + bright_lines <= 0:
                votes = (dark_all, bright_all)
            polarity = 1 if votes[0] >= votes[1] else -1
            vote_ratio = max(votes) / min(votes) if min(votes) > 0 else float("inf")
            mask, peak = (dark, peak_dark) if polarity > 0 else (bright, peak_bright)
            if prep.dark is not None and polarity > 0:
                # Dark hairs: their mask again, on the contrast with glare out of the background.
                prep.background, prep.contrast = prep.dark()
                c = prep.contrast
                smooth_job = pool.submit(gaussian, c, sigma=0.7, mode="constant", cval=0)
                mask, peak, _, _ = side(1, pool)
                smooth = smooth_job.result()
            prep.dark = None
        else:
            vote_ratio = float("inf")
            smooth_job = pool.submit(gaussian, c, sigma=0.7, mode="constant", cval=0)
            mask, peak, _, _ = side(polarity, pool)
            smooth = smooth_job.result()
    # Touching hairs leave a narrow trough of lower contrast between them: a strongly positive
    # second derivative across it. Cutting the mask there separates parallel hairs of one unit.
    cs = c * polarity
    # A light line along one hair (back-scatter, glint) can leave a narrow hole in its mask.
    mask = _fill_narrow_holes(mask, max(1, int(round(NARROW_HOLE_UM / wu))))
    # Hessian (as skimage.feature.hessian_matrix, Gaussian sigma 0.7 then np.gradient twice)
    # only where a trough can be: inside the mask, below 3/4 of the local peak.
    ry, rx = np.nonzero(mask & (cs < 0.75 * peak))
    hrr, hrc, hcc = _hessian_at(smooth if polarity > 0 else -smooth, ry, rx)
    lam = 0.5 * (hrr + hcc) + np.sqrt(0.25 * (hrr - hcc) ** 2 + hrc**2)
    trough = lam > 0.02 * np.maximum(peak[ry, rx], 1e-6)
    ry, rx = ry[trough], rx[trough]
    if len(ry):
        # Direction across the trough: eigenvector of the largest Hessian eigenvalue.
        a, b, d, lm = hrr[trough], hrc[trough], hcc[trough], lam[trough]
        vy, vx = b, lm - a
        bad = np.hypot(vy, vx) < 1e-9
        vy = np.where(bad, lm - d, vy)
        vx = np.where(bad, b, vx)
        nn = np.maximum(np.hypot(vy, vx), 1e-9)
        vy, vx = vy / nn, vx / nn
        here = cs[ry, rx]
        rise = np.zeros(len(ry))
        for dist in (2.0, 3.5):
            up = ndi.map_coordinates(cs, [ry + vy * dist, rx + vx * dist], order=1)
            dn = ndi.map_coordinates(cs, [ry - vy * dist, rx - vx * dist], order=1)
            rise = np.maximum(rise, np.minimum(up, dn) - here)
        is_gap = rise > GAP_DEPTH * peak[ry, rx]
        if is_gap.any():  # not the light line along one hair: its ridges are close
            sep = _ridge_separation(
                smooth, ry[is_gap], rx[is_gap], vy[is_gap], vx[is_gap], wu, polarity
            )
            is_gap[is_gap] = sep >= GAP_RIDGE_SEP_UM
        gap = np.zeros_like(mask)
        gap[ry[is_gap], rx[is_gap]] = True
        # A one-pixel diagonal cut would leave the halves 8-connected: widen it by a cross.
        gap = dilate3(gap) & (cs < 0.6 * peak)
        mask &= ~gap
    mask = _open2x2(mask) if wu < 5 else mask
    mask = remove_small_objects(mask, max_size=max(4, int(900.0 / wu**2)))
    mask = remove_small_holes(mask, max_size=max(4, int(600.0 / wu**2)))
    return mask, polarity, vote_ratio


def _edge_tree(mask: np.ndarray) -> cKDTree | None:
    """KD-tree of the background pixels touching the mask (None: no background)."""
    edge = np.nonzero(~mask & dilate3(mask, eight=True))
    return cKDTree(np.column_stack(edge)) if len(edge[0]) else None


def _inner_distance(
    mask: np.ndarray, where: np.ndarray, edge_tree: cKDTree | None = None
) -> np.ndarray:
    """ndimage.distance_transform_edt(mask), computed only at the pixels of ``where`` (zero
    elsewhere). ``edge_tree``: _edge_tree(mask), when already built.

    The nearest background pixel to a mask pixel always touches the mask (a step from it
    towards the pixel would be nearer), so a KD-tree of the mask's outer edge gives the exact
    distance; a quarter of the time of the whole transform on 5 MP.
    """
    out = np.zeros(mask.shape)
    need = np.nonzero(mask & where)
    if len(need[0]) == 0:
        return out
    tree = edge_tree if edge_tree is not None else _edge_tree(mask)
    if tree is None:  # no background in the image: as the full transform
        return ndi.distance_transform_edt(mask)
    dist, _ = tree.query(np.column_stack(need))
    out[need] = dist
    return out


@dataclass(eq=False)
class Chain:
    """A candidate hair centreline in working pixels (row, col), with what its ends touch."""

    pts: np.ndarray
    end_nodes: tuple[int, int]  # node id at each end, -1 for a free tip
    half_width: float  # median half width from the distance transform (working px)
    component: int
    meta: dict = field(default_factory=dict)

    @property
    def length(self) -> float:
        if len(self.pts) < 2:
            return 0.0
        return float(np.sum(np.hypot(*np.diff(self.pts, axis=0).T)))


def _order_segments(seg: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Label skeleton segments (junction-free) and return each one's pixels in path order."""
    lab, n = ndi.label(seg, structure=_EIGHT)
    ys, xs = np.nonzero(seg)
    if n == 0:
        return lab, []
    idx = -np.ones(seg.shape, np.int64)
    idx[ys, xs] = np.arange(len(ys))
    H, W = seg.shape
    rows, cols, wts = [], [], []
    for dy, dx, w in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, np.sqrt(2)), (1, -1, np.sqrt(2))):
        y2, x2 = ys + dy, xs + dx
        ok = (y2 < H) & (x2 >= 0) & (x2 < W)
        j = np.full(len(ys), -1)
        j[ok] = idx[y2[ok], x2[ok]]
        good = j >= 0
        rows.append(np.nonzero(good)[0])
        cols.append(j[good])
        wts.append(np.full(good.sum(), w))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    g = sparse.coo_matrix((np.concatenate(wts), (r, c)), shape=(len(ys), len(ys))).tocsr()
    g = g + g.T
    deg = np.diff(g.indptr)
    labs = lab[ys, xs]
    # Start each segment at a pixel with a single neighbour (an end); cycles start anywhere.
    cand = np.nonzero(deg <= 1)[0]
    order = np.argsort(labs[cand], kind="stable")
    ul, first = np.unique(labs[cand][order], return_index=True)
    start = np.zeros(n + 1, np.int64) - 1
    start[ul] = cand[order][first]
    missing = np.nonzero(start[1:] < 0)[0] + 1
    if len(missing):
        o = np.argsort(labs, kind="stable")
        ul2, f2 = np.unique(labs[o], return_index=True)
        anyp = np.zeros(n + 1, np.int64)
        anyp[ul2] = o[f2]
        start[missing] = anyp[missing]
    dist = csgraph.dijkstra(g, directed=False, indices=start[1:], min_only=True)
    dist[~np.isfinite(dist)] = 0
    order = np.lexsort((dist, labs))
    ls = labs[order]
    cuts = np.nonzero(np.diff(ls))[0] + 1
    pts = np.stack([ys[order], xs[order]], axis=1).astype(float)
    return lab, np.split(pts, cuts)


class _UF:
    def __init__(self) -> None:
        self.p: dict[int, int] = {}

    def find(self, a: int) -> int:
        self.p.setdefault(a, a)
        while self.p[a] != a:
            self.p[a] = self.p[self.p[a]]
            a = self.p[a]
        return a

    def union(self, a: int, b: int) -> None:
        self.p[self.find(a)] = self.find(b)


def _end_dir(pts: np.ndarray, end: int, m: int) -> np.ndarray:
    """Unit vector pointing out of the segment at one end (0: first point, 1: last point)."""
    n = len(pts)
    m = max(1, min(m, n - 1))
    if n < 2:
        return np.zeros(2)
    v = pts[0] - pts[m] if end == 0 else pts[-1] - pts[-1 - m]
    nv = np.hypot(*v)
    return v / nv if nv > 0 else np.zeros(2)


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(u, v), -1, 1))))


def trace_chains(mask: np.ndarray, work_um: float) -> list[Chain]:
    """Skeletonise the mask and turn it into hair centreline chains."""
    with ThreadPoolExecutor(1) as pool:  # the skeleton beside the labels and the edge tree
        sk_job = pool.submit(skeletonize, mask)
        comp, _ = ndi.label(mask, structure=_EIGHT)
        edge_tree = _edge_tree(mask)
        sk = sk_job.result()
    nb = ndi.convolve(sk.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - 1
    junc = sk & (nb >= 3)
    jlab, nj = ndi.label(junc, structure=_EIGHT)
    _, segs = _order_segments(sk & ~junc)
    if not segs:
        return []
    jpad = np.pad(jlab, 1)
    # Node at each segment end: any junction pixel in its 3x3 neighbourhood.
    ends = np.array([[s[0], s[-1]] for s in segs], dtype=int)  # (n, 2 ends, 2 coords)
    node = np.zeros((len(segs), 2), int)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            v = jpad[ends[..., 0] + 1 + dy, ends[..., 1] + 1 + dx]
            node = np.maximum(node, v)
    node -= 1  # -1: free end
    # A single-pixel segment touching two different junctions: take both.
    jcent = np.zeros((nj + 1, 2))
    node_hw = np.zeros(nj + 1)
    # Half widths are read on the skeleton and at the junction centres (chain points).
    read_at = sk.copy()
    if nj:
        jy, jx = np.nonzero(junc)
        cnt = np.bincount(jlab[jy, jx], minlength=nj + 1).astype(float)
        jcent[:, 0] = np.bincount(jlab[jy, jx], jy, minlength=nj + 1) / np.maximum(cnt, 1)
        jcent[:, 1] = np.bincount(jlab[jy, jx], jx, minlength=nj + 1) / np.maximum(cnt, 1)
        read_at[jcent[1:, 0].astype(int), jcent[1:, 1].astype(int)] = True
    dt = _inner_distance(mask, read_at, edge_tree)
    if nj:
        np.maximum.at(node_hw, jlab[jy, jx], dt[jy, jx])

    seg_pts = {i: s for i, s in enumerate(segs)}
    seg_nodes = {i: [int(node[i, 0]), int(node[i, 1])] for i in range(len(segs))}

    def length(p: np.ndarray) -> float:
        return float(np.sum(np.hypot(*np.diff(p, axis=0).T))) if len(p) > 1 else 0.0

    def degree_map() -> dict[int, list[tuple[int, int]]]:
        deg: dict[int, list[tuple[int, int]]] = {}
        for i, (a, b) in seg_nodes.items():
            if a >= 0:
                deg.setdefault(a, []).append((i, 0))
            if b >= 0:
                deg.setdefault(b, []).append((i, 1))
        return deg

    uf = _UF()
    # 1. Prune spurs (short branches from a junction to a free end, made by a ragged mask edge).
    # A square cut end of a wide hair gives a fork of two such spurs: both go.
    for _ in range(2):
        deg = degree_map()
        for nd, items in deg.items():
            if len(items) < 3:
                continue
            spurs = []
            for i, _e in items:
                a, b = seg_nodes[i]
                if (a >= 0) != (b >= 0) and length(seg_pts[i]) + 1 < max(
                    SPUR_FACTOR * node_hw[nd + 1], 3.0
                ):
                    spurs.append(i)
            if len(spurs) == len(items):
                spurs.remove(max(spurs, key=lambda j: length(seg_pts[j])))
            for i in spurs:
                if i in seg_nodes:
                    del seg_nodes[i]
                    del seg_pts[i]
    # 2. Join junction clusters linked by a segment shorter than the local hair width (two
    # 3-way junctions of a shallow crossing become one 4-way junction).
    for i in list(seg_nodes):
        a, b = seg_nodes[i]
        if a >= 0 and b >= 0:
            hw = max(node_hw[a + 1], node_hw[b + 1])
            if a == b or length(seg_pts[i]) <= max(1.2 * hw, 2.0):
                uf.union(a, b)
                del seg_nodes[i]
                del seg_pts[i]
    for i in seg_nodes:
        seg_nodes[i] = [uf.find(x) if x >= 0 else -1 for x in seg_nodes[i]]
    deg = degree_map()

    # 3. Pair segment ends at each junction by straightness.
    partner: dict[tuple[int, int], tuple[int, int]] = {}
    for nd, items in deg.items():
        hw = node_hw[nd + 1]
        m = int(np.clip(round(2 * hw + 2), 3, 15))
        dirs = {e: _end_dir(seg_pts[e[0]], e[1], m) for e in items}
        lens = {e: length(seg_pts[e[0]]) for e in items}
        limit = 55.0 if len(items) == 2 else 40.0
        cand = []
        for ai in range(len(items)):
            for bi in range(ai + 1, len(items)):
                ea, eb = items[ai], items[bi]
                if ea[0] == eb[0]:
                    continue
                dev = 180.0 - _angle(dirs[ea], dirs[eb])
                if dev < limit:
                    # Prefer straight continuation, then long segments.
                    cand.append((dev - 0.01 * min(lens[ea], lens[eb]), ea, eb))
        cand.sort(key=lambda t: t[0])
        used: set[tuple[int, int]] = set()
        for _, ea, eb in cand:
            if ea in used or eb in used:
                continue
            used |= {ea, eb}
            partner[ea] = eb
            partner[eb] = ea

    # 4. Walk chains.
    visited: set[int] = set()
    chains: list[Chain] = []

    def walk(start: int, start_end: int) -> tuple[list[np.ndarray], int, int]:
        # Enter segment `start` from end `start_end`, follow partners to the far side.
        parts: list[np.ndarray] = []
        i, e = start, start_end
        first_node = seg_nodes[i][e]
        last_node = -1
        while True:
            visited.add(i)
            p = seg_pts[i] if e == 0 else seg_pts[i][::-1]
            parts.append(p)
            far = 1 - e
            last_node = seg_nodes[i][far]
            nxt = partner.get((i, far))
            if nxt is None or nxt[0] in visited:
                break
            parts.append(jcent[last_node + 1][None, :])
            i, e = nxt
        return parts, first_node, last_node

    order = sorted(seg_pts, key=lambda i: -length(seg_pts[i]))
    starts = [(i, e) for i in order for e in (0, 1) if (i, e) not in partner]
    for i, e in starts + [(i, 0) for i in order]:
        if i in visited:
            continue
        parts, n0, n1 = walk(i, e)
        pts = np.concatenate(parts, axis=0)
        iy, ix = pts[:, 0].astype(int), pts[:, 1].astype(int)
        hw = float(np.median(dt[iy, ix])) if len(pts) else 1.0
        chains.append(Chain(pts, (n0, n1), hw, int(comp[iy[0], ix[0]])))

    # 5. Split chains at sharp local bends.
    out: list[Chain] = []
    for ch in chains:
        out.extend(_split_at_bends(ch))

    # 6. Short stubs (a clipped hair barely longer than wide) have almost no skeleton: take a
    # component that gave a single chain, or none, as one hair along its major axis.
    per_comp: dict[int, int] = {}
    for ch in out:
        per_comp[ch.component] = per_comp.get(ch.component, 0) + 1
    objs = ndi.find_objects(comp)
    for ci, sl in enumerate(objs, start=1):
        if sl is None or per_comp.get(ci, 0) > 1:
            continue
        sub = comp[sl] == ci
        yy, xx = np.nonzero(sub)
        if len(yy) < 6:
            continue
        cy, cx = yy.mean(), xx.mean()
        cov = np.cov(np.stack([yy - cy, xx - cx]))
        ev, evec = np.linalg.eigh(cov)
        major, minor = np.sqrt(max(ev[1], 1e-9)), np.sqrt(max(ev[0], 1e-9))
        if major < 1.25 * minor:
            continue  # round: an ostium or a flake, not a hair
        if per_comp.get(ci, 0) == 1:
            ch = next(c for c in out if c.component == ci)
            if ch.length >= 1.2 * major:
                continue  # the skeleton already spans it
            out = [c for c in out if c is not ch]
        d = evec[:, 1]
        proj = (yy - cy) * d[0] + (xx - cx) * d[1]
        hw = 2.0 * minor  # for a filled rectangle, half width = sqrt(3) * minor SD
        a, b = proj.min() + hw, proj.max() - hw
        if b <= a:
            a = b = 0.5 * (proj.min() + proj.max())
        ts = np.linspace(a, b, max(2, int(b - a) + 1))
        pts = np.stack([cy + ts * d[0] + sl[0].start, cx + ts * d[1] + sl[1].start], 1)
        out.append(Chain(pts, (-1, -1), float(hw / 1.15), ci, {"stub": True}))
    return out


def _split_at_bends(ch: Chain, max_turn_deg: float = 28.0) -> list[Chain]:
    pts = ch.pts
    n = len(pts)
    s = int(np.clip(round(1.5 * ch.half_width + 2), 3, 12))
    if n < 2 * s + 3:
        return [ch]
    sm = ndi.gaussian_filter1d(pts, 1.0, axis=0, mode="nearest")
    i = np.arange(s, n - s)
    a = sm[i] - sm[i - s]
    b = sm[i + s] - sm[i]
    na = np.hypot(*a.T)
    nb = np.hypot(*b.T)
    cos = np.einsum("ij,ij->i", a, b) / np.maximum(na * nb, 1e-9)
    turn = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    cuts = []
    j = 0
    while j < len(turn):
        if turn[j] > max_turn_deg:
            k = j
            while k + 1 < len(turn) and turn[k + 1] > max_turn_deg:
                k += 1
            cuts.append(int(i[j + int(np.argmax(turn[j : k + 1]))]))
            j = k + 1
        else:
            j += 1
    if not cuts:
        return [ch]
    bounds = [0, *cuts, n - 1]
    pieces = []
    for a0, b0 in zip(bounds[:-1], bounds[1:], strict=True):
        p = pts[a0 : b0 + 1]
        n0 = ch.end_nodes[0] if a0 == 0 else -2  # -2: a bend shared with the neighbour piece
        n1 = ch.end_nodes[1] if b0 == n - 1 else -2
        c = Chain(p, (n0, n1), ch.half_width, ch.component)
        c.meta["bend_group"] = id(ch)
        pieces.append(c)
    return pieces
