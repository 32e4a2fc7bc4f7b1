"""The consultation panel on the patient page (inclusion tag, so patients/views.py
needs no knowledge of the assessment app)."""

from __future__ import annotations

from typing import Any

from django import template

from anagen.assessment import selectors, services
from anagen.assessment.labels import describe_answer, modality_label
from anagen.patients.models import Patient

register = template.Library()


@register.inclusion_tag("assessment/_panel.html")
def consultation_panel(patient: Patient) -> dict[str, Any]:
    c = selectors.consultation(patient)
    outcomes = []
    if c.screening is not None:
        overridden = services.standing_overrides(c.screening)
        for m, r in c.screening.modality_results():
            label = "BLOCK overridden" if r["outcome"] == "BLOCK" and m in overridden else ""
            outcomes.append((modality_label(m), label or r["outcome"]))
    return {
        "patient": patient,
        "steps": c.steps,
        "next_step": c.next_step,
        "screening": c.screening,
        "screening_current": c.screening_current,
        "screening_stale": c.screening_stale,
        "screening_outcomes": outcomes,
        "diagnosis": c.diagnosis,
        "plans": c.plans,
    }


@register.filter
def modality_names(codes: list[str] | tuple[str, ...]) -> str:
    """Stored modality codes as the words a clinician reads, comma-separated."""
    return ", ".join(modality_label(c) for c in codes or ())


@register.filter
def modality_name(code: str) -> str:
    """One stored modality code in words: ``{{ r.modality|modality_name }}``."""
    return modality_label(code)


@register.filter
def history_answer(value: Any, field: str) -> str:
    """A stored medical-history answer in words:
    ``{{ h.medications|history_answer:"medications" }}``."""
    return describe_answer(field, value)
