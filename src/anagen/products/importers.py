"""Reading lot + CoA files (JSON or CSV) into plain rows, with errors naming row and field.

Pure (no Django): the service layer resolves products and locations, checks duplicates
against the database and stores all rows in one transaction, or none.
The file format is documented in docs/products.md.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from anagen.core.text import ascii_digits, contains_nul, load_json, printed_code

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 1000

# CoA result fields: the release engine's names, plus descriptive fields it does not check.
NUMERIC_RESULTS = {
    "labelled_particles_per_ml": "particles/mL",
    "particles_per_ml": "particles/mL",
    "size_mode_nm": "nm",
    "size_mean_nm": "nm",
    "size_d10_nm": "nm",
    "size_d50_nm": "nm",
    "size_d90_nm": "nm",
    "particles_50_400nm_pct": "%",
    "protein_ug_per_ml": "µg/mL",
    "particles_per_ug_protein": "particles/µg",
    "endotoxin_eu_per_ml": "EU/mL",
    "residual_dna_ng_per_dose": "ng/dose",
}
CATEGORICAL_RESULTS = (
    "cd9",
    "cd63",
    "cd81",
    "tsg101",
    "alix",
    "calnexin",
    "gm130",
    "apoa1",
    "tem_morphology",
    "sterility",
    "mycoplasma",
    "adventitious_virus",
    "antibiotic_residue",
    "donor_screening",
)
TEXT_RESULTS = ("donor_screening_panel", "potency", "size_method", "marker_method")
# Longest text result: what the CoA form allows; a panel list or a potency statement
# ("IL-10 secretion 1.8× control; tube formation 140 %") fits, a pasted document does not.
RESULT_TEXT_MAX_CHARS = 300
RESULT_FIELDS = (*NUMERIC_RESULTS, *CATEGORICAL_RESULTS, *TEXT_RESULTS)

LOT_FIELDS = (
    "manufacturer",
    "product_name",
    "lot_number",
    "expiry_date",
    "quantity_received",
    "storage_location",
    "supplier_notes",
)
COA_FIELDS = (
    "certificate_lot_number",
    "testing_laboratory",
    "third_party_laboratory",
    "cgmp_statement",
    "nta_method",
)
CSV_COLUMNS = (*LOT_FIELDS, *COA_FIELDS, *RESULT_FIELDS)
REQUIRED_LOT_FIELDS = ("manufacturer", "product_name", "lot_number", "expiry_date")


@dataclass(frozen=True)
class ImportIssue:
    row: int  # 1-based data row (CSV: the header is row 0); 0 = the file as a whole
    field: str
    message: str

    @property
    def where(self) -> str:
        """ "row 3, expiry_date"; "file, lots" for the file as a whole; "file" alone when the
        problem is the file itself (not "file, file")."""
        if not self.row:
            return "file" if self.field in ("", "file") else f"file, {self.field}"
        return f"row {self.row}, {self.field}"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ImportFileError(ValueError):
    """The file cannot be imported; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ImportIssue], rows: list[LotRow] | None = None) -> None:
        self.issues = issues
        # The rows that did parse, where the problems are in single rows (the file as a
        # whole was readable): the importer checks those too and reports everything at once.
        self.rows = rows or []
        super().__init__("; ".join(str(i) for i in issues))


@dataclass
class LotRow:
    row: int
    manufacturer: str
    product_name: str
    lot_number: str
    expiry_date: date
    quantity_received: int
    storage_location: str = ""
    supplier_notes: str = ""
    coa: dict[str, Any] | None = None  # testing_laboratory, third_party_laboratory, ...
    results: dict[str, Any] = field(default_factory=dict)


_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}


def decimal_comma_message(text: str) -> str:
    """What to write instead of a number with a decimal comma ("0,05")."""
    # A moved point is suggested only for one comma between digits ("1.5," is no number).
    between_digits = re.search(r"\d,\d", text, re.ASCII)
    example = (
        text.replace(".", "").replace(",", ".", 1)
        if text.count(",") == 1 and between_digits
        else ""
    )
    if example:
        return f"Use a decimal point: {example}, not {text}."
    return (
        "Use a decimal point (0.05, not 0,05) and commas only between groups of three "
        f"digits (1,200,000): not {text}."
    )


def parse_result_cell(text: str) -> Any:
    """A CSV cell: "0.1" → 0.1; "1.2e11 particles/mL" → {"value": 1.2e11, "unit": ...}."""
    m = _NUMBER_WITH_UNIT.match(text)
    if not m:
        raise ValueError(f"expected a number, optionally followed by a unit, got {text!r}")
    if m.group(2).startswith(","):
        # "1,1e10" is a number with a decimal comma, not 1 and a unit ",1e10".
        raise ValueError(decimal_comma_message(text.strip()))
    value = float(m.group(1))
    return {"value": value, "unit": m.group(2)} if m.group(2) else value


