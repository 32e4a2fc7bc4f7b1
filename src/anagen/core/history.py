"""The change history (django-simple-history) that every service write goes through.

Services save clinical records with :func:`save_with_history`, which names who made the change
and why on the history row, and skips a save that would store nothing new: the history lists
changes only, so "edited" never means "opened and saved as it was".
"""

from __future__ import annotations

from typing import Any

from django.db import models


def stored_values(obj: models.Model) -> dict[str, Any]:
    """The values ``obj`` would store, by column: compare two snapshots to tell an edit from a
    save that changes nothing."""
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def differs_from_stored(obj: models.Model, fields: list[str] | None = None) -> bool:
    """Whether saving ``obj`` (only ``fields``, where given) would change its row; always true
    for a row not yet stored.

    Compared with the row as stored now rather than as it was loaded, so a service need not
    keep a snapshot, and a row another request changed meanwhile still counts as changed."""
    if obj._state.adding or obj.pk is None:
        return True
    values = stored_values(obj)
    if fields is not None:
        names = {f.attname for f in obj._meta.concrete_fields if {f.name, f.attname} & set(fields)}
        values = {k: v for k, v in values.items() if k in names}
    row = type(obj)._base_manager.filter(pk=obj.pk).values(*values).first()
    return row is None or any(values[name] != row[name] for name in values)


def save_with_history(
    obj: models.Model, user: Any, reason: str, *, update_fields: list[str] | None = None
) -> bool:
    """Save ``obj`` with a history row that names ``user`` and ``reason``; return whether it
    was saved. A stored row whose values would not change is not saved, and gets no entry."""
    if not differs_from_stored(obj, update_fields):
        return False
    obj._history_user = user  # type: ignore[attr-defined]
    obj._change_reason = reason  # type: ignore[attr-defined]
    obj.save(update_fields=update_fields)
    return True
