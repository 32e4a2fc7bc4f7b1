"""Shared fixtures for the products Django tests (imported by each test module; a
conftest.py here would be outside the paths this issue owns)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest

from anagen.accounts.roles import Role
from anagen.products import services
from anagen.products.models import Lot, Product


def good_results(**changes):
    """CoA results that pass the default spec (REFERENCE.md A.6.2-like values)."""
    results = {
        "particles_per_ml": 1.05e10,
        "size_mode_nm": 118,
        "size_mean_nm": 131,
        "particles_50_400nm_pct": 94,
        "cd9": "positive",
        "cd63": "positive",
        "cd81": "positive",
        "tsg101": "positive",
        "calnexin": "negative",
        "tem_morphology": "conforms",
        "protein_ug_per_ml": 2.0,
        "sterility": "negative",
        "endotoxin_eu_per_ml": 0.08,
        "mycoplasma": "negative",
        "adventitious_virus": "negative",
        "antibiotic_residue": "negative",
        "residual_dna_ng_per_dose": 1.5,
        "donor_screening": "negative",
    }
    results.update(changes)
    return {k: v for k, v in results.items() if v is not None}


@pytest.fixture
def quality(clinic_a, make_user):
    return make_user(Role.QUALITY, clinic_a, username="quality-1")


@pytest.fixture
def quality2(clinic_a, make_user):
    return make_user(Role.QUALITY, clinic_a, username="quality-2")


@pytest.fixture
def product(clinic_a, quality) -> Product:
    return services.create_product(
        clinic_a,
        quality,
        {
            "manufacturer": "Cordis Bio",
            "name": "UC-MSC Exosome 10B",
            "source_tissue": "umbilical_cord",
            "donor_type": "allogeneic_single",
            "form": "frozen_liquid",
            # 1e10 particles in a 1 mL vial: labelled 1e10 particles/mL.
            "labelled_particles_per_vial": 1.0e10,
            "volume_ml": Decimal("1.000"),
            "storage_min_temperature_c": Decimal("-90"),
            "storage_max_temperature_c": Decimal("-60"),
            "storage_requirement": "Store at −80 °C",
            "regulatory_status": {"US": "Not FDA-approved; investigational use only."},
        },
    )


@pytest.fixture
def make_lot(clinic_a, quality, product) -> Callable[..., Lot]:
    counter = {"n": 0}

    def make(*, quantity=10, expiry=None, results=None, released=False, **kwargs) -> Lot:
        counter["n"] += 1
        lot = services.receive_lot(
            clinic_a,
            quality,
            product=kwargs.pop("product", product),
            lot_number=kwargs.pop("lot_number", f"L-{counter['n']:03d}"),
            expiry_date=expiry or date.today() + timedelta(days=365),
            quantity_received=quantity,
            **kwargs,
        )
        if results is not None or released:
            services.record_coa(
                lot,
                quality,
                certificate_lot_number=lot.lot_number,
                testing_laboratory="Independent Lab Ltd",
                third_party_laboratory=True,
                results=results if results is not None else good_results(),
            )
        if released:
            lot = services.release_lot(lot, quality)
        return lot

    return make
