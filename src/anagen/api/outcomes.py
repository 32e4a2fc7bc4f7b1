"""Outcomes: patient progress, cohort analytics, treatment comparison (API)."""

from ninja import Router

router = Router(tags=["outcomes"])
