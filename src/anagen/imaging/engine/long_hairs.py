"""Long hairs found in pieces are joined into one hair.

An untrimmed hair lying across the field (or a long regrown one) is cut wherever it crosses
another hair, and a faint one breaks into dashes: each piece was counted as a hair. Pieces that
continue one another in a straight line (ends close, same direction, no side step, similar
width) are joined; a chain that spans at least LONG_HAIR_UM is one hair. Its base is the end
upstream along the field's hair direction (where it runs within 60° of it; else the end inside
the field), and it is counted only where that end lies inside the field: a hair crossing the
whole field grows from outside it. (``analyze._split_bundles`` does not split lines this long
either: a thick untrimmed hair is not two touching clipped ones.)

A gap wider than the hairs is joined only where another hair crosses it: the tip of one hair
in line with the next one's base has bare skin between.

Generated fields with untrimmed hairs (tuning seeds 61 and 62, 24 each, not the suite or the
frozen stress set): count MAE 21.4 -> 16.6 % and 27.6 -> 23.6 %, bias +16.9 -> +9.6 % and
+22.9 -> +14.7 %; fields of clipped hairs only (tuning seeds 31-33) unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

from .models import Hair

LONG_HAIR_UM = 1000.0  # longer than any clipped hair (REFERENCE C §6: trimmed 0.1-0.5 mm)
JOIN_GAP_UM = 200.0  # a crossing, or a gap in a faint hair
JOIN_ANGLE_DEG = 15.0
JOIN_SIDE_STEP = 0.6  # diameters (plus 2 px and 5 % of the gap)
JOIN_WIDTH_RATIO = 2.0
FLOW_ALIGN = 0.5  # cos 60°: a joined hair this close to the flow has its base upstream


def _outward(line: np.ndarray, end: int) -> np.ndarray:
    """Unit direction pointing out of ``line`` at ``end`` (0 first, 1 last): along its chord.
    (The tangent over the last 60 µm followed the smoothing's wiggle: tuning seeds 61/62
    count MAE 17.8/22.3 -> 18.3/24.3 %.)"""
    v = line[-1] - line[0] if end == 1 else line[0] - line[-1]
    n = float(np.hypot(*v))
    return v / n if n > 0 else np.zeros(2)


def _links(hairs: list[Hair], um_per_px: float) -> dict[tuple[int, int], tuple[int, int]]:
    """Each hair end's partner end (mutual, each end used once), by the best straight fit."""
    lines = [np.asarray(h.centreline_px, float) for h in hairs]
    ok = [i for i, ln in enumerate(lines) if len(ln) >= 2]
    if len(ok) < 2:
        return {}
    ends = [(i, e) for i in ok for e in (0, 1)]
    pos = np.array([lines[i][0 if e == 0 else -1] for i, e in ends])
    out = {(i, e): _outward(lines[i], e) for i, e in ends}
    cos_max = math.cos(math.radians(JOIN_ANGLE_DEG))
    # Every centreline point, to see whether another hair crosses a gap.
    owner = np.concatenate([np.full(len(lines[i]), i) for i in ok])
    points = cKDTree(np.concatenate([lines[i] for i in ok]))
    cand = []
    for a, b in cKDTree(pos).query_pairs(JOIN_GAP_UM / um_per_px):
        (i, ei), (j, ej) = ends[a], ends[b]
        if i == j:
            continue
        di, dj = hairs[i].diameter_um, hairs[j].diameter_um
        if max(di, dj) > JOIN_WIDTH_RATIO * max(min(di, dj), 1e-6):
            continue
        ua, ub = out[(i, ei)], out[(j, ej)]
        if float(np.dot(ua, -ub)) < cos_max:
            continue
        g = pos[b] - pos[a]
        gap = float(np.hypot(*g))
        tol = JOIN_SIDE_STEP * (di + dj) / 2 / um_per_px + 2.0 + 0.05 * gap
        side_a = abs(ua[0] * g[1] - ua[1] * g[0])
        side_b = abs(ub[0] * g[1] - ub[1] * g[0])
        if side_a > tol or side_b > tol:
            continue
        if gap > 2.0 and (float(np.dot(ua, g)) <= 0 or float(np.dot(ub, -g)) <= 0):
            continue  # overlapping pieces side by side, not one continuing the other
        if gap > (di + dj) / 2 / um_per_px + 2.0:
            # A gap wider than the hair is joined only where another hair crosses it (the
            # cut of a crossing): the tip of one hair in line with the next one's base has
            # bare skin between (a resting hair read 750 µm long at the second visit).
            mid = (pos[a] + pos[b]) / 2
            near = points.query_ball_point(mid, gap / 2 + 2.0)
            if not any(owner[k] not in (i, j) for k in near):
                continue
        cand.append((side_a + side_b + gap * 0.01, (i, ei), (j, ej)))
    cand.sort(key=lambda t: t[0])
    partner: dict[tuple[int, int], tuple[int, int]] = {}
    for _, ea, eb in cand:
        if ea in partner or eb in partner:
            continue
        partner[ea], partner[eb] = eb, ea
    return partner


