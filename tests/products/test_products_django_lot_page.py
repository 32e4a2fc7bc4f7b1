"""The lot page's decision forms.

A form sent back with an error is shown open, with the cursor on the field in error: the
collapsed sections (wasted vials, release override) never hide their own error. A lot that
fails an infection-safety criterion is not offered a release override (no second quality
user could approve one), and the refusal to release says so; a lot that fails only an
optional criterion still is.
"""

# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
from __future__ import annotations

import re

import pytest

from anagen.products import services

from .test_products_django_support import (  # noqa: F401
    good_results,
    make_lot,
    product,
    quality,
    quality2,
)

pytestmark = pytest.mark.django_db


def section(page: str, element_id: str) -> str:
    """The opening tag and content of the <details> with this id."""
    start = page.index(f'<details id="{element_id}"')
    return page[start : page.index("</details>", start)]


def test_a_refused_waste_record_comes_back_open_with_its_error_and_the_cursor_on_it(
    client, make_lot, quality
):
    lot = make_lot(quantity=7, released=True)
    client.force_login(quality)
    page = client.get(f"/products/lots/{lot.pk}/").content.decode()
    assert not re.match(r'<details id="waste"[^>]* open', section(page, "waste"))
    response = client.post(
        f"/products/lots/{lot.pk}/waste/", {"quantity": 999, "reason": "dropped"}
    )
    assert response.status_code == 400
    waste = section(response.content.decode(), "waste")
    assert re.match(r'<details id="waste"[^>]* open', waste)
    assert "Only 7 vial(s) are on hand." in waste
    assert re.search(r'<input[^>]*name="quantity"[^>]*autofocus', waste)


def test_a_refused_override_request_comes_back_open_with_its_error(client, make_lot, quality):
    lot = make_lot(results=good_results(particles_50_400nm_pct=85))  # an optional criterion
    client.force_login(quality)
    response = client.post(f"/products/lots/{lot.pk}/override/", {"reason": ""})
    assert response.status_code == 400
    override = section(response.content.decode(), "override")
    assert re.match(r'<details id="override"[^>]* open', override)
    assert 'class="error"' in override
    assert re.search(r'<textarea[^>]*autofocus|<input[^>]*name="reason"[^>]*autofocus', override)


def test_a_failed_safety_criterion_offers_no_override(client, make_lot, quality):
    lot = make_lot(results=good_results(endotoxin_eu_per_ml=0.8))
    client.force_login(quality)
    page = client.get(f"/products/lots/{lot.pk}/").content.decode()
    assert "Request a release override" not in page
    assert f"/products/lots/{lot.pk}/override/" not in page
    assert "a safety criterion cannot be overridden" in page
    assert "Reject lot" in page


def test_forcing_the_release_of_an_unsafe_lot_does_not_suggest_an_override(make_lot, quality):
    lot = make_lot(results=good_results(endotoxin_eu_per_ml=0.8))
    with pytest.raises(services.ProductError) as err:
        services.release_lot(lot, quality)
    message = str(err.value)
    assert "Endotoxin" in message and "cannot be overridden" in message
    assert "request an override" not in message and "reject the lot" in message


def test_an_optional_criterion_failing_still_offers_the_override(client, make_lot, quality):
    lot = make_lot(results=good_results(particles_50_400nm_pct=85))
    client.force_login(quality)
    page = client.get(f"/products/lots/{lot.pk}/").content.decode()
    assert "Request a release override" in page and 'id="no-override"' not in page
    with pytest.raises(services.ProductError, match="request an override"):
        services.release_lot(lot, quality)


def test_the_coa_check_and_the_spec_name_criteria_in_words(client, make_lot, quality):
    lot = make_lot(results=good_results())
    client.force_login(quality)
    page = client.get(f"/products/lots/{lot.pk}/").content.decode()
    assert "labelled amount ± 20 %" in page
    assert "labelled_particles_per_ml ±" not in page
    # The code stays, secondary, for tracing a row to the spec document.
    assert 'Particle concentration (NTA)<br><span class="muted">Spec code <code>' in page
    spec = client.get("/products/specs/").content.decode()
    assert '<th scope="col" class="muted">Spec code</th>' in spec
    assert "labelled amount ± 20 %" in spec and ">Field<" not in spec


