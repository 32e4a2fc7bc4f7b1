"""Demo treatment sessions, recorded through ``services.record_session``.

Two parts, both idempotent:

* ``load_demo`` (a core demo step): every consultation-demo patient whose plan has valid
  signed consent gets session 1 of each consented modality *today* (the assessment demo
  signs consents today, and a session can be neither in the future nor before its consent),
  with a follow-up schedule from that day, so the agenda shows their coming visits.
* helpers used by ``anagen.monitoring.demo`` to replay the simulated patients' past courses
  (sessions on their true simulated dates, vials from lots that were released then).

Maps and volumes follow REFERENCE.md A.3: exosome 1 vial (1 mL) per session, 30 G at
1 cm spacing; PRP 5–7 mL from a double spin, 30 G, 2–4 mm deep.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.products import services as product_services
from anagen.products.models import Lot, LotStatus, Product
from anagen.treatments import services
from anagen.treatments.models import Modality, TreatmentSession

# Zone → (points, mL, spacing mm). Totals: exosome 30 points / 1.0 mL (one 1 mL vial);
# PRP 60 points / 6.0 mL (within the 7 mL protocol limit).
EXOSOME_MAP = {
    "frontal": (10, 0.35, 10),
    "mid_scalp": (10, 0.35, 10),
    "vertex": (10, 0.30, 10),
}
PRP_MAP = {
    "frontal": (16, 1.6, 10),
    "mid_scalp": (16, 1.6, 10),
    "vertex": (18, 1.8, 10),
    "parietal_left": (5, 0.5, 10),
    "parietal_right": (5, 0.5, 10),
}
PRP_PREP = {
    "blood_volume_ml": 20,
    "spin_protocol": "Double spin: 1,500 g × 5 min, then 2,500 g × 10 min; not activated",
    "platelet_concentration_10e9_per_l": 1150,
}
TRANSPLANT_GRAFTS = [
    {"zone": "frontal", "grafts": 1450, "technique": "FUE"},
    {"zone": "mid_scalp", "grafts": 650, "technique": "FUE"},
]
# Historical lots the simulated courses drew from (received and released back then).
HISTORY_LOTS = (("UC-2510-H", -30, 260), ("UC-2605-H", 200, 560))
HISTORY_LOT_VIALS = 60


def _entries(zones: dict[str, tuple[int, float, int]]) -> list[dict[str, Any]]:
    return [
        {"zone": z, "points": p, "volume_ml": v, "spacing_mm": s} for z, (p, v, s) in zones.items()
    ]


def exosome_product(clinic: Clinic) -> Product | None:
    """The demo's 1 mL frozen EV product (one vial per session)."""
    return (
        Product.objects.filter(clinic=clinic, volume_ml=1).order_by("id").first()
        or Product.objects.filter(clinic=clinic).order_by("id").first()
    )


def usable_lot(clinic: Clinic, on: date) -> Lot | None:
    """A released, unblocked 1 mL lot usable on ``on``; the one expiring first."""
    product = exosome_product(clinic)
    lots = Lot.objects.filter(
        clinic=clinic, product=product, status=LotStatus.RELEASED, blocked=False
    ).order_by("expiry_date", "id")
    for lot in lots:
        if not product_services.usability_problems(lot, on):
            return lot
    return None


def ensure_history_lots(clinic: Clinic, users: dict[str, User], start: date) -> None:
    """Lots received, tested and released before the simulated courses (clock set back)."""
    from anagen.core.demo import demo_clock
    from anagen.products.demo import _coa
    from anagen.products.models import StorageLocation

    product = exosome_product(clinic)
    if product is None:
        return
    quality = users["quality"]
    freezer = StorageLocation.objects.filter(clinic=clinic).order_by("id").first()
    for number, received_day, expiry_day in HISTORY_LOTS:
        if Lot.objects.filter(clinic=clinic, lot_number=number).exists():
            continue
        received = start + timedelta(days=received_day)
        with demo_clock(received):
            lot = product_services.receive_lot(
                clinic, quality, product=product, lot_number=number,
                expiry_date=start + timedelta(days=expiry_day),
                quantity_received=HISTORY_LOT_VIALS, storage_location=freezer,
                received_at=timezone.now(),
                supplier_notes="Delivered on dry ice; data logger attached.",
            )  # fmt: skip
            product_services.record_coa(
                lot, quality, testing_laboratory="Meridian Analytical Services (demo)",
                certificate_lot_number=lot.lot_number,
                third_party_laboratory=True, nta_method="NTA (ZetaView)",
                cgmp_statement="Manufactured under cGMP (vendor statement)",
                results=_coa(product.labelled_particles_per_ml),
            )  # fmt: skip
        with demo_clock(received + timedelta(days=2)):
            product_services.release_lot(lot, quality, "All criteria pass; third-party CoA.")


