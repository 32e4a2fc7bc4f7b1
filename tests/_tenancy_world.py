"""A clinic with one real record of every kind a URL or API path names by id, made through
the services (test_tenancy asks for clinic B's from clinic A)."""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from anagen.accounts.models import Membership
from anagen.accounts.services import create_api_token
from anagen.assessment import services as assessment
from anagen.imaging import services as imaging
from anagen.imaging.engine import synth
from anagen.monitoring import services as monitoring
from anagen.monitoring.models import Measurement, Photo
from anagen.products import services as products

from .monitoring._course import consultation, record_sessions, released_lot

UPP = 5.0
TRICHOSCOPY = synth.SynthParams(
    width=400, height=320, um_per_px=UPP, glare=0.0, unit_probs=(1, 0, 0, 0),
    density_per_cm2=120, anagen_fraction=0.5, vellus_share=0.0, trimmed_length_mm=(0.1, 0.3),
    flow_spread_deg=10,
)  # fmt: skip


def _png(img) -> bytes:
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue()


def build_records(clinic, admin, patient, capture, label: str) -> dict[str, int]:
    """One record of each kind for ``patient`` of ``clinic``, by the route parameter that
    names it (``before_photo_id``: a second trichoscopy photo, two days before the first).
    ``label`` names the clinic's lot ("LOT-<label>"), fridge and API token."""
    today = timezone.localdate()
    plan = consultation(patient, admin, today - timedelta(days=37))
    lot = released_lot(clinic, admin, number=f"LOT-{label}")
    (session,) = record_sessions(plan, admin, lot, [today - timedelta(days=30)])
    consent = plan.consents.first()
    location = products.create_location(clinic, admin, f"Fridge {label}")
    reading, _ = products.record_reading(
        location, admin, recorded_at=timezone.now() - timedelta(hours=1), temperature_c="5"
    )
    document = products.add_supplier_document(
        lot, admin, SimpleUploadedFile("coa.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")
    )
    override = assessment.add_rule_override(
        clinic, admin, "PRP-KELOID", "set_outcome", "BLOCK", "Our PRP protocol excludes keloids."
    )
    appointment = monitoring.add_scheduled_visit(
        patient, admin, due_date=today + timedelta(days=10)
    )
    imaging.save_settings(clinic, admin, {"um_per_px": UPP})
    scene = synth.make_scene(TRICHOSCOPY, 1)
    before = _png(synth.render(scene)[0])
    after = _png(synth.render(synth.grow(scene, 2.0), noise_seed=77, shift_px=(7.0, -4.0))[0])
    photos, visits = [], []
    for days_ago, image in ((3, before), (1, after)):
        visit = monitoring.record_visit(
            patient, admin,
            {"visit_date": (today - timedelta(days=days_ago)).isoformat(), "density_per_cm2": 150},
        )  # fmt: skip
        upload = monitoring.PhotoUpload(
            io.BytesIO(image), "trichoscopy", target_area="vertex tattoo", size=len(image)
        )
        with capture(execute=True):
            (photo,) = monitoring.add_photos(visit, admin, [upload])
        visits.append(visit)
        photos.append(Photo.objects.select_related("analysis").get(pk=photo.pk))
    with capture(execute=True):
        comparison = imaging.request_comparison(photos[0], photos[1], admin)
    event = monitoring.record_adverse_event(
        patient, admin, {"term_key": "pain", "grade": 1, "onset_date": today - timedelta(days=2)}
    )
    decision = monitoring.record_decision(
        visits[1], admin, decided="continue_as_planned", rationale="Pain settles within a day",
        sessions_done=1, sessions_planned=3,
    )  # fmt: skip
    token, _ = create_api_token(admin, clinic, f"clinic {label}'s script")
    return {
        "patient_id": patient.pk,
        "plan_id": plan.pk,
        "consent_id": consent.pk,
        "override_id": override.pk,
        "lot_id": lot.pk,
        "product_id": lot.product_id,
        "document_id": document.pk,
        "location_id": location.pk,
        "reading_id": reading.pk,
        "session_id": session.pk,
        "scheduled_id": appointment.pk,
        "visit_id": visits[1].pk,
        "measurement_id": Measurement.objects.get(visit=visits[1], source="manual").pk,
        "photo_id": photos[1].pk,
        "before_photo_id": photos[0].pk,
        "analysis_id": photos[1].analysis.pk,
        "comparison_id": comparison.pk,
        "event_id": event.pk,
        "decision_id": decision.pk,
        "token_id": token.pk,
        "membership_id": Membership.objects.get(user=admin, clinic=clinic).pk,
        "history_id": patient.history.latest().history_id,
    }
