"""Change from baseline at a visit is taken within one measurement source."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pytest
from PIL import Image

from anagen.imaging.models import PhotoAnalysis
from anagen.monitoring import selectors, services

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(clinic_a, nurse, make_patient):
    return make_patient(clinic_a, nurse)


def _visit(patient, nurse, day: int, **values):
    data = {"visit_date": date(2026, 1, day), "is_baseline": day == 1, **values}
    return services.record_visit(patient, nurse, data)


def test_a_visit_measured_only_by_a_source_the_baseline_lacks_has_no_change(patient, nurse):
    _visit(patient, nurse, 1, density_per_cm2=103.0, target_area_cm2=1.0)
    later = _visit(patient, nurse, 29)
    services.add_measurement(
        later, nurse, {"density_per_cm2": 65.1, "mean_diameter_um": 50.0,
                       "target_area_cm2": 0.18}, source="imaging",
    )  # fmt: skip
    change = selectors.change_from_baseline(later)
    assert change.density_per_cm2 == 65.1
    assert change.baseline_density_per_cm2 is None and change.density_change_pct is None
    assert "baseline visit has no image analysis value" in change.note


def test_a_visit_with_both_sources_is_compared_manual_against_manual(patient, nurse):
    base = _visit(patient, nurse, 1, density_per_cm2=100.0)
    services.add_measurement(base, nurse, {"density_per_cm2": 60.0}, source="imaging")
    later = _visit(patient, nurse, 29, density_per_cm2=110.0)
    services.add_measurement(later, nurse, {"density_per_cm2": 90.0}, source="imaging")
    change = selectors.change_from_baseline(later)
    assert (change.baseline_density_per_cm2, change.density_change_pct) == (100.0, 10.0)
    assert change.note == ""


def test_image_analysis_is_compared_with_the_baselines_image_analysis(patient, nurse):
    base = _visit(patient, nurse, 1, density_per_cm2=100.0)
    services.add_measurement(base, nurse, {"density_per_cm2": 60.0}, source="imaging")
    later = _visit(patient, nurse, 29)
    services.add_measurement(later, nurse, {"density_per_cm2": 66.0}, source="imaging")
    change = selectors.change_from_baseline(later)
    assert (change.baseline_density_per_cm2, change.density_change_pct) == (60.0, 10.0)


def test_the_visit_page_and_the_api_say_why_there_is_no_change(
    client, patient, nurse, clinic_a, api_token
):
    _visit(patient, nurse, 1, density_per_cm2=103.0, target_area_cm2=1.0)
    later = _visit(patient, nurse, 29)
    services.add_measurement(
        later, nurse, {"density_per_cm2": 65.1, "target_area_cm2": 0.18}, source="imaging"
    )
    client.force_login(nurse)
    page = client.get(f"/monitoring/{patient.pk}/visits/{later.pk}/").content.decode()
    assert 'id="change-note"' in page and "baseline visit has no image analysis value" in page
    body = client.get(
        f"/api/v1/monitoring/patients/{patient.pk}/visits/{later.pk}",
        headers={"Authorization": f"Bearer {api_token(nurse, clinic_a)}"},
    ).json()
    assert "baseline visit has no image analysis value" in body["change_from_baseline"]["note"]


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _analysed_at(visit, nurse, site: str, density: float, seed: int):
    """A trichoscopy photo of ``site`` at ``visit`` whose analysis gave its image-analysis
    measurement (the analysis's row is linked as imaging.services links it)."""
    (photo,) = services.add_photos(
        visit, nurse, [services.PhotoUpload(io.BytesIO(_png(seed)), "trichoscopy",
                                            target_area=site)],
    )  # fmt: skip
    measurement = services.add_measurement(
        visit, nurse, {"density_per_cm2": density, "mean_diameter_um": 60.0,
                       "target_area_cm2": 0.18}, source="imaging",
    )  # fmt: skip
    PhotoAnalysis.objects.filter(photo=photo).update(measurement=measurement)


def test_image_analysis_of_another_target_area_than_the_baselines_has_no_change(patient, nurse):
    base = _visit(patient, nurse, 1)
    _analysed_at(base, nurse, "Vertex tattoo", 160.0, 1)
    later = _visit(patient, nurse, 29)
    _analysed_at(later, nurse, "Frontal  hairline", 96.0, 2)
    change = selectors.change_from_baseline(later)
    assert change.density_per_cm2 == 96.0
    assert change.baseline_density_per_cm2 is None and change.density_change_pct is None
    assert change.diameter_change_um is None
    assert "another target area (Frontal hairline) than the baseline's (Vertex tattoo)" in (
        change.note
    )


def test_image_analysis_of_the_same_site_written_otherwise_is_compared(patient, nurse):
    base = _visit(patient, nurse, 1)
    _analysed_at(base, nurse, "Vertex tattoo", 160.0, 1)
    later = _visit(patient, nurse, 29)
    _analysed_at(later, nurse, "vertex  Tattoo", 176.0, 2)
    change = selectors.change_from_baseline(later)
    assert (change.baseline_density_per_cm2, change.density_change_pct) == (160.0, 10.0)
    assert change.note == ""


def test_an_unnamed_site_is_not_a_named_one_as_on_the_progress_page(patient, nurse):
    """One rule with the image comparison, the progress page and the cohort analysis
    (imaging.services.site_key): a photo naming no target area is not compared with one of
    a named site."""
    base = _visit(patient, nurse, 1)
    _analysed_at(base, nurse, "Vertex tattoo", 160.0, 1)
    later = _visit(patient, nurse, 29)
    _analysed_at(later, nurse, "", 176.0, 2)
    change = selectors.change_from_baseline(later)
    assert change.baseline_density_per_cm2 is None and change.density_change_pct is None
    assert "another target area (not named) than the baseline's (Vertex tattoo)" in change.note
