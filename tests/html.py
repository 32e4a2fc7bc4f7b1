"""Checks on rendered pages shared by the test folders."""

from __future__ import annotations

import re
from collections import Counter


def duplicate_ids(html: str) -> list[str]:
    """Element ids used more than once: a label's ``for`` would then point at the wrong field."""
    counts = Counter(re.findall(r'\sid="([^"]+)"', html))
    return sorted(i for i, n in counts.items() if n > 1)


def dangling_references(html: str) -> list[str]:
    """``aria-describedby`` and ``label for`` values that name no element of the page (a
    screen reader then reads no help or error, a click on the label focuses nothing)."""
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    refs = re.findall(r'\saria-describedby="([^"]*)"', html)
    named = [i for ref in refs for i in ref.split()]
    named += re.findall(r'<label[^>]*\sfor="([^"]*)"', html)
    return sorted({i for i in named if i not in ids})
