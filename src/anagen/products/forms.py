"""Forms for products and lots. They check shapes; the rules live in services.py."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from django import forms
from django.db.models import Q
from django.utils import timezone

from anagen.accounts.models import Clinic
from anagen.core.forms import (
    DecimalCommaField,
    FloatCommaField,
    Form,
    ModelForm,
    OpenedValuesForm,
    form_field,
)
from anagen.products import importers, release
from anagen.products.importers import decimal_comma_message
from anagen.products.models import COA_PDF_MAX_BYTES, Lot, Product, StorageLocation
from anagen.products.selectors import LOT_FILTERS


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ReasonForm(Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=10,
        max_length=2000,
        help_text="At least 10 characters; kept in the lot's audit trail.",
    )


class ReleaseForm(Form):
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Note (optional)",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ProductEditForm(OpenedValuesForm, ModelForm):
    # The service's name of a value → the form field that holds it (for its errors).
    SERVICE_FIELDS = {"components": "components_text", "regulatory_status": "regulatory_text"}

    components_text = forms.CharField(
        label="Components (excipients)",
        required=False,
        max_length=3000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="As the label or CoA lists them, separated by commas or lines, e.g. "
        "“trehalose, human serum albumin”. A session with this product is refused for a "
        "patient with a recorded allergy to one.",
    )
    regulatory_text = forms.CharField(
        label="Regulatory status by jurisdiction",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One line each, “JURISDICTION: text”, e.g. “US: Not FDA-approved …”.",
    )

    class Meta:
        model = Product
        fields = [
            "manufacturer",
            "name",
            "source_tissue",
            "donor_type",
            "form",
            "labelled_particles_per_vial",
            "volume_ml",
            "storage_min_temperature_c",
            "storage_max_temperature_c",
            "storage_requirement",
            "is_active",
        ]
        field_classes = {
            "labelled_particles_per_vial": FloatCommaField,
            "volume_ml": DecimalCommaField,
            "storage_min_temperature_c": DecimalCommaField,
            "storage_max_temperature_c": DecimalCommaField,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bound too: the opened values of an edit are compared with these (OpenedValuesForm).
        if self.instance.pk:
            self.initial["regulatory_text"] = "\n".join(
                f"{k}: {v}" for k, v in (self.instance.regulatory_status or {}).items()
            )
            self.initial["components_text"] = ", ".join(self.instance.components or [])

    def clean_volume_ml(self) -> Any:
        # Here, not in the service alone: the model form checks the table's constraint first
        # and answered "Constraint “product_volume_positive” is violated." above the form.
        volume = self.cleaned_data.get("volume_ml")
        if volume is not None and volume <= 0:
            raise forms.ValidationError("Must be greater than 0 mL.")
        return volume

    def clean_regulatory_text(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for n, line in enumerate(self.cleaned_data["regulatory_text"].splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, text = line.partition(":")
            if not sep or not key.strip() or not text.strip():
                raise forms.ValidationError(f"Line {n}: write “JURISDICTION: text”.")
            result[key.strip()] = text.strip()
        return result

    def service_data(self, *, only_changed: bool = False) -> dict[str, Any]:
        """The fields in the service's names; ``only_changed``: those this person changed."""
        wanted = set(self.changed_data) if only_changed else set(self.fields)
        data = {f: self.cleaned_data[f] for f in self.Meta.fields if f in wanted}
        if "regulatory_text" in wanted:
            data["regulatory_status"] = self.cleaned_data["regulatory_text"]
        if "components_text" in wanted:
            data["components"] = [
                c
                for line in self.cleaned_data["components_text"].splitlines()
                for c in line.split(",")
            ]
        return data


