"""On a phone (390 × 844) the columns a table is read for are on screen without scrolling
it sideways: the lot number and status of the lot list, the result of each CoA criterion,
the patient and status of the agenda. Wide tables scrolled inside themselves, with those
columns off to the right."""

import pytest

from anagen.core.demo import load_demo
from anagen.products.models import Lot

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}

# The right edge of each named header cell of the first matching table, in page pixels,
# with the table scrolled to its start.
HEADER_EDGES = """
([selector, names]) => {
  const table = document.querySelector(selector);
  if (!table) return null;
  table.scrollLeft = 0;
  const edges = {};
  for (const th of table.querySelectorAll('thead th')) {
    const name = th.textContent.trim();
    if (names.includes(name)) {
      const r = th.getBoundingClientRect();
      edges[name] = r.width > 0 ? Math.round(r.right) : null;
    }
  }
  return edges;
}
"""


def key_columns_off_screen(page, selector: str, names: list[str]) -> dict[str, int | None]:
    edges = page.evaluate(HEADER_EDGES, [selector, names])
    assert edges is not None, f"no table {selector}"
    assert sorted(edges) == sorted(names), edges
    return {n: e for n, e in edges.items() if e is None or e > PHONE["width"]}


def test_key_columns_of_lot_coa_and_agenda_tables_fit_a_phone(page, screenshot):
    load_demo()
    lot = Lot.objects.filter(clinic__slug="demo", coa__isnull=False).order_by("pk").first()
    sign_in(page, "quality", "quality-demo-2026")
    page.get_by_role("heading", name="Anagen Demo Clinic").wait_for()
    page.set_viewport_size(PHONE)
    off = {}
    assert page.goto("/products/").status == 200
    off["lots"] = key_columns_off_screen(page, "table.lots", ["Lot", "Status", "Expiry"])
    screenshot(page, "phone-lot-list")
    assert page.goto(f"/products/lots/{lot.pk}/").status == 200
    off["coa"] = key_columns_off_screen(page, "table.spec-check", ["Criterion", "Result"])
    page.locator("table.spec-check").scroll_into_view_if_needed()
    screenshot(page, "phone-lot-coa")
    page.context.clear_cookies()
    sign_in(page, "clinician", "clinician-demo-2026")
    assert page.goto("/monitoring/agenda/?view=list").status == 200
    off["agenda"] = key_columns_off_screen(page, "table#agenda", ["Due", "Patient", "Status"])
    screenshot(page, "phone-agenda")
    assert {k: v for k, v in off.items() if v} == {}
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.console_errors == []
