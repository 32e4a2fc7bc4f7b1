"""The cohort filter form (GET). Choices come from what the clinic recorded, so another
clinic's product or lot is not a valid choice."""

from __future__ import annotations

from django import forms

from anagen.core.forms import FloatCommaField, Form, form_field
from anagen.outcomes import cohort
from anagen.patients.models import SexAtBirth

OUTCOME_CHOICES = [(k, f"{o.label} ({o.unit})") for k, o in cohort.OUTCOMES.items()]
WEEK_CHOICES = [("", "automatic")] + [(str(w), f"week {w}") for w in cohort.NOMINAL_WEEKS]
AGE_CHOICES = [("", "any")] + [(b[0], b[0]) for b in cohort.AGE_BANDS]


# The fields that select patients (the options, such as outcome or landmark, do not).
FILTER_FIELDS = (
    "combination",
    "diagnosis",
    "stage",
    "sex",
    "age_band",
    "product",
    "lot",
    "protocol",
)


def _any(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", "any"), *choices]


class CohortFilterForm(Form):
    outcome = forms.ChoiceField(choices=OUTCOME_CHOICES, required=False)
    modality = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Patients whose initial regimen had every ticked modality (alone or combined).",
    )
    combination = forms.ChoiceField(required=False, help_text="Exactly this combination.")
    diagnosis = forms.ChoiceField(required=False)
    stage = forms.ChoiceField(required=False)
    sex = forms.ChoiceField(required=False, choices=_any(list(SexAtBirth.choices)))
    age_band = forms.ChoiceField(required=False, choices=AGE_CHOICES, label="Age band")
    product = forms.ChoiceField(required=False)
    lot = forms.ChoiceField(required=False)
    protocol = forms.ChoiceField(required=False)
    threshold = FloatCommaField(
        required=False,
        min_value=-1000,
        max_value=1000,
        label="Responder threshold",
        help_text="Change from baseline in the outcome's unit (negative: a fall counts).",
    )
    landmark = forms.ChoiceField(required=False, choices=WEEK_CHOICES, label="Landmark visit")
    reference = forms.ChoiceField(required=False, label="Reference arm")

    def __init__(self, *args, choices: dict, combinations: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "modality", forms.ChoiceField).choices = choices["modality"]
        form_field(self, "combination", forms.ChoiceField).choices = _any(combinations)
        form_field(self, "reference", forms.ChoiceField).choices = [
            (
                "",
                "automatic (no session, else minoxidil alone, else the first arm without exosomes)",
            ),
            *combinations,
        ]
        for name in ("diagnosis", "stage", "product", "lot", "protocol"):
            form_field(self, name, forms.ChoiceField).choices = _any(choices[name])

    def clean_threshold(self) -> float | None:
        value = self.cleaned_data.get("threshold")
        if value == 0:
            # "Change ≥ 0" counted every patient who did not change as a responder.
            raise forms.ValidationError(
                "0 would count patients with no change as responders: give the gain that "
                "counts (e.g. 10) or, for a fall, a negative number (e.g. −10)."
            )
        return value

    def described(self) -> list[str]:
        """The chosen filters in words, as the form offers them ("Diagnosis: Androgenetic
        alopecia (male)"), not as stored codes. Call after is_valid()."""
        out = []
        for name in ("modality", *FILTER_FIELDS):
            value = self.cleaned_data.get(name) if name in self.fields else None
            if not value:
                continue
            field = self.fields[name]
            labels = dict(getattr(field, "choices", []))
            if isinstance(value, list):
                words = " and ".join(str(labels.get(v, v)) for v in value)
                out.append(f"{field.label or name.capitalize()} includes {words}")
            else:
                label = field.label or name.replace("_", " ").capitalize()
                out.append(f"{label}: {labels.get(value, value)}")
        return out

    def filters(self) -> cohort.CohortFilters:
        d = self.cleaned_data
        return cohort.CohortFilters(
            modalities=tuple(sorted(d.get("modality") or ())),
            combination=d.get("combination") or "",
            diagnosis=d.get("diagnosis") or "",
            stage=d.get("stage") or "",
            sex=d.get("sex") or "",
            age_band=d.get("age_band") or "",
            product=d.get("product") or "",
            lot=d.get("lot") or "",
            protocol=d.get("protocol") or "",
        )

    def options(self) -> cohort.CohortOptions:
        d = self.cleaned_data
        landmark = d.get("landmark")
        return cohort.CohortOptions(
            outcome=d.get("outcome") or "density_per_cm2",
            threshold=d.get("threshold"),
            landmark_week=int(landmark) if landmark else None,
            reference_arm=d.get("reference") or "",
        )


class ComparisonFilterForm(CohortFilterForm):
    """The treatment comparison's filters: who is compared and on what. Every modality is
    shown side by side, so the arm filters (modality, combination, product, lot, protocol)
    and the cohort page's options for one comparison (responder threshold, reference arm) are
    not asked for. Pooling conditions with different natural courses (alopecia areata and
    telogen effluvium often regrow untreated) is what the diagnosis filter is for."""

    ARM_FIELDS = ("modality", "combination", "product", "lot", "protocol", "threshold", "reference")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in self.ARM_FIELDS:
            del self.fields[name]