class LocationForm(Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(max_length=300, required=False)
    # Text, not DecimalField: services.create_location says what is wrong, in words.
    set_min_temperature_c = forms.CharField(
        label="Set minimum (°C)", required=False, max_length=20,
        help_text="The range the fridge or freezer holds, e.g. 2.0 and 8.0; leave both empty "
        "if it has none. Lots whose storage range does not cover it cannot be received here.",
    )  # fmt: skip
    set_max_temperature_c = forms.CharField(label="Set maximum (°C)", required=False, max_length=20)


class ReceiveLotForm(Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none())
    lot_number = forms.CharField(max_length=60)
    expiry_date = forms.DateField(widget=DateInput())
    quantity_received = forms.IntegerField(label="Vials received", min_value=1, max_value=100_000)
    storage_location = forms.ModelChoiceField(
        queryset=StorageLocation.objects.none(), required=False
    )
    supplier_notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000
    )
    supplier_document = forms.FileField(
        required=False,
        help_text=f"PDF, at most {COA_PDF_MAX_BYTES // (1024 * 1024)} MB (delivery note, etc.).",
    )

    def __init__(self, clinic: Clinic, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "product", forms.ModelChoiceField).queryset = Product.objects.filter(
            clinic=clinic, is_active=True
        )
        form_field(
            self, "storage_location", forms.ModelChoiceField
        ).queryset = StorageLocation.objects.filter(clinic=clinic, is_active=True)


