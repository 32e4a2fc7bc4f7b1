"""A clinician runs a phototrichogram from the later visit's page: two generated images of the
same clipped site 2 days apart, the earlier one chosen in the form; the anagen % appears with
both overlays and fills the visit's image-analysis measurement."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from PIL import Image

from anagen.accounts.models import Clinic, User
from anagen.accounts.roles import Role
from anagen.accounts.services import set_membership
from anagen.imaging import services as imaging_services
from anagen.imaging.engine import synth
from anagen.imaging.models import PhotoComparison
from anagen.monitoring import services as monitoring_services
from anagen.patients.services import create_patient

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "trichogram-browser-2026"
PARAMS = synth.SynthParams(
    width=800, height=640, um_per_px=5.0, glare=0.0, unit_probs=(1, 0, 0, 0),
    density_per_cm2=120, anagen_fraction=0.5, vellus_share=0.0, trimmed_length_mm=(0.1, 0.3),
    flow_spread_deg=10,
)  # fmt: skip


def _photo(visit, user, img):
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    data = out.getvalue()
    upload = monitoring_services.PhotoUpload(
        io.BytesIO(data), "trichoscopy", target_area="vertex tattoo", size=len(data)
    )
    return monitoring_services.add_photos(visit, user, [upload])[0]


def test_clinician_compares_two_visits_and_sees_the_anagen_pct(page, screenshot):
    clinic = Clinic.objects.create(name="Trichogram Clinic", slug="trichogram")
    doctor = User.objects.create_user(username="doc-ptg", password=PASSWORD)
    set_membership(doctor, clinic, Role.CLINICIAN)
    patient = create_patient(clinic, doctor, {
        "medical_record_number": "PTG-1", "given_name": "Tara", "family_name": "Telogen",
        "date_of_birth": date(1981, 6, 9), "sex_at_birth": "female",
    })  # fmt: skip
    imaging_services.save_settings(clinic, doctor, {"um_per_px": 5.0})
    d1, d2 = date.today() - timedelta(days=3), date.today() - timedelta(days=1)
    v1 = monitoring_services.record_visit(patient, doctor, {"visit_date": d1.isoformat()})
    v2 = monitoring_services.record_visit(patient, doctor, {"visit_date": d2.isoformat()})
    scene = synth.make_scene(PARAMS, 1)
    before, _ = synth.render(scene)
    after, _ = synth.render(synth.grow(scene, 2.0), noise_seed=77, shift_px=(7.0, -4.0))
    p1, p2 = _photo(v1, doctor, before), _photo(v2, doctor, after)

    sign_in(page, "doc-ptg", PASSWORD)
    page.goto(f"/monitoring/{patient.pk}/visits/{v2.pk}/")
    block = page.locator(f"#photo-{p2.pk}-phototrichogram")
    block.get_by_label("Earlier image of this site").select_option(str(p1.pk))
    block.get_by_role("button", name="Compare with this image").click()

    status = page.get_by_test_id("comparison-status")
    status.wait_for()
    assert status.inner_text() == "Done"
    c = PhotoComparison.objects.get(after_photo=p2)
    assert c.anagen_pct is not None and c.assessed_count > 0
    anagen = page.get_by_test_id("comparison-anagen").inner_text()
    assert anagen == f"Anagen {c.anagen_pct:.1f} %"
    summary = page.get_by_test_id("comparison-summary").inner_text()
    assert "Hairs assessed" in summary and "600 µm" in summary and "turned" in summary
    # Shown with its measured error, and not recorded as the visit's anagen %.
    assert "Not validated" in page.get_by_test_id("comparison-not-validated").inner_text()
    assert c.measurement_id is None
    measurements = page.locator("#measurements").inner_text()
    assert f"{c.anagen_pct:g} %" not in measurements and "Image analysis" in measurements
    for overlay in page.get_by_test_id("comparison-overlay").all():
        overlay.scroll_into_view_if_needed()
        page.wait_for_function(
            "el => el.complete && el.naturalWidth === 800", arg=overlay.element_handle()
        )
    page.locator(f"#comparison-{c.pk}").scroll_into_view_if_needed()
    screenshot(page, "imaging-phototrichogram")
    assert page.console_errors == []
