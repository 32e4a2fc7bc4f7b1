"""A patient with a whole course on record, for report and export tests.

Assessment and monitoring rows go through their services (same rules as the pages); the
treatment sessions are dated in the past, before the screening the services would ask for,
so they and their vial draws are written directly (the session rules are tested in
tests/treatments).
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone
from PIL import Image, ImageDraw

from anagen.monitoring import services as monitoring
from anagen.products.models import Lot, VialDraw
from anagen.treatments.models import InjectionMapEntry, TreatmentSession

from ..builders import exosome_plan, released_lot

MAP = [
    {"zone": "frontal", "points": 40, "volume_ml": Decimal("1.0")},
    {"zone": "mid_scalp", "points": 30, "volume_ml": Decimal("0.8")},
    {"zone": "vertex", "points": 30, "volume_ml": Decimal("0.7")},
]


def jpeg(color=(170, 130, 100), size=(320, 240), label: str = "") -> io.BytesIO:
    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    draw.ellipse((60, 40, size[0] - 60, size[1] - 20), fill=(110, 80, 60))
    if label:
        draw.text((10, 10), label, fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="JPEG")
    out.seek(0)
    return out


def make_lot(clinic, user, number: str = "EXO-2401") -> Lot:
    return released_lot(clinic, user, number=number, vials=10, on_hand=7, received_days_ago=200)


def course(
    patient,
    clinician,
    *,
    lot: Lot | None = None,
    start_days_ago: int = 170,
    densities=(120.0, 128.0, 136.5),
    diameters=(58.0, 61.0, 63.5),
    photos=True,
    adverse_event=True,
    mrn_suffix: str = "",
):
    """Diagnosis, exosome plan and consent; 3 sessions; visits at weeks 0, 12, 24; one AE."""
    plan = exosome_plan(patient, clinician)
    lot = lot or make_lot(patient.clinic, clinician)
    start = date.today() - timedelta(days=start_days_ago)
    sessions = []
    for i in range(3):
        on = start + timedelta(days=28 * i)
        s = TreatmentSession.objects.create(
            clinic=patient.clinic,
            patient=patient,
            plan=plan,
            modality="exosome",
            performed_on=on,
            clinician=clinician,
            needle_gauge=30,
            depth_mm=Decimal("1.5"),
            total_points=100,
            total_volume_ml=Decimal("2.5"),
        )
        for e in MAP:
            InjectionMapEntry.objects.create(session=s, **e)
        VialDraw.objects.create(
            clinic=patient.clinic,
            lot=lot,
            patient=patient,
            quantity=1,
            dose_volume_ml=Decimal("2.5"),
            drawn_on=on,
            drawn_at=timezone.now(),
            drawn_by=clinician,
            session_ref=f"session:{s.pk}",
        )
        sessions.append(s)
    visits = []
    for week, density, diameter in zip((0, 12, 24), densities, diameters, strict=True):
        uploads = []
        if photos:
            shade = 170 - week * 2
            uploads = [
                monitoring.PhotoUpload(
                    jpeg((shade, 130, 100), label=f"week {week}"), "global", "vertex"
                ),
            ]
        visit = monitoring.record_visit(
            patient,
            clinician,
            {
                "visit_date": start + timedelta(weeks=week),
                "is_baseline": week == 0,
                "target_area_cm2": 1.0,
                "hair_count": round(density),
                "density_per_cm2": density,
                "mean_diameter_um": diameter,
                "terminal_pct": 70 + week / 4,
                "vellus_pct": 30 - week / 4,
                "global_assessment": None if week == 0 else min(3, week // 12),
            },
            photos=uploads,
        )
        visits.append(visit)
    event = None
    if adverse_event:
        event = monitoring.record_adverse_event(
            patient,
            clinician,
            {
                "term_key": "injection_site_reaction",
                "grade": 1,
                "onset_date": sessions[1].performed_on,
                "related_session_date": sessions[1].performed_on,
                "relatedness": "probable",
                "product_lot_number": lot.lot_number,
                "outcome": "recovered",
                "resolution_date": sessions[1].performed_on + timedelta(days=2),
                "description": "Erythema at the vertex for two days",
            },
        )
    return {"plan": plan, "lot": lot, "sessions": sessions, "visits": visits, "event": event}
