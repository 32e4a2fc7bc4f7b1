"""Change from baseline is taken within one measurement source (pure; no Django).

A hand count of 1 cm² and an image-analysis field of 0.18 cm² are not compared: a visit's
manual value goes against the baseline's manual value, else its image-analysis value against
the baseline's image-analysis value. ``cohort.build_long`` applies the same rule to whole
tables; the visit page, the progress chart and the report use this function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Manual first: the clinic's own count is the measurement of record when both exist.
SOURCE_ORDER: tuple[str, ...] = ("manual", "imaging")


def same_source_pair(
    now: Mapping[str, float | None],
    base: Mapping[str, float | None],
    order: Sequence[str] = SOURCE_ORDER,
) -> tuple[str, float | None, float | None]:
    """(source, value, baseline value) for one measure, given each source's value at the
    visit (``now``) and at baseline (``base``); missing sources count as None.

    The first source in ``order`` with both values wins; else the first with a visit value,
    whose baseline is None (no change can be taken); else ("", None, None)."""
    for src in order:
        if now.get(src) is not None and base.get(src) is not None:
            return src, now[src], base[src]
    for src in order:
        if now.get(src) is not None:
            return src, now[src], None
    return "", None, None
