"""Checks on text from outside (files, JSON bodies) shared by importers and the API; no Django."""

from __future__ import annotations

import re


def contains_nul(value: object) -> bool:
    """True when a string, or any key or value inside decoded JSON, holds a NUL character.

    PostgreSQL text cannot store NUL, and no clinical text needs it: callers refuse such input
    with a clear message before it reaches the database.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


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
