"""The base of every request body the API accepts."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from ninja import Schema
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from anagen.core.checks import hidden_text_problem

GIVE_DATE = "Give the date as YYYY-MM-DD."
GIVE_DATETIME = "Give the date and time as ISO 8601, e.g. 2025-01-31T14:30:00+00:00."
GIVE_TIME = "Give the time as HH:MM or HH:MM:SS."
GIVE_BOOL = "Give true or false."
GIVE_NUMBER_NOT_BOOL = "Give a number, not true/false."
GIVE_NUMBER_NOT_TEXT = "Give a number, not text."
GIVE_DECIMAL = 'Give a number, e.g. 1.5 or "1.5".'

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# What follows the minutes (seconds, fraction, offset) is left to pydantic to check.
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}")
# A Decimal may come as a string of plain decimal digits: the API writes Decimals that way
# (``"volume_ml": "1.000"``) and its OpenAPI document offers that string form for them, so a
# client sending back what it read is not sending nonsense. Digits, a point and an exponent
# only: no NaN, infinity, spaces, underscores or commas.
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

Problem = tuple[tuple[int | str, ...], str]


def _problems(value: Any, annotation: Any) -> list[Problem]:
    """What is wrong with a JSON ``value`` for ``annotation``, each with its location below the
    field; empty when it may go on to pydantic. Only the coercions lax mode would make from
    the wrong JSON type are refused here; ranges, lengths and formats stay with pydantic."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _problems(value, get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        members = get_args(annotation)
        if value is None and type(None) in members:
            return []
        found: list[Problem] = []
        for member in members:
            if member is type(None):
                continue
            problems = _problems(value, member)
            if not problems:
                return []
            found = found or problems
        return found
    if origin is Literal or annotation is Any or annotation is type(None):
        return []
    if origin is not None:
        args = get_args(annotation)
        if isinstance(origin, type) and issubclass(origin, Mapping):
            if not isinstance(value, dict) or len(args) != 2:
                return []
            return [
                ((key, *loc), message)
                for key, item in value.items()
                for loc, message in _problems(item, args[1])
            ]
        if isinstance(origin, type) and issubclass(origin, (Sequence, set, frozenset)):
            if not isinstance(value, list) or not args or issubclass(origin, str):
                return []
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                items = list(zip(value, args, strict=False))
            else:
                items = [(item, args[0]) for item in value]
            return [
                ((index, *loc), message)
                for index, (item, item_type) in enumerate(items)
                for loc, message in _problems(item, item_type)
            ]
        return []
    if not isinstance(annotation, type) or issubclass(annotation, BaseModel):
        # A nested body is an InputSchema and checks its own fields.
        return []
    if annotation is bool:
        return [] if isinstance(value, bool) else [((), GIVE_BOOL)]
    if annotation in (int, float, Decimal):
        if isinstance(value, bool):
            return [((), GIVE_NUMBER_NOT_BOOL)]
        if isinstance(value, str):
            if annotation is Decimal:
                return [] if _DECIMAL_TEXT.fullmatch(value) else [((), GIVE_DECIMAL)]
            return [((), GIVE_NUMBER_NOT_TEXT)]
        return []
    if annotation is datetime:
        ok = isinstance(value, datetime) or (
            isinstance(value, str) and _DATETIME.match(value) is not None
        )
        return [] if ok else [((), GIVE_DATETIME)]
    if annotation is date:
        ok = (isinstance(value, date) and not isinstance(value, datetime)) or (
            isinstance(value, str) and _DATE.fullmatch(value) is not None
        )
        return [] if ok else [((), GIVE_DATE)]
    if annotation is time:
        ok = isinstance(value, time) or (isinstance(value, str) and _TIME.match(value) is not None)
        return [] if ok else [((), GIVE_TIME)]
    return []


class InputSchema(Schema):
    """A request body.

    It refuses fields it does not know (422 "<field>: Extra inputs are not permitted").
    Dropping them silently let a typo such as ``bleeding_disordr`` store a history without
    the contraindication, and screening then passed it.

    It refuses the wrong JSON type instead of converting it, in every field of every body
    and of the bodies and lists inside it: a date must be a ``"YYYY-MM-DD"`` string (lax
    mode read ``0`` as 1970-01-01), a date-time an ISO 8601 string with a time, a boolean
    ``true`` or ``false`` (not ``1``, ``"yes"`` or ``"true"``), a whole or decimal number a
    JSON number (not ``true``, which lax mode took as 1, nor text; a Decimal field also
    takes a string of digits such as ``"1.5"``, as the API writes Decimals that way). Text
    fields already refuse numbers and booleans; choices take their text values.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_wrong_json_types(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is None:
            return value
        field = cls.model_fields.get(info.field_name)
        if field is None:
            return value
        problems = _problems(value, field.annotation)
        if not problems:
            return value
        raise ValidationError.from_exception_data(
            cls.__name__,
            [
                InitErrorDetails(
                    type=PydanticCustomError("wrong_json_type", message),
                    loc=loc,
                    input=_input_at(value, loc),
                )
                for loc, message in problems
            ],
        )

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_hidden_characters(cls, value: Any) -> Any:
        # Every text of every body, and each text of a list (a body or list inside checks
        # its own): an escape sequence or a right-to-left override was stored verbatim in a
        # void reason, a token name or a note, and shown so in the audit trail and CSVs.
        texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for text in texts:
            if isinstance(text, str) and (problem := hidden_text_problem(text)):
                raise PydanticCustomError("hidden_characters", problem)
        return value


def _input_at(value: Any, loc: tuple[int | str, ...]) -> Any:
    for step in loc:
        value = value[step]
    return value
