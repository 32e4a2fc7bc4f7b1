"""Hair diameter by fitting a physical cross-section model to the shaft's intensity profile.

A hair is a cylinder; light through it is attenuated by Beer-Lambert along the chord, and the
optics blur the result. Across the shaft the relative intensity is therefore

    T(x) = G_sigma * exp(-OD * chord(x; r) / (2 r)),   chord = 2 sqrt(r^2 - x^2)

where OD is the optical density on the axis. Thresholding a mask gives widths that move with
contrast and blur (the classical bias of distance-transform widths); fitting T instead gives the
radius of the cylinder itself. Profiles are sampled perpendicular to the centreline at many
points, re-centred, and their median is fitted, so a crossing hair or a glint on part of the
shaft does not move the estimate. The fit is a grid search over (r, OD, sigma) with the offset
and scale solved in closed form, vectorised over all hairs as a few matrix products.
Grey/white hairs brighter than the skin come out with a negative scale and are fitted too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

SIGMAS_PX = np.array([0.35, 0.6, 0.9, 1.25, 1.7, 2.2, 2.8, 3.5])
# sample_profiles(avoid_neighbours=True) leaves out the places along a hair where another
# hair's sampling places come within this many half widths (+3 px). Tuning seeds 31/32: median
# terminal diameter error 5.7/6.6 -> 5.0/6.1 µm, vellus 4.8/8.5 -> 4.5/7.9 µm, counts within
# 0.1 point (3.2 half widths: 5.4/6.3 µm).
NEIGHBOUR_REACH = 2.4
ODS = np.array([0.04, 0.12, 0.3, 0.6, 1.0, 1.6, 2.4, 3.4, 4.6])


@dataclass
class Fit:
    diameter_px: np.ndarray
    contrast: np.ndarray  # signed fitted depth of the profile (positive: dark hair)
    sigma_px: float  # global blur estimate
    quality: np.ndarray  # 1 - RSS / variance of the profile (R^2)


def bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``image`` read at fractional (rows, cols) by linear interpolation, coordinates outside
    clamped to the edge: ndimage.map_coordinates(order=1, mode="nearest") by four gathers, a
    third of its time (its general spline path dominated profile sampling on 5 MP)."""
    H, W = image.shape
    r = np.clip(rows, 0, H - 1)
    c = np.clip(cols, 0, W - 1)
    r0, c0 = r.astype(np.intp), c.astype(np.intp)
    fr, fc = (r - r0).astype(np.float32), (c - c0).astype(np.float32)
    r1, c1 = np.minimum(r0 + 1, H - 1), np.minimum(c0 + 1, W - 1)
    flat = image.ravel()
    top = flat[r0 * W + c0]
    top = top + fc * (flat[r0 * W + c1] - top)
    bottom = flat[r1 * W + c0]
    bottom = bottom + fc * (flat[r1 * W + c1] - bottom)
    return top + fr * (bottom - top)