# A date as a spreadsheet shows it in the user's locale: 30/09/2027, 9/30/27, 30.09.2027.
# Whether 03/04/2027 is 3 April or 4 March cannot be told, so such dates are refused, with
# the way to get ISO dates back out of Excel.
_DAY_MONTH_YEAR = re.compile(r"\d{1,2}[/.-]\d{1,2}[/.-](\d{2}|\d{4})")
EXCEL_DATES_HINT = (
    "Excel may have rewritten the dates: format the column as yyyy-mm-dd and save as CSV UTF-8"
)


def _read_date(raw: Any) -> date:
    if not isinstance(raw, str):
        raise ValueError(f"expected a date as YYYY-MM-DD, got {raw!r}")
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        message = f"expected a date as YYYY-MM-DD, got {raw!r}"
        if _DAY_MONTH_YEAR.fullmatch(raw.strip()):
            message += f". {EXCEL_DATES_HINT}"
        raise ValueError(message) from None


def _read_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, got {raw!r}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and ascii_digits(raw.strip().lstrip("+-")):
        value = int(raw.strip())
    else:
        raise ValueError(f"expected a whole number, got {raw!r}")
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _read_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {raw!r}")


def _text(raw: Any, limit: int) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got {raw!r}")
    text = raw.strip()
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text


def _check_result_value(name: str, raw: Any) -> Any:
    """Shape only (number / {value, unit} / text); ranges and units are release.py's job."""
    if name in NUMERIC_RESULTS:
        if isinstance(raw, dict):
            extra = set(raw) - {"value", "unit"}
            if extra or "value" not in raw:
                raise ValueError('a result given as an object needs exactly "value" and "unit"')
            value = raw["value"]
        else:
            value = raw
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {value!r}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer beyond float range (JSON allows 10**400)
            raise ValueError("is far too large to be a measurement") from None
        if not finite:
            raise ValueError("must be a finite number")
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"must be text such as positive/negative, got {raw!r}")
    text = raw.strip()
    if len(text) > RESULT_TEXT_MAX_CHARS:
        raise ValueError(f"at most {RESULT_TEXT_MAX_CHARS} characters")
    return text


def _build_row(row: int, data: dict[str, Any], issues: list[ImportIssue]) -> LotRow | None:
    start = len(issues)
    # Every problem of the row at once: a missing field does not hide a bad date beside it.
    missing = {
        name for name in (*REQUIRED_LOT_FIELDS, "quantity_received") if data.get(name) in (None, "")
    }
    for name in (*REQUIRED_LOT_FIELDS, "quantity_received"):
        if name in missing:
            issues.append(ImportIssue(row, name, "is required"))

    def take(name: str, reader: Any, *args: Any) -> Any:
        if name in missing:
            return None
        try:
            return reader(data.get(name), *args)
        except ValueError as exc:
            issues.append(ImportIssue(row, name, str(exc)))
            return None

    manufacturer = take("manufacturer", _text, 200)
    product_name = take("product_name", _text, 200)
    lot_number = take("lot_number", _text, 60)
    if lot_number is not None:
        lot_number = printed_code(lot_number)  # as receive_lot stores it
    expiry = take("expiry_date", _read_date)
    quantity = take("quantity_received", _read_int)
    location = take("storage_location", _text, 120)
    notes = take("supplier_notes", _text, 5000)
    coa_raw = data.get("coa")
    coa: dict[str, Any] | None = None
    results: dict[str, Any] = {}
    if coa_raw is not None:
        if not isinstance(coa_raw, dict):
            issues.append(ImportIssue(row, "coa", "must be an object"))
        else:
            unknown = set(coa_raw) - {*COA_FIELDS, "results"}
            for name in sorted(unknown):
                issues.append(ImportIssue(row, f"coa.{name}", "unknown field"))
            coa = {}
            lab = coa_raw.get("testing_laboratory")
            if not isinstance(lab, str) or not lab.strip():
                issues.append(ImportIssue(row, "coa.testing_laboratory", "is required"))
            elif len(lab.strip()) > 200:
                # Refused, not cut: a laboratory's name is evidence, and a cut one is another.
                issues.append(ImportIssue(row, "coa.testing_laboratory", "at most 200 characters"))
            else:
                coa["testing_laboratory"] = lab.strip()
            # Required: the service compares it with the row's lot_number (not filled in from
            # it: the point is what the certificate itself states).
            certificate_lot = coa_raw.get("certificate_lot_number")
            if certificate_lot in (None, "") or (
                isinstance(certificate_lot, str) and not certificate_lot.strip()
            ):
                issues.append(ImportIssue(row, "coa.certificate_lot_number", "is required"))
            else:
                try:
                    coa["certificate_lot_number"] = printed_code(_text(certificate_lot, 60))
                except ValueError as exc:
                    issues.append(ImportIssue(row, "coa.certificate_lot_number", str(exc)))
            for name, limit in (("cgmp_statement", 300), ("nta_method", 120)):
                if coa_raw.get(name) in (None, ""):
                    continue  # record_coa's default (the NTA method is "NTA" unless named)
                try:
                    coa[name] = _text(coa_raw.get(name), limit)
                except ValueError as exc:
                    issues.append(ImportIssue(row, f"coa.{name}", str(exc)))
            try:
                coa["third_party_laboratory"] = _read_bool(
                    coa_raw.get("third_party_laboratory", False)
                )
            except ValueError as exc:
                issues.append(ImportIssue(row, "coa.third_party_laboratory", str(exc)))
            raw_results = coa_raw.get("results", {})
            if not isinstance(raw_results, dict):
                issues.append(ImportIssue(row, "coa.results", "must be an object"))
                raw_results = {}
            for name, value in raw_results.items():
                if name not in RESULT_FIELDS:
                    issues.append(ImportIssue(row, f"coa.results.{name}", "unknown result field"))
                    continue
                if value is None or value == "":
                    continue
                try:
                    results[name] = _check_result_value(name, value)
                except ValueError as exc:
                    issues.append(ImportIssue(row, f"coa.results.{name}", str(exc)))
    if len(issues) > start:
        return None
    return LotRow(
        row=row,
        manufacturer=manufacturer,
        product_name=product_name,
        lot_number=lot_number,
        expiry_date=expiry,
        quantity_received=quantity,
        storage_location=location or "",
        supplier_notes=notes or "",
        coa=coa,
        results=results,
    )


