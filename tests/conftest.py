"""Shared fixtures: two clinics, users of every role, patients, logged-in clients."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, time

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from hypothesis import settings as hypothesis_settings

from anagen.accounts.models import Clinic, User
from anagen.accounts.roles import Role
from anagen.accounts.services import create_api_token, set_membership
from anagen.patients.models import Patient
from anagen.patients.services import create_patient

PASSWORD = "correct-horse-battery-9"

# Property tests check behaviour, not speed (speed is measured in benchmarks/): Hypothesis's
# default 200 ms deadline per example failed a cold-chain property once on a loaded machine.
hypothesis_settings.register_profile("anagen", deadline=None)
hypothesis_settings.load_profile("anagen")

# The day the whole run takes as today (YYYY-MM-DD); set it to replay a run of another day.
TEST_DAY_VARIABLE = "ANAGEN_TEST_DAY"


def pytest_configure(config: pytest.Config) -> None:
    """Run every test on one day, its clock starting at 12:00 UTC and ticking on.

    Many test modules take `TODAY` when they are imported and the code under test asks the
    clock again later: a run that crossed midnight (the PostgreSQL half of CI started at
    23:59) failed 70 tests on "received 2026-12-08, after the session date (2026-12-07)".
    Noon leaves hours before the date turns, and clinics' time zones (UTC-12 to UTC+14)
    still see the days either side. The variable is set before xdist starts its workers, so
    they inherit the same day. Subprocesses (CLI tests) and the browser keep the real clock.
    """
    day_text = os.environ.setdefault(TEST_DAY_VARIABLE, datetime.now(UTC).date().isoformat())
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise pytest.UsageError(
            f"{TEST_DAY_VARIABLE}={day_text!r} is not a date; write it as YYYY-MM-DD."
        ) from None
    time_machine.travel(datetime.combine(day, time(12), tzinfo=UTC), tick=True).start()


@pytest.fixture
def clinic_a(db) -> Clinic:
    return Clinic.objects.create(name="Clinic A", slug="clinic-a")


@pytest.fixture
def clinic_b(db) -> Clinic:
    return Clinic.objects.create(name="Clinic B", slug="clinic-b")


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(role: Role | str, clinic: Clinic, username: str | None = None) -> User:
        username = username or f"{Role(role).value}-{clinic.slug}"
        user = User.objects.create_user(username=username, password=PASSWORD)
        set_membership(user, clinic, role)
        return user

    return make


@pytest.fixture
def clinician(clinic_a: Clinic, make_user: Callable[..., User]) -> User:
    """A clinician of clinic A (a test module or folder may define its own)."""
    return make_user(Role.CLINICIAN, clinic_a)


@pytest.fixture
def nurse(clinic_a: Clinic, make_user: Callable[..., User]) -> User:
    return make_user(Role.NURSE, clinic_a)


@pytest.fixture
def admin(clinic_a: Clinic, make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN, clinic_a)


@pytest.fixture
def login(client: Client) -> Callable[[User], Client]:
    def do(user: User) -> Client:
        client.force_login(user)
        return client

    return do


@pytest.fixture
def make_patient(db) -> Callable[..., Patient]:
    counter = {"n": 0}

    def make(clinic: Clinic, user: User, **overrides) -> Patient:
        counter["n"] += 1
        data = {
            "medical_record_number": f"MRN-{counter['n']:04d}",
            "given_name": "Ada",
            "family_name": f"Lovelace{counter['n']}",
            "date_of_birth": date(1980, 5, 17),
            "sex_at_birth": "female",
        }
        data.update(overrides)
        return create_patient(clinic, user, data)

    return make


@pytest.fixture
def api_token(db) -> Callable[[User, Clinic], str]:
    def make(user: User, clinic: Clinic) -> str:
        return create_api_token(user, clinic, "test")[1]

    return make


@pytest.fixture
def clock(monkeypatch) -> Callable[[datetime], None]:
    """``clock(at)`` stops time at ``at`` (aware): django.utils.timezone.now, which the
    services, auto_now fields and sessions read, returns it until set again."""

    def set_to(at: datetime) -> None:
        assert at.tzinfo is not None
        monkeypatch.setattr(timezone, "now", lambda: at)

    return set_to
