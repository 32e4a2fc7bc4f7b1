"""Keep the analysis snapshots current: a committed write to any table the cohort analysis
reads (selectors.SOURCE_MODELS: patients, diagnoses, plans, sessions, vial draws, visits,
measurements, adverse events, lots, products) enqueues one rebuild of its clinic's snapshot
(services.rebuild_after_commit). Writes that bypass signals (bulk loads, raw SQL) are still
caught: the page compares the data fingerprint with the snapshot's and asks for a rebuild.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save


def _changed(sender: type, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("raw"):  # loaddata
        return
    clinic_id = getattr(instance, "clinic_id", None)
    if clinic_id is not None:
        from anagen.outcomes.services import rebuild_after_commit

        rebuild_after_commit(clinic_id)


def connect() -> None:
    from anagen.outcomes.selectors import SOURCE_MODELS

    for model in SOURCE_MODELS:
        uid = f"outcomes-snapshot-{model._meta.label_lower}"
        post_save.connect(_changed, sender=model, dispatch_uid=uid + "-save")
        post_delete.connect(_changed, sender=model, dispatch_uid=uid + "-delete")