def parse_json(text: str) -> list[LotRow]:
    """``{"lots": [ {...}, ... ]}``; rows are numbered from 1 in file order."""
    try:
        doc = load_json(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            [ImportIssue(0, "json", f"not valid JSON (line {exc.lineno}: {exc.msg})")]
        ) from None
    except ValueError as exc:  # nested too deeply, or a key named twice
        raise ImportFileError([ImportIssue(0, "json", str(exc))]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("lots"), list):
        raise ImportFileError([ImportIssue(0, "lots", 'the file must be {"lots": [ ... ]}')])
    if contains_nul(doc):
        raise ImportFileError([ImportIssue(0, "json", "text contains NUL (\\u0000) characters")])
    # Refused like unknown keys of a lot: {"lots": [...], "lots ": [...]} imported the first
    # list and dropped the other unseen.
    unknown_top = sorted(set(doc) - {"lots"})
    if unknown_top:
        raise ImportFileError(
            [
                ImportIssue(0, name, 'unknown key; the file is {"lots": [ ... ]}')
                for name in unknown_top
            ]
        )
    if not doc["lots"]:
        raise ImportFileError([ImportIssue(0, "lots", "the file holds no lots")])
    if len(doc["lots"]) > MAX_IMPORT_ROWS:
        raise ImportFileError([ImportIssue(0, "lots", f"at most {MAX_IMPORT_ROWS} lots a file")])
    issues: list[ImportIssue] = []
    rows = []
    for i, item in enumerate(doc["lots"], start=1):
        if not isinstance(item, dict):
            issues.append(ImportIssue(i, "lot", "must be an object"))
            continue
        unknown = set(item) - {*LOT_FIELDS, "coa"}
        for name in sorted(unknown):
            issues.append(ImportIssue(i, name, "unknown field"))
        built = _build_row(i, item, issues)
        if built is not None:
            rows.append(built)
    if issues:
        raise ImportFileError(issues, rows)
    return rows


_UNNAMED = "\x00unnamed column "  # never a header's name: NUL is refused in files


def _blank(value: Any) -> bool:
    if isinstance(value, list):  # cells beyond the header (DictReader's restkey)
        return all(_blank(v) for v in value)
    return value is None or not str(value).strip()


def _semicolon_separated(header: list[str]) -> bool:
    """A header such as "manufacturer;product_name;lot_number" read as comma-separated."""
    return any(
        ";" in h and any(part.strip() in CSV_COLUMNS for part in h.split(";")) for h in header
    )


def csv_problem(exc: csv.Error) -> str:
    """The csv module's complaint in the words of someone who edits a spreadsheet."""
    text = str(exc)
    if "unexpected end of data" in text:
        return 'a quoted cell is not closed (a " without its pair); check the quotes in this row'
    if "field larger than field limit" in text:
        return "a cell is longer than 131,072 characters (often an unclosed quote)"
    return f"not readable as CSV: {text}"


