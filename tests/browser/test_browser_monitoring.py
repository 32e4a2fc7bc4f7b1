"""Issue 5 in a real browser: record a visit with photos and an adverse event, then see the
further-treatment proposal and decide. Bad input first each time: field errors, nothing
stored."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from anagen.core.demo import load_demo
from anagen.monitoring.models import AdverseEvent, Photo, TreatmentDecision, Visit
from anagen.patients.models import Patient

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _png(colour: tuple[int, int, int]) -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buf, format="PNG")
    return {"name": "photo.png", "mimeType": "image/png", "buffer": buf.getvalue()}


def _demo_patient() -> Patient:
    """A simulated-course patient with a baseline measurement and no adverse event yet."""
    for p in Patient.objects.filter(
        clinic__slug="demo", medical_record_number__gt="DEMO-0036"
    ).order_by("medical_record_number"):
        baseline = p.visits.filter(is_baseline=True, measurements__isnull=False).exists()
        if baseline and p.sessions.exists() and not p.adverse_events.exists():
            return p
    raise AssertionError("the demo has no simulated-course patient without events")


def test_visit_with_photos_adverse_event_and_proposal(page, screenshot, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    load_demo()
    patient = _demo_patient()
    visits_before = Visit.objects.filter(patient=patient).count()
    photos_before = Photo.objects.filter(patient=patient).count()
    today = timezone.localdate()
    sign_in(page, "clinician", "clinician-demo-2026")
    page.get_by_role("heading", name="Anagen Demo Clinic").wait_for()

    page.goto(f"/monitoring/{patient.pk}/")
    page.get_by_role("link", name="Record a visit").first.click()
    page.get_by_label("Visit date").fill(today.isoformat())
    page.get_by_label("Hair count in target area").fill("151")
    page.get_by_label("Density (hairs/cm²)").fill("-5")
    page.get_by_label("Mean diameter (µm)").fill("44")
    page.get_by_label("Global photo: vertex").set_input_files(
        {"name": "vertex.png", "mimeType": "image/png", "buffer": b"%PDF-1.4 not an image"}
    )
    page.get_by_label("Trichoscopy image of the target area").set_input_files(_png((210, 180, 160)))
    page.get_by_role("button", name="Save visit").click()
    assert "cannot be negative" in page.locator("#id_density_per_cm2_error").inner_text()
    assert page.locator("#id_photo_vertex_error").is_visible()
    # The good image is held for the next try; the bad one is named to attach again.
    assert (
        "Trichoscopy image of the target area: photo.png"
        in page.locator("#held-photos").inner_text()
    )
    assert "vertex.png" in page.locator("#photos-not-kept").inner_text()
    assert Visit.objects.filter(patient=patient).count() == visits_before
    assert Photo.objects.filter(patient=patient).count() == photos_before

    page.get_by_label("Density (hairs/cm²)").fill("151")
    page.get_by_label("Investigator global photographic assessment").select_option("1")
    page.get_by_label("Global photo: vertex").set_input_files(_png((150, 110, 90)))
    page.get_by_label("Target area (trichoscopy)").fill("Vertex tattoo, 1 cm²")
    page.get_by_role("button", name="Save visit").click()
    page.get_by_role("heading", name="Target-area measurements").wait_for()
    visit = Visit.objects.filter(patient=patient).order_by("-id").first()
    assert visit.visit_date == today
    assert visit.measurements.get().density_per_cm2 == 151
    assert {p.kind for p in visit.photos.all()} == {"global", "trichoscopy"}
    assert page.locator("img[src*='/photos/']").count() >= 2  # this visit and baseline

    page.get_by_role("link", name="Record adverse event").click()
    page.get_by_label("CTCAE term").select_option("skin_infection")
    page.get_by_label("Grade").select_option("3")
    onset = today - timedelta(days=3)
    page.get_by_label("Onset date").fill(onset.isoformat())
    page.get_by_label("Resolution date").fill((onset - timedelta(days=2)).isoformat())
    page.get_by_label("Requires or prolongs hospitalisation").check()
    page.get_by_label("Related to treatment").select_option("probable")
    page.get_by_label("Outcome").select_option("recovering")
    page.get_by_role("button", name="Record event").click()
    assert page.locator("#id_resolution_date_error").is_visible()
    assert not AdverseEvent.objects.filter(patient=patient).exists()

    page.get_by_label("Resolution date").fill("")
    page.get_by_role("button", name="Record event").click()
    page.get_by_text("Skin infection").first.wait_for()
    event = AdverseEvent.objects.get(patient=patient)
    assert (event.grade, event.serious_or_high_grade, event.visit_id) == (3, True, visit.pk)
    assert event.ctcae_version

    page.goto(f"/monitoring/{patient.pk}/visits/{visit.pk}/")
    page.get_by_role("link", name="Decide on further sessions").click()
    proposal = page.locator("#proposal")
    assert "Proposal:" in proposal.inner_text()
    # A related grade-3 event: the app proposes stopping for the adverse event.
    assert "Stop (adverse event)" in proposal.inner_text()
    screenshot(page, "visit-proposal")
    page.get_by_label("Your decision").select_option("continue_as_planned")
    page.get_by_role("button", name="Record decision").click()
    # Differing from the proposal needs a reason: field error, nothing stored.
    assert page.locator("#id_rationale_error").is_visible()
    assert not TreatmentDecision.objects.filter(visit=visit).exists()
    page.get_by_label("Rationale").fill("Infection treated and resolving; continue with care.")
    page.get_by_role("button", name="Record decision").click()
    page.get_by_text("Decided:").wait_for()
    decision = TreatmentDecision.objects.get(visit=visit)
    assert decision.proposal == "stop_adverse_event"
    assert decision.decision == "continue_as_planned"
    screenshot(page, "visit")
    assert page.console_errors == []
