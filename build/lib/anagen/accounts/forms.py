from __future__ import annotations

from django import forms

from anagen.accounts.models import Membership


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'lab import'.")


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.ROLE_CHOICES)


class SwitchClinicForm(forms.Form):
    clinic_id = forms.IntegerField()
