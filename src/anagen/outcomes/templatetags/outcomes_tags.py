"""Formatting for outcomes pages: missing or undefined numbers show as an em dash; codes
show as words."""

from __future__ import annotations

import math
from typing import Any

from django import template

from anagen.assessment.labels import modality_label
from anagen.core.text import fixed

register = template.Library()


def _f(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@register.filter
def num(value: Any, decimals: int = 1) -> str:
    v = _f(value)
    return "—" if v is None else fixed(v, int(decimals))


@register.filter
def signed(value: Any, decimals: int = 1) -> str:
    v = _f(value)
    return "—" if v is None else fixed(v, int(decimals), signed=True)


@register.filter
def pvalue(value: Any) -> str:
    v = _f(value)
    if v is None:
        return "—"
    if v < 0.001:
        return "<0.001"
    # Below 0.1 three significant digits: three decimals printed 0.0496 as "0.050", the
    # other side of the usual 0.05 line from the value computed.
    return f"{v:.3g}" if v < 0.1 else f"{v:.3f}"


@register.filter
def pct(value: Any, decimals: int = 1) -> str:
    v = _f(value)
    return "—" if v is None else f"{100 * v:.{int(decimals)}f}%"


@register.filter
def ci(row: dict, decimals: int = 1) -> str:
    lo, hi = _f(row.get("lower")), _f(row.get("upper"))
    if lo is None or hi is None:
        return "—"
    return f"{lo:.{int(decimals)}f} to {hi:.{int(decimals)}f}"


@register.filter
def ci_pct(row: dict, decimals: int = 1) -> str:
    lo, hi = _f(row.get("lower")), _f(row.get("upper"))
    if lo is None or hi is None:
        return "—"
    return f"{100 * lo:.{int(decimals)}f}% to {100 * hi:.{int(decimals)}f}%"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return getattr(mapping, str(key), None)


@register.filter
def plan_names(plan: str) -> str:
    """A modelled plan key ("exosome+prp"; "none": untreated) in words."""
    if not plan or plan == "none":
        return "No treatment"
    return " + ".join(modality_label(p) for p in plan.split("+"))