def record_demo_session(
    clinic: Clinic,
    clinician: User,
    plan: Any,
    modality: str,
    on: date,
    *,
    reactions: str = "",
    notes: str = "",
) -> TreatmentSession:
    """One session of ``modality`` on ``on`` through the real service (checklist, vials)."""
    data: dict[str, Any] = {
        "modality": modality,
        "performed_on": on,
        "immediate_reactions": reactions,
        "notes": notes,
        # The demo's clinicians check screening findings (a WARN) with the patient; the
        # service asks for this only where the checklist shows one.
        "confirm_screening": True,
    }
    kwargs: dict[str, Any] = {}
    if modality == Modality.EXOSOME:
        lot = usable_lot(clinic, on)
        if lot is None:
            raise services.SessionError({"vials": [f"No usable demo lot on {on}."]})
        data |= {"anaesthesia": "Topical lidocaine 4 % cream, 30 min", "technique": "Nappage",
                 "needle_gauge": 30, "depth_mm": 2.0}  # fmt: skip
        kwargs = {"map_entries": _entries(EXOSOME_MAP), "vials": [services.VialRequest(lot, 1)]}
    elif modality == Modality.PRP:
        data |= {"anaesthesia": "Ring block, lidocaine 1 %", "technique": "Point-by-point",
                 "needle_gauge": 30, "depth_mm": 3.0}  # fmt: skip
        kwargs = {"map_entries": _entries(PRP_MAP), "prp": dict(PRP_PREP)}
    elif modality == Modality.TRANSPLANT:
        data |= {"anaesthesia": "Local tumescent anaesthesia", "technique": "FUE, 0.9 mm punch"}
        kwargs = {"grafts": [dict(g) for g in TRANSPLANT_GRAFTS]}
    elif modality == Modality.MINOXIDIL:
        data["technique"] = "Topical minoxidil 5 % solution 1 mL twice daily; technique shown"
    return services.record_session(clinic, clinician, plan, data, **kwargs)


def load_demo(clinic: Clinic, users: dict[str, User]) -> None:
    """Session 1 today for each consultation-demo patient with a consented plan."""
    from anagen.assessment.models import TreatmentPlan
    from anagen.core.demo import DEMO_PATIENTS
    from anagen.monitoring import services as monitoring
    from anagen.monitoring.models import FollowUpPlan, ScheduledVisit

    today = timezone.localdate()
    clinician = users["clinician"]
    plans = (
        TreatmentPlan.objects.filter(
            clinic=clinic,
            patient__medical_record_number__gte="DEMO-0001",
            patient__medical_record_number__lte=f"DEMO-{DEMO_PATIENTS:04d}",
            consents__isnull=False,
        )
        .distinct()
        .select_related("patient")
        .order_by("patient__medical_record_number", "id")
    )
    for plan in plans:
        if not plan.is_active or plan.sessions.exists():
            continue
        modalities = [
            m for m in plan.modalities if not services.pre_session_checklist(plan, m, today).blocked
        ]
        if not modalities:
            continue
        patient = plan.patient
        if not FollowUpPlan.objects.filter(patient=patient).exists():
            protocol = next(
                (
                    p
                    for p in plan.protocols
                    if p.get("modality") in (Modality.EXOSOME, Modality.PRP)
                ),
                plan.protocols[0] if plan.protocols else {},
            )
            n = plan.sessions_planned or 1
            monitoring.create_follow_up_plan(
                patient, clinician, first_session_date=today, sessions_planned=n,
                interval_weeks=plan.interval_weeks if n > 1 else None,
                protocol_key=protocol.get("key", ""),
            )  # fmt: skip
        baseline = ScheduledVisit.objects.filter(
            patient=patient, kind=ScheduledVisit.Kind.BASELINE, status=ScheduledVisit.Status.PLANNED
        ).first()
        if baseline is not None:
            # Before the first injection: baseline photo; measurements wait for the
            # trichoscopy analysis (no simulated truth for these patients).
            monitoring.record_visit(
                patient, users["nurse"],
                {"visit_date": today, "pull_test": "negative", "pull_test_hairs": 2,
                 "notes": "Demo: baseline before session 1; scalp intact."},
                scheduled_visit=baseline,
                photos=[monitoring.PhotoUpload(
                    io.BytesIO(_baseline_png(patient.medical_record_number)), "global", "top")],
            )  # fmt: skip
        for modality in modalities:
            record_demo_session(
                clinic, clinician, plan, modality, today,
                notes="Demo: first session of the course, recorded on the demo's load day.",
            )  # fmt: skip


def _baseline_png(stamp: str) -> bytes:
    """The patient's own picture (stamped): the same file for two patients of a clinic is
    refused as a wrong-patient filing."""
    from anagen.monitoring.demo import global_png

    return global_png("top", 120, stamp)
