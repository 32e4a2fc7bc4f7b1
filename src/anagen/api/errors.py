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


def refusal_detail(exc: Refusal, rename: Callable[[str], str] = str) -> str:
    """A service's refusal as the API's ``detail``: each field named as the client sent it."""
    return error_detail({rename(field): messages for field, messages in exc.errors.items()})
