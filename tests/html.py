"""Checks on rendered pages shared by the test folders."""

from __future__ import annotations

import re
from collections import Counter


def duplicate_ids(html: str) -> list[str]:
    """Element ids used more than once: a label's ``for`` would then point at the wrong field."""
    counts = Counter(re.findall(r'\sid="([^"]+)"', html))
    return sorted(i for i, n in counts.items() if n > 1)
