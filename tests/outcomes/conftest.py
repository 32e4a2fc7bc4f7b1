"""Fixtures for the outcomes Django tests: a simulated cohort and hand-made patients."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from PIL import Image

from anagen.accounts.roles import Role
from anagen.monitoring import services as monitoring_services
from anagen.outcomes.demo import load_simulated_cohort

START = date(2025, 1, 6)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cohort results are cached per data fingerprint; start every test from nothing."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def researcher(clinic_a, make_user):
    return make_user(Role.RESEARCHER, clinic_a)


@pytest.fixture
def sim_cohort(clinic_a, clinician):
    """80 simulated patients in five arms, visits at weeks 0/4/12/24/48."""
    return load_simulated_cohort(clinic_a, clinician, 80, seed=5)


def jpeg(color=(190, 150, 120), size=(160, 120)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    out.seek(0)
    return out


@pytest.fixture
def record_visit():
    """Record a visit through the monitoring service (manual measurements, optional photos)."""

    def record(patient, user, day: int, *, baseline=False, photos=(), **values):
        data = {
            "visit_date": START + timedelta(days=day),
            "is_baseline": baseline,
            "target_area_cm2": 1.0,
            **values,
        }
        uploads = [monitoring_services.PhotoUpload(jpeg(c), "global", view) for view, c in photos]
        return monitoring_services.record_visit(patient, user, data, photos=uploads)

    return record
