"""Reading one value of a write (a form field, a JSON body's member) into a checked Python
value, with one message per problem under the field's name. No Django: every app's
services share these, so a number, a date or a text is refused the same way everywhere.

Each ``read_*`` returns the value, or None (or "" for text) when the field is empty or was
refused; the caller raises once, after reading every field, so a person sees every problem
of a form at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from anagen.core.text import hidden_characters


@dataclass
class Refusal(Exception):
    """A write was refused; ``errors`` maps field name → list of messages. Each app's
    service error derives from it, and the API answers every one the same way (400)."""

    errors: dict[str, list[str]]

    def __str__(self) -> str:
        return "; ".join(f"{f}: {' '.join(m)}" for f, m in self.errors.items())


class FieldErrors(dict[str, list[str]]):
    """Field name → messages, in the shape forms and the API's 400 replies use."""

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)


def hidden_text_problem(text: str) -> str | None:
    """Why free text cannot be stored, or None: a NUL (PostgreSQL cannot store it) or another
    control character or bidirectional override (line breaks and tabs are kept). A bell or
    escape sequence garbles the audit trail and CSV exports; a right-to-left override makes
    "1234" read "4321" there. Forms (core.forms.Form) and API bodies (api.schemas.InputSchema)
    refuse such text in every field with this message."""
    if "\x00" in text:
        return "Remove the NUL character."
    if hidden := hidden_characters(text, allow="\n\r\t"):
        return f"Remove the control or invisible character(s) {', '.join(hidden)}."
    return None


def read_text(errors: FieldErrors, field: str, value: Any, *, max_len: int) -> str:
    """Stripped text of at most ``max_len`` characters, without NUL (PostgreSQL cannot store
    it) or other control and invisible characters (line breaks and tabs kept); None is empty
    text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.add(field, "Enter text.")
        return ""
    text = value.strip()
    if problem := hidden_text_problem(text):
        errors.add(field, problem)
    if len(text) > max_len:
        errors.add(field, f"At most {max_len} characters (got {len(text)}).")
    return text


def read_number(
    errors: FieldErrors,
    field: str,
    value: Any,
    lo: float,
    hi: float,
    *,
    integer: bool = False,
    label: str = "",
) -> float | int | None:
    """A finite number within [lo, hi] (a whole one when ``integer``); numbers as text are
    read too, True/False are not numbers. ``label`` names the unit in messages."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        errors.add(field, "Must be a number.")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        errors.add(field, "Must be a number.")
        return None
    if not math.isfinite(number):
        errors.add(field, "Must be a finite number.")
        return None
    if integer and number != int(number):
        errors.add(field, "Must be a whole number.")
        return None
    if number < 0 and lo >= 0:
        errors.add(field, f"{label or 'The value'} cannot be negative.")
        return None
    if not lo <= number <= hi:
        errors.add(field, f"Must be between {lo:g} and {hi:g}{label and ' ' + label}.")
        return None
    return int(number) if integer else number


def read_whole(
    errors: FieldErrors, field: str, value: Any, lo: int, hi: int, *, message: str = ""
) -> int | None:
    """A whole number within [lo, hi]; ``message``, when given, replaces every message (for a
    field whose rule reads better said once, e.g. "Needle gauge: 18 to 34")."""
    found = FieldErrors()
    number = read_number(found, field, value, lo, hi, integer=True)
    for text in found.get(field, []):
        errors.add(field, message or text)
    return None if number is None else int(number)


def read_decimal(
    errors: FieldErrors,
    field: str,
    value: Any,
    lo: float,
    hi: float,
    *,
    places: int,
    max_digits: int,
    positive: bool = False,
) -> Decimal | None:
    """A decimal within [lo, hi] rounded half-up to ``places``, refused when it would not fit
    ``max_digits`` (so nothing stored can fail to read back); with ``positive``, refused when
    it is 0 once rounded (1e-400 mm stored as 0 mm)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool):
            raise ArithmeticError
        number = Decimal(str(value).strip())
    except ArithmeticError:
        errors.add(field, "Enter a number.")
        return None
    if not number.is_finite() or not Decimal(str(lo)) <= number <= Decimal(str(hi)):
        errors.add(field, f"Must be between {lo:g} and {hi:g}.")
        return None
    number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if positive and number <= 0:
        errors.add(field, f"Must be more than 0 (at least {Decimal(1).scaleb(-places)}).")
        return None
    if number.adjusted() >= max_digits - places:
        errors.add(field, "Too large to store.")
        return None
    return number


def read_date(
    errors: FieldErrors, field: str, value: Any, *, required: bool = False
) -> date | None:
    """A calendar date, given as a date or as YYYY-MM-DD text."""
    if value is None or value == "":
        if required:
            errors.add(field, "This field is required.")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    errors.add(field, "Enter a real date as YYYY-MM-DD.")
    return None


_PHONE = re.compile(r"\+?[\d\s().\-/]+(?:\s*(?:ext\.?|x)\s*\d{1,6})?", re.IGNORECASE)


def is_phone(text: str) -> bool:
    """Digits with the usual separators, an optional leading + and extension; 3-20 digits."""
    digits = sum(ch.isdigit() for ch in text)
    return _PHONE.fullmatch(text) is not None and 3 <= digits <= 20
