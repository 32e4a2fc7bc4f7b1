"""Reads of the interop app."""

from __future__ import annotations

from anagen.accounts.models import Clinic
from anagen.interop.models import DataExport


def exports_of(clinic: Clinic, *, limit: int = 100) -> list[DataExport]:
    """The clinic's newest de-identified exports, with who made them."""
    return list(DataExport.objects.filter(clinic=clinic).select_related("user")[:limit])
