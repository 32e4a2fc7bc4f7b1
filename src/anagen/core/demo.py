"""Demo clinic: users of every role and synthetic patients. Idempotent (safe to run twice).

Names are synthetic; every demo MRN starts with DEMO- so demo rows are recognisable.
Later parts of the workflow (assessment, sessions, visits) add their own demo rows
through the `DEMO_STEPS` hooks, each also idempotent.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from unittest import mock

from django.db import transaction
from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.accounts.roles import Role
from anagen.accounts.services import set_membership
from anagen.core.history import save_with_history
from anagen.patients.models import Patient, SexAtBirth

# Name, slug, country, the phone on the post-care sheets (numbers set aside for drama: Ofcom's
# 020 7946 0xxx, and 555-01xx in North America).
DEMO_CLINIC = ("Anagen Demo Clinic", "demo", "GB", "+44 20 7946 0018")
OTHER_CLINIC = ("Northside Hair Clinic", "northside", "US", "+1 202 555 0143")
DEMO_PASSWORD_SUFFIX = "-demo-2026"
DEMO_PATIENTS = 36
DEMO_SEED = 20261125

GIVEN_F = [
    "Amara",
    "Beatriz",
    "Chloe",
    "Dana",
    "Elif",
    "Farah",
    "Grace",
    "Hana",
    "Ines",
    "Julia",
    "Kemi",
    "Lena",
    "Maya",
    "Nadia",
    "Olga",
    "Priya",
    "Rosa",
    "Sofia",
]
GIVEN_M = [
    "Adrian",
    "Bilal",
    "Carlos",
    "Daniel",
    "Emeka",
    "Felix",
    "George",
    "Hiro",
    "Ivan",
    "Jonas",
    "Kwame",
    "Luca",
    "Marco",
    "Nikhil",
    "Omar",
    "Pavel",
    "Rafael",
    "Samuel",
]
FAMILY = [
    "Adeyemi",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhou",
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    clinic: str


# Hooks for later workflow steps: each takes (clinic, users_by_role) and must be idempotent.
DEMO_STEPS: list[Callable[[Clinic, dict[str, User]], None]] = []


@contextmanager
def demo_clock(day: date, at: time = time(10, 0)) -> Iterator[None]:
    """Replay history: inside the block "now" is ``day`` at ``at`` UTC.

    The services refuse future dates and stamp rows with the current time (plans, consents,
    audit history), so a past course of treatment can only be entered through them as it
    would have been on the day. The demo loaders set the clock to each event's date and call
    the real services, so every demo row passes the same checks as a clinician's entry.
    Only ``django.utils.timezone.now`` is replaced (``localdate`` and ``auto_now`` use it).
    """
    fixed = datetime.combine(day, at, tzinfo=UTC)
    with mock.patch.object(timezone, "now", return_value=fixed):
        yield


def _user(username: str, first: str, last: str, password: str) -> User:
    user, created = User.objects.get_or_create(
        username=username, defaults={"first_name": first, "last_name": last}
    )
    if created:
        user.set_password(password)
        user.save()
    return user


def _clinic(name: str, slug: str, country: str, phone: str) -> Clinic:
    clinic, _ = Clinic.objects.get_or_create(
        slug=slug, defaults={"name": name, "country": country, "contact_phone": phone}
    )
    return clinic


def _patients(clinic: Clinic, creator: User, prefix: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    today = date.today()
    for i in range(1, count + 1):
        sex = SexAtBirth.MALE if rng.random() < 0.6 else SexAtBirth.FEMALE
        given = rng.choice(GIVEN_M if sex == SexAtBirth.MALE else GIVEN_F)
        family = rng.choice(FAMILY)
        age_days = rng.randint(22 * 365, 68 * 365)
        mrn = f"{prefix}-{i:04d}"
        if Patient.objects.filter(clinic=clinic, medical_record_number=mrn).exists():
            continue
        patient = Patient(
            clinic=clinic,
            medical_record_number=mrn,
            given_name=given,
            family_name=family,
            date_of_birth=today - timedelta(days=age_days),
            sex_at_birth=sex,
            phone=f"+44 20 7946 {rng.randint(0, 9999):04d}",
            email=f"{given}.{family}.{i}@example.org".lower(),
        )
        save_with_history(patient, creator, "demo data")


@transaction.atomic
def load_demo() -> list[DemoLogin]:
    clinic = _clinic(*DEMO_CLINIC)
    other = _clinic(*OTHER_CLINIC)
    logins: list[DemoLogin] = []
    users: dict[str, User] = {}
    for role in Role:
        username = f"{role.value.replace('_', '')}"
        password = f"{username}{DEMO_PASSWORD_SUFFIX}"
        user = _user(username, role.label, "Demo", password)
        set_membership(user, clinic, role)
        users[role.value] = user
        logins.append(DemoLogin(username, password, role.value, clinic.name))
    # A second clinic proves tenancy in the demo: its patients never show in the first.
    other_admin = _user("northside", "Northside", "Admin", f"northside{DEMO_PASSWORD_SUFFIX}")
    set_membership(other_admin, other, Role.ADMIN)
    logins.append(DemoLogin("northside", f"northside{DEMO_PASSWORD_SUFFIX}", "admin", other.name))
    _patients(clinic, users["front_desk"], "DEMO", DEMO_PATIENTS, DEMO_SEED)
    _patients(other, other_admin, "NS", 8, DEMO_SEED + 1)
    # Each later part of the workflow adds its own idempotent demo rows, in workflow order.
    from anagen.assessment.demo import load_demo as load_assessment_demo
    from anagen.imaging.demo import load_demo as load_imaging_demo
    from anagen.monitoring.demo import load_demo as load_monitoring_demo
    from anagen.products.demo import load_demo as load_products_demo
    from anagen.treatments.demo import load_demo as load_treatments_demo

    steps = (
        load_assessment_demo,
        load_products_demo,
        load_treatments_demo,
        load_monitoring_demo,
        load_imaging_demo,
        *DEMO_STEPS,
    )
    for step in steps:
        step(clinic, users)
    # The products step adds a second quality user: overriding a release needs two people.
    from anagen.products.demo import SECOND_QUALITY_USER

    after = next(i for i, login in enumerate(logins) if login.role == Role.QUALITY.value) + 1
    logins.insert(after, DemoLogin(*SECOND_QUALITY_USER, Role.QUALITY.value, clinic.name))
    return logins
