"""One way to turn a service's refusal into the API's error answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from django.core.exceptions import NON_FIELD_ERRORS
from ninja.errors import HttpError

from anagen.core.checks import Refusal


def error_detail(errors: Mapping[str, Iterable[Any]]) -> str:
    """Every message, each after the field it is about ("stage: …; sessions_planned: …");
    a message about the request as a whole ("__all__") comes without a field name."""
    parts = []
    for field, messages in errors.items():
        text = " ".join(str(m) for m in messages)
        parts.append(text if field in ("__all__", NON_FIELD_ERRORS) else f"{field}: {text}")
    return "; ".join(parts)


def refuse(errors: Mapping[str, Iterable[Any]], status: int = 400) -> NoReturn:
    raise HttpError(status, error_detail(errors))


def refuse_nulls(changes: Mapping[str, Any], nullable: Iterable[str] = ()) -> None:
    """A PATCH field sent as null is refused, except those whose null means "none" (a
    resolution date taken back): null blanking a clinical text would lose it unnoticed."""
    keep = set(nullable)
    nulls = [k for k, v in changes.items() if v is None and k not in keep]
    if nulls:
        raise HttpError(
            400,
            f'{", ".join(nulls)}: cannot be null (leave a field out to keep it; send "" '
            "to clear a text).",
        )


def refusal_detail(exc: Refusal, rename: Callable[[str], str] = str) -> str:
    """A service's refusal as the API's ``detail``: each field named as the client sent it."""
    return error_detail({rename(field): messages for field, messages in exc.errors.items()})


def _limit(ctx: Mapping[str, Any], key: str) -> str:
    value = ctx.get(key, "")
    return f"{value:g}" if isinstance(value, float) else str(value)


# pydantic's checks in the API's own words; others keep pydantic's message.
_VALIDATION_WORDS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda ctx: "This field is required.",
    "extra_forbidden": lambda ctx: "Unknown field; remove it (check its spelling).",
    "string_type": lambda ctx: "Give text.",
    "string_too_short": lambda ctx: (
        "This field is required."
        if ctx.get("min_length") == 1
        else f"At least {ctx.get('min_length')} characters."
    ),
    "string_too_long": lambda ctx: f"At most {ctx.get('max_length')} characters.",
    "int_from_float": lambda ctx: "Give a whole number.",
    "int_parsing_size": lambda ctx: "The number is too large.",
    "greater_than_equal": lambda ctx: f"At least {_limit(ctx, 'ge')}.",
    "greater_than": lambda ctx: f"More than {_limit(ctx, 'gt')}.",
    "less_than_equal": lambda ctx: f"At most {_limit(ctx, 'le')}.",
    "less_than": lambda ctx: f"Less than {_limit(ctx, 'lt')}.",
    "date_from_datetime_parsing": lambda ctx: "Give a real date as YYYY-MM-DD.",
    "date_parsing": lambda ctx: "Give a real date as YYYY-MM-DD.",
    "datetime_from_date_parsing": lambda ctx: (
        "Give a real date and time as ISO 8601, e.g. 2025-01-31T14:30:00+00:00."
    ),
    "datetime_parsing": lambda ctx: (
        "Give a real date and time as ISO 8601, e.g. 2025-01-31T14:30:00+00:00."
    ),
    "literal_error": lambda ctx: f"Choose one of: {ctx.get('expected', '')}.",
    "enum": lambda ctx: f"Choose one of: {ctx.get('expected', '')}.",
    "list_type": lambda ctx: "Give a list.",
    "model_type": lambda ctx: "Give an object with its fields.",
    "model_attributes_type": lambda ctx: "Give an object with its fields.",
    "dict_type": lambda ctx: "Give an object with its fields.",
}


def validation_message(error: Mapping[str, Any]) -> str:
    """One pydantic error in the API's words (the house style of the services' refusals)."""
    words = _VALIDATION_WORDS.get(str(error.get("type", "")))
    return words(error.get("ctx") or {}) if words else str(error.get("msg", "invalid"))
