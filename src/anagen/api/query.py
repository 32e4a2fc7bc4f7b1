"""Query parameters an endpoint does not declare are refused, not ignored.

Ninja reads only the query parameters an operation declares and drops the rest, so
``GET /patients?serach=smith`` answered the unfiltered list as if the search had run. Each
operation is wrapped once (``api.add_decorator``, v1.py): before the view runs, a parameter
outside the operation's declared query parameters (plain ones, the fields of a
``Query[Schema]`` and those of its paginator) answers 400 naming it and the accepted ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.http import HttpRequest
from ninja.errors import HttpError


def declared_query_names(view_func: Callable[..., Any]) -> tuple[str, ...]:
    """The query parameter names the ninja operation of ``view_func`` reads, in declaration
    order: the keys of its query model's flatten map (a ``Query[Schema]`` contributes each
    field by its alias; ``@paginate`` contributes ``limit``/``offset`` the same way)."""
    operation = view_func._ninja_operation  # type: ignore[attr-defined]  # set by ninja
    names: list[str] = []
    for model in operation.models:
        if model.__ninja_param_source__ == "query":
            names.extend(model.__ninja_flatten_map__)
    return tuple(names)


def unknown_query_message(unknown: Iterable[str], accepted: Iterable[str]) -> str:
    """``Unknown query parameter 'serach'; this endpoint accepts: q, limit, offset.``"""
    unknown, accepted = list(unknown), list(accepted)
    quoted = ", ".join(f"'{name}'" for name in unknown)
    noun = "parameter" if len(unknown) == 1 else "parameters"
    accepts = (
        f"this endpoint accepts: {', '.join(accepted)}."
        if accepted
        else "this endpoint accepts no query parameters."
    )
    return f"Unknown query {noun} {quoted}; {accepts}"


def refuse_unknown_query(view_func: Callable[..., Any]) -> Callable[..., Any]:
    """An operation decorator (ninja's ``mode="operation"``): it runs after authentication
    (a caller without access gets 401/403 as before) and after the declared parameters were
    read (a malformed one still answers 422), before the view does anything."""
    accepted = declared_query_names(view_func)
    known = set(accepted)

    @wraps(view_func)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        unknown = [name for name in request.GET if name not in known]
        if unknown:
            raise HttpError(400, unknown_query_message(unknown, accepted))
        return view_func(request, *args, **kwargs)

    return checked
