"""Checks on text from outside (files, JSON bodies) shared by importers and the API; no Django."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# Deeper JSON than this is refused by every reader of uploaded or posted JSON: no clinical
# document nests so deep (a FHIR bundle: about 10 levels), and Python's JSON and model
# parsers recurse, so 3,000 nested brackets in a 6 KB file were a RecursionError (a 500).
MAX_JSON_DEPTH = 64


def _walk(value: object) -> Iterator[tuple[object, int]]:
    """Every value inside decoded JSON (dict keys included) with its depth; no recursion."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        yield item, depth
        if isinstance(item, dict):
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is a whole number written in ASCII digits: what ``int()`` reads.
    ``str.isdigit()`` also passes "²" (which ``int()`` refuses: a 500) and "١٢"."""
    return text.isascii() and text.isdigit()


# Primary keys are 64-bit; larger numbers in a URL or a query would overflow in the database.
MAX_DB_ID = 2**63 - 1


def database_id(text: str) -> int | None:
    """A positive database id written in ASCII digits (a query parameter, a reference such
    as "session:57"), None when ``text`` is not one or lies past the database's integers."""
    return int(text) if ascii_digits(text) and 0 < int(text) <= MAX_DB_ID else None


def contains_nul(value: object) -> bool:
    """True when a string, or any key or value inside decoded JSON, holds a NUL character.

    PostgreSQL text cannot store NUL, and no clinical text needs it: callers refuse such input
    with a clear message before it reaches the database.
    """
    return any(isinstance(v, str) and "\x00" in v for v, _ in _walk(value))


def too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when decoded JSON nests deeper than ``limit`` objects/arrays."""
    return any(depth > limit for _, depth in _walk(value))


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice: json.loads keeps the last silently, so a CoA
    reading ``"sterility": "positive", …, "sterility": "negative"`` was stored as negative."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"the key {key!r} appears twice in one object (only one value can be meant); "
            "give each key once"
        )


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise DuplicateKeyError(key)
        data[key] = value
    return data


def load_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses JSON nested deeper than ``MAX_JSON_DEPTH`` with a
    ValueError, and an object naming a key twice with DuplicateKeyError (a ValueError);
    json.JSONDecodeError for text that is not JSON, as json.loads."""
    message = f"the JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except RecursionError:
        raise ValueError(message) from None
    if too_deep(data):
        raise ValueError(message)
    return data


# Bidirectional overrides and isolates: invisible, they make "1234" display as "4321"
# (a record number or name that looks like another patient's).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def hidden_characters(text: str, *, allow: str = "", invisible: bool = False) -> list[str]:
    """The control characters (C0/C1, DEL) and bidirectional overrides in ``text`` as
    "U+XXXX" codes, except those in ``allow`` (an address keeps its line breaks).

    ``invisible`` also finds every format character (Unicode category Cf: zero-width space
    and joiners, byte-order mark, soft hyphen, word joiner): for identifiers such as a record
    number or a name, where "MRN-12" and "MRN-1\u200b2" would look the same but differ. Free
    text leaves it off (emoji sequences use the zero-width joiner)."""
    found = []
    for ch in text:
        if ch in allow:
            continue
        category = unicodedata.category(ch)
        if category == "Cc" or ch in _BIDI_CONTROLS or (invisible and category == "Cf"):
            code = f"U+{ord(ch):04X}"
            if code not in found:
                found.append(code)
    return found


def printed_code(text: str) -> str:
    """A code printed on a label (a lot number) in Unicode compatibility form (NFKC): a
    full-width "Ｓ" or a ligature is stored as the letters it looks like, so two lots that
    print alike cannot both be received."""
    return unicodedata.normalize("NFKC", text)


