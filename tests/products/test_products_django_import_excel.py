# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""Lot files as spreadsheets export them: blank rows and blank trailing columns are skipped,
a semicolon-separated or non-UTF-8 file gets one message saying how to save it, and product
and storage location names match whatever their capitals and surrounding spaces."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from anagen.products import importers, services
from anagen.products.models import Lot

from .test_products_django_support import good_results, make_lot, product, quality

pytestmark = pytest.mark.django_db
EXPIRY = (date.today() + timedelta(days=200)).isoformat()
HEAD = "manufacturer,product_name,lot_number,expiry_date,quantity_received,storage_location"


def test_support_names_are_used():
    assert good_results and make_lot and product and quality


def line(number: str, *, manufacturer="Cordis Bio", name="UC-MSC Exosome 10B", where="") -> str:
    return f"{manufacturer},{name},{number},{EXPIRY},8,{where}"


def import_csv(product, quality, text: str, encoding: str = "utf-8") -> list[Lot]:
    return services.import_lots(product.clinic, quality, "lots.csv", text.encode(encoding))


class TestExcelExports:
    def test_blank_rows_and_blank_trailing_columns_are_skipped(self, product, quality):
        text = (
            f"{HEAD},,\r\n{line('X-1')},,\r\n,,,,,,,\r\n{line('X-2')},,\r\n,,,,,,,\r\n,,,,,,,\r\n"
        )
        lots = import_csv(product, quality, "\ufeff" + text)
        assert [lot.lot_number for lot in lots] == ["X-1", "X-2"]

    def test_rows_keep_their_numbers_in_the_file(self, product, quality):
        text = f"{HEAD}\n{line('X-1')}\n,,,,,\n{line('X-2').replace(',8,', ',2.5,')}\n"
        with pytest.raises(services.ProductError) as err:
            import_csv(product, quality, text)
        assert "row 3, quantity_received" in err.value.errors
        assert not Lot.objects.exists()

    def test_a_cell_under_a_blank_trailing_column_is_refused(self, product, quality):
        text = f"{HEAD},\n{line('X-1')},surprise\n"
        with pytest.raises(services.ProductError) as err:
            import_csv(product, quality, text)
        assert err.value.errors["row 1, csv"] == ["a cell under a column without a name"]

    def test_a_blank_column_between_named_ones_is_still_unknown(self):
        with pytest.raises(importers.ImportFileError, match=r"\(blank\): unknown column"):
            importers.parse_csv(f"manufacturer,,{HEAD[13:]}\n")

    def test_a_semicolon_separated_file_gets_one_message(self, product, quality):
        text = HEAD.replace(",", ";") + "\n" + line("X-1").replace(",", ";") + "\n"
        with pytest.raises(services.ProductError) as err:
            import_csv(product, quality, text)
        assert list(err.value.errors) == ["file"]
        [message] = err.value.errors["file"]
        assert "separated by semicolons; use comma-separated values" in message

    def test_a_file_that_is_not_utf8_says_to_save_it_as_csv_utf8(self, product, quality):
        text = f"{HEAD}\n{line('X-1', where='Kühlschrank')}\n"
        with pytest.raises(services.ProductError) as err:
            import_csv(product, quality, text, encoding="cp1252")
        [message] = err.value.errors["file"]
        assert "save it as CSV UTF-8" in message


class TestNamesAsPeopleTypeThem:
    def test_product_and_location_match_ignoring_capitals_and_spaces(
        self, product, quality, clinic_a
    ):
        freezer = services.create_location(clinic_a, quality, "Freezer F1")
        text = (
            f"{HEAD}\n"
            + line(
                "X-1", manufacturer=" cordis bio ", name="UC-MSC  exosome 10b", where="freezer f1 "
            )
            + "\n"
        )
        [lot] = import_csv(product, quality, text)
        assert lot.product == product and lot.storage_location == freezer

    def test_an_unknown_location_is_still_refused(self, product, quality, clinic_a):
        services.create_location(clinic_a, quality, "Freezer F1")
        with pytest.raises(services.ProductError) as err:
            import_csv(product, quality, f"{HEAD}\n{line('X-1', where='Freezer F2')}\n")
        assert "row 1, storage_location" in err.value.errors


