from __future__ import annotations

from django import forms

from anagen.accounts.models import Clinic
from anagen.assessment.models import Diagnosis
from anagen.interop.analysis import AGE_BANDS
from anagen.patients.models import SexAtBirth
from anagen.products.models import Lot, Product
from anagen.treatments.models import Modality


def _blank(label: str, choices) -> list[tuple[str, str]]:
    return [("", label), *choices]


class CohortFilterForm(forms.Form):
    """The cohort filters (as on the outcomes cohort page); every field is optional."""

    modality = forms.ChoiceField(required=False)
    diagnosis = forms.ChoiceField(required=False)
    stage = forms.CharField(required=False, max_length=10)
    sex = forms.ChoiceField(required=False, label="Sex at birth")
    age_band = forms.ChoiceField(required=False, label="Age band")
    product = forms.ChoiceField(required=False)
    lot = forms.ChoiceField(required=False)

    def __init__(self, *args, clinic: Clinic, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["modality"].choices = _blank("Any modality", Modality.choices)
        self.fields["diagnosis"].choices = _blank("Any diagnosis", Diagnosis.CONDITION_CHOICES)
        self.fields["sex"].choices = _blank("Any", SexAtBirth.choices)
        self.fields["age_band"].choices = _blank("Any age", [(b, b) for b in AGE_BANDS])
        products = Product.objects.filter(clinic=clinic).order_by("name")
        self.fields["product"].choices = _blank("Any product", [(p.name, str(p)) for p in products])
        lots = Lot.objects.filter(clinic=clinic).select_related("product").order_by("lot_number")
        self.fields["lot"].choices = _blank(
            "Any lot", [(lot.lot_number, f"{lot.lot_number} ({lot.product.name})") for lot in lots]
        )
