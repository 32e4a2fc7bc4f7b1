"""The import examples in docs/products.md work: each ```json and ```csv block is imported
through the real importer and the lots carry the values the document shows."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from anagen.accounts.roles import Role
from anagen.products import importers, services
from anagen.products.models import CertificateOfAnalysis, CoaSource, LotStatus

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "products.md"
FENCE = re.compile(r"^```(json|csv)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def doc_blocks(kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text(encoding="utf-8")) if lang == kind]


JSON_BLOCKS = doc_blocks("json")
CSV_BLOCKS = doc_blocks("csv")


def test_the_document_has_one_json_and_one_csv_example():
    assert len(JSON_BLOCKS) == 1 and len(CSV_BLOCKS) == 1


@pytest.fixture
def quality(clinic_a, make_user):
    return make_user(Role.QUALITY, clinic_a, username="quality-docs")


@pytest.fixture
def setup(clinic_a, quality):
    """The product and storage location the examples name (docs/products.md)."""
    product = services.create_product(
        clinic_a,
        quality,
        {
            "manufacturer": "Cordis Bio",
            "name": "UC-MSC Exosome 10B",
            "source_tissue": "umbilical_cord",
            "donor_type": "allogeneic_single",
            "form": "frozen_liquid",
            "labelled_particles_per_vial": 1.0e10,
            "volume_ml": Decimal("1.000"),
            "storage_min_temperature_c": Decimal("-90"),
            "storage_max_temperature_c": Decimal("-60"),
            "storage_requirement": "Store at −80 °C",
        },
    )
    location = services.create_location(clinic_a, quality, "Freezer 1")
    return product, location


@pytest.fixture
def before_expiry(monkeypatch):
    """Receive the example lots a year before their earliest expiry date, so that the
    fixed dates in the document do not make this test fail once they have passed."""

    def freeze(expiries: list[str]) -> None:
        day = min(date.fromisoformat(e) for e in expiries) - timedelta(days=365)
        now = datetime.combine(day, time(9, 0), tzinfo=UTC)
        monkeypatch.setattr("django.utils.timezone.now", lambda: now)

    return freeze


def number(raw):
    """A result as the documented value in its field's unit (bare or {value, unit})."""
    return raw["value"] if isinstance(raw, dict) else raw


def test_the_json_example_imports_with_the_documented_values(
    clinic_a, quality, setup, before_expiry
):
    product, location = setup
    doc = json.loads(JSON_BLOCKS[0])
    before_expiry([e["expiry_date"] for e in doc["lots"]])

    lots = services.import_lots(clinic_a, quality, "lots.json", JSON_BLOCKS[0].encode())

    assert len(lots) == len(doc["lots"]) == 2
    for lot, entry in zip(lots, doc["lots"], strict=True):
        lot.refresh_from_db()
        assert lot.product == product
        assert lot.status == LotStatus.QUARANTINED and not lot.blocked
        assert lot.lot_number == entry["lot_number"]
        assert lot.expiry_date == date.fromisoformat(entry["expiry_date"])
        assert lot.quantity_received == lot.quantity_on_hand == entry["quantity_received"]
        assert lot.supplier_notes == entry.get("supplier_notes", "")
        assert lot.storage_location == (location if "storage_location" in entry else None)

    with_coa, without_coa = lots
    assert not CertificateOfAnalysis.objects.filter(lot=without_coa).exists()
    coa = CertificateOfAnalysis.objects.get(lot=with_coa)
    documented = doc["lots"][0]["coa"]
    assert coa.testing_laboratory == documented["testing_laboratory"]
    assert coa.third_party_laboratory is documented["third_party_laboratory"] is True
    assert coa.cgmp_statement == documented["cgmp_statement"]
    assert coa.nta_method == documented["nta_method"]
    assert coa.source == CoaSource.IMPORT
    for name, value in documented["results"].items():
        assert coa.results[name] == value, name  # stored as given, {value, unit} included
    # The document says purity and labelled amount are derived here.
    assert coa.derived_fields == ["labelled_particles_per_ml", "particles_per_ug_protein"]
    assert coa.results["labelled_particles_per_ml"] == pytest.approx(1.0e10)
    purity = number(documented["results"]["particles_per_ml"]) / number(
        documented["results"]["protein_ug_per_ml"]
    )
    assert coa.results["particles_per_ug_protein"] == pytest.approx(purity)
    # ... and that this CoA passes the default specification.
    assert services.release_report(with_coa).releasable


def test_the_csv_example_imports_with_the_documented_values(
    clinic_a, quality, setup, before_expiry
):
    product, location = setup
    rows = list(csv.DictReader(io.StringIO(CSV_BLOCKS[0])))
    assert all(None not in row for row in rows), "a row has more cells than the header"
    assert set(rows[0]) <= set(importers.CSV_COLUMNS)
    before_expiry([r["expiry_date"] for r in rows])

    lots = services.import_lots(clinic_a, quality, "lots.csv", CSV_BLOCKS[0].encode())

    assert len(lots) == len(rows) == 2
    for lot, row in zip(lots, rows, strict=True):
        lot.refresh_from_db()
        assert lot.product == product
        assert lot.status == LotStatus.QUARANTINED
        assert lot.lot_number == row["lot_number"]
        assert lot.expiry_date == date.fromisoformat(row["expiry_date"])
        assert lot.quantity_received == lot.quantity_on_hand == int(row["quantity_received"])
        assert lot.storage_location == location

    with_coa, without_coa = lots
    assert not CertificateOfAnalysis.objects.filter(lot=without_coa).exists()
    coa = CertificateOfAnalysis.objects.get(lot=with_coa)
    first = rows[0]
    assert coa.testing_laboratory == first["testing_laboratory"]
    assert coa.third_party_laboratory is True  # "yes"
    for name in importers.RESULT_FIELDS:
        cell = (first.get(name) or "").strip()
        if not cell:
            continue
        expected = importers.parse_result_cell(cell) if name in importers.NUMERIC_RESULTS else cell
        assert coa.results[name] == expected, name
    # What the text under the example says: 0.12 um is 120 nm, "no growth" is negative,
    # purity 1.1e10 / 2.2 = 5e9 particles/µg is derived; the CoA passes the default spec.
    assert coa.results["size_mode_nm"] == {"value": 0.12, "unit": "um"}
    report = services.release_report(with_coa)
    measured = {r.field: r.measured for r in report.results}
    assert measured["size_mode_nm"] == pytest.approx(120)
    assert measured["sterility"] == "negative"
    assert coa.results["particles_per_ug_protein"] == pytest.approx(5e9)
    assert "particles_per_ug_protein" in coa.derived_fields
    assert report.releasable
