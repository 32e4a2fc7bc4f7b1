"""Helpers for the change history (django-simple-history) that every service write goes through."""

from __future__ import annotations

from typing import Any

from django.db import models


def stored_values(obj: models.Model) -> dict[str, Any]:
    """The values ``obj`` would store, by column: compare two snapshots to tell an edit from a
    save that changes nothing (which must not add a history entry)."""
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
