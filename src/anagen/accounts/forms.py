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


class SwitchClinicForm(forms.Form):
    clinic_id = forms.IntegerField()
