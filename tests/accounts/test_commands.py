"""The clinic and acting user of a management command (--clinic, --user)."""

import pytest
from django.core.management import CommandError

from anagen.accounts.commands import clinic_and_user
from anagen.accounts.roles import Role

pytestmark = pytest.mark.django_db


def test_the_user_is_found_as_the_sign_in_form_reads_a_username(clinic_a, make_user):
    """A review: `--user ｊｏｅ` (full-width, as typed on some keyboards) did not find joe."""
    joe = make_user(Role.CLINICIAN, clinic_a, username="joe")
    for typed in ("joe", "ｊｏｅ", "Joe", " joe "):
        assert clinic_and_user("clinic-a", typed, "patient.view") == (clinic_a, joe)


def test_an_unknown_or_unauthorised_user_is_one_line(clinic_a, make_user):
    make_user(Role.FRONT_DESK, clinic_a, username="desk")
    with pytest.raises(CommandError, match="--user: no active user 'ghost'"):
        clinic_and_user("clinic-a", "ghost", "patient.view")
    with pytest.raises(CommandError, match="--user: desk may not receive lots"):
        clinic_and_user("clinic-a", "desk", "lot.receive", action="receive lots")
