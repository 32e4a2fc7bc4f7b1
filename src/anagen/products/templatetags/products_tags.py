"""Template tags for products: the dashboard card, numbers and extra CoA results."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from anagen.accounts.permissions import can
from anagen.products import coldchain, importers, selectors, services
from anagen.products.forms import CATEGORY_LABELS, NUMERIC_LABELS, TEXT_LABELS
from anagen.products.models import Lot
from anagen.products.numbers import readable_number

register = template.Library()


@register.inclusion_tag("products/_dashboard_alerts.html", takes_context=True)
def product_alerts(context: template.Context) -> dict[str, Any]:
    """Open recalls, quarantined, blocked, flagged and soon-expiring lots of the active clinic."""
    request = context["request"]
    clinic = request.clinic
    days = services.settings_for(clinic).expiry_warning_days
    return {
        "counts": selectors.dashboard_counts(clinic, timezone.localdate(), days),
        # A recalled lot links to its trace page (whom to contact) for those who may see it.
        "can_trace": can(request, "recall.manage"),
        # Taking vials out of stock (waste) is for those who may record it; a clinician is
        # told not to use them, not to do quality's work.
        "can_take_out": can(request, "coldchain.record"),
    }


@register.simple_tag(takes_context=True)
def lot_expiry(context: template.Context, lot: Lot) -> str:
    """``Lot.expiry_state`` on the page's day with the clinic's warning days ("expired",
    "today", "soon" or ""); read from the clinic when the view did not give them."""
    today = context.get("today") or timezone.localdate()
    days = context.get("warning_days")
    if days is None:
        days = services.settings_for(context["request"].clinic).expiry_warning_days
    return lot.expiry_state(today, days)


@register.filter
def sci(value: Any) -> str:
    """``readable_number`` as a template filter: ``{{ product.labelled_particles_per_vial|sci }}``,
    ``{{ result.limit|sci }}``."""
    return readable_number(value)


@register.filter
def temperature(value: Any) -> str:
    """A temperature as printed everywhere (``coldchain.temperature_text``): 5.0, 5.5, 8.05,
    −80.0; empty for no value. ``{{ reading.temperature_c|temperature }} °C``."""
    if value is None or value == "":
        return ""
    return coldchain.temperature_text(value)


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
