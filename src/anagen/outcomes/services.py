"""Writes of the outcomes app: the clinic's analysis snapshot (derived data, no history).

``rebuild_analysis_snapshot`` reads the clinical tables and stores them as a snapshot;
``rebuild_after_commit`` (called from ``outcomes.signals`` on every write to a source model)
enqueues one rebuild per clinic per committed transaction when a task worker runs them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.db import transaction

from anagen.accounts.models import Clinic
from anagen.outcomes import snapshot
from anagen.outcomes.models import AnalysisSnapshot
from anagen.outcomes.selectors import (
    AnalysisTables,
    background_rebuilds,
    build_analysis_tables,
    data_fingerprint,
)

log = logging.getLogger(__name__)


def store_snapshot(
    clinic: Clinic, tables: AnalysisTables, *, read_seconds: float | None = None
) -> AnalysisSnapshot:
    """Replace the clinic's snapshot with ``tables`` (labelled with their fingerprint)."""
    if tables.built_at is None:
        raise ValueError("tables with no read time cannot be stored as a snapshot")
    t0 = time.perf_counter()
    blobs = {
        f"{name}_parquet": snapshot.to_parquet(getattr(tables, name)) for name in snapshot.TABLES
    }
    read_s = read_seconds if read_seconds is not None else sum(tables.timings.values())
    snap, _ = AnalysisSnapshot.objects.update_or_create(
        clinic=clinic,
        defaults={
            "fingerprint": tables.fingerprint,
            "format_version": snapshot.FORMAT_VERSION,
            "built_at": tables.built_at,
            "build_seconds": read_s + time.perf_counter() - t0,
            "n_patients": len(tables.attributes),
            "n_visits": len(tables.visits),
            "size_bytes": sum(len(b) for b in blobs.values()),
            **blobs,
        },
    )
    return snap


def snapshot_is_fresh(clinic: Clinic, fingerprint: str | None = None) -> bool:
    fp = fingerprint or data_fingerprint(clinic)
    return AnalysisSnapshot.objects.filter(
        clinic=clinic, fingerprint=fp, format_version=snapshot.FORMAT_VERSION
    ).exists()


def rebuild_analysis_snapshot(clinic: Clinic, *, force: bool = True) -> AnalysisSnapshot | None:
    """Read the clinic's clinical tables and store them as its analysis snapshot.

    ``force=False`` (the background task): nothing is done when the snapshot already matches
    the current data, so a queue of rebuilds after a burst of writes costs one rebuild and a
    fingerprint check each for the rest; returns None then.
    """
    fp = data_fingerprint(clinic)  # before reading: see build_analysis_tables
    if not force and snapshot_is_fresh(clinic, fp):
        return None
    t0 = time.perf_counter()
    tables = build_analysis_tables(clinic, fingerprint=fp)
    snap = store_snapshot(clinic, tables, read_seconds=time.perf_counter() - t0)
    log.info(
        "analysis snapshot of clinic %s rebuilt in %.1f s (%d patients, %d visits, %d bytes)",
        clinic.slug, snap.build_seconds, snap.n_patients, snap.n_visits, snap.size_bytes,
    )  # fmt: skip
    return snap


def enqueue_rebuild(clinic_id: int) -> None:
    from anagen.outcomes.tasks import rebuild_snapshot

    try:
        rebuild_snapshot.enqueue(clinic_id)
    except Exception:  # noqa: BLE001 - a broken queue leaves the snapshot stale, not the write
        log.exception("could not enqueue the analysis snapshot rebuild of clinic %s", clinic_id)


@dataclass
class _PendingRebuilds:
    """The clinics written to in the current transaction; runs once, on commit."""

    clinic_ids: set[int] = field(default_factory=set)

    def __call__(self) -> None:
        for clinic_id in sorted(self.clinic_ids):
            enqueue_rebuild(clinic_id)


def rebuild_after_commit(clinic_id: int) -> None:
    """Enqueue one snapshot rebuild for ``clinic_id`` when the current transaction commits.

    Deduplicated: however many rows a transaction writes, each clinic it touched gets one
    rebuild (one on_commit callback per transaction collects the clinics). Outside a
    transaction (autocommit) each write is its own transaction. With the immediate task
    backend nothing is enqueued: the rebuild would run inside the request that saves a visit
    (seconds at 100,000 patients); the cohort page rebuilds a stale snapshot when it needs it.
    """
    if not background_rebuilds():
        return
    conn = transaction.get_connection()
    pending = getattr(conn, "_anagen_pending_snapshot_rebuilds", None)
    if pending is not None and any(item[1] is pending for item in conn.run_on_commit):
        pending.clinic_ids.add(clinic_id)
        return
    pending = _PendingRebuilds({clinic_id})
    conn._anagen_pending_snapshot_rebuilds = pending
    transaction.on_commit(pending)
