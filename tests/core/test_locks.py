"""Named locks: held to the end of the transaction on PostgreSQL; a call outside a transaction
is a programming error, not a silent no-op."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from anagen.core.locks import lock_names

pytestmark = pytest.mark.django_db(transaction=True)


def _held_advisory_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="advisory locks are PostgreSQL's")
def test_names_are_locked_until_the_transaction_ends():
    with transaction.atomic():
        lock_names(["photo:1:abc", "photo:1:def", "photo:1:abc"])
        assert _held_advisory_locks() == 2
    assert _held_advisory_locks() == 0


def test_a_lock_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside one"):
        lock_names(["photo:1:abc"])


@pytest.mark.skipif("connection.vendor == 'postgresql'", reason="SQLite only")
def test_sqlite_needs_no_lock_of_its_own():
    # IMMEDIATE transactions (settings) let one writer in at a time; nothing to do.
    assert connection.settings_dict["OPTIONS"].get("transaction_mode") == "IMMEDIATE"
    with transaction.atomic():
        lock_names(["photo:1:abc"])
