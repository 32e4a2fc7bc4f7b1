"""The treatment session and product lot an adverse event names, checked against the
patient's record (pure: the sessions are read by ``selectors.session_uses``).

An event may name the session it followed, by date, and the product lot given. Both must
be true: a non-voided session of the patient on that date, and a lot recorded as used (a
vial drawn) in one of the patient's non-voided sessions, in the named session when a date
is given. Lot numbers match ignoring case and surrounding spaces; the lot's own spelling
is what is stored.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from anagen.core.text import long_date

# How many session dates and lot numbers a refusal lists (newest first).
LISTED_SESSIONS = 5
LISTED_LOTS = 6


@dataclass(frozen=True)
class SessionUse:
    """One non-voided treatment session of the patient and the lots used in it."""

    performed_on: date
    modality: str  # in words, e.g. "Exosome injection (investigational)"
    lots: tuple[str, ...]  # lot numbers in the lots' own spelling, in order of use


def lot_key(lot_number: str) -> str:
    """What two spellings of one lot number have in common (case, surrounding spaces,
    full-width or other compatibility forms of the characters)."""
    return unicodedata.normalize("NFKC", lot_number).strip().casefold()


def _listed(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def _dates(uses: Sequence[SessionUse]) -> list[date]:
    return sorted({u.performed_on for u in uses}, reverse=True)


def _lots(uses: Sequence[SessionUse]) -> list[str]:
    out: dict[str, str] = {}
    for u in sorted(uses, key=lambda u: u.performed_on, reverse=True):
        for lot in u.lots:
            out.setdefault(lot_key(lot), lot)
    return list(out.values())


def session_date_error(uses: Sequence[SessionUse], on: date) -> str | None:
    """None when the patient had a session on ``on``; otherwise why not, in words."""
    if any(u.performed_on == on for u in uses):
        return None
    said = f"No treatment session of this patient on {long_date(on)}"
    dates = [long_date(d) for d in _dates(uses)]
    if not dates:
        return f"{said}; the patient has no recorded treatment session."
    return f"{said}; the patient's sessions: {_listed(dates, LISTED_SESSIONS)}."


def voided_session_error(on: date) -> str:
    """Why a new lot cannot be checked against the session of ``on`` an event was linked
    to, now that no non-voided session is left on that day (a session's date is not
    corrected in place, so it was voided since)."""
    return (
        f"The session of {long_date(on)} this event is linked to is voided: its lots can no "
        "longer be checked. To change the lot, link the event to another session, or to none."
    )


def match_lot(
    uses: Sequence[SessionUse], lot_number: str, on: date | None = None
) -> tuple[str | None, str | None]:
    """(the lot's own spelling, None) when ``lot_number`` was used in one of the sessions,
    in the session(s) on ``on`` when a date is given; (None, why not in words) otherwise."""
    key = lot_key(lot_number)
    pool = [u for u in uses if on is None or u.performed_on == on]
    for lot in _lots(pool):
        if lot_key(lot) == key:
            return lot, None
    given = lot_number.strip()
    used = _lots(pool)
    if on is not None:
        said = f"Lot {given} was not used in the session of {long_date(on)}"
        if not used:
            return None, f"{said}; no vial was recorded in that session."
        return None, f"{said}; lots used then: {_listed(used, LISTED_LOTS)}."
    said = f"Lot {given} was not used in any treatment session of this patient"
    if not used:
        return None, (
            f"{said}; no vial is recorded in the patient's sessions. Record the session "
            "first, or leave the lot empty and describe the product in the description."
        )
    return None, f"{said}; lots used: {_listed(used, LISTED_LOTS)}."


def session_choices(uses: Sequence[SessionUse]) -> list[tuple[str, str]]:
    """The session days for a form, newest first, as ("2026-03-03", "2026-03-03 · lot
    EXO-123 · Exosome injection (investigational)"); sessions on one day share one choice.
    The lot comes before the treatment so that a narrow select (a phone) still shows it."""
    by_day: dict[date, list[SessionUse]] = {}
    for use in sorted(uses, key=lambda u: u.performed_on, reverse=True):
        by_day.setdefault(use.performed_on, []).append(use)
    out = []
    for day, same_day in by_day.items():
        kinds = " + ".join(dict.fromkeys(u.modality for u in same_day))
        lots = _lots(same_day)
        label = f"{day:%Y-%m-%d}"
        if lots:
            label += f" · lot{'s' if len(lots) > 1 else ''} {', '.join(lots)}"
        label += f" · {kinds}"
        out.append((day.isoformat(), label))
    return out


def lot_choices(uses: Sequence[SessionUse]) -> list[tuple[str, str]]:
    """The lots used, most recently used first, as (lot number, "used 2026-03-03, …")."""
    days: dict[str, list[str]] = {}
    for use in sorted(uses, key=lambda u: u.performed_on, reverse=True):
        for lot in use.lots:
            days.setdefault(lot, []).append(f"{use.performed_on:%Y-%m-%d}")
    return [(lot, "used " + ", ".join(dict.fromkeys(d))) for lot, d in days.items()]
