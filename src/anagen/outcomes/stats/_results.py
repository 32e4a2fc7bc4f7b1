"""Base class for result dataclasses: a JSON-serialisable ``to_dict``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def _jsonable(value: Any) -> Any:
    # JSON has no NaN/inf; None is the honest encoding of "not defined".
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if hasattr(value, "to_dict") else _dataclass_dict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def _dataclass_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.metadata.get("internal"):
            continue
        out[f.name] = _jsonable(getattr(obj, f.name))
    return out


class ResultMixin:
    """Adds ``to_dict()`` to a frozen dataclass; fields marked ``internal`` are left out."""

    def to_dict(self) -> dict[str, Any]:
        return _dataclass_dict(self)


def internal(default: Any = None) -> Any:
    """A dataclass field kept for computation (e.g. covariance matrices) but not serialised."""
    return dataclasses.field(
        default=default, repr=False, compare=False, metadata={"internal": True}
    )
