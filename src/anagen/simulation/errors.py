"""Errors raised by the simulation package.

All of them are ``ValueError`` subclasses so callers that already catch ``ValueError``
keep working; the message always names the offending parameter.
"""

from __future__ import annotations

import math


class SimulationInputError(ValueError):
    """Bad input to the simulator (the message names the parameter)."""


class ParameterError(SimulationInputError):
    """An impossible model or design parameter."""

    def __init__(self, name: str, value: object, requirement: str) -> None:
        self.parameter = name
        self.value = value
        super().__init__(f"{name} = {value!r}: {requirement}")


def require_positive(name: str, value: float) -> None:
    if not (value > 0):  # also rejects NaN
        raise ParameterError(name, value, "must be > 0")


def require_nonnegative(name: str, value: float) -> None:
    if not (value >= 0):
        raise ParameterError(name, value, "must be >= 0")


def require_probability(name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0):
        raise ParameterError(name, value, "must be a probability in [0, 1]")


def _is_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return int(value) == value  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):  # None, NaN, ±inf, text
        return False


def require_int_at_least(name: str, value: int, minimum: int) -> None:
    if not _is_int(value) or value < minimum:
        raise ParameterError(name, value, f"must be an integer >= {minimum}")


def require_finite_between(
    name: str, value: float, low: float, high: float, unit: str = "", *, low_open: bool = False
) -> None:
    """``low <= value <= high`` (``low < value`` with ``low_open``); rejects NaN and ±inf."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        v = math.nan
    ok = math.isfinite(v) and (low < v if low_open else low <= v) and v <= high
    if not ok:
        lo = "(" if low_open else "["
        raise ParameterError(
            name, value, f"must be a finite number in {lo}{low:g}, {high:g}]{unit}"
        )


def require_int_between(name: str, value: int, minimum: int, maximum: int) -> None:
    """An integer in ``[minimum, maximum]`` (ceilings keep runs within memory and time)."""
    if not _is_int(value) or not minimum <= value <= maximum:
        raise ParameterError(
            name,
            value,
            f"must be an integer in [{minimum:,}, {maximum:,}] (the ceiling keeps a run within "
            "memory and time)",
        )
