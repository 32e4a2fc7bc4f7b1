from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from anagen.core.forms import Form, ModelForm, OpenedValuesForm
from anagen.patients.models import Patient
from anagen.patients.services import validate_date_of_birth


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class PatientForm(OpenedValuesForm, ModelForm):
    # Offered once a registration was refused as a possible duplicate (see the view).
    confirm_not_duplicate = forms.BooleanField(
        required=False,
        label="This is a different person with the same name and date of birth",
    )

    class Meta:
        model = Patient
        fields = [
            "medical_record_number",
            "given_name",
            "family_name",
            "date_of_birth",
            "sex_at_birth",
            "phone",
            "email",
            "address",
        ]
        widgets = {
            "date_of_birth": DateInput(),
            "address": forms.Textarea(attrs={"rows": 3}),
        }
        error_messages = {
            "date_of_birth": {"invalid": "Enter a real date as YYYY-MM-DD."},
        }

    def offers_confirm_not_duplicate(self) -> bool:
        """Shown once a save was refused as a possible duplicate, and while ticked."""
        return "confirm_not_duplicate" in self.errors or (
            self.is_bound and bool(self.data.get("confirm_not_duplicate"))
        )

    def clean_date_of_birth(self) -> date:
        value = self.cleaned_data["date_of_birth"]
        try:
            validate_date_of_birth(value)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc
        return value


class VoidForm(Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=5,
        max_length=1000,
        help_text="Why this record is void (for example: registered twice, wrong person).",
    )


class RestoreForm(VoidForm):
    """The void's own reason field, asked the other way round."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[
            "reason"
        ].help_text = "Why the void was an error (for example: the wrong record was voided)."


class PatientSearchForm(Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    include_voided = forms.BooleanField(required=False, label="Include voided records")
