"""Numbers as people write them (pure; used by templates and by error messages)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
# A number in computer notation inside text: "5e+09", "1.1e+10", "2E-05".
_E_NOTATION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?)(\d+)(?![\w.])")
_COMPARISONS = {">=": "≥", "<=": "≤", "!=": "≠"}


def _power_of_ten(match: re.Match[str]) -> str:
    mantissa, sign, digits = match.groups()
    exponent = ("-" if sign == "-" else "") + (digits.lstrip("0") or "0")
    return f"{mantissa} × 10{exponent.translate(_SUPERSCRIPT)}"


def readable_number(value: Any) -> str:
    """A number as people write it: 5e9 → "5 × 10⁹", 1.1e10 → "1.1 × 10¹⁰", 0.25 → "0.25";
    in text, numbers in computer notation and ">=", "<=" are rewritten the same way
    (">= 2e+09 particles/µg" → "≥ 2 × 10⁹ particles/µg")."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if not math.isfinite(number):
            return str(value)
        big_or_tiny = abs(number) >= 1e5 or 0 < abs(number) < 1e-3
        text = f"{number:.3g}" if big_or_tiny else f"{number:g}"
    else:
        text = str(value)
    for computer, person in _COMPARISONS.items():
        text = text.replace(computer, person)
    return _E_NOTATION.sub(_power_of_ten, text)


def split_in_proportion(
    total: Decimal, weights: Sequence[Decimal], step: Decimal = Decimal("0.01")
) -> list[Decimal]:
    """``total`` shared in proportion to ``weights``, each share a multiple of ``step``, the
    shares adding up to ``total`` rounded to ``step`` (largest remainder: the steps left
    over after rounding down go to the largest remainders, ties to the earlier weight).
    1.00 in three equal shares is 0.34, 0.33, 0.33, not 0.33 three times (0.99)."""
    whole = sum(weights, Decimal(0))
    if not weights or whole <= 0:
        return [Decimal(0) * step for _ in weights]
    steps = int((total / step).to_integral_value())
    exact = [Decimal(steps) * w / whole for w in weights]
    floors = [int(x) for x in exact]  # exact >= 0: int() rounds down
    left = steps - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(n) * step for n in floors]