def join_long_hairs(
    hairs: list[Hair],
    um_per_px: float,
    inside: Callable[[np.ndarray], bool],
    flow: np.ndarray | None = None,
) -> list[Hair]:
    """``hairs`` with pieces of long hairs joined (ids renumbered). ``inside(point)``: whether
    an end at ``point`` (x, y) lies inside the field and clear of the image edge. ``flow``: the
    field's hair direction (x, y), base to tip: a joined hair that runs along it has its base
    at the upstream end, and is counted only where that end is inside."""
    partner = _links(hairs, um_per_px)
    if not partner:
        return hairs
    seen: set[int] = set()
    out: list[Hair] = []
    for i in range(len(hairs)):
        if i in seen:
            continue
        # Walk to one free end of i's chain, then along it.
        j, e = i, 0
        guard = 0
        while (j, e) in partner and guard <= len(hairs):
            j, e = partner[(j, e)]
            e = 1 - e
            guard += 1
        chain: list[tuple[int, bool]] = []  # (hair, reversed)
        cur, enter = j, e
        while cur not in {c for c, _ in chain}:
            chain.append((cur, enter == 1))
            nxt = partner.get((cur, 1 - enter))
            if nxt is None:
                break
            cur, enter = nxt
        seen |= {c for c, _ in chain}
        if len(chain) == 1:
            out.append(hairs[chain[0][0]])
            continue
        parts = [np.asarray(hairs[c].centreline_px, float)[::-1] if rev
                 else np.asarray(hairs[c].centreline_px, float) for c, rev in chain]  # fmt: skip
        line = np.concatenate(parts)
        span_um = float(np.hypot(*(line[-1] - line[0]))) * um_per_px
        if span_um < LONG_HAIR_UM:
            out.extend(hairs[c] for c, _ in chain)
            continue
        lengths = np.array([hairs[c].length_um for c, _ in chain])
        diams = np.array([hairs[c].diameter_um for c, _ in chain])
        order = np.argsort(diams)
        cum = np.cumsum(lengths[order])
        diameter = float(diams[order][np.searchsorted(cum, cum[-1] / 2)])
        first_in, last_in = inside(line[0]), inside(line[-1])
        chord = line[-1] - line[0]
        along = 0.0
        if flow is not None:
            along = float(chord @ flow) / max(float(np.hypot(*chord)), 1e-9)
        if along <= -FLOW_ALIGN or (abs(along) < FLOW_ALIGN and last_in and not first_in):
            line = line[::-1]
            first_in, last_in = last_in, first_in
        counted = first_in if abs(along) >= FLOW_ALIGN else first_in or last_in
        seg = float(np.sum(np.hypot(*np.diff(line, axis=0).T))) * um_per_px
        out.append(
            Hair(
                id=0,
                centreline_px=line,
                length_um=seg,
                diameter_um=diameter,
                unit_id=0,
                counted=bool(counted),
                touches_border=not (first_in and last_in),
                contrast=float(np.average([hairs[c].contrast for c, _ in chain], weights=lengths)),
            )
        )
    for n, h in enumerate(out, start=1):
        h.id = n
    return out
