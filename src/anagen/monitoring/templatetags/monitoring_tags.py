"""Dashboard card and patient panel of the monitoring app."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from anagen.accounts.permissions import can
from anagen.monitoring import selectors
from anagen.monitoring.models import ScheduledVisit

register = template.Library()

CARD_LIMIT = 8


@register.inclusion_tag("monitoring/_dashboard_card_body.html", takes_context=True)
def monitoring_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    today = timezone.localdate()
    overdue = selectors.overdue(request.clinic, today)
    shown = can(request, "adverse_event.view")
    events = selectors.reportable_events(request.clinic)
    return {
        "show_events": shown,
        "events": list(events[:CARD_LIMIT]) if shown else [],
        "event_count": events.count() if shown else 0,
        "overdue": list(overdue[:CARD_LIMIT]),
        "overdue_count": overdue.count(),
        # "0 overdue" beside the agenda's "past due" read as a contradiction (review): say
        # what overdue means here.
        "grace_days": selectors.thresholds_for(request.clinic).overdue_grace_days,
        # Still to come today: a visit already done is not waiting.
        "today_count": selectors.agenda(request.clinic, today, today)
        .filter(status=ScheduledVisit.Status.PLANNED)
        .count(),
    }


@register.inclusion_tag("monitoring/_patient_panel_body.html", takes_context=True)
def monitoring_patient_panel(context: dict[str, Any], patient: Any) -> dict[str, Any]:
    # A voided record has no appointments to come: they left the agenda and reminders with it.
    upcoming = [] if patient.is_voided else selectors.mark_overdue(
        patient.clinic,
        [sv for sv in selectors.schedule_of(patient) if sv.status == sv.Status.PLANNED][:5],
    )  # fmt: skip
    return {
        "patient": patient,
        "perms_here": context.get("perms_here", {}),
        "visits": list(selectors.visits_of(patient).order_by("-visit_date", "-id")[:5]),
        "upcoming": upcoming,
        "show_events": context.get("perms_here", {}).get("adverse_event.view", False),
        "events": list(selectors.adverse_events_of(patient)[:5]),
    }
