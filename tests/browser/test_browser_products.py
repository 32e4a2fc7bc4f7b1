"""Issue 4 in a real browser: a lot whose CoA fails endotoxin is rejected; a good lot,
imported with its CoA from a JSON file, is released."""

import json
from datetime import date, timedelta

import pytest

from anagen.products.models import Lot, LotStatus

from ..conftest import PASSWORD
from ..products.test_products_django_support import good_results, product, quality  # noqa: F401
from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXPIRY = (date.today() + timedelta(days=300)).isoformat()
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_quality_rejects_a_lot_failing_endotoxin_and_releases_a_good_one(
    page,
    screenshot,
    product,  # noqa: F811 - a fixture imported above
    quality,  # noqa: F811
    tmp_path,
):
    sign_in(page, quality.username, PASSWORD)

    # 1. Receive a lot by form: it is quarantined.
    page.goto("/products/lots/receive/")
    page.locator("#id_product").select_option(str(product.pk))
    page.get_by_label("Lot number").fill("BAD-ENDO-1")
    page.get_by_label("Expiry date").fill(EXPIRY)
    page.get_by_label("Vials received").fill("6")
    page.get_by_role("button", name="Receive").click()
    # Receiving leads straight to the lot's CoA form.
    page.get_by_role("heading", name="Certificate of analysis — lot BAD-ENDO-1").wait_for()
    assert Lot.objects.get(lot_number="BAD-ENDO-1").status == LotStatus.QUARANTINED

    # 2. Enter its CoA with the original PDF: endotoxin 2.5 EU/mL fails the spec.
    results = good_results(endotoxin_eu_per_ml=2.5)
    page.get_by_label("Lot number on the certificate").fill("BAD-ENDO-1")
    page.get_by_label("Testing laboratory").fill("Independent Lab Ltd")
    page.get_by_label("Independent (third-party) laboratory").check()
    pdf = tmp_path / "coa.pdf"
    pdf.write_bytes(PDF)
    page.get_by_label("Original CoA (PDF)").set_input_files(str(pdf))
    form = page.locator("form").filter(has=page.get_by_role("button", name="Save CoA"))
    for field, value in results.items():
        control = form.locator(f"[name='{field}']")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(str(value))
        else:
            control.fill(str(value))
    page.get_by_role("button", name="Save CoA").click()

    failing = page.locator("tr.row-fail")
    assert failing.count() == 1
    assert failing.get_attribute("data-field") == "endotoxin_eu_per_ml"
    assert "Does not meet the specification" in page.locator("#verdict").inner_text()
    assert page.get_by_role("button", name="Release lot").count() == 0
    screenshot(page, "lot-failing-endotoxin")
    page.locator("form.reject-form textarea, form.reject-form input[name='reason']").fill(
        "Endotoxin 2.5 EU/mL is above the specification limit."
    )
    page.get_by_role("button", name="Reject lot").click()
    page.locator("#decide").get_by_text("Rejected").wait_for()
    assert Lot.objects.get(lot_number="BAD-ENDO-1").status == LotStatus.REJECTED

    # 3. Import a good lot with its CoA from a JSON file, then release it.
    entry = {
        "manufacturer": product.manufacturer,
        "product_name": product.name,
        "lot_number": "GOOD-1",
        "expiry_date": EXPIRY,
        "quantity_received": 10,
        "coa": {
            "certificate_lot_number": "GOOD-1",
            "testing_laboratory": "Independent Lab Ltd",
            "third_party_laboratory": True,
            "results": good_results(),
        },
    }
    upload = tmp_path / "lots.json"
    upload.write_text(json.dumps({"lots": [entry]}))
    page.goto("/products/lots/import/")
    page.locator("input[type='file']").set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    page.get_by_role("link", name="GOOD-1").click()
    assert "Every required criterion passes." in page.locator("#verdict").inner_text()
    page.get_by_role("button", name="Release lot").click()
    page.locator("#decide").get_by_text("Released.").wait_for()
    assert Lot.objects.get(lot_number="GOOD-1").status == LotStatus.RELEASED
    assert page.console_errors == []


def test_a_temperature_typed_with_a_decimal_comma_is_read_as_a_decimal_point(
    page,
    clinic_a,
    quality,  # noqa: F811 - the fixture imported above
):
    """Chromium in English reads "4,5" in <input type=number> as 45: a 4.5 °C fridge
    reading was stored as 45 °C (a false excursion that blocked the lots). Then it was
    refused ("Enter a number."); now the field is text and "4,5" is 4.5."""
    from anagen.products import services
    from anagen.products.models import TemperatureReading

    fridge = services.create_location(clinic_a, quality, "Fridge R1")
    sign_in(page, quality.username, PASSWORD)
    page.goto(f"/products/storage/{fridge.pk}/")
    page.get_by_label("Recorded at").fill("2026-12-05T10:30")
    page.get_by_label("Temperature (°C)").press_sequentially("4,5")
    page.get_by_role("button", name="Record", exact=True).click()
    page.get_by_text("Reading recorded.", exact=True).wait_for()
    assert [float(r.temperature_c) for r in TemperatureReading.objects.filter(location=fridge)] == [
        4.5
    ]


# How many lines the text of each cell (or of each date in it) of the trace list takes.
TRACE_LINES = """
() => {
  const lines = (el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
  };
  return [...document.querySelectorAll('table tbody tr')].slice(0, 3).map((tr) => {
    const cells = tr.querySelectorAll('td');
    return {
      mrn: lines(cells[0]),
      phone: lines(cells[2]),
      dates: [...cells[4].querySelectorAll('span')].map(lines),
    };
  });
}
"""


def test_the_trace_list_keeps_record_numbers_phones_and_dates_on_one_line(page, screenshot):
    """In a recall the list is read down the phone: "DEMO-" / "0024" and a number over three
    lines (+44 20 / 7946 / 7635) were misread; the columns were squeezed by the e-mails."""
    from anagen.core.demo import load_demo
    from anagen.products.models import VialDraw

    load_demo()
    draw = VialDraw.objects.filter(lot__clinic__slug="demo").order_by("pk").first()
    sign_in(page, "quality", "quality-demo-2026")
    page.get_by_role("heading", name="Anagen Demo Clinic").wait_for()
    assert page.goto(f"/products/lots/{draw.lot_id}/trace/").status == 200
    rows = page.evaluate(TRACE_LINES)
    screenshot(page, "lot-trace")
    assert rows and all(r["dates"] for r in rows)
    assert [r for r in rows if r["mrn"] != 1 or r["phone"] != 1 or set(r["dates"]) != {1}] == []