@functools.lru_cache(maxsize=8)
def _templates_cached(K: int, h: float, rmax: float) -> tuple[np.ndarray, np.ndarray]:
    x = (np.arange(K) - K // 2) * h
    radii = np.geomspace(0.3, rmax, 64)
    return radii, _templates(x, radii, SIGMAS_PX)


def _templates(x: np.ndarray, radii: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """u = 1 - T on grid x, shape (n_sigma, n_r, n_od, K).

    The cylinder profile is integrated over each sample's width (box of width h) on a fine grid,
    then blurred at the sample spacing: box and Gaussian commute, and blurring the coarse grid
    is far cheaper than blurring the fine one.
    """
    h = x[1] - x[0]
    sub = 8
    K = len(x)
    xf = (np.arange(K * sub) - (K * sub - 1) / 2) * (h / sub)
    rel = np.sqrt(np.clip(1 - (xf[None, :] / radii[:, None]) ** 2, 0, None))  # (R, Kf)
    t = np.exp(-ODS[None, :, None] * rel[:, None, :])  # (R, O, Kf)
    box = t.reshape(len(radii), len(ODS), K, sub).mean(axis=3)
    out = np.empty((len(sigmas), len(radii), len(ODS), K), np.float32)
    for si, s in enumerate(sigmas):
        out[si] = 1 - ndi.gaussian_filter1d(box, s / h, axis=2, mode="nearest")
    return out


def _fit(
    profiles: np.ndarray, weights: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares p ~ c - beta*u for every (profile, template).

    Returns rss (N, T), beta (N, T), var_p (N,).
    """
    W = weights.astype(np.float64)
    P = profiles.astype(np.float64)
    U = u.reshape(-1, u.shape[-1]).astype(np.float64)
    sw = W.sum(1, keepdims=True)
    sp = (W * P).sum(1, keepdims=True)
    spp = (W * P * P).sum(1, keepdims=True)
    su = W @ U.T
    suu = W @ (U * U).T
    spu = (W * P) @ U.T
    cov = spu - sp * su / sw
    var_u = np.maximum(suu - su * su / sw, 1e-12)
    var_p = np.maximum(spp - sp * sp / sw, 1e-12)
    rss = var_p - cov * cov / var_u
    beta = -cov / var_u
    return rss, beta, var_p[:, 0]


def sample_profiles(
    lin_y: np.ndarray,
    background: np.ndarray,
    centrelines: list[np.ndarray],
    half_widths: np.ndarray,
    step: float,
    half_range: float,
    n_pos: int = 20,
    bg_scale: int = 1,
    avoid_neighbours: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Median perpendicular profiles (N, K) of each hair and the sampling offsets (K,).

    ``centrelines`` are (n, 2) arrays of (x, y) in image pixels; ``background`` is sampled at
    ``1 / bg_scale`` of the image resolution. ``avoid_neighbours``: the median is taken over
    the places with no sampling place of another hair within NEIGHBOUR_REACH half widths
    (+3 px), when at least 5 such places remain.
    """
    K = 2 * int(np.ceil(half_range / step)) + 1
    x = (np.arange(K) - K // 2) * step
    N = len(centrelines)
    cx = np.zeros((N, n_pos))
    cy = np.zeros((N, n_pos))
    nx = np.zeros((N, n_pos))
    ny = np.zeros((N, n_pos))
    valid = np.zeros((N, n_pos), bool)
    for i, pl in enumerate(centrelines):
        pl = np.asarray(pl, float)
        if len(pl) < 2:
            pl = np.vstack([pl, pl + [1e-3, 0]])
        seg = np.hypot(*np.diff(pl, axis=0).T)
        cum = np.concatenate([[0], np.cumsum(seg)])
        L = cum[-1]
        # Skip the ends: blunt cuts, tapering and junctions with other hairs of the unit.
        margin = min(max(1.2 * half_widths[i], 0.12 * L), 0.4 * L)
        s = np.linspace(margin, L - margin, n_pos) if L > 0 else np.zeros(n_pos)
        px = np.interp(s, cum, pl[:, 0])
        py = np.interp(s, cum, pl[:, 1])
        ds = max(2.0, 0.5 * half_widths[i])
        tx = np.interp(s + ds, cum, pl[:, 0]) - np.interp(s - ds, cum, pl[:, 0])
        ty = np.interp(s + ds, cum, pl[:, 1]) - np.interp(s - ds, cum, pl[:, 1])
        tn = np.maximum(np.hypot(tx, ty), 1e-9)
        cx[i], cy[i] = px, py
        nx[i], ny[i] = -ty / tn, tx / tn
        valid[i] = L > 0
    bgy = (cy.ravel() + 0.5) / bg_scale - 0.5
    bgx = (cx.ravel() + 0.5) / bg_scale - 0.5
    bgc = bilinear(background, bgy, bgx)
    bgc = np.maximum(bgc.reshape(N, n_pos), 1e-4)

    def sample(ox: np.ndarray, oy: np.ndarray) -> np.ndarray:
        xs = ox[..., None] + nx[..., None] * x
        ys = oy[..., None] + ny[..., None] * x
        v = bilinear(lin_y, ys.ravel(), xs.ravel())
        return v.reshape(N, n_pos, K) / bgc[..., None]

    prof = sample(cx, cy)
    # Re-centre each sample on the centroid of its contrast (the skeleton is only pixel-exact).
    dev = 1 - prof
    sign = np.sign(np.median(dev[:, :, K // 2], axis=1))[:, None, None]
    win = np.abs(x)[None, None, :] <= (1.3 * half_widths[:, None, None] + 1.5)
    wgt = np.clip(dev * sign, 0, None) * win
    sw = wgt.sum(-1)
    delta = np.where(sw > 0, (wgt * x).sum(-1) / np.maximum(sw, 1e-9), 0.0)
    delta = ndi.median_filter(delta, size=(1, 5), mode="nearest")
    delta = np.clip(delta, -0.6 * half_widths[:, None] - 1, 0.6 * half_widths[:, None] + 1)
    prof = sample(cx + nx * delta, cy + ny * delta)
    if avoid_neighbours and N > 1:
        # Leave out the places where another hair lies within reach of the fitting window
        # (hairs of a unit side by side): its shaft would widen the median profile.
        own = np.repeat(np.arange(N), n_pos)
        tree = cKDTree(np.stack([cx.ravel(), cy.ravel()], 1))
        reach = (NEIGHBOUR_REACH * half_widths + 3.0)[own]
        pairs = tree.query_pairs(float(reach.max()), output_type="ndarray")
        if len(pairs):
            a, b = pairs[:, 0], pairs[:, 1]
            d = np.hypot(cx.ravel()[a] - cx.ravel()[b], cy.ravel()[a] - cy.ravel()[b])
            other = own[a] != own[b]
            crowded = np.zeros(N * n_pos, bool)
            crowded[a[other & (d < reach[a])]] = True
            crowded[b[other & (d < reach[b])]] = True
            crowded_rows = crowded.reshape(N, n_pos)
            clear = ~crowded_rows
            ok_rows = clear.sum(1) >= 5
            med = np.median(prof, axis=1)
            for row in np.nonzero(ok_rows & crowded_rows.any(1))[0]:
                med[row] = np.median(prof[row, clear[row]], axis=0)
            return med, x
    return np.median(prof, axis=1), x


def fit_diameters(
    profiles: np.ndarray, x: np.ndarray, half_widths: np.ndarray, sigma_hint: float | None = None
) -> Fit:
    """Fit the cylinder model to median profiles; ``half_widths`` set each fitting window."""
    N, K = profiles.shape
    if N == 0:
        return Fit(np.zeros(0), np.zeros(0), float(sigma_hint or 1.0), np.zeros(0))
    h = float(x[1] - x[0])
    rmax = round(max(float(x[-1]) * 0.75, 1.0), 1)
    radii, u = _templates_cached(K, h, rmax)  # u: (S, R, O, K)
    S, R, O, _ = u.shape  # noqa: E741
    win = np.abs(x)[None, :] <= (1.4 * half_widths[:, None] + 3.0 + 2 * h)
    weights = win.astype(np.float64)
    if sigma_hint is None:
        # Blur is identifiable on wide hairs only: estimate it there, once for the image.
        wide = np.nonzero(half_widths >= np.percentile(half_widths, 50))[0][:80]
        rss, beta, var_p = _fit(profiles[wide], weights[wide], u)
        best = np.argmin(rss, axis=1)
        si, ri, _ = np.unravel_index(best, (S, R, O))
        fit_r2 = 1 - rss[np.arange(len(wide)), best] / var_p
        good = (radii[ri] > 1.5 * SIGMAS_PX[si]) & (fit_r2 > 0.8)
        sel = si[good] if good.sum() >= 3 else si
        sigma_idx = int(np.round(np.median(sel)))
        # Refine the blur between grid points: the summed relative misfit of the wide hairs
        # at each grid sigma, a parabola through the best one and its neighbours. (A blur
        # estimate one grid step off biases every diameter at low magnification by ~10 %.)
        rows = np.nonzero(good)[0] if good.sum() >= 3 else np.arange(len(wide))
        cost = (rss[rows].reshape(len(rows), S, -1).min(axis=2) / var_p[rows, None]).sum(0)
        sigma = float(SIGMAS_PX[sigma_idx])
        if 0 < sigma_idx < S - 1:
            xs = SIGMAS_PX[sigma_idx - 1 : sigma_idx + 2]
            ys = cost[sigma_idx - 1 : sigma_idx + 2]
            a2, a1, _ = np.polyfit(xs, ys, 2)
            if a2 > 0:
                sigma = float(np.clip(-a1 / (2 * a2), xs[0], xs[2]))
    else:
        sigma_idx = int(np.argmin(np.abs(SIGMAS_PX - sigma_hint)))
        sigma = float(SIGMAS_PX[sigma_idx])
    if sigma == float(SIGMAS_PX[sigma_idx]):
        us = u[sigma_idx]  # (R, O, K)
    else:
        x_grid = (np.arange(K) - K // 2) * h
        us = _templates(x_grid, radii, np.array([sigma]))[0]
    rss, beta, var_p = _fit(profiles, weights, us)
    rss = rss.reshape(N, R, O)
    beta = beta.reshape(N, R, O)
    # Hair must have the polarity of its central sample; a fit with the wrong sign is invalid.
    centre_sign = np.sign(1 - profiles[:, K // 2])[:, None, None]
    rss = np.where(beta * centre_sign >= 0, rss, np.inf)
    flat = rss.reshape(N, -1)
    best = np.argmin(flat, axis=1)
    ri, oi = np.unravel_index(best, (R, O))
    # Parabolic refinement of log r at the best OD.
    lr = np.log(radii)
    r_est = radii[ri].copy()
    for n in range(N):
        i = ri[n]
        if 0 < i < R - 1:
            y0, y1, y2 = rss[n, i - 1, oi[n]], rss[n, i, oi[n]], rss[n, i + 1, oi[n]]
            den = y0 - 2 * y1 + y2
            if np.isfinite(den) and den > 0:
                off = 0.5 * (y0 - y2) / den
                r_est[n] = np.exp(lr[i] + np.clip(off, -1, 1) * (lr[1] - lr[0]))
    b = beta[np.arange(N), ri, oi]
    depth = b * (1 - np.exp(-ODS[oi]))
    q = 1 - flat[np.arange(N), best] / var_p
    return Fit(2 * r_est, depth, sigma, q)


def channel_contrast(
    lin: np.ndarray, centrelines: list[np.ndarray], half_widths: np.ndarray, sigma: float
) -> np.ndarray:
    """Per-channel log contrast (N, 3) of each hair against the skin just beside it.

    Hairs of any colour absorb red not much less than green; blood vessels absorb green and
    blue but hardly red, which tells the two apart.
    """
    N = len(centrelines)
    out = np.zeros((N, 3))
    t = np.linspace(0.2, 0.8, 9)
    # Nine places along each hair (all hairs read at once): centre and both sides.
    at = np.zeros((N, 3, 2, 9))  # hair, (centre, side +, side -), (row, col), place
    has = np.zeros(N, bool)
    for i, pl in enumerate(centrelines):
        pl = np.asarray(pl, float)
        if len(pl) < 2:
            continue
        seg = np.hypot(*np.diff(pl, axis=0).T)
        cum = np.concatenate([[0], np.cumsum(seg)])
        s = t * cum[-1]
        px, py = np.interp(s, cum, pl[:, 0]), np.interp(s, cum, pl[:, 1])
        tx = np.interp(s + 2, cum, pl[:, 0]) - np.interp(s - 2, cum, pl[:, 0])
        ty = np.interp(s + 2, cum, pl[:, 1]) - np.interp(s - 2, cum, pl[:, 1])
        tn = np.maximum(np.hypot(tx, ty), 1e-9)
        nx, ny = -ty / tn, tx / tn
        off = half_widths[i] * 1.3 + 2 * sigma + 2
        for j, o in enumerate((0.0, off, -off)):
            at[i, j] = py + ny * o, px + nx * o
        has[i] = True
    if not has.any():
        return out
    rows, cols = at[has, :, 0].ravel(), at[has, :, 1].ravel()
    vals = np.stack([bilinear(lin[..., c], rows, cols) for c in range(3)], -1)
    vals = vals.reshape(int(has.sum()), 3, 9, 3).astype(np.float64)
    side = 0.5 * (vals[:, 1] + vals[:, 2])
    out[has] = np.median(np.log((side + 2e-3) / (vals[:, 0] + 2e-3)), axis=1)
    return out
