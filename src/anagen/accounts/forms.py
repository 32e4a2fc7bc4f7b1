from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm

from anagen.accounts.clinic_time import time_zone_names
from anagen.accounts.models import Clinic, Membership, User
from anagen.accounts.selectors import AuditEntry, Cursor, audit_trail, parse_cursor, record_kinds
from anagen.accounts.token_lifetime import DEFAULT_LIFETIME_DAYS, LIFETIME_DAYS, LIFETIME_REFUSED
from anagen.core.forms import Form, OpenedValuesForm, form_field
from anagen.core.text import printed_code
from anagen.patients.models import Patient


class SignInForm(AuthenticationForm):
    """Django's sign-in, refused with a reason to a person who belongs to no clinic any more
    (every membership deactivated): signed in, every page would only say "not allowed"."""

    def clean_username(self) -> str:
        """The account's username as stored, whatever the case typed: no two accounts differ
        only in case, and a tablet's keyboard capitalises the first letter ("Nina" was refused
        as a wrong password). Failed sign-ins then count against the one account, however its
        name was typed."""
        typed = self.cleaned_data["username"]
        stored = (
            User.objects.filter(username__iexact=typed).values_list("username", flat=True).first()
        )
        return stored or typed

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.memberships.filter(is_active=True).exists():
            raise forms.ValidationError(
                "This account is not an active member of any clinic: ask your clinic's "
                "administrator to reactivate it.",
                code="no_clinic",
            )


class ApiTokenForm(Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'lab import'.")
    # A choice, not a number: no token lives longer than a year (token_lifetime.py).
    lifetime_days = forms.TypedChoiceField(
        label="Expires after",
        choices=[(d, f"{d} days") for d in LIFETIME_DAYS],
        coerce=int,
        initial=DEFAULT_LIFETIME_DAYS,
        help_text="The token stops working then; make a new one before it does.",
        error_messages={"invalid_choice": LIFETIME_REFUSED, "required": LIFETIME_REFUSED},
    )


class MemberForm(Form):
    username = forms.CharField(max_length=150, error_messages={"required": "Enter a username."})
    # No default: a careless save must not make anyone an administrator.
    role = forms.ChoiceField(
        choices=[("", "Choose a role"), *Membership.ROLE_CHOICES],
        error_messages={"required": "Choose a role."},
    )


class AccountForm(Form):
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


class SwitchClinicForm(Form):
    clinic_id = forms.IntegerField()


def _zone_choices() -> list:
    """The zones grouped by region ("Europe": Berlin, Paris, ...), cities as people write them."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in time_zone_names():
        region, _, city = name.partition("/")
        if city:
            label = city.replace("_", " ").replace("/", " / ")
            # The region too: a closed list shows the label alone, and typing the city finds it.
            groups.setdefault(region, []).append((name, f"{label} ({region})"))
    default = f"The server's default ({settings.TIME_ZONE})"
    return [("", default), ("UTC", "UTC"), *groups.items()]


class ClinicTimeZoneForm(OpenedValuesForm, Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Where the clinic is: today's date (a visit's default date, expiry, the "
        "follow-ups due) and the times pages show follow it.",
    )

    def __init__(self, data: object = None, *, current: str = "") -> None:
        super().__init__(data, initial={"time_zone": current})  # type: ignore[arg-type]
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = _zone_choices()
        if current and current not in time_zone_names():
            # An older alias stored before (e.g. "US/Eastern"): kept choosable as it is.
            field.choices = [(current, current), *field.choices]
        field.error_messages["invalid_choice"] = (
            "“%(value)s” is not a time zone: choose one from the list."
        )


class ClinicContactForm(OpenedValuesForm, Form):
    contact_phone = forms.CharField(
        label="Phone number for patients",
        required=False,
        max_length=40,
        help_text="Printed on every post-care sheet as the number to call about a reaction. "
        "Leave empty to remove it.",
    )


class AuditFilterForm(Form):
    """Filters of the clinic's audit trail (a GET form: every field optional)."""

    user = forms.ChoiceField(required=False, label="Made by")
    record = forms.ChoiceField(required=False, label="Kind of record")
    mrn = forms.CharField(required=False, max_length=100, label="Patient (record number)")
    # Where the previous page ended (the "Older changes" link): time|kind|history row id.
    before = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args: object, usernames: list[str], kinds: list[tuple[str, str]],
                 **kwargs: object) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        form_field(self, "user", forms.ChoiceField).choices = [
            ("", "Anyone"), *((u, u) for u in usernames)
        ]  # fmt: skip
        form_field(self, "record", forms.ChoiceField).choices = [("", "Every kind"), *kinds]

    def clean_before(self) -> Cursor | None:
        text = self.cleaned_data.get("before") or ""
        return parse_cursor(text) if text else None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.data.get("before") and cleaned.get("before") is None:
            # Said above the form: the field is hidden, so a field error would show nowhere.
            raise forms.ValidationError(
                "This “Older changes” link is not valid; start again from the newest changes."
            )
        return cleaned


@dataclass
class AuditQuery:
    """The audit trail's filters as read from a query string (the page, its CSV, the API)."""

    form: AuditFilterForm
    clinic: Clinic
    valid: bool
    user: User | None = None
    record: str = ""
    patient: Patient | None = None
    before: Cursor | None = None

    def entries(self, limit: int) -> list[AuditEntry]:
        return audit_trail(
            self.clinic,
            before=self.before,
            user=self.user,
            record=self.record,
            patient_id=self.patient.pk if self.patient else None,
            limit=limit,
        )


def audit_query(clinic: Clinic, params: Mapping[str, Any]) -> AuditQuery:
    """Read the filters; where one is refused, ``valid`` is false and the form says why."""
    staff = Membership.objects.filter(clinic=clinic).select_related("user")
    users = {m.user.username: m.user for m in staff}
    form = AuditFilterForm(params or None, usernames=sorted(users), kinds=record_kinds())
    if form.is_bound and not form.is_valid():
        return AuditQuery(form, clinic, valid=False)
    data = form.cleaned_data if form.is_bound else {}
    patient = None
    mrn = printed_code((data.get("mrn") or "").strip())  # as the record number is stored
    if mrn:
        patient = Patient.objects.filter(clinic=clinic, medical_record_number__iexact=mrn).first()
        if patient is None:
            form.add_error("mrn", "No patient of this clinic has this record number.")
            return AuditQuery(form, clinic, valid=False)
    return AuditQuery(
        form,
        clinic,
        valid=True,
        user=users.get(data.get("user") or ""),
        record=data.get("record") or "",
        patient=patient,
        before=data.get("before"),
    )
