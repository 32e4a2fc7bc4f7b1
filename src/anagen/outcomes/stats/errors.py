"""Errors raised by the statistics core."""

from __future__ import annotations


class NotEnoughDataError(ValueError):
    """The data cannot support the requested estimate.

    Raised instead of returning a number that would look valid but is not (an empty arm, a
    singular design, a covariance that cannot be estimated). The message always starts with
    ``"not enough data: "`` so callers (API, CLI, pages) can show it unchanged.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"not enough data: {reason}")
        self.reason = reason
