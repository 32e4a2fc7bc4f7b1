"""Scalp zones for injection maps: codes, SVG geometry, validation and totals (pure).

Zones are data; the drawing is simple rectangles clipped to a head outline, so zones are
easy to hit on a touch screen and the SVG stays small. Orientation:

- ``top``: seen from above, face at the top of the drawing. Seen from above and behind,
  the patient's left is on the LEFT of the drawing.
- ``side_left`` / ``side_right``: the patient's left (right) side, face towards the
  drawing's left (right) edge. Only zones visible from that side are drawn.

Fine grid: every zone splits into four cells ``<zone>.1``–``<zone>.4`` (1 front-left,
2 front-right, 3 back-left, 4 back-right as drawn in the top view). Cells roll up into their
zone for totals and side views. The codes map to FHIR ``Procedure.bodySite`` via a local
CodeSystem (REFERENCE.md A.5 FHIR mapping).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

ZONES: dict[str, str] = {
    "frontal": "Frontal",
    "mid_scalp": "Mid-scalp",
    "vertex": "Vertex / crown",
    "temporal_left": "Left temporal",
    "temporal_right": "Right temporal",
    "parietal_left": "Left parietal",
    "parietal_right": "Right parietal",
    "occipital": "Occipital",
}
_CELL_NAMES = {1: "front-left", 2: "front-right", 3: "back-left", 4: "back-right"}
CELLS: dict[str, str] = {
    f"{z}.{i}": f"{label}, {_CELL_NAMES[i]}" for z, label in ZONES.items() for i in range(1, 5)
}
ALL_CODES: dict[str, str] = {**ZONES, **CELLS}
VIEWS = ("top", "side_left", "side_right")
VIEW_LABELS = {"top": "Top", "side_left": "Left side", "side_right": "Right side"}

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1

# Top view, viewBox 0 0 200 240; head ellipse centre (100, 125), radii 82 × 108.
_TOP_VIEWBOX = (200, 240)
_TOP_HEAD = (100.0, 125.0, 82.0, 108.0)
_TOP: dict[str, Rect] = {
    "temporal_left": (18, 17, 65, 80),
    "frontal": (65, 17, 135, 80),
    "temporal_right": (135, 17, 182, 80),
    "parietal_left": (18, 80, 65, 180),
    "mid_scalp": (65, 80, 135, 130),
    "vertex": (65, 130, 135, 180),
    "parietal_right": (135, 80, 182, 180),
    "occipital": (18, 180, 182, 233),
}
# Side view (patient's left, face to the left), viewBox 0 0 240 200; head ellipse centre
# (120, 105), radii 100 × 85. Right side view mirrors x.
_SIDE_VIEWBOX = (240, 200)
_SIDE_HEAD = (120.0, 105.0, 100.0, 85.0)
_SIDE_LEFT: dict[str, Rect] = {
    "frontal": (20, 20, 85, 60),
    "mid_scalp": (85, 20, 150, 60),
    "vertex": (150, 20, 220, 60),
    "temporal_left": (20, 60, 85, 130),
    "parietal_left": (85, 60, 150, 130),
    "occipital": (150, 60, 220, 150),
}


def _mirror(rect: Rect, width: float) -> Rect:
    x0, y0, x1, y1 = rect
    return (width - x1, y0, width - x0, y1)


_SIDE_RIGHT: dict[str, Rect] = {
    k.replace("_left", "_right"): _mirror(r, _SIDE_VIEWBOX[0]) for k, r in _SIDE_LEFT.items()
}


def _cells(rect: Rect) -> dict[int, Rect]:
    x0, y0, x1, y1 = rect
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    return {1: (x0, y0, xm, ym), 2: (xm, y0, x1, ym), 3: (x0, ym, xm, y1), 4: (xm, ym, x1, y1)}


def _path(rect: Rect) -> str:
    x0, y0, x1, y1 = rect
    return f"M{x0:g} {y0:g}H{x1:g}V{y1:g}H{x0:g}Z"


def zone_paths(view: str) -> dict[str, str]:
    """SVG path data per zone (and per cell in the top view) for ``view``."""
    view = _check_view(view)
    if view == "top":
        out = {z: _path(r) for z, r in _TOP.items()}
        for z, r in _TOP.items():
            out.update({f"{z}.{i}": _path(c) for i, c in _cells(r).items()})
        return out
    rects = _SIDE_LEFT if view == "side_left" else _SIDE_RIGHT
    return {z: _path(r) for z, r in rects.items()}


def parent_zone(code: str) -> str:
    return code.split(".", 1)[0]


def _check_view(view: str) -> str:
    if view == "side":
        return "side_left"
    if view not in VIEWS:
        raise ValueError(f"view: unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    return view


# --- entries, validation, totals -----------------------------------------------------------


@dataclass(frozen=True)
class MapEntry:
    zone: str  # a code from ALL_CODES
    points: int  # number of injection points
    volume_ml: float  # volume injected in the zone
    spacing_mm: float | None = None
    depth_mm: float | None = None


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class MapError(ValueError):
    """Raised by functions that need a valid map; ``errors`` lists every problem."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def _get(entry: MapEntry | Mapping[str, Any], name: str) -> Any:
    return entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, None)


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def validate_map(
    entries: Iterable[MapEntry | Mapping[str, Any]], prefix: str = "entries"
) -> list[FieldError]:
    """Every problem in an injection map, each naming ``<prefix>[i].<field>``.

    Checks types and signs only, so that any map once stored can still be drawn; what a new
    session may record is checked by ``check_recording_limits`` as well.
    """
    errors: list[FieldError] = []
    for i, e in enumerate(entries):
        pre = f"{prefix}[{i}]"
        zone = _get(e, "zone")
        if not isinstance(zone, str) or zone not in ALL_CODES:
            errors.append(FieldError(f"{pre}.zone", f"unknown zone {zone!r}"))
        points = _get(e, "points")
        if points in ("", None):
            errors.append(FieldError(f"{pre}.points", "give the number of injection points"))
            points = None
        elif isinstance(points, bool) or not isinstance(points, int):
            errors.append(FieldError(f"{pre}.points", f"must be a whole number, got {points!r}"))
            points = None
        elif points < 0:
            errors.append(FieldError(f"{pre}.points", "must not be negative"))
        volume = _get(e, "volume_ml")
        if volume in ("", None):
            errors.append(FieldError(f"{pre}.volume_ml", "give the volume injected (mL)"))
        elif not _is_number(volume):
            errors.append(FieldError(f"{pre}.volume_ml", f"must be a number, got {volume!r}"))
        elif volume < 0:
            errors.append(FieldError(f"{pre}.volume_ml", "must not be negative"))
        elif volume > 0 and points == 0:
            errors.append(FieldError(f"{pre}.points", "volume recorded without injection points"))
        for name in ("spacing_mm", "depth_mm"):
            v = _get(e, name)
            if v is None:
                continue
            if not _is_number(v):
                errors.append(FieldError(f"{pre}.{name}", f"must be a number, got {v!r}"))
            elif v < 0:
                errors.append(FieldError(f"{pre}.{name}", "must not be negative"))
    return errors


