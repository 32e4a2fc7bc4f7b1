"""The shared readers of a write's values: each problem is one message under the field's
name, and a refused or empty value reads as None (text as "")."""

from datetime import date
from decimal import Decimal

import pytest

from anagen.core.checks import (
    FieldErrors,
    read_date,
    read_decimal,
    read_number,
    read_text,
    read_whole,
)


def test_text_is_stripped_and_none_is_empty():
    errors = FieldErrors()
    assert read_text(errors, "notes", "  itchy scalp \n", max_len=20) == "itchy scalp"
    assert read_text(errors, "notes", None, max_len=20) == ""
    assert read_text(errors, "notes", "line 1\r\n\tline 2", max_len=20) == "line 1\r\n\tline 2"
    assert errors == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (12, "Enter text."),
        (["a"], "Enter text."),
        ("a\x00b", "Remove the NUL character."),
        ("a\x07b", "Remove the control or invisible character(s) U+0007."),
        ("1234\u202e", "Remove the control or invisible character(s) U+202E."),
        ("x" * 21, "At most 20 characters (got 21)."),
    ],
)
def test_text_refused(value, message):
    errors = FieldErrors()
    read_text(errors, "notes", value, max_len=20)
    assert errors == {"notes": [message]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2.5", 2.5), (3, 3.0), (" 7 ", 7.0), ("", None), (None, None), ("  ", None)],
)
def test_number_read_from_text_or_number(value, expected):
    errors = FieldErrors()
    assert read_number(errors, "area", value, 0, 10) == expected
    assert errors == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "Must be a number."),
        ("ten", "Must be a number."),
        ({"v": 1}, "Must be a number."),
        ("nan", "Must be a finite number."),
        ("inf", "Must be a finite number."),
        (10**400, "Must be a number."),
        ("-1", "Area cannot be negative."),
        ("11", "Must be between 0 and 10 Area."),
    ],
)
def test_number_refused(value, message):
    errors = FieldErrors()
    assert read_number(errors, "area", value, 0, 10, label="Area") is None
    assert errors == {"area": [message]}


def test_whole_number_and_its_own_message():
    errors = FieldErrors()
    assert read_whole(errors, "grade", "3", 1, 5) == 3
    assert read_whole(errors, "grade", 4.0, 1, 5) == 4
    assert read_whole(errors, "grade", 2.5, 1, 5) is None
    assert read_whole(errors, "gauge", 99, 18, 34, message="Gauge 18G to 34G.") is None
    assert errors == {"grade": ["Must be a whole number."], "gauge": ["Gauge 18G to 34G."]}


def test_decimal_rounded_half_up_to_its_places():
    errors = FieldErrors()
    assert read_decimal(errors, "ml", "0.125", 0, 20, places=2, max_digits=5) == Decimal("0.13")
    assert read_decimal(errors, "ml", 1, 0, 20, places=2, max_digits=5) == Decimal("1.00")
    assert errors == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "Enter a number."),
        (False, "Enter a number."),
        ("NaN", "Must be between 0 and 2000."),
        ("1e300", "Must be between 0 and 2000."),
        ("-0.5", "Must be between 0 and 2000."),
        ("1999.999", "Too large to store."),
    ],
)
def test_decimal_refused(value, message):
    errors = FieldErrors()
    # 4 digits with 2 places hold at most 99.99: a range wider than the column still refuses.
    assert read_decimal(errors, "ml", value, 0, 2000, places=2, max_digits=4) is None
    assert errors == {"ml": [message]}


def test_date_from_text_or_date_and_required():
    errors = FieldErrors()
    assert read_date(errors, "on", "2026-03-01") == date(2026, 3, 1)
    assert read_date(errors, "on", date(2026, 3, 2)) == date(2026, 3, 2)
    assert read_date(errors, "on", "") is None
    assert errors == {}
    assert read_date(errors, "due", None, required=True) is None
    assert read_date(errors, "seen", "2026-02-30") is None
    assert read_date(errors, "when", 20260301) is None
    assert errors == {
        "due": ["This field is required."],
        "seen": ["Enter a real date as YYYY-MM-DD."],
        "when": ["Enter a real date as YYYY-MM-DD."],
    }
