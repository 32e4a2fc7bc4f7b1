"""A course of treatment entered through the real services, on past dates (demo clock):
consultation (history, screening, exam, diagnosis, exosome plan, consent), a released lot,
and recorded exosome sessions with an injection map and vials."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

from django.utils import timezone

from anagen.assessment import services as assessment
from anagen.core.demo import demo_clock
from anagen.products.models import Lot, LotStatus, Product
from anagen.treatments import services as treatments
from anagen.treatments.models import TreatmentSession

MAP = [
    {"zone": "frontal", "points": 40, "volume_ml": 1.0, "spacing_mm": 10},
    {"zone": "vertex", "points": 30, "volume_ml": 0.5},
]


def consultation(patient, user, on: date):
    """History, screening, scalp exam, diagnosis, an accepted exosome plan and consent."""
    female = patient.sex_at_birth == "female"
    with demo_clock(on):
        history = {"recorded_on": on}
        if female:
            history |= {"pregnant": False, "lactating": False}
        assessment.record_history(patient, user, history)
        assessment.run_screening(patient, user)
        exam = {"examined_on": on, "ludwig": "II"} if female else {
            "examined_on": on, "norwood_hamilton": "III"
        }  # fmt: skip
        assessment.record_exam(patient, user, exam)
        assessment.record_diagnosis(
            patient, user, {"condition": "aga_female" if female else "aga_male", "diagnosed_on": on}
        )
        found, missing = assessment.proposals(patient)
        assert not missing, missing
        exosome = next(p for p in found if p.key.startswith("exosome") and not p.blocked_modalities)
        plan = assessment.accept_plan(patient, user, {"proposal_key": exosome.key})
        assessment.record_consent(
            plan, user, modality="exosome", signed_name=patient.full_name, signed_on=on
        )
    return plan


def released_lot(clinic, user, *, number: str = "LOT-TL-1", vials: int = 40) -> Lot:
    product, _ = Product.objects.get_or_create(
        clinic=clinic,
        manufacturer="Acme Bio",
        name="UC-MSC exosomes",
        defaults={
            "source_tissue": "umbilical_cord",
            "donor_type": "allogeneic",
            "form": "frozen_liquid",
            "labelled_particles_per_vial": 1e10,
            "volume_ml": Decimal("2.0"),
            "storage_min_temperature_c": -90,
            "storage_max_temperature_c": -60,
            "storage_requirement": "−80 °C",
        },
    )
    # Released directly: the release workflow is tested in tests/products.
    return Lot.objects.create(
        clinic=clinic,
        product=product,
        lot_number=number,
        expiry_date=date.today() + timedelta(days=400),
        quantity_received=vials,
        quantity_on_hand=vials,
        status=LotStatus.RELEASED,
        received_at=timezone.now() - timedelta(days=400),
        received_by=user,
    )


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
