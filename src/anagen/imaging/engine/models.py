"""Result types of the engine and the summary computed from a list of hairs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

DIAMETER_BINS_UM = (
    (0.0, 30.0, "<30"),
    (30.0, 40.0, "30-40"),
    (40.0, 60.0, "40-60"),
    (60.0, float("inf"), ">60"),
)


@dataclass
class Hair:
    """One detected hair. Coordinates are image pixels (x, y), base end first."""

    id: int
    centreline_px: np.ndarray
    length_um: float
    diameter_um: float
    unit_id: int
    counted: bool = True  # base inside the analysed field
    touches_border: bool = False
    contrast: float = 0.0  # fitted optical contrast (positive: darker than skin)
    source: str = "auto"  # "auto" or "manual"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": int(self.id),
            "centreline_px": np.round(np.asarray(self.centreline_px, float), 2).tolist(),
            "length_um": round(float(self.length_um), 2),
            "diameter_um": round(float(self.diameter_um), 2),
            "unit_id": int(self.unit_id),
            "counted": bool(self.counted),
            "touches_border": bool(self.touches_border),
            "contrast": round(float(self.contrast), 4),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Hair:
        d = dict(d)
        d["centreline_px"] = np.asarray(d["centreline_px"], float).reshape(-1, 2)
        return cls(**d)


@dataclass
class Summary:
    count: int
    field_area_cm2: float
    density_per_cm2: float
    follicular_units: int
    follicular_units_per_cm2: float
    hairs_per_unit_mean: float
    hairs_per_unit: dict[str, int]
    diameter_mean_um: float | None
    diameter_median_um: float | None
    diameter_cv: float | None
    diameter_bins: dict[str, int]
    terminal_cutoff_um: float
    terminal_count: int
    vellus_count: int
    terminal_pct: float | None
    vellus_pct: float | None
    terminal_density_per_cm2: float
    vellus_density_per_cm2: float
    cumulative_thickness_mm_per_cm2: float
    mean_length_um: float | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 4)
        return out


@dataclass
class Analysis:
    """Result of :func:`analyze`: per-hair records, summary, quality flags and metrics."""

    hairs: list[Hair]
    summary: Summary
    quality: dict[str, Any]
    um_per_px: float
    image_shape: tuple[int, int]
    terminal_cutoff_um: float = 40.0
    field_area_cm2: float = 0.0
    corrected: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, include_hairs: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "um_per_px": float(self.um_per_px),
            "image_shape": [int(x) for x in self.image_shape],
            "terminal_cutoff_um": float(self.terminal_cutoff_um),
            "field_area_cm2": round(float(self.field_area_cm2), 6),
            "corrected": bool(self.corrected),
            "summary": self.summary.to_dict(),
            "quality": _jsonable(self.quality),
            "meta": _jsonable(self.meta),
        }
        if include_hairs:
            d["hairs"] = [h.to_dict() for h in self.hairs]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Analysis:
        hairs = [Hair.from_dict(h) for h in d.get("hairs", [])]
        s = dict(d["summary"])
        return cls(
            hairs=hairs,
            summary=Summary(**s),
            quality=dict(d.get("quality", {})),
            um_per_px=float(d["um_per_px"]),
            image_shape=tuple(d["image_shape"]),
            terminal_cutoff_um=float(d["terminal_cutoff_um"]),
            field_area_cm2=float(d["field_area_cm2"]),
            corrected=bool(d.get("corrected", False)),
            meta=dict(d.get("meta", {})),
        )


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating | float):
        return round(float(x), 6)
    return x


def summarize(hairs: list[Hair], field_area_cm2: float, terminal_cutoff_um: float) -> Summary:
    """Field summary over the counted hairs (those whose base is inside the field)."""
    hs = [h for h in hairs if h.counted]
    n = len(hs)
    area = float(field_area_cm2)
    d = np.array([h.diameter_um for h in hs], float)
    units: dict[int, int] = {}
    for h in hs:
        units[h.unit_id] = units.get(h.unit_id, 0) + 1
    per_unit = {"1": 0, "2": 0, "3": 0, "4+": 0}
    for c in units.values():
        per_unit[str(c) if c < 4 else "4+"] += 1
    bins = {label: int(np.sum((d >= lo) & (d < hi))) for lo, hi, label in DIAMETER_BINS_UM}
    term = int(np.sum(d > terminal_cutoff_um))
    vel = n - term
    lengths = np.array([h.length_um for h in hs], float)
    return Summary(
        count=n,
        field_area_cm2=area,
        density_per_cm2=n / area,
        follicular_units=len(units),
        follicular_units_per_cm2=len(units) / area,
        hairs_per_unit_mean=(n / len(units)) if units else 0.0,
        hairs_per_unit=per_unit,
        diameter_mean_um=float(d.mean()) if n else None,
        diameter_median_um=float(np.median(d)) if n else None,
        diameter_cv=float(d.std(ddof=1) / d.mean()) if n > 1 and d.mean() > 0 else None,
        diameter_bins=bins,
        terminal_cutoff_um=float(terminal_cutoff_um),
        terminal_count=term,
        vellus_count=vel,
        terminal_pct=100.0 * term / n if n else None,
        vellus_pct=100.0 * vel / n if n else None,
        terminal_density_per_cm2=term / area,
        vellus_density_per_cm2=vel / area,
        # Sum of diameters (mm) per cm² of field: TrichoScan's "hair mass".
        cumulative_thickness_mm_per_cm2=float(d.sum()) * 1e-3 / area,
        mean_length_um=float(lengths.mean()) if n else None,
    )
