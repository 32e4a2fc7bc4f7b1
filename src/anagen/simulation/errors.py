"""Errors raised by the simulation package.

All of them are ``ValueError`` subclasses so callers that already catch ``ValueError``
keep working; the message always names the offending parameter.
"""

from __future__ import annotations


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


def require_int_at_least(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ParameterError(name, value, f"must be an integer >= {minimum}")
