"""The certificate's lot number against the lot's: trim, any case, spaces and hyphens ignored."""

from __future__ import annotations

import pytest

from anagen.products.lotnumbers import lot_number_key, mismatch_message, same_lot_number


@pytest.mark.parametrize(
    "printed",
    [
        "UC-2609-A",
        "  UC-2609-A  ",
        "uc-2609-a",
        "UC 2609 A",
        "UC2609A",
        "UC–2609—A",  # en and em dashes
        "UC\u22122609\u2010A",  # minus sign, Unicode hyphen
        "ＵＣ－２６０９－Ａ",  # full width
    ],
)
def test_the_same_lot_printed_differently_matches(printed):
    assert same_lot_number(printed, "UC-2609-A")


@pytest.mark.parametrize(
    "printed",
    ["UC-2609-B", "UC-2609", "UC-2609-AA", "UC.2609.A", "UC/2609/A", "UC_2609_A", "UC-26O9-A"],
)
def test_another_lot_does_not_match(printed):
    assert not same_lot_number(printed, "UC-2609-A")


def test_a_blank_or_separators_only_number_matches_nothing():
    assert not same_lot_number("", "")
    assert not same_lot_number(" - ", "-")


def test_the_key_drops_case_spaces_and_hyphens_only():
    assert lot_number_key(" Uc 26-09.a ") == "uc2609.a"


def test_the_refusal_names_both_numbers():
    assert mismatch_message(" UC-2609-B ", "UC-2609-A") == (
        "The certificate is for lot UC-2609-B; this is lot UC-2609-A."
    )
