"""The phototrichogram block of the visit page's imaging panel (one per trichoscopy photo)."""

from __future__ import annotations

from typing import Any

from django import template

from anagen.imaging import selectors

register = template.Library()


@register.inclusion_tag("imaging/_comparison_panel.html", takes_context=True)
def phototrichogram(context: template.Context, photo: Any) -> dict[str, Any]:
    return {
        "photo": photo,
        "patient": context.get("patient"),
        "perms_here": context.get("perms_here", {}),
        "csrf_token": context.get("csrf_token"),
        "comparisons": selectors.comparisons_of_photo(photo),
        "candidates": selectors.earlier_photos_for(photo),
    }
