"""Scoring an analysis against generator truth (used by tests and benchmarks/imaging_accuracy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from .models import Analysis
from .synth import Truth


@dataclass
class Match:
    pairs: list[tuple[int, int]]  # (index into analysis.hairs, index into truth.hairs)
    cost: list[float]


def match_hairs(analysis: Analysis, truth: Truth, all_truth: list | None = None) -> Match:
    """One-to-one matching of detected hairs to truth hairs by centreline proximity.

    A detected hair matches a truth hair when its points at 25/50/75 % of its length all lie
    within about one truth diameter (+3 px) of the truth centreline.
    """
    th = truth.hairs
    if not th or not analysis.hairs:
        return Match([], [])
    dense = []
    owner = []
    for j, pl in enumerate(truth.polylines_px()):
        t = np.linspace(0, 1, len(pl))
        tt = np.linspace(0, 1, 48)
        dense.append(np.stack([np.interp(tt, t, pl[:, 0]), np.interp(tt, t, pl[:, 1])], 1))
        owner.append(np.full(48, j))
    pts = np.concatenate(dense)
    own = np.concatenate(owner)
    tree = cKDTree(pts)
    nd, nt = len(analysis.hairs), len(th)
    big = 1e6
    cost = np.full((nd, nt), big)
    for i, h in enumerate(analysis.hairs):
        pl = np.asarray(h.centreline_px, float)
        seg = np.hypot(*np.diff(pl, axis=0).T) if len(pl) > 1 else np.zeros(0)
        cum = np.concatenate([[0], np.cumsum(seg)])
        L = cum[-1] if len(cum) else 0.0
        samp = np.stack(
            [np.interp([0.25 * L, 0.5 * L, 0.75 * L], cum, pl[:, c]) for c in (0, 1)], 1
        )
        per: dict[int, list[float]] = {}
        for s in samp:
            idx = tree.query_ball_point(s, r=60.0)
            best: dict[int, float] = {}
            for q in idx:
                d = float(np.hypot(*(pts[q] - s)))
                j = int(own[q])
                if d < best.get(j, np.inf):
                    best[j] = d
            for j, d in best.items():
                per.setdefault(j, []).append(d)
        for j, ds in per.items():
            cap = th[j].diameter_um / truth.um_per_px + 3.0
            if len(ds) == 3 and max(ds) <= cap:
                cost[i, j] = float(np.mean(ds))
    r, c = linear_sum_assignment(cost)
    ok = cost[r, c] < big
    return Match(list(zip(r[ok].tolist(), c[ok].tolist(), strict=True)), cost[r, c][ok].tolist())


def score(analysis: Analysis, truth: Truth, cutoff_um: float = 40.0) -> dict:
    """Errors of one analysis against its truth (counts over the field, per-hair diameters)."""
    s = analysis.summary
    n_true = truth.count
    m = match_hairs(analysis, truth)
    d_err_term: list[float] = []
    d_err_vel: list[float] = []
    d_err_term_6px: list[float] = []
    tv_ok, tv_n = 0, 0
    base_ok = 0
    truth_px = truth.polylines_px()
    for i, j in m.pairs:
        h, t = analysis.hairs[i], truth.hairs[j]
        # Base end: the detected hair starts nearer the true base than the true tip.
        start = np.asarray(h.centreline_px, float)[0]
        base_ok += int(np.hypot(*(start - truth_px[j][0])) <= np.hypot(*(start - truth_px[j][-1])))
        e = abs(h.diameter_um - t.diameter_um)
        (d_err_term if t.diameter_um > cutoff_um else d_err_vel).append(e)
        # REFERENCE Part C §6 states the terminal target for hairs at least 6 px wide.
        if t.diameter_um > cutoff_um and t.diameter_um / truth.um_per_px >= 6.0:
            d_err_term_6px.append(e)
        if abs(t.diameter_um - cutoff_um) > 5.0:
            tv_n += 1
            tv_ok += int((h.diameter_um > cutoff_um) == (t.diameter_um > cutoff_um))
    fu_true = truth.follicular_units
    ctd_true = truth.cumulative_thickness_mm_per_cm2
    return {
        "n_true": n_true,
        "n_est": s.count,
        "count_err_pct": 100.0 * (s.count - n_true) / max(n_true, 1),
        "fu_true": fu_true,
        "fu_est": s.follicular_units,
        "fu_err_pct": 100.0 * (s.follicular_units - fu_true) / max(fu_true, 1),
        "ctd_true": ctd_true,
        "ctd_est": s.cumulative_thickness_mm_per_cm2,
        "ctd_err_pct": 100.0 * (s.cumulative_thickness_mm_per_cm2 - ctd_true) / max(ctd_true, 1e-9),
        "matched": len(m.pairs),
        "base_end_correct": base_ok,
        "diam_abs_err_terminal": d_err_term,
        "diam_abs_err_vellus": d_err_vel,
        "diam_abs_err_terminal_6px": d_err_term_6px,
        "tv_correct": tv_ok,
        "tv_n": tv_n,
    }
