"""How long API tokens live (accounts/token_lifetime.py), the rule the migration that
introduced expiry applied to existing tokens included."""

from datetime import UTC, datetime, timedelta

import pytest

from anagen.accounts.token_lifetime import (
    LIFETIME_REFUSED,
    expiry_for,
    expiry_for_existing,
    expiry_state,
    is_expired,
    lifetime_error,
)

MIGRATED = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class TestAnExistingToken:
    """Migration 0008 gives each token made before expiry a year from its creation, and at
    least 30 days from the migration, so no client is cut off without notice."""

    def test_made_this_year_keeps_its_year(self):
        made = MIGRATED - timedelta(days=100)
        assert expiry_for_existing(made, MIGRATED) == made + timedelta(days=365)

    def test_older_than_a_year_gets_30_days_from_the_migration(self):
        made = MIGRATED - timedelta(days=800)
        assert expiry_for_existing(made, MIGRATED) == MIGRATED + timedelta(days=30)

    def test_whose_year_ends_within_30_days_gets_30_days_too(self):
        made = MIGRATED - timedelta(days=360)  # its year would end in 5 days
        assert expiry_for_existing(made, MIGRATED) == MIGRATED + timedelta(days=30)

    def test_whose_year_ends_just_after_30_days_keeps_its_year(self):
        made = MIGRATED - timedelta(days=335) + SECOND
        assert expiry_for_existing(made, MIGRATED) == MIGRATED + timedelta(days=30) + SECOND

    def test_made_the_moment_of_the_migration_gets_a_year(self):
        assert expiry_for_existing(MIGRATED, MIGRATED) == MIGRATED + timedelta(days=365)

    def test_the_migration_uses_this_rule(self):
        import importlib

        migration = importlib.import_module("anagen.accounts.migrations.0008_apitoken_expires_at")
        assert migration.expiry_for_existing is expiry_for_existing


@pytest.mark.parametrize("days", [30, 90, 365])
def test_a_new_token_expires_its_lifetime_after_creation(days):
    assert lifetime_error(days) is None
    assert expiry_for(MIGRATED, days) == MIGRATED + timedelta(days=days)


@pytest.mark.parametrize("days", [0, 1, 7, 89, 366, 730, -30, True, "90", None, 90.5])
def test_no_other_lifetime_is_allowed(days):
    assert lifetime_error(days) == LIFETIME_REFUSED
    with pytest.raises(ValueError, match="30, 90 or 365 days"):
        expiry_for(MIGRATED, days)


def test_a_token_works_until_its_expiry_instant():
    expires = MIGRATED
    assert not is_expired(expires, expires - SECOND)
    assert is_expired(expires, expires)
    assert is_expired(expires, expires + SECOND)


@pytest.mark.parametrize(
    ("before_expiry", "state"),
    [
        (timedelta(days=30), "valid"),
        (timedelta(days=7) + SECOND, "valid"),
        (timedelta(days=7), "expiring"),
        (SECOND, "expiring"),
        (timedelta(0), "expired"),
        (-timedelta(days=3), "expired"),
    ],
)
def test_the_page_marks_tokens_expiring_within_7_days_and_expired_ones(before_expiry, state):
    assert expiry_state(MIGRATED, MIGRATED - before_expiry) == state
