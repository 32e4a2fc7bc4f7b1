"""Locks on things that have no row of their own (an image file's content, say), held until
the transaction ends: writers that would otherwise lock different rows and each pass the same
check are taken one after the other."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection


def lock_names(names: Iterable[str]) -> None:
    """Lock each name until the current transaction ends (call inside ``transaction.atomic``).

    PostgreSQL: transaction-level advisory locks, taken in sorted order so that two writers
    locking overlapping sets cannot deadlock. SQLite needs nothing: its IMMEDIATE transactions
    (settings) already let one writer in at a time."""
    if not connection.in_atomic_block:
        raise RuntimeError(
            "lock_names() holds its locks until the transaction ends: call it inside one"
        )
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in sorted(set(names)):
            # hashtextextended: a 64-bit key for any text (PostgreSQL 11+); two names sharing a
            # key only wait for each other, which is safe.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