def parse_csv(text: str) -> list[LotRow]:
    """One lot per line; CoA result columns are optional and may carry a unit in the cell."""
    # strict: an unclosed quote is an error, not the rest of the file read into one cell.
    reader = csv.DictReader(io.StringIO(text), strict=True)
    header = reader.fieldnames
    if not header:
        raise ImportFileError([ImportIssue(0, "header", "the file is empty")])
    header = [h.strip() for h in header]
    if _semicolon_separated(header):
        raise ImportFileError(
            [
                ImportIssue(
                    0,
                    "file",
                    "the columns are separated by semicolons; use comma-separated values "
                    "(in Excel: Save As, CSV UTF-8 (Comma delimited))",
                )
            ]
        )
    # Spreadsheets often export empty columns after the last named one: they are ignored
    # (their cells must be empty), under names no real column can have.
    named = len(header)
    while named and not header[named - 1]:
        named -= 1
    unnamed = [f"{_UNNAMED}{n}" for n in range(len(header) - named)]
    header = header[:named]
    reader.fieldnames = [*header, *unnamed]
    issues = [
        ImportIssue(0, h or "(blank)", "unknown column") for h in header if h not in CSV_COLUMNS
    ]
    if len(set(header)) != len(header):
        issues.append(ImportIssue(0, "header", "a column appears twice"))
    for name in (*REQUIRED_LOT_FIELDS, "quantity_received"):
        if name not in header:
            issues.append(ImportIssue(0, name, "required column missing"))
    if issues:
        raise ImportFileError(issues)
    rows: list[LotRow] = []
    try:
        # Rows whose every cell is blank (",,,," under a spreadsheet's last row) are skipped;
        # rows keep their numbers in the file.
        records = [
            (i, rec)
            for i, rec in enumerate(reader, start=1)
            if not all(_blank(v) for v in rec.values())
        ]
    except csv.Error as exc:
        raise ImportFileError([ImportIssue(reader.line_num, "csv", csv_problem(exc))]) from None
    if not records:
        raise ImportFileError([ImportIssue(0, "lots", "the file holds no lots")])
    if len(records) > MAX_IMPORT_ROWS:
        raise ImportFileError([ImportIssue(0, "lots", f"at most {MAX_IMPORT_ROWS} lots a file")])
    for i, rec in records:
        if None in rec:  # more cells than header columns
            issues.append(ImportIssue(i, "csv", "more cells than columns in the header"))
            continue
        if any(not _blank(rec.get(u)) for u in unnamed):
            issues.append(ImportIssue(i, "csv", "a cell under a column without a name"))
            continue
        data: dict[str, Any] = {k: (v or "").strip() for k, v in rec.items() if k in LOT_FIELDS}
        coa_cells = {k: (rec.get(k) or "").strip() for k in (*COA_FIELDS, *RESULT_FIELDS)}
        if any(coa_cells.values()):
            results: dict[str, Any] = {}
            for name in RESULT_FIELDS:
                cell = coa_cells[name]
                if not cell:
                    continue
                if name in NUMERIC_RESULTS:
                    try:
                        results[name] = parse_result_cell(cell)
                    except ValueError as exc:
                        issues.append(ImportIssue(i, f"coa.results.{name}", str(exc)))
                else:
                    results[name] = cell
            data["coa"] = {
                **{k: coa_cells[k] for k in COA_FIELDS if coa_cells[k]},
                "results": results,
            }
        built = _build_row(i, data, issues)
        if built is not None:
            rows.append(built)
    if issues:
        raise ImportFileError(issues, rows)
    return rows


def parse_lot_file(name: str, content: bytes) -> list[LotRow]:
    """Dispatch on the file name (.json / .csv); the content must be UTF-8 text."""
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportFileError(
            [ImportIssue(0, "file", f"larger than {MAX_IMPORT_BYTES // 1024} KiB")]
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        save_as = "JSON in UTF-8" if name.lower().endswith(".json") else "CSV UTF-8"
        raise ImportFileError(
            [ImportIssue(0, "file", f"not UTF-8 text; save it as {save_as} and upload it again")]
        ) from None
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL; a NUL in a text file means binary data or a bad export.
        raise ImportFileError(
            [ImportIssue(0, "file", "contains NUL (\\u0000) characters; export it again as text")]
        )
    lower = name.lower()
    if lower.endswith(".json"):
        return parse_json(text)
    if lower.endswith(".csv"):
        return parse_csv(text)
    raise ImportFileError([ImportIssue(0, "file", "the name must end in .json or .csv")])