class LotCorrectionForm(Form):
    """Correct what was entered at receipt (services.correct_lot), opened with the lot's
    values; the reason goes into the lot's history."""

    product = forms.ModelChoiceField(queryset=Product.objects.none())
    lot_number = forms.CharField(max_length=60)
    expiry_date = forms.DateField(widget=DateInput())
    quantity_received = forms.IntegerField(label="Vials received", min_value=1, max_value=100_000)
    storage_location = forms.ModelChoiceField(
        queryset=StorageLocation.objects.none(), required=False
    )
    supplier_notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000
    )
    reason = forms.CharField(
        label="Reason for the correction",
        widget=forms.Textarea(attrs={"rows": 2}),
        min_length=10,
        max_length=2000,
        help_text="At least 10 characters (e.g. “expiry typed 2027-01-31; the label says "
        "2027-03-31”); kept in the lot's history.",
    )

    def __init__(self, lot: Lot, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The clinic's active products and locations, and the lot's own even if inactive.
        products = Product.objects.filter(clinic=lot.clinic_id)
        form_field(self, "product", forms.ModelChoiceField).queryset = products.filter(
            Q(is_active=True) | Q(pk=lot.product_id)
        )
        places = StorageLocation.objects.filter(clinic=lot.clinic_id)
        form_field(self, "storage_location", forms.ModelChoiceField).queryset = places.filter(
            Q(is_active=True) | Q(pk=lot.storage_location_id)
        )


CATEGORY_CHOICES = [("", "— not reported —"), ("positive", "Positive"), ("negative", "Negative")]
CONFORMS_CHOICES = [
    ("", "— not reported —"),
    ("conforms", "Conforms"),
    ("does not conform", "Does not conform"),
]
NUMERIC_LABELS = {
    "labelled_particles_per_ml": "Labelled particles (particles/mL; blank = from product label)",
    "particles_per_ml": "Particle concentration (particles/mL)",
    "size_mode_nm": "Size, mode (nm)",
    "size_mean_nm": "Size, mean (nm)",
    "size_d10_nm": "Size D10 (nm)",
    "size_d50_nm": "Size D50 (nm)",
    "size_d90_nm": "Size D90 (nm)",
    "particles_50_400nm_pct": "Particles 50–400 nm (%)",
    "protein_ug_per_ml": "Protein (µg/mL)",
    "particles_per_ug_protein": "Purity (particles/µg protein; blank = derived)",
    "endotoxin_eu_per_ml": "Endotoxin (EU/mL)",
    "residual_dna_ng_per_dose": "Residual DNA (ng/dose)",
}
CATEGORY_LABELS = {
    "cd9": "CD9",
    "cd63": "CD63",
    "cd81": "CD81",
    "tsg101": "TSG101",
    "alix": "ALIX",
    "calnexin": "Calnexin",
    "gm130": "GM130",
    "apoa1": "ApoA1",
    "tem_morphology": "Morphology (TEM)",
    "sterility": "Sterility",
    "mycoplasma": "Mycoplasma",
    "adventitious_virus": "Adventitious virus",
    "antibiotic_residue": "Antibiotic residue",
    "donor_screening": "Donor screening panel result",
}
TEXT_LABELS = {
    "donor_screening_panel": "Donor screening panel (tests done)",
    "potency": "Potency (if given)",
    "size_method": "Size method",
    "marker_method": "Marker method",
}


def _in_form_unit(coa: Any, name: str, value: Any) -> Any:
    """A stored result as the form shows it: ``{value, unit}`` converted to the unit of the
    form's field (1e10 particles/vial of a 2 mL vial is 5e9 particles/mL), and a category as
    its select's option ("no growth" imported is "negative"): the select opened on "not
    reported", and saving the form dropped the result."""
    if name in CATEGORY_LABELS:
        try:
            kind = "conforms" if name == "tem_morphology" else "negative"  # as its choices
            return release.read_category_like(name, value, kind)
        except release.ReleaseInputError:
            return value  # not one of the options: shown unselected, refused if kept
    if not isinstance(value, dict):
        return value
    unit = importers.NUMERIC_RESULTS.get(name)
    if unit is not None:
        try:
            vial_ml = float(coa.lot.product.volume_ml)
            return release.read_number(name, value, unit, vial_ml)
        except release.ReleaseInputError:
            pass  # a unit release.py does not convert (µg/mL): the number as entered
    return value.get("value")


# A number as typed on a CoA form: digits with optional comma groups, a decimal point and an
# exponent, then optionally the unit the certificate prints ("1.2e11 particles/mL").
_NUMBER_THEN_UNIT = re.compile(r"^([-+]?[\d,]*\.?\d*(?:[eE][-+]?\d+)?)\s*(.*?)$", re.ASCII)
# Commas only as thousands separators: 1,200,000 or 12,000.5; "0,05" is not one.
_THOUSANDS = re.compile(r"^[-+]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?([eE][-+]?\d+)?$", re.ASCII)
# "1.2 x 10^11" as typed without a superscript key.
_TIMES_TEN_TO = re.compile(r"^[x×*]\s*10\s*(?:\^|\*\*|e)?\s*([-+]?\d+)", re.IGNORECASE | re.ASCII)
# One comma group and no decimal point: 1,250 is 1250 in English and 1.25 in much of Europe.
_ONE_GROUP_NO_POINT = re.compile(r"^[-+]?[1-9]\d{0,2},\d{3}([eE][-+]?\d+)?$", re.ASCII)


# "<0.05", "< 0.05", "≤0.05": a result under the quantitation limit.
_BELOW_LIMIT = re.compile(r"^\s*[<≤]\s*=?\s*([0-9][0-9.eE+-]*)\s*\S*\s*$")
# Results the release specification holds to a maximum: "<limit" is then "at most limit".
_UPPER_LIMIT_RESULTS = frozenset({"endotoxin_eu_per_ml", "residual_dna_ng_per_dose"})


def read_coa_number(name: str, text: str) -> float | dict[str, Any]:
    """A CoA form entry as stored: a number in the field's unit, or ``{value, unit}`` when a
    unit was typed after it (converted on release, as for the CSV import). ValueError with
    the message for the user when it cannot be read without guessing."""
    below = _BELOW_LIMIT.match(text)
    if below:
        # "<0.05": certificates print results under the quantitation limit so.
        limit = below.group(1)
        if name in _UPPER_LIMIT_RESULTS:
            raise ValueError(
                f"“{text}” is below the laboratory's quantitation limit: enter the limit itself "
                f"({limit}). This result is held to a maximum, so it is then checked as at most "
                f"{limit}, the conservative reading; the attached CoA keeps the “<”."
            )
        raise ValueError(
            f"“{text}” is below the laboratory's quantitation limit, which cannot be checked "
            "against this result's minimum: ask the laboratory for the measured value."
        )
    m = _NUMBER_THEN_UNIT.match(text)
    number, unit = (m.group(1), m.group(2)) if m else ("", text)
    if unit[:1] == ",":  # 1.234,5: a European number, not a number and a unit
        raise ValueError(decimal_comma_message(text))
    if not re.search(r"[0-9]", number) or unit[:1].isdigit() or unit[:1] == ".":
        raise ValueError(f"Enter a number (e.g. 1.2e11), not “{text}”.")
    if "," in number:
        if _ONE_GROUP_NO_POINT.match(number):
            plain = number.replace(",", "")
            decimal = number.replace(",", ".")
            raise ValueError(
                f"“{number}” reads as {plain} in English and as {decimal} in much of Europe: "
                f"write {plain} or {decimal}, without the comma."
            )
        if not _THOUSANDS.match(number):
            raise ValueError(decimal_comma_message(number))
        number = number.replace(",", "")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"Enter a number (e.g. 1.2e11), not “{text}”.") from None
    if not math.isfinite(value):
        raise ValueError(f"“{number}” is far too large to be a measurement.")
    power = _TIMES_TEN_TO.match(unit)
    if power:
        raise ValueError(
            f"Write a power of ten with e: {number}e{power.group(1)}, not {number} {unit}."
        )
    if not unit:
        return value
    expected = importers.NUMERIC_RESULTS[name]
    if release.same_unit(unit, expected):
        return value  # the field's own unit
    try:
        # Only the unit's name is checked here (a vial of 1 mL stands in for per-vial units);
        # the lot's product converts it when the results are stored.
        release.convert(name, value, unit, expected, vial_volume_ml=1.0)
    except release.ReleaseInputError as exc:
        raise ValueError(
            f"“{unit}” is not a unit this result can be converted from ({exc.message}); "
            f"enter the number in {expected}."
        ) from None
    return {"value": value, "unit": unit}


