"""A course of treatment entered through the real services, on past dates (demo clock):
consultation (history, screening, exam, diagnosis, exosome plan, consent), a released lot,
and recorded exosome sessions with an injection map and vials."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

from django.utils import timezone

from anagen.core.demo import demo_clock
from anagen.products.models import Lot, VialDraw
from anagen.treatments import services as treatments
from anagen.treatments.models import TreatmentSession

from .. import builders
from ..builders import exosome_plan

MAP = [
    {"zone": "frontal", "points": 40, "volume_ml": 1.0, "spacing_mm": 10},
    {"zone": "vertex", "points": 30, "volume_ml": 0.5},
]


def consultation(patient, user, on: date):
    """History, screening, scalp exam, diagnosis, an accepted exosome plan and consent."""
    with demo_clock(on):
        return exosome_plan(patient, user, on=on, exam=True)


def released_lot(clinic, user, *, number: str = "LOT-TL-1", vials: int = 40) -> Lot:
    return builders.released_lot(
        clinic, user, number=number, vials=vials, expiry=date.today() + timedelta(days=400),
        received_days_ago=400,
    )  # fmt: skip


def record_sessions(plan, user, lot: Lot, days: list[date], **data) -> list[TreatmentSession]:
    """One exosome session per day, through treatments.services (checklist, map, vials)."""
    out = []
    for day in days:
        with demo_clock(day, time(11, 0)):
            out.append(
                treatments.record_session(
                    plan.clinic,
                    user,
                    plan,
                    {
                        "modality": "exosome",
                        "performed_on": day,
                        "needle_gauge": 30,
                        "depth_mm": "1.5",
                        **data,
                    },
                    map_entries=MAP,
                    vials=[treatments.VialRequest(lot, 1)],
                )  # fmt: skip
            )
    return out


def course(patient, user, *, first: date, sessions: int = 3, interval_weeks: int = 4):
    """Consultation a week before ``first`` and ``sessions`` sessions every ``interval_weeks``."""
    plan = consultation(patient, user, first - timedelta(days=7))
    lot = released_lot(patient.clinic, user)
    days = [first + timedelta(weeks=interval_weeks * i) for i in range(sessions)]
    return plan, lot, record_sessions(plan, user, lot, days)


def session_with_vials(patient, user, on: date, *lots: Lot) -> TreatmentSession:
    """An exosome session on ``on`` with one vial of each lot, under the patient's first
    plan (made if none). Written directly, not through the service: the session rules
    (checklist, stock, dates) are tested in tests/treatments."""
    plan = patient.treatment_plans.first() or exosome_plan(patient, user)
    session = TreatmentSession.objects.create(
        clinic=patient.clinic, patient=patient, plan=plan, modality="exosome",
        performed_on=on, clinician=user,
    )  # fmt: skip
    for lot in lots:
        VialDraw.objects.create(
            clinic=patient.clinic, lot=lot, patient=patient, quantity=1,
            dose_volume_ml=Decimal("1.0"), drawn_on=on, drawn_at=timezone.now(),
            drawn_by=user, session_ref=f"session:{session.pk}",
        )  # fmt: skip
    return session
