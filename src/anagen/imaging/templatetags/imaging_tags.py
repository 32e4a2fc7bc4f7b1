"""Template tags of the imaging panel: the phototrichogram block of the visit page (one per
trichoscopy photo), the correction log, the per-hair table and where a measurement comes from."""

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


@register.simple_tag
def correction_log(analysis: Any) -> list[selectors.LogEntry]:
    """``{% correction_log a as entries %}``: the analysis's corrections in words."""
    return selectors.correction_log(analysis)


@register.simple_tag
def recording_state(analysis: Any) -> selectors.RecordingState:
    """``{% recording_state a as rec %}``: is it (or may it become) the visit's measurement?"""
    return selectors.recording_state(analysis)


@register.simple_tag
def hair_rows(analysis: Any) -> list[selectors.HairRow]:
    """``{% hair_rows a as rows %}``: the per-hair table, automatic and corrected."""
    return selectors.hair_rows(analysis)


@register.simple_tag
def measurement_source(measurement: Any, short: bool = False) -> str:
    """``{% measurement_source m %}``: manual, or image analysis (automatic or corrected);
    ``short=True`` leaves out which photo."""
    return selectors.measurement_source(measurement, short=short)