def test_lot_page_times_state_their_time_zone(client, make_lot, quality, settings):
    lot = make_lot(released=True)
    client.force_login(quality)
    page = client.get(f"/products/lots/{lot.pk}/").content.decode()
    assert settings.TIME_ZONE == "UTC"
    received = re.search(r"<dt>Received</dt><dd>(\d{4}-\d\d-\d\d \d\d:\d\d)( UTC)? by", page)
    assert received and received.group(2) == " UTC"
    decision = re.search(r"<dt>Decision</dt><dd>Released \S+ \d\d:\d\d( UTC)? by", page)
    assert decision and decision.group(1) == " UTC"


def test_the_product_page_says_a_released_lot_has_expired(client, make_lot, product, quality):
    from datetime import date, timedelta

    from anagen.products.models import Lot

    lot = make_lot(released=True)
    Lot.objects.filter(pk=lot.pk).update(expiry_date=date.today() - timedelta(days=1))
    client.force_login(quality)
    page = client.get(f"/products/catalogue/{product.pk}/").content.decode()
    row = re.search(rf">{lot.lot_number}</a>(.*?)</li>", page, re.S)
    assert row and "Expired" in row.group(1) and "expired " in row.group(1)


def test_the_lot_and_product_pages_say_investigational_without_a_regulatory_status(
    client, make_lot, product, quality
):
    services.update_product(product, quality, {"regulatory_status": {}})
    lot = make_lot()
    client.force_login(quality)
    for url in (f"/products/lots/{lot.pk}/", f"/products/catalogue/{product.pk}/"):
        page = client.get(url).content.decode()
        main = page[page.index("<main") : page.index("</main>")]  # not the footer
        assert "not approved for hair loss in most jurisdictions" in main, url
        assert "No regulatory status by jurisdiction is recorded" in main, url


def test_the_lot_page_lists_who_wasted_vials_when_and_why(client, make_lot, quality):
    """It showed "Wasted 2" only."""
    lot = make_lot(quantity=7, released=True)
    services.record_waste(lot, quality, 2, "Dropped vial on the floor")
    client.force_login(quality)
    page = client.get(f"/products/lots/{lot.pk}/").content.decode()
    table = page[page.index('id="waste-records"') :].split("</table>")[0]
    assert "Dropped vial on the floor" in table
    assert '<td class="num">2</td>' in table
    assert quality.username in table or (
        quality.get_full_name() and quality.get_full_name() in table
    )


def test_a_lot_near_its_expiry_says_so_on_its_page_and_in_the_list(client, make_lot, quality):
    """Only the dashboard and the "expiring" filter showed it; the lot page gave the bare
    date and the list no badge."""
    from datetime import date, timedelta

    today_lot = make_lot(released=True, lot_number="EXP-0", expiry=date.today())
    soon = make_lot(released=True, lot_number="EXP-9", expiry=date.today() + timedelta(days=9))
    later = make_lot(released=True, lot_number="EXP-300", expiry=date.today() + timedelta(days=300))
    client.force_login(quality)
    assert "— expires today" in client.get(f"/products/lots/{today_lot.pk}/").content.decode()
    assert "— expires in 1" in client.get(f"/products/lots/{soon.pk}/").content.decode()
    assert "expires in" not in client.get(f"/products/lots/{later.pk}/").content.decode()
    listing = client.get("/products/").content.decode()
    assert listing.count('class="badge lot-expiring"') == 2


def test_a_lot_without_a_storage_location_says_no_readings_cover_it(client, make_lot, quality):
    lot = make_lot(released=True, lot_number="NOLOC-1")
    client.force_login(quality)
    page = client.get(f"/products/lots/{lot.pk}/").content.decode()
    assert "No storage location was recorded for this lot: no temperature readings cover it" in page