class CoaForm(OpenedValuesForm, Form):
    """The CoA: laboratory, statement, the PDF and every structured result. Each field but
    the PDF carries its value as opened (``changed_elsewhere``)."""

    testing_laboratory = forms.CharField(max_length=200)
    certificate_lot_number = forms.CharField(
        max_length=60,
        label="Lot number on the certificate",
        help_text="As the certificate prints it; it must be this lot's number (any case; "
        "spaces and hyphens do not count).",
    )
    third_party_laboratory = forms.BooleanField(
        required=False, label="Independent (third-party) laboratory"
    )
    cgmp_statement = forms.CharField(max_length=300, required=False, label="cGMP statement")
    nta_method = forms.CharField(
        max_length=120, required=False, initial="NTA", label="Particle concentration method"
    )
    pdf = forms.FileField(
        required=False,
        label="Original CoA (PDF)",
        help_text=f"PDF, at most {COA_PDF_MAX_BYTES // (1024 * 1024)} MB.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in NUMERIC_LABELS.items():
            # Text, not a number input: CoAs print 1.2e11, which browsers' number inputs
            # accept inconsistently; the value is parsed below.
            self.fields[name] = forms.CharField(required=False, label=label, max_length=40)
        for name, label in CATEGORY_LABELS.items():
            choices = CONFORMS_CHOICES if name == "tem_morphology" else CATEGORY_CHOICES
            self.fields[name] = forms.ChoiceField(required=False, label=label, choices=choices)
        for name, label in TEXT_LABELS.items():
            self.fields[name] = forms.CharField(required=False, label=label, max_length=300)
        self.track_opened_values([n for n in self.fields if n != "pdf"])

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for name in NUMERIC_LABELS:
            text = (cleaned.get(name) or "").strip()
            if not text:
                cleaned[name] = None
                continue
            try:
                cleaned[name] = read_coa_number(name, text)
            except ValueError as exc:
                self.add_error(name, str(exc))
        return cleaned

    def results(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in importers.RESULT_FIELDS:
            value = self.cleaned_data.get(name)
            if value not in (None, ""):
                out[name] = value
        return out

    @staticmethod
    def initial_from(coa: Any) -> dict[str, Any]:
        data = {
            "testing_laboratory": coa.testing_laboratory,
            "certificate_lot_number": coa.certificate_lot_number,
            "third_party_laboratory": coa.third_party_laboratory,
            "cgmp_statement": coa.cgmp_statement,
            "nta_method": coa.nta_method,
        }
        derived = set(coa.derived_fields or ())
        for name, value in coa.results.items():
            # Derived values (purity, labelled amount from the label) are left blank, so that
            # saving the form derives them again from the values it now holds.
            if name in importers.RESULT_FIELDS and name not in derived:
                data[name] = _in_form_unit(coa, name, value)
        return data

    def result_groups(self) -> list[tuple[str, list]]:
        return [
            ("Quantity and size", [self[n] for n in list(NUMERIC_LABELS)[:8]]),
            ("Purity and safety (numbers)", [self[n] for n in list(NUMERIC_LABELS)[8:]]),
            ("Identity, purity and safety", [self[n] for n in CATEGORY_LABELS]),
            ("Other", [self[n] for n in TEXT_LABELS]),
        ]


class UploadForm(Form):
    file = forms.FileField(help_text="JSON or CSV; see the import format in the docs.")


class LoggerUploadForm(Form):
    file = forms.FileField(
        help_text="CSV with columns recorded_at (ISO 8601 with offset) and temperature_c."
    )


class ReadingForm(Form):
    recorded_at = forms.DateTimeField(
        widget=DateTimeInput(),
        help_text="Local time of the clinic.",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    # No min/max here: services.record_reading says which range is possible, in words
    # ("500 °C is outside the possible −200 to 100 °C"), for the form and the API alike.
    temperature_c = DecimalCommaField(  # "8,5" as typed on a European keyboard: 8.5
        label="Temperature (°C)",
        decimal_places=2,
        error_messages={"max_decimal_places": "Give at most 2 decimal places (8.05, not 8.051)."},
    )

    def clean_recorded_at(self) -> datetime:
        value = self.cleaned_data["recorded_at"]
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value


class WasteForm(Form):
    quantity = forms.IntegerField(label="Vials wasted", min_value=1)
    reason = forms.CharField(max_length=300, help_text="e.g. dropped vial, thawed and not used.")


EXCURSION_DECISIONS = [
    ("accept", "Accept — the lot may be used (manufacturer's stability data)"),
    ("reject", "Reject the lot"),
]


class ExcursionDecisionForm(Form):
    decision = forms.ChoiceField(choices=EXCURSION_DECISIONS, widget=forms.RadioSelect)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), min_length=10)

    def __init__(self, *args: Any, ongoing: bool = False, **kwargs: Any) -> None:
        """``ongoing``: an excursion has not ended yet, so it can only be rejected (the
        service refuses to accept it; the page does not offer what would be refused)."""
        super().__init__(*args, **kwargs)
        if ongoing:
            decision = form_field(self, "decision", forms.ChoiceField)
            decision.choices = [c for c in EXCURSION_DECISIONS if c[0] != "accept"]
            decision.help_text = (
                "The excursion is still ongoing: it can be accepted once a reading is back "
                "in range."
            )


class SpecForm(Form):
    spec = forms.CharField(
        label="Specification (YAML)",
        widget=forms.Textarea(attrs={"rows": 24, "class": "mono"}),
        help_text="Same format as the default; give a new version string.",
    )


class SettingsForm(OpenedValuesForm, Form):
    expiry_warning_days = forms.IntegerField(
        min_value=1, max_value=730, label="Warn about lots expiring within (days)"
    )


class LotFilterForm(Form):
    state = forms.ChoiceField(
        required=False,
        choices=[("", "All"), *LOT_FILTERS.items()],
        label="Status",
    )
    product = forms.ModelChoiceField(
        queryset=Product.objects.none(), required=False, empty_label="All products"
    )
    q = forms.CharField(required=False, max_length=100, label="Search")

    def __init__(self, clinic: Clinic, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "product", forms.ModelChoiceField).queryset = Product.objects.filter(
            clinic=clinic
        )
