"""`anagen clinic create|list`: an installer makes a clinic and its first administrator
without a Python shell; every refusal names the option and creates nothing."""

import io

import pytest
from django.core.management import CommandError, call_command

from anagen.accounts.models import Clinic, Membership, User
from anagen.accounts.roles import Role

from ..conftest import PASSWORD

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("clinic", *args, stdout=out)
    return out.getvalue()


def test_a_new_clinic_gets_a_new_administrator_who_must_choose_a_password(client):
    said = run(
        "create", "--name", "North Clinic", "--slug", "north", "--time-zone", "Europe/Berlin",
        "--country", "de", "--admin", "anna", "--admin-first-name", "Anna",
        "--admin-last-name", "Berg", "--admin-email", "anna@example.org",
    )  # fmt: skip
    clinic = Clinic.objects.get(slug="north")
    assert (clinic.name, clinic.time_zone, clinic.country) == (
        "North Clinic",
        "Europe/Berlin",
        "DE",
    )
    anna = User.objects.get(username="anna")
    membership = Membership.objects.get(user=anna, clinic=clinic)
    assert membership.role == Role.ADMIN.value and membership.is_active
    password = said.split("temporary password: ")[1].split()[0]
    assert anna.check_password(password) and anna.password_must_change
    # Recorded: the clinic, the account and the role each have a history row with a reason.
    assert clinic.history.get().history_change_reason.startswith("clinic created")
    assert anna.history.get().history_change_reason == "account created in North Clinic"
    assert membership.history.get().history_change_reason == "added as Admin"
    # The first sign-in leads to the password change.
    client.post("/accounts/login/", {"username": "anna", "password": password})
    assert client.get("/patients/").url.startswith("/accounts/password/")


def test_an_existing_account_becomes_the_administrator_of_a_second_clinic(clinic_a, make_user):
    boss = make_user(Role.ADMIN, clinic_a, username="boss")
    said = run("create", "--name", "South Clinic", "--slug", "south", "--admin", "BOSS")
    assert "boss (existing account) is its administrator." in said
    assert "password" not in said
    boss.refresh_from_db()
    assert boss.check_password(PASSWORD)  # untouched
    assert boss.membership_for(Clinic.objects.get(slug="south")).role == Role.ADMIN.value


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--slug", "north clinic"], "--slug: Letters, digits, hyphens and underscores only"),
        (["--time-zone", "Mars/Base"], "--time-zone: 'Mars/Base' is not a time zone"),
        (["--country", "Germany"], "--country: Two letters (ISO 3166-1 alpha-2)"),
        (["--name", "clinic a"], "--name: A clinic named 'clinic a' exists already"),
        (["--slug", "clinic-a"], "--slug: The slug 'clinic-a' is taken by another clinic"),
        (["--admin", "new person"], "--admin: Enter a valid username"),
        (["--admin", "newcomer"], "--admin-first-name: This field is required"),
    ],
)
def test_each_refusal_names_the_option_and_creates_nothing(clinic_a, args, said):
    base = {"--name": "North Clinic", "--slug": "north", "--admin": "newcomer"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    extra = (
        []
        if "--admin-first-name" in said
        else ["--admin-first-name", "N", "--admin-last-name", "C"]
    )
    clinics, users = Clinic.objects.count(), User.objects.count()
    with pytest.raises(CommandError) as exc:
        run("create", *[x for kv in base.items() for x in kv], *extra)
    assert str(exc.value).startswith("nothing created — ") and said in str(exc.value)
    assert (Clinic.objects.count(), User.objects.count()) == (clinics, users)


def test_a_deactivated_account_is_not_made_an_administrator(clinic_a, make_user):
    gone = make_user(Role.NURSE, clinic_a, username="gone")
    User.objects.filter(pk=gone.pk).update(is_active=False)
    with pytest.raises(CommandError, match="'gone' is a deactivated account"):
        run("create", "--name", "N", "--slug", "n", "--admin", "gone",
            "--admin-first-name", "G", "--admin-last-name", "O")  # fmt: skip
    assert not Clinic.objects.filter(slug="n").exists()


def test_the_list_names_each_clinic_with_its_slug_and_active_administrators(clinic_a, make_user):
    make_user(Role.ADMIN, clinic_a, username="ada")
    make_user(Role.NURSE, clinic_a, username="nina")
    said = run("list")
    assert "clinic-a\tClinic A\tadministrators: ada" in said and "nina" not in said