# Hard limits for recording a session: values no real scalp session reaches, so that a typo
# (1000000 points, 5000 mL) or a hostile client is refused instead of stored. They are not
# the clinical limits (those are the protocol's and warn, see ``check_limits``): a session
# gives about 1 mL of exosome product or 5–7 mL of PRP (REFERENCE.md A.3), at about 1 cm
# spacing, i.e. tens of points per zone.
# - 20 mL in one zone: over twice a whole PRP session in one zone.
# - 50 mL per session: several times the largest protocol; beyond it is a units error.
# - 1000 points in one zone: 1 point per 2 mm over the largest zone (about 40 cm²).
# - 5000 points per session: the per-zone ceiling over the scalp's whole area.
# - 50 mm spacing, 10 mm depth: the scalp is 5–7 mm thick; 5 cm apart leaves zones empty.
# - 10000 grafts per row or per session: the largest reported FUE megasessions are
#   about 6000–8000 grafts.
MAX_POINTS_PER_ZONE = 1000
MAX_VOLUME_ML_PER_ZONE = 20.0
MAX_POINTS_PER_SESSION = 5000
MAX_VOLUME_ML_PER_SESSION = 50.0
MAX_SPACING_MM = 50.0
MAX_DEPTH_MM = 10.0
MAX_GRAFTS_PER_ROW = 10000
MAX_GRAFTS_PER_SESSION = 10000
# Volumes are stored to 0.01 mL (rounded half up): a recorded zone needs at least that much.
VOLUME_STEP_ML = Decimal("0.01")


def stored_volume_ml(volume: float) -> Decimal:
    """``volume`` as it is stored: rounded half up to ``VOLUME_STEP_ML``."""
    return Decimal(str(volume)).quantize(VOLUME_STEP_ML, rounding=ROUND_HALF_UP)


