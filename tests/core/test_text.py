"""contains_nul keeps NUL characters (which PostgreSQL cannot store) out; spreadsheet_safe keeps
formulas out of CSV cells."""

from __future__ import annotations

import pytest

from anagen.core.text import (
    contains_nul,
    fixed,
    hidden_characters,
    phone_cell,
    round_half_up,
    spreadsheet_safe,
)


@pytest.mark.parametrize(
    "value",
    ["a\x00b", {"k": "v\x00"}, {"k\x00": 1}, [1, ["x", "\x00"]], {"a": [{"b": "\x00"}]}],
)
def test_a_nul_anywhere_in_decoded_json_is_found(value):
    assert contains_nul(value)


@pytest.mark.parametrize("value", ["plain", "\\u0000 as six characters", {"k": [1, 2.5, None]}, 0])
def test_text_without_nul_passes(value):
    assert not contains_nul(value)


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+44 20 7946 0001", "'+44 20 7946 0001"), ("-2", "'-2"),
     ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("Smith", "Smith"), ("a=b", "a=b"),
     (None, ""), ("", "")],
)  # fmt: skip
def test_spreadsheet_safe_keeps_formulas_as_text(value, cell):
    assert spreadsheet_safe(value) == cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("+44 20 7946 0000", "+44 20 7946 0000"),  # a dialler reads it as it is
        ("+1 (555) 010-0199", "+1 (555) 010-0199"),
        ("020 7946 0000", "020 7946 0000"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),  # still a formula: guarded
        ("+1+cmd|x", "'+1+cmd|x"),
        ("=1+1", "'=1+1"),
        (None, ""),
    ],
)
def test_phone_cells_keep_real_numbers_and_guard_formulas(value, cell):
    assert phone_cell(value) == cell


def test_deeply_nested_json_is_refused_without_recursion():
    """3,000 nested brackets (a 6 KB file) were a RecursionError in contains_nul: the CLI
    printed a traceback and the upload pages answered 500."""
    from anagen.core.text import MAX_JSON_DEPTH, load_json, too_deep

    deep = "[" * 3000 + "]" * 3000
    with pytest.raises(ValueError, match="nested too deeply"):
        load_json(deep)
    with pytest.raises(ValueError, match="nested too deeply"):
        load_json("[" * 100_000 + "]" * 100_000)  # json.loads itself gives up here
    nested: list = ["\x00"]
    for _ in range(3000):
        nested = [nested]
    assert contains_nul(nested) and too_deep(nested)  # walked without recursion
    assert load_json('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    assert not too_deep(load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH))
    assert too_deep([[[1]]], limit=2)


@pytest.mark.parametrize(
    ("value", "decimals", "signed", "text"),
    [
        (85.05, 1, False, "85.1"),  # stored 85.04999…: as the visit page's floatformat says
        (14.95, 1, False, "15.0"),
        (-2.25, 1, True, "-2.3"),
        (8, 1, True, "+8.0"),
        (-0.04, 1, True, "0.0"),  # never "-0.0", nor "+0.0" beside "(-0.1 %)"
        (0.0, 1, True, "0.0"),
        (0.04, 1, True, "0.0"),
        (120.4, 0, False, "120"),
    ],
)
def test_fixed_rounds_halves_up_as_written(value, decimals, signed, text):
    assert fixed(value, decimals, signed=signed) == text


@pytest.mark.parametrize(
    ("value", "decimals", "rounded"),
    [(-6.25, 1, -6.3), (6.25, 1, 6.3), (85.05, 1, 85.1), (-2.24, 1, -2.2), (12.0, 1, 12.0)],
)
def test_round_half_up_rounds_as_fixed_writes(value, decimals, rounded):
    # round(-6.25, 1) is -6.2: the visit page said -6.2 % where the progress page said -6.3 %.
    assert round_half_up(value, decimals) == rounded
    assert fixed(round_half_up(value, decimals), decimals) == fixed(value, decimals)


@pytest.mark.parametrize(
    ("text", "codes"),
    [("a\u200bb", ["U+200B"]), ("\ufeffx", ["U+FEFF"]), ("so\u00adft", ["U+00AD"]),
     ("a\u2060b\u200d", ["U+2060", "U+200D"]), ("1\u202e", ["U+202E"]), ("Zoë", [])],
)  # fmt: skip
def test_invisible_finds_format_characters_for_identifiers(text, codes):
    assert hidden_characters(text, invisible=True) == codes


def test_free_text_keeps_format_characters_by_default():
    # An emoji sequence joins with U+200D; only identifiers refuse it.
    assert hidden_characters("family: \U0001f468\u200d\U0001f469") == []


@pytest.mark.parametrize(
    ("typed", "read"),
    [("1,5", "1.5"), (" 0,25 ", "0.25"), (",5", ".5"), ("-1,5", "-1.5"), ("1.5", "1.5"),
     # Three digits after the comma may be a thousands separator: left to be refused.
     ("1,500", "1,500"), ("1,2,3", "1,2,3"), ("abc", "abc")],
)  # fmt: skip
def test_a_decimal_comma_is_read_as_a_point_unless_it_may_group_thousands(typed, read):
    from anagen.core.text import decimal_comma

    assert decimal_comma(typed) == read


def test_a_page_shows_a_refusal_without_the_api_field():
    from anagen.core.text import without_api_hint

    api = "If so, confirm it (the box “Separate visit”; in the API, confirm_same_day: true)."
    assert without_api_hint(api) == "If so, confirm it (the box “Separate visit”)."
    assert without_api_hint("Nothing about the API here.") == "Nothing about the API here."


def test_a_json_object_naming_a_key_twice_is_refused():
    """json.loads keeps the last of two equal keys silently: a CoA reading sterility positive
    and then negative was stored as negative."""
    from anagen.core.text import DuplicateKeyError, load_json

    with pytest.raises(DuplicateKeyError, match="'sterility' appears twice"):
        load_json('{"results": {"sterility": "positive", "sterility": "negative"}}')
    with pytest.raises(ValueError, match="appears twice"):
        load_json('[{"a": 1}, {"b": 2, "b": 2}]')
    assert load_json('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]  # in two objects: fine
