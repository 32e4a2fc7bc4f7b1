"""Numbers on product pages are written as people write them: powers of ten with a
multiplication sign and a superscript exponent, and "≥"/"≤" for comparisons; never the
computer's "5e+09" or ">="."""

# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from anagen.products.templatetags.products_tags import measured, readable_number, sci

from .test_products_django_support import (  # noqa: F401
    good_results,
    make_lot,
    product,
    quality,
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (5e9, "5 × 10⁹"),
        (1e10, "1 × 10¹⁰"),
        (1.1e10, "1.1 × 10¹⁰"),
        (12345678901.0, "1.23 × 10¹⁰"),
        (2e-5, "2 × 10⁻⁵"),
        (0.25, "0.25"),
        (92.5, "92.5"),
        (120, "120"),
        (Decimal("1.500"), "1.5"),
        (0, "0"),
        (None, "—"),
        ("negative", "negative"),
        (">= 2e+09 particles/µg", "≥ 2 × 10⁹ particles/µg"),
        ("<= 0.25 EU/mL", "≤ 0.25 EU/mL"),
        ("1e+10 particles/vial of a 2 mL vial is 5e+09 particles/mL",
         "1 × 10¹⁰ particles/vial of a 2 mL vial is 5 × 10⁹ particles/mL"),
        ("80–150 nm", "80–150 nm"),
        ("lot UC-2612-Q", "lot UC-2612-Q"),
    ],
)  # fmt: skip
def test_numbers_and_comparisons_are_written_for_people(value, shown):
    assert readable_number(value) == shown
    assert sci(value) == shown and measured(value) == shown


def test_not_a_number_is_left_as_it_is():
    assert readable_number(float("nan")) == "nan"
    assert readable_number(True) == "True"


@pytest.mark.django_db
def test_the_catalogue_product_and_lot_pages_show_no_computer_notation(
    client, product, make_lot, quality
):
    lot = make_lot(results=good_results())
    client.force_login(quality)
    pages = {
        "catalogue": client.get("/products/catalogue/").content.decode(),
        "product": client.get(f"/products/catalogue/{product.pk}/").content.decode(),
        "lot": client.get(f"/products/lots/{lot.pk}/").content.decode(),
        "specs": client.get("/products/specs/").content.decode(),
    }
    assert "1 × 10¹⁰" in pages["catalogue"] and "1 × 10¹⁰" in pages["product"]
    assert "≥ 2 × 10⁹" in pages["lot"] and "≥ 2 × 10⁹" in pages["specs"]
    for name, page in pages.items():
        assert not re.search(r"\d[eE][+-]\d", page), name
        assert "&gt;=" not in page and "&lt;=" not in page, name