def check_recording_limits(
    entries: Iterable[MapEntry | Mapping[str, Any]], prefix: str = "entries"
) -> list[FieldError]:
    """What ``validate_map`` allows but a new session may not record: a zone listed twice,
    a zone without injection points or whose volume is 0 mL once stored (rounded to
    ``VOLUME_STEP_ML``), values past the hard limits above (per entry, and over the session
    under ``map``).

    Entries with values of the wrong type are skipped (``validate_map`` reports them).
    """
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    total_points, total_volume = 0, 0.0
    for i, e in enumerate(entries):
        pre = f"{prefix}[{i}]"
        zone = _get(e, "zone")
        if isinstance(zone, str):
            if zone in seen:
                errors.append(
                    FieldError(
                        f"{pre}.zone",
                        f"zone listed twice ({prefix}[{seen[zone]}] too); give one row per zone",
                    )
                )
            else:
                seen[zone] = i
        points = _get(e, "points")
        volume = _get(e, "volume_ml")
        # points == 0 with a volume is reported by validate_map; negatives too.
        if points == 0 and not isinstance(points, bool) and not (_is_number(volume) and volume > 0):
            errors.append(
                FieldError(
                    f"{pre}.points",
                    "at least one injection point; leave out a zone that was not injected",
                )
            )
        if _is_number(volume) and 0 <= volume < 1 and stored_volume_ml(volume) <= 0:
            errors.append(
                FieldError(
                    f"{pre}.volume_ml",
                    f"must be at least {VOLUME_STEP_ML} mL (volumes are stored to "
                    f"{VOLUME_STEP_ML} mL); leave out a zone that was not injected",
                )
            )
        if not isinstance(points, bool) and isinstance(points, int):
            if points > MAX_POINTS_PER_ZONE:
                errors.append(
                    FieldError(f"{pre}.points", f"at most {MAX_POINTS_PER_ZONE} points per zone")
                )
            else:
                total_points += max(points, 0)
        if _is_number(volume):
            if volume > MAX_VOLUME_ML_PER_ZONE:
                errors.append(
                    FieldError(
                        f"{pre}.volume_ml", f"at most {MAX_VOLUME_ML_PER_ZONE:g} mL per zone"
                    )
                )
            else:
                total_volume += max(volume, 0.0)
        for name, maximum in (("spacing_mm", MAX_SPACING_MM), ("depth_mm", MAX_DEPTH_MM)):
            v = _get(e, name)
            if _is_number(v) and v > maximum:
                errors.append(FieldError(f"{pre}.{name}", f"at most {maximum:g} mm"))
    if total_points > MAX_POINTS_PER_SESSION:
        errors.append(
            FieldError(
                prefix,
                f"{total_points} points in all; at most {MAX_POINTS_PER_SESSION} per session",
            )
        )
    if total_volume > MAX_VOLUME_ML_PER_SESSION + _TOLERANCE_ML:
        errors.append(
            FieldError(
                prefix,
                f"{total_volume:g} mL in all; at most {MAX_VOLUME_ML_PER_SESSION:g} mL per session",
            )
        )
    return errors


def zone_of(code: str) -> str:
    """The zone a code belongs to: the zone itself, or the zone a fine-grid cell is in."""
    return code.split(".", 1)[0]


def check_grid(
    entries: Iterable[MapEntry | Mapping[str, Any]], fine_grid: bool, prefix: str = "entries"
) -> list[FieldError]:
    """A new map is drawn either in whole zones or in fine-grid cells, as ``fine_grid``
    says: a zone recorded with its own cells would be hidden by them in the drawing, and its
    points counted twice. Errors name ``<prefix>[i].zone``; unknown codes are skipped
    (``validate_map`` reports them)."""
    errors: list[FieldError] = []
    listed: dict[str, int] = {}
    rows = [(i, _get(e, "zone")) for i, e in enumerate(entries)]
    rows = [(i, z) for i, z in rows if isinstance(z, str) and z in ALL_CODES]
    for i, code in rows:
        listed.setdefault(code, i)
    for i, code in rows:
        pre = f"{prefix}[{i}].zone"
        if code in ZONES:
            cells = [f"{prefix}[{listed[c]}]" for c in CELLS if zone_of(c) == code and c in listed]
            if cells:
                errors.append(
                    FieldError(
                        pre,
                        f"{ZONES[code]} is recorded both as a whole zone and as its fine-grid "
                        f"cells ({', '.join(cells)}); record one or the other",
                    )
                )
            elif fine_grid:
                errors.append(
                    FieldError(
                        pre,
                        f"{code} is a whole zone but the fine grid is on: record its cells "
                        f"({code}.1–{code}.4), or turn the fine grid off",
                    )
                )
        elif not fine_grid and zone_of(code) not in listed:
            errors.append(
                FieldError(
                    pre,
                    f"{code} is a fine-grid cell but the fine grid is off: record the whole "
                    f"zone ({zone_of(code)}), or turn the fine grid on",
                )
            )
    return errors