class TestDatesExcelRewrote:
    """Dates like 30/09/2027 are refused (3/4/2027 could be March or April), with how to
    get ISO dates back out of Excel."""

    @pytest.mark.parametrize("written", ["30/09/2027", "9/30/2027", "30.09.2027", "9/30/27"])
    def test_a_day_month_year_date_says_excel_may_have_rewritten_it(
        self, product, quality, written
    ):
        text = f"{HEAD}\n{line('X-1').replace(EXPIRY, written)}\n"
        with pytest.raises(services.ProductError) as err:
            import_csv(product, quality, text)
        [message] = err.value.errors["row 1, expiry_date"]
        assert message.startswith(f"expected a date as YYYY-MM-DD, got '{written}'")
        assert message.endswith(
            "Excel may have rewritten the dates: format the column as yyyy-mm-dd and save "
            "as CSV UTF-8"
        )
        assert not Lot.objects.exists()

    def test_other_bad_dates_get_no_excel_hint(self, product, quality):
        text = f"{HEAD}\n{line('X-1').replace(EXPIRY, 'next year')}\n"
        with pytest.raises(services.ProductError) as err:
            import_csv(product, quality, text)
        [message] = err.value.errors["row 1, expiry_date"]
        assert "Excel" not in message


def test_an_unclosed_quote_is_named_not_reported_as_missing_cells():
    """The rest of the file was read into one cell: 'product_name is required' and so on."""
    text = (
        "product_name,manufacturer,lot_number,expiry_date,quantity_received\n"
        '"unterminated,UC,FZ9,2027-12-31,5\n'
    )
    with pytest.raises(importers.ImportFileError) as err:
        importers.parse_csv(text)
    assert "a quoted cell is not closed" in str(err.value)
    assert "required" not in str(err.value)


class TestEveryProblemAtOnce:
    """A six-row file reported two problems, then four more once those were fixed: a row
    that could not be read held back the checks of the others (product, location, a lot
    number twice). Every problem now comes at once, in row order."""

    def test_a_row_that_cannot_be_read_does_not_hide_the_other_rows_problems(
        self, product, quality
    ):
        text = (
            f"{HEAD}\n"
            f"{line('A-1').replace(',8,', ',2.5,')}\n"  # row 1: not a whole number
            f"{line('A-2', name='No Such Product')}\n"  # row 2: unknown product
            f"{line('A-3', where='Nowhere')}\n"  # row 3: unknown location
            f"{line('A-4')}\n{line('A-4')}\n"  # rows 4 and 5: one lot number twice
        )
        with pytest.raises(services.ProductError) as err:
            import_csv(product, quality, text)
        assert list(err.value.errors) == [
            "row 1, quantity_received",
            "row 2, product_name",
            "row 3, storage_location",
            "row 5, lot_number",
        ]
        assert not Lot.objects.exists()


def test_every_problem_of_a_row_is_reported_at_once():
    """A row without its manufacturer and with a day-month date said only "manufacturer is
    required"; the date came back on the next try (a review)."""
    text = f"{HEAD}\n,UC-MSC Exosome 10B,X-1,30/09/2027,0,\n"
    with pytest.raises(importers.ImportFileError) as err:
        importers.parse_csv(text)
    where = [str(i).split(":")[0] for i in err.value.issues]
    assert where == ["row 1, manufacturer", "row 1, expiry_date", "row 1, quantity_received"]
    assert "Excel may have rewritten the dates" in str(err.value)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("1,1e10", "Use a decimal point: 1.1e10, not 1,1e10."),
        ("0,05 EU/mL", "Use a decimal point: 0.05 EU/mL, not 0,05 EU/mL."),
    ],
)
def test_a_result_with_a_decimal_comma_is_named_so_not_an_unknown_unit(cell, message):
    """ "1,1e10" was read as 1 with the unit ",1e10" ("unknown unit"), while the CoA form says
    to use a decimal point (review)."""
    with pytest.raises(ValueError) as err:
        importers.parse_result_cell(cell)
    assert str(err.value) == message
