"""session_link (pure): which session and lot an adverse event may name, and the words of a
refusal. The same rules through the service: test_monitoring_django_adverse_event_links.py."""

from __future__ import annotations

from datetime import date, timedelta

from anagen.monitoring.session_link import (
    LISTED_SESSIONS,
    SessionUse,
    long_date,
    lot_choices,
    match_lot,
    session_choices,
    session_date_error,
)

EXO = "Exosome injection (investigational)"
DAY = date(2026, 3, 3)


def test_dates_read_as_day_month_year():
    assert long_date(DAY) == "3 March 2026"


def test_a_session_day_is_accepted_and_another_day_lists_the_newest_few():
    uses = [SessionUse(DAY - timedelta(weeks=4 * i), EXO, ()) for i in range(8)]
    assert session_date_error(uses, DAY) is None
    message = session_date_error(uses, DAY + timedelta(days=1))
    assert message is not None
    assert message.startswith("No treatment session of this patient on 4 March 2026; ")
    assert "the patient's sessions: 3 March 2026, 3 February 2026, " in message
    assert message.endswith(f" and {8 - LISTED_SESSIONS} more.")


def test_a_lot_matches_in_any_case_and_comes_back_as_the_lot_spells_it():
    uses = [SessionUse(DAY, EXO, ("EXO-123", "exo-Low")), SessionUse(DAY - timedelta(7), EXO, ())]
    assert match_lot(uses, " exo-123  ") == ("EXO-123", None)
    assert match_lot(uses, "EXO-LOW", DAY) == ("exo-Low", None)
    assert match_lot(uses, "EXO-123", DAY - timedelta(7)) == (
        None,
        "Lot EXO-123 was not used in the session of 24 February 2026; "
        "no vial was recorded in that session.",
    )


def test_choices_group_sessions_of_one_day_and_list_each_lot_once():
    uses = [
        SessionUse(DAY, EXO, ("EXO-123",)),
        SessionUse(DAY, "Platelet-rich plasma", ()),
        SessionUse(DAY - timedelta(28), EXO, ("EXO-123", "EXO-456")),
    ]
    assert session_choices(uses) == [
        ("2026-03-03", f"2026-03-03 · lot EXO-123 · {EXO} + Platelet-rich plasma"),
        ("2026-02-03", f"2026-02-03 · lots EXO-123, EXO-456 · {EXO}"),
    ]
    assert lot_choices(uses) == [
        ("EXO-123", "used 2026-03-03, 2026-02-03"),
        ("EXO-456", "used 2026-02-03"),
    ]