@dataclass(frozen=True)
class ZoneTotal:
    points: int = 0
    volume_ml: float = 0.0


@dataclass(frozen=True)
class MapTotals:
    points: int
    volume_ml: float
    by_zone: dict[str, ZoneTotal] = field(default_factory=dict)  # cells rolled up into zones
    by_code: dict[str, ZoneTotal] = field(default_factory=dict)  # as entered (zones or cells)


def _add(d: dict[str, ZoneTotal], key: str, points: int, volume: float) -> None:
    t = d.get(key, ZoneTotal())
    d[key] = ZoneTotal(t.points + points, t.volume_ml + volume)


def map_totals(entries: Iterable[MapEntry | Mapping[str, Any]]) -> MapTotals:
    """Totals over the map, per zone and per entered code; raises MapError if invalid."""
    items = list(entries)
    errors = validate_map(items)
    if errors:
        raise MapError(errors)
    by_zone: dict[str, ZoneTotal] = {}
    by_code: dict[str, ZoneTotal] = {}
    for e in items:
        code, pts, vol = _get(e, "zone"), _get(e, "points"), float(_get(e, "volume_ml"))
        _add(by_zone, parent_zone(code), pts, vol)
        _add(by_code, code, pts, vol)
    points = sum(t.points for t in by_zone.values())
    # math.fsum so 0.1 + 0.2 + … does not drift past a limit by rounding alone.
    volume = math.fsum(float(_get(e, "volume_ml")) for e in items)
    return MapTotals(points, volume, by_zone, by_code)


@dataclass(frozen=True)
class LimitWarning:
    code: str  # exceeds_vial | exceeds_protocol
    message: str


_TOLERANCE_ML = 1e-6  # rounding, not clinical tolerance


def check_limits(
    totals: MapTotals, vial_volume_ml_used: float | None, protocol_max_ml: float | None
) -> list[LimitWarning]:
    """Warnings when the injected volume exceeds the drawn vial volume or the protocol limit.

    Either limit may be None (not known) and is then skipped. A PRP protocol maximum is
    7 mL per session (REFERENCE.md A.3.2; ``protocols.TEMPLATES["prp_standard"]``).
    """
    warnings: list[LimitWarning] = []
    for name, v in (
        ("vial_volume_ml_used", vial_volume_ml_used),
        ("protocol_max_ml", protocol_max_ml),
    ):
        if v is not None and (not _is_number(v) or v < 0):
            raise ValueError(f"{name}: must be a number ≥ 0, got {v!r}")
    injected = totals.volume_ml
    if vial_volume_ml_used is not None and injected > vial_volume_ml_used + _TOLERANCE_ML:
        warnings.append(
            LimitWarning(
                "exceeds_vial",
                f"Injected {injected:g} mL is more than the {vial_volume_ml_used:g} mL drawn "
                "from the vials; check the map or the vial record.",
            )
        )
    if protocol_max_ml is not None and injected > protocol_max_ml + _TOLERANCE_ML:
        warnings.append(
            LimitWarning(
                "exceeds_protocol",
                f"Injected {injected:g} mL exceeds the protocol limit of {protocol_max_ml:g} mL "
                "per session.",
            )
        )
    return warnings


# --- SVG -----------------------------------------------------------------------------------

_BASE_FILL = "#f3efe8"
_INK = "#1f5f8b"
_STROKE = "#6b6b6b"
_ERROR = "#b3261e"  # the pages' --danger


def _describe(code: str, t: ZoneTotal) -> str:
    return f"{ALL_CODES[code]}: {t.volume_ml:g} mL, {t.points} points"


