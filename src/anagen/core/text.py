"""Checks on text from outside (files, JSON bodies) shared by importers and the API; no Django."""

from __future__ import annotations


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
