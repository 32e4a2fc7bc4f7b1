"""Reads of treatment sessions, always scoped to a clinic and patient."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from anagen.accounts.models import Clinic
from anagen.patients.models import Patient
from anagen.patients.selectors import MAX_DB_ID
from anagen.treatments.models import TreatmentSession


def sessions_of(patient: Patient) -> QuerySet[TreatmentSession]:
    return (
        TreatmentSession.objects.filter(patient=patient, clinic=patient.clinic)
        .select_related("clinician", "plan")
        .prefetch_related("map_entries")
    )


def get_session(patient: Patient, session_id: int) -> TreatmentSession:
    if not 0 < session_id <= MAX_DB_ID:
        raise Http404("No such session.")
    try:
        return sessions_of(patient).get(pk=session_id)
    except TreatmentSession.DoesNotExist as exc:
        raise Http404("No such session.") from exc


def active_plans(patient: Patient) -> QuerySet:
    from anagen.assessment.models import TreatmentPlan

    return TreatmentPlan.objects.filter(patient=patient, clinic=patient.clinic, status="active")


def get_plan(patient: Patient, plan_id: int):
    from anagen.assessment.models import TreatmentPlan

    if not 0 < plan_id <= MAX_DB_ID:
        raise Http404("No such plan.")
    try:
        return TreatmentPlan.objects.get(pk=plan_id, patient=patient, clinic=patient.clinic)
    except TreatmentPlan.DoesNotExist as exc:
        raise Http404("No such plan.") from exc


def usable_lots(clinic: Clinic, on_date):
    """Lots a session may draw from on `on_date` (released, unexpired, not blocked, stock)."""
    from anagen.products.models import Lot
    from anagen.products.services import usability_problems

    lots = Lot.objects.filter(clinic=clinic).select_related("product").order_by("expiry_date")
    return [lot for lot in lots if not usability_problems(lot, on_date)]