def render_scalp_svg(
    map_entries: Iterable[MapEntry | Mapping[str, Any]],
    view: str = "top",
    interactive: bool = False,
    *,
    fine_grid: bool = False,
    id_suffix: str = "",
    error_codes: Collection[str] = (),
) -> str:
    """An SVG of the scalp with each zone shaded by injected volume.

    Interactive maps give every zone ``role="button"``, ``tabindex="0"``, an aria-label with
    its volume and points, and ``data-zone`` for the page script (htmx) to pick up. In the
    top view, zones entered as cells are drawn as cells; ``fine_grid`` draws every cell
    (for entering a fine-grid map). Side views roll cells up into their zone.
    ``id_suffix`` (letters, digits, ``-``) keeps the clip-path id unique when a page shows
    several maps of the same view (the patient timeline's thumbnails). ``error_codes``: zones
    or cells whose row of the form was refused; they are outlined in red (drawn last, so no
    neighbour covers the outline) and their label says so.
    """
    view = _check_view(view)
    totals = map_totals(map_entries)
    paths = zone_paths(view)
    if view == "top":
        cell_zones = {parent_zone(c) for c in totals.by_code if "." in c}
        codes = []
        for z in _TOP:
            if fine_grid or z in cell_zones:
                codes += [f"{z}.{i}" for i in range(1, 5)]
            else:
                codes.append(z)
        width, height = _TOP_VIEWBOX
        cx, cy, rx, ry = _TOP_HEAD
        # Nose marks the front.
        extras = '<path d="M92 18L100 4L108 18Z" fill="none" stroke="#6b6b6b"/>'
    else:
        codes = list(paths)
        width, height = _SIDE_VIEWBOX
        cx, cy, rx, ry = _SIDE_HEAD
        nose = "M21 105L6 122L22 128Z" if view == "side_left" else "M219 105L234 122L218 128Z"
        ear_x = 125 if view == "side_left" else width - 125
        extras = (
            f'<path d="{nose}" fill="none" stroke="#6b6b6b"/>'
            f'<ellipse cx="{ear_x}" cy="150" rx="9" ry="15" fill="none" stroke="#6b6b6b"/>'
        )

    def total_for(code: str) -> ZoneTotal:
        if "." in code:
            return totals.by_code.get(code, ZoneTotal())
        return totals.by_zone.get(code, ZoneTotal())

    shown = {c: total_for(c) for c in codes}
    vmax = max((t.volume_ml for t in shown.values()), default=0.0)
    view_words = {"top": "top view", "side_left": "left side view", "side_right": "right side view"}
    summary = (
        f"Scalp injection map, {view_words[view]}: {totals.volume_ml:g} mL in "
        f"{totals.points} points"
    )
    if id_suffix and not all(c.isascii() and (c.isalnum() or c == "-") for c in id_suffix):
        raise ValueError(f"id_suffix: letters, digits and '-' only, got {id_suffix!r}")
    clip_id = f"anagen-scalp-clip-{view}{'-' + id_suffix if id_suffix else ''}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="scalp-map scalp-map-{view}" role="{"group" if interactive else "img"}" '
        f"aria-label={quoteattr(summary)}>",
        f"<title>{escape(summary)}</title>",
        f'<defs><clipPath id="{clip_id}"><ellipse cx="{cx:g}" cy="{cy:g}" rx="{rx:g}" '
        f'ry="{ry:g}"/></clipPath></defs>',
        f'<ellipse cx="{cx:g}" cy="{cy:g}" rx="{rx:g}" ry="{ry:g}" fill="{_BASE_FILL}"/>',
        f'<g clip-path="url(#{clip_id})">',
    ]
    refused = {c for c in codes if c in error_codes or parent_zone(c) in error_codes}
    for code in sorted(codes, key=lambda c: c in refused):
        t = shown[code]
        # Opacity 0.15–0.9 scaled to the largest zone so small volumes stay visible.
        opacity = 0.0 if vmax <= 0 or t.volume_ml <= 0 else 0.15 + 0.75 * t.volume_ml / vmax
        label = _describe(code, t)
        stroke = f'stroke="{_STROKE}" stroke-width="0.6"'
        if code in refused:
            label += " (this row was refused: see the table)"
            stroke = f'stroke="{_ERROR}" stroke-width="2.5" class="zone-error"'
        attrs = (
            f'd="{paths[code]}" fill="{_INK}" fill-opacity="{opacity:.2f}" {stroke} '
            f'data-zone="{code}" data-volume-ml="{t.volume_ml:g}" '
            f'data-points="{t.points}"'
        )
        if interactive:
            attrs += f' role="button" tabindex="0" aria-label={quoteattr(label)}'
        out.append(f"<path {attrs}><title>{escape(label)}</title></path>")
    out.append("</g>")
    out.append(
        f'<ellipse cx="{cx:g}" cy="{cy:g}" rx="{rx:g}" ry="{ry:g}" fill="none" '
        f'stroke="{_STROKE}" stroke-width="1.5"/>'
    )
    out.append(extras)
    out.append("</svg>")
    return "".join(out)
