from __future__ import annotations

from django import forms

from anagen.accounts.models import Membership


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'lab import'.")


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150, error_messages={"required": "Enter a username."})
    # No default: a careless save must not make anyone an administrator.
    role = forms.ChoiceField(
        choices=[("", "Choose a role"), *Membership.ROLE_CHOICES],
        error_messages={"required": "Choose a role."},
    )


class AccountForm(forms.Form):
    """A new person's account (accounts.services.create_account checks every field)."""

    new_username = forms.CharField(label="Username", max_length=150)
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.CharField(required=False, max_length=254, label="Email (optional)")
    new_role = forms.ChoiceField(
        label="Role",
        choices=[("", "Choose a role"), *Membership.ROLE_CHOICES],
        error_messages={"required": "Choose a role."},
    )


class SwitchClinicForm(forms.Form):
    clinic_id = forms.IntegerField()
