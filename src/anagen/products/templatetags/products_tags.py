"""Template tags for products: the dashboard card, numbers and extra CoA results."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone

from anagen.products import importers, selectors, services
from anagen.products.forms import CATEGORY_LABELS, NUMERIC_LABELS, TEXT_LABELS

register = template.Library()


@register.inclusion_tag("products/_dashboard_alerts.html", takes_context=True)
def product_alerts(context: template.Context) -> dict[str, Any]:
    """Quarantined, blocked, flagged and soon-expiring lots of the active clinic."""
    clinic = context["request"].clinic
    days = services.settings_for(clinic).expiry_warning_days
    return {"counts": selectors.dashboard_counts(clinic, timezone.localdate(), days)}


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
# A number in computer notation inside text: "5e+09", "1.1e+10", "2E-05".
_E_NOTATION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?)(\d+)(?![\w.])")
_COMPARISONS = {">=": "≥", "<=": "≤", "!=": "≠"}


def _power_of_ten(match: re.Match[str]) -> str:
    mantissa, sign, digits = match.groups()
    exponent = ("-" if sign == "-" else "") + (digits.lstrip("0") or "0")
    return f"{mantissa} × 10{exponent.translate(_SUPERSCRIPT)}"


def readable_number(value: Any) -> str:
    """A number as people write it: 5e9 → "5 × 10⁹", 1.1e10 → "1.1 × 10¹⁰", 0.25 → "0.25";
    in text, numbers in computer notation and ">=", "<=" are rewritten the same way
    (">= 2e+09 particles/µg" → "≥ 2 × 10⁹ particles/µg")."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if not math.isfinite(number):
            return str(value)
        big_or_tiny = abs(number) >= 1e5 or 0 < abs(number) < 1e-3
        text = f"{number:.3g}" if big_or_tiny else f"{number:g}"
    else:
        text = str(value)
    for computer, person in _COMPARISONS.items():
        text = text.replace(computer, person)
    return _E_NOTATION.sub(_power_of_ten, text)


@register.filter
def sci(value: Any) -> str:
    """``readable_number`` as a template filter: ``{{ product.labelled_particles_per_vial|sci }}``,
    ``{{ result.limit|sci }}``."""
    return readable_number(value)


@register.filter
def measured(value: Any) -> str:
    """Measured values: large counts as powers of ten (1.1 × 10¹⁰), others as printed."""
    return readable_number(value)


@register.inclusion_tag("products/_coa_extras.html")
def coa_extras(coa: Any) -> dict[str, Any]:
    """CoA results that no criterion of the spec checks (markers, sizes, potency...)."""
    spec_fields = {
        c.field for c in services.parsed_spec(services.current_spec(coa.clinic)).criteria
    }
    spec_fields.add("labelled_particles_per_ml")
    labels = {**NUMERIC_LABELS, **CATEGORY_LABELS, **TEXT_LABELS}
    extras = []
    for name in importers.RESULT_FIELDS:
        if name in coa.results and name not in spec_fields:
            raw = coa.results[name]
            value = (
                f"{readable_number(raw['value'])} {raw['unit']}"
                if isinstance(raw, dict)
                else readable_number(raw)
            )
            extras.append((labels.get(name, name), value))
    return {"extras": extras}
