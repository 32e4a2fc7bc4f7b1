"""Manual correction layer, stored apart from the automatic result.

The automatic :class:`Analysis` is never modified. A :class:`Corrections` object is an ordered
list of edits (add, remove, merge, split, set diameter) that refers to hair ids; ``apply``
returns a *new* corrected Analysis, so both summaries can be reported side by side
(:func:`summaries_both`). Hairs created by edits get ids after the largest automatic id, in edit
order, so an edit list replays identically.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .analyze import assign_units
from .models import Analysis, Hair, summarize

OPS = ("add", "remove", "merge", "split", "set_diameter")


class CorrectionError(ValueError):
    """An edit refers to a hair that does not exist, or is malformed."""


def joined(centrelines: list[Any]) -> tuple[np.ndarray, list[float]]:
    """The centrelines joined in order, each at the nearest pair of ends of what is joined so
    far and the next one, and the gap bridged at each join (px): what a merge makes."""
    pl = np.asarray(centrelines[0], float).reshape(-1, 2)
    gaps: list[float] = []
    for line in centrelines[1:]:
        q = np.asarray(line, float).reshape(-1, 2)
        opts = [(pl, q), (pl, q[::-1]), (pl[::-1], q), (pl[::-1], q[::-1])]
        dists = [float(np.hypot(*(a[-1] - b[0]))) for a, b in opts]
        best = int(np.argmin(dists))
        gaps.append(dists[best])
        pl = np.vstack(opts[best])
    return pl, gaps


@dataclass
class Corrections:
    edits: list[dict[str, Any]] = field(default_factory=list)

    # -- building ---------------------------------------------------------------------------
    def _push(self, op: str, author: str | None, **kw: Any) -> Corrections:
        e = {"op": op, **kw}
        if author:
            e["author"] = author
        e["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.edits.append(e)
        return self

    def add_hair(
        self, polyline_px: Any, diameter_um: float | None = None, author: str | None = None
    ) -> Corrections:
        """Add a hair the engine missed; polyline from base to tip in image pixels."""
        pl = np.asarray(polyline_px, float).reshape(-1, 2)
        if len(pl) < 2:
            raise CorrectionError("a hair needs at least two points (base and tip)")
        return self._push("add", author, polyline_px=pl.tolist(), diameter_um=diameter_um)

    def remove_hair(self, hair_id: int, author: str | None = None) -> Corrections:
        return self._push("remove", author, hair_id=int(hair_id))

    def merge(self, hair_ids: list[int], author: str | None = None) -> Corrections:
        if len(hair_ids) < 2:
            raise CorrectionError("merge needs at least two hair ids")
        return self._push("merge", author, hair_ids=[int(i) for i in hair_ids])

    def split(
        self, hair_id: int, n: int = 2, at_px: Any = None, author: str | None = None
    ) -> Corrections:
        """Split one detection into ``n`` hairs: side by side (a bundle, default) or, with
        ``at_px``, into two pieces end to end at that point."""
        if n < 2:
            raise CorrectionError("split needs n >= 2")
        at = None if at_px is None else [float(v) for v in at_px]
        return self._push("split", author, hair_id=int(hair_id), n=int(n), at_px=at)

    def set_diameter(self, hair_id: int, diameter_um: float, author: str | None = None):
        return self._push("set_diameter", author, hair_id=int(hair_id), diameter_um=diameter_um)

    # -- storage ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "edits": copy.deepcopy(self.edits)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Corrections:
        edits = list(d.get("edits", []))
        for e in edits:
            if e.get("op") not in OPS:
                raise CorrectionError(f"unknown edit {e.get('op')!r}")
        return cls(edits=copy.deepcopy(edits))

    # -- replay -----------------------------------------------------------------------------
    def apply(self, analysis: Analysis) -> Analysis:
        """Return a corrected copy of ``analysis`` (the original is untouched)."""
        hairs = {h.id: copy.deepcopy(h) for h in analysis.hairs}
        next_id = max(hairs, default=0) + 1
        H, W = analysis.image_shape
        upp = analysis.um_per_px
        med_d = float(np.median([h.diameter_um for h in hairs.values()])) if hairs else 60.0

        gone: dict[int, str] = {}  # hairs taken out by an earlier edit, and by which

        def get(i: int) -> Hair:
            if i in gone:
                raise CorrectionError(f"hair {i} was already {gone[i]} by an earlier correction")
            if i not in hairs:
                raise CorrectionError(f"no hair with id {i}")
            return hairs[i]

        def take(i: int, how: str) -> None:
            del hairs[i]
            gone[i] = how

        def new_hair(pl: np.ndarray, d: float, like: Hair | None = None) -> Hair:
            nonlocal next_id
            L = float(np.sum(np.hypot(*np.diff(pl, axis=0).T))) * upp
            bx, by = pl[0]
            inside = 0 <= bx < W and 0 <= by < H
            h = Hair(
                id=next_id,
                centreline_px=pl,
                length_um=L,
                diameter_um=float(d),
                unit_id=0,
                counted=bool(like.counted if like is not None else inside),
                touches_border=bool(like.touches_border) if like is not None else False,
                contrast=like.contrast if like is not None else 0.0,
                source="manual",
            )
            hairs[next_id] = h
            next_id += 1
            return h

        for e in self.edits:
            op = e.get("op")
            if op == "add":
                pl = np.asarray(e["polyline_px"], float).reshape(-1, 2)
                d = e.get("diameter_um")
                new_hair(pl, med_d if d is None else float(d))
            elif op == "remove":
                take(get(e["hair_id"]).id, "removed")
            elif op == "merge":
                parts = [get(i) for i in e["hair_ids"]]
                pl, _ = joined([p.centreline_px for p in parts])
                lens = np.array([p.length_um for p in parts])
                d = float(np.average([p.diameter_um for p in parts], weights=np.maximum(lens, 1)))
                for p in parts:
                    take(p.id, "merged")
                new_hair(pl, d, like=parts[0])
            elif op == "split":
                h = get(e["hair_id"])
                pl = np.asarray(h.centreline_px, float)
                take(h.id, "split")
                if e.get("at_px") is not None and len(pl) >= 2:
                    at = np.asarray(e["at_px"], float)
                    k = int(np.argmin(np.hypot(*(pl - at).T)))
                    k = min(max(k, 1), len(pl) - 1)
                    new_hair(np.vstack([pl[:k], at]), h.diameter_um, like=h)
                    new_hair(np.vstack([at, pl[k:]]), h.diameter_um, like=h)
                else:
                    n = int(e.get("n", 2))
                    t = np.array([[1.0, 0.0]])
                    if len(pl) > 1:
                        t = np.asarray(np.gradient(pl, axis=0))
                    t = t / np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
                    nrm = np.stack([-t[:, 1], t[:, 0]], axis=1)
                    w = h.diameter_um / n / upp
                    for j in range(n):
                        new_hair(pl + nrm * (j - (n - 1) / 2) * w, h.diameter_um / n, like=h)
            elif op == "set_diameter":
                h = get(e["hair_id"])
                h.diameter_um = float(e["diameter_um"])
                h.source = "manual"
            else:
                raise CorrectionError(f"unknown edit {op!r}")

        out = sorted(hairs.values(), key=lambda h: h.id)
        assign_units(out, upp)
        return Analysis(
            hairs=out,
            summary=summarize(out, analysis.field_area_cm2, analysis.terminal_cutoff_um),
            quality=copy.deepcopy(analysis.quality),
            um_per_px=upp,
            image_shape=analysis.image_shape,
            terminal_cutoff_um=analysis.terminal_cutoff_um,
            field_area_cm2=analysis.field_area_cm2,
            corrected=True,
            meta={**analysis.meta, "edits": len(self.edits)},
        )


def summaries_both(analysis: Analysis, corrections: Corrections | None) -> dict[str, Any]:
    """Automatic and corrected summaries side by side (the clinician sees both)."""
    auto = analysis.summary.to_dict()
    if corrections is None or not corrections.edits:
        return {"automatic": auto, "corrected": auto, "edits": 0}
    corr = corrections.apply(analysis)
    return {"automatic": auto, "corrected": corr.summary.to_dict(), "edits": len(corrections.edits)}