def dialable_phone(text: str) -> str:
    """A phone number as it is stored and searched: compatibility form (NFKC: full-width
    "＋４４" is +44) and every decimal digit of another script as its ASCII digit ("٠٢٠"
    is 020). Stored as typed, such a number was not found by the digits typed at the front
    desk, and a reminder list or a dialler could not use it."""
    return "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch
        for ch in unicodedata.normalize("NFKC", text)
    )


def spreadsheet_safe(value: object) -> str:
    """A text cell for a CSV that people open in a spreadsheet: a leading = + - @ (or tab or
    carriage return) would be run as a formula (CSV injection), so such cells get a leading
    apostrophe, which spreadsheets show as text. For free text only: numbers stay numbers."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# An international number: + then digits, spaces, brackets, dots, dashes (no letters, no |).
PHONE_NUMBER = re.compile(r"\+\d[\d ()./-]*")  # +44 20 7946 0000, +1 (555) 010-0199


def phone_cell(value: object) -> str:
    """A phone number for a CSV of contacts: an international number as is (a spreadsheet
    cannot run it, and an apostrophe breaks dialler and SMS imports); anything else through
    spreadsheet_safe, so "+cmd|…", "=…", "-…", "@…" or a leading tab/CR are still guarded."""
    text = "" if value is None else str(value)
    return text if PHONE_NUMBER.fullmatch(text) else spreadsheet_safe(text)


def _half_up(value: float, decimals: int) -> Decimal:
    """``value`` to ``decimals`` places, halves rounded away from zero as the number is
    written (its shortest repr), not as the float is stored."""
    return Decimal(repr(float(value))).quantize(
        Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP
    )


def round_half_up(value: float, decimals: int) -> float:
    """``value`` rounded as ``fixed`` writes it (halves up as written: -6.25 → -6.3), for
    numbers stored or compared: ``round`` gives -6.2 (halves to even), so the visit page and
    the progress page read one change differently."""
    return float(_half_up(value, decimals))


def fixed(value: float, decimals: int, *, signed: bool = False) -> str:
    """``value`` to ``decimals`` places, halves rounded up as written: 85.05 → "85.1".

    Formatting the float itself gives "85.0" (85.05 is stored as 85.04999…), while Django's
    ``floatformat`` on the stored decimal gives "85.1": one measurement then read differently
    on the visit page and in the progress report.
    """
    rounded = _half_up(value, decimals)
    if rounded.is_zero():
        rounded = abs(rounded)  # no "-0.0"
    text = f"{rounded:f}"
    # A change that rounds to zero has no sign: "+0.0" beside "(-0.1 %)" read as a gain.
    return f"+{text}" if signed and rounded > 0 else text


def signed_grade(grade: int) -> str:
    """A rating on a −3…+3 scale as written: "+2", "-1", "0" (not "+0")."""
    return f"{grade:+d}" if grade else "0"


def long_date(day: date) -> str:
    """A date in words for messages a person reads: "3 March 2026"."""
    return f"{day.day} {day:%B %Y}"


def search_key(text: str) -> str:
    """Text as a search compares it: accents folded, case folded, spaces collapsed
    ("José Álvarez-Núñez" -> "jose alvarez-nunez"), so a search typed without accents or in
    any case finds the name (SQLite folds case for ASCII letters only)."""
    bare = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    return " ".join(bare.casefold().split())


_DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+")


def decimal_comma(text: str) -> str:
    """ "1,5" read as "1.5": a tablet set to a comma-decimal language offers no point on its
    number pad. Three digits after the comma ("1,500") could be a thousands separator: left
    as typed, to be refused as not a number."""
    stripped = text.strip()
    if _DECIMAL_COMMA.fullmatch(stripped) and len(stripped.rpartition(",")[2]) != 3:
        return stripped.replace(",", ".")
    return text


_API_HINT = re.compile(r"; in the API,[^)]*\)")


def without_api_hint(message: str) -> str:
    """A service's refusal as a page shows it: "(the box “…”; in the API, confirm_x: true)"
    names the API field for API clients, which the person at the form has no use for."""
    return _API_HINT.sub(")", message)
