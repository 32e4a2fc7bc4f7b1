"""Numbers typed or stored as text are read only when written in ASCII digits.

``str.isdigit()`` passes "²" (superscript two), which ``int()`` then refuses: a typed stage,
a follow-up week list, a lot choice, a reminder range or a hand-typed session reference
holding one gave a 500 where a clear refusal (or "not a number") was due."""

from __future__ import annotations

import pytest

from anagen.assessment import protocols, scales
from anagen.core.text import MAX_DB_ID, ascii_digits, database_id
from anagen.monitoring import schedule
from anagen.treatments import selectors


@pytest.mark.parametrize(
    ("text", "expected"), [("12", True), ("0", True), ("²", False), ("١٢", False),
                           ("", False), ("1.5", False), ("-3", False), ("１２", False)]
)  # fmt: skip
def test_ascii_digits_is_what_int_reads(text, expected):
    assert ascii_digits(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"), [("57", 57), (str(MAX_DB_ID), MAX_DB_ID), (str(MAX_DB_ID + 1), None),
                           ("0", None), ("²", None), ("", None), ("-3", None), ("５７", None)]
)  # fmt: skip
def test_a_database_id_is_positive_ascii_digits_within_64_bits(text, expected):
    assert database_id(text) == expected


def test_a_superscript_in_a_typed_stage_is_a_scale_error():
    with pytest.raises(scales.ScaleError):
        protocols.stage_code("aga_female", "²", "female")


def test_a_superscript_in_follow_up_weeks_is_a_schedule_error():
    with pytest.raises(schedule.ScheduleError, match="not a whole number of weeks"):
        schedule.parse_weeks("4, ², 12")


def test_a_hand_typed_session_reference_with_a_superscript_names_no_session():
    class Draw:
        patient_id = 1
        drawn_on = "day"
        session_ref = "session:²"

    session = selectors.SessionKey(5, 1, "day", "exosome")
    # Not a session's reference: the draw is an unnamed one of the session's day.
    assert selectors.draws_used_by([session], [Draw()])[5][0].session_ref == "session:²"


def test_reminders_with_a_superscript_range_are_a_400(client, admin):
    client.force_login(admin)
    response = client.get("/monitoring/agenda/reminders.csv?days=²")
    assert response.status_code == 400
    assert "whole number of days" in response.content.decode()
