"""Forms of the consultation flow. They parse and shape input; services validate rules.

``to_service()`` turns cleaned data into the dict the service takes, and
:func:`apply_errors` puts the service's field errors back on the form.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

from anagen.assessment import coding, scales, screening
from anagen.assessment.labels import CONDITION_LABELS, MEDICATION_LABELS, SCALP_LABELS
from anagen.assessment.models import MODALITY_LABELS
from anagen.assessment.services import AssessmentError
from anagen.core.forms import FloatCommaField, Form, OpenedValuesForm, form_field

MEDICATION_ORDER = tuple(MEDICATION_LABELS)
YES_NO_UNKNOWN = [("", "Not recorded"), ("yes", "Yes"), ("no", "No")]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def apply_errors(form: forms.Form, error: AssessmentError, aliases: dict | None = None) -> None:
    """Attach service errors to form fields (unknown names become non-field errors)."""
    for name, messages in error.errors.items():
        target = (aliases or {}).get(name, name)
        target = target if target in form.fields else None
        for m in messages:
            form.add_error(target, m)


def _tri(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _tri_initial(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


class HistoryForm(Form):
    """The questionnaire. Medications: one row per drug class (name, start, stop)."""

    recorded_on = forms.DateField(widget=DateInput(), label="Answers given on")
    conditions = forms.MultipleChoiceField(
        choices=[(c, CONDITION_LABELS.get(c, c)) for c in sorted(screening.CONDITIONS)],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Conditions",
    )
    other_conditions = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Other conditions"
    )
    allergies = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One substance per line, including product components (e.g. trehalose).",
    )
    pregnant = forms.ChoiceField(choices=YES_NO_UNKNOWN, required=False, label="Pregnant")
    lactating = forms.ChoiceField(choices=YES_NO_UNKNOWN, required=False, label="Breastfeeding")
    malignancy = forms.ChoiceField(
        choices=[("none", "None"), ("active", "Active"), ("past", "Past")], label="Cancer"
    )
    malignancy_details = forms.CharField(required=False, label="Cancer details")
    autoimmune_disease = forms.BooleanField(required=False, label="Autoimmune disease")
    bleeding_disorder = forms.BooleanField(required=False, label="Bleeding disorder")
    platelet_count_10e9_per_l = FloatCommaField(
        required=False, min_value=0, label="Platelet count (×10⁹/L)"
    )
    keloid = forms.BooleanField(required=False, label="Keloid scars")
    scalp_conditions = forms.MultipleChoiceField(
        choices=[(c, SCALP_LABELS.get(c, c)) for c in sorted(screening.SCALP_CONDITIONS)],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Scalp conditions",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(
        self, *args: Any, sex_at_birth: str = "", latest: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # The latest version's entries that this form has no row for (a second drug of one
        # class, an earlier session of one modality, as the API records them): carried into
        # the new version as they are, and listed, never dropped unseen.
        _, self.carried_medications, _, self.carried_prior_treatments = _rows_of(latest)
        if sex_at_birth == "male":
            # Not asked of a male record (a "yes" would only be refused).
            del self.fields["pregnant"], self.fields["lactating"]
        for cls in MEDICATION_ORDER:
            self.fields[f"med_{cls}"] = forms.BooleanField(
                required=False, label=MEDICATION_LABELS[cls]
            )
            self.fields[f"med_{cls}_name"] = forms.CharField(
                required=False, max_length=200, label=f"{MEDICATION_LABELS[cls]}: drug"
            )
            self.fields[f"med_{cls}_start"] = forms.DateField(
                required=False, widget=DateInput(), label=f"{MEDICATION_LABELS[cls]}: started"
            )
            self.fields[f"med_{cls}_stop"] = forms.DateField(
                required=False,
                widget=DateInput(),
                # The table's column says so; the label tells screen readers too.
                label=f"{MEDICATION_LABELS[cls]}: stopped (empty = still taking)",
            )
        for m in screening.MODALITIES:
            self.fields[f"prior_{m}_on"] = forms.DateField(
                required=False, widget=DateInput(), label=f"Last {MODALITY_LABELS[m].lower()}"
            )
            # Each treatment's own details: one box for all of them showed one treatment's
            # details and wrote them over the others' on the next save.
            self.fields[f"prior_{m}_notes"] = forms.CharField(
                required=False, max_length=2000, label=f"Last {MODALITY_LABELS[m].lower()}: details"
            )

    @property
    def medication_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "label": MEDICATION_LABELS[c],
                "taking": self[f"med_{c}"],
                "name": self[f"med_{c}_name"],
                "start": self[f"med_{c}_start"],
                "stop": self[f"med_{c}_stop"],
                "cells": [self[f"med_{c}_{part}"] for part in ("name", "start", "stop")],
            }
            for c in MEDICATION_ORDER
        ]

    @property
    def prior_fields(self) -> list[forms.BoundField]:
        return [self[f"prior_{m}_{part}"] for m in screening.MODALITIES for part in ("on", "notes")]

    @property
    def main_fields(self) -> list[forms.BoundField]:
        skip = ("med_", "prior_")
        return [self[n] for n in self.fields if not n.startswith(skip) and n != "notes"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for cls in MEDICATION_ORDER:
            start, stop = data.get(f"med_{cls}_start"), data.get(f"med_{cls}_stop")
            detail = data.get(f"med_{cls}_name") or start or stop
            if detail and not data.get(f"med_{cls}"):
                self.add_error(f"med_{cls}", "Tick the box when giving a drug or dates.")
            if start and stop and stop < start:
                self.add_error(f"med_{cls}_stop", "Stopped before it was started.")
        for m in screening.MODALITIES:
            if data.get(f"prior_{m}_notes") and not data.get(f"prior_{m}_on"):
                self.add_error(f"prior_{m}_on", "Give the date of the last one with its details.")
        return data

    def to_service(self) -> dict[str, Any]:
        d = self.cleaned_data
        shown_medications = [
            {
                "drug_class": c,
                "name": d[f"med_{c}_name"],
                "start": d[f"med_{c}_start"],
                "stop": d[f"med_{c}_stop"],
            }
            for c in MEDICATION_ORDER
            if d.get(f"med_{c}")
        ]
        # One per line, or separated by commas outside brackets ("penicillin (rash, hives)"
        # is one allergy with its reaction).
        allergies = [
            a.strip()
            for line in d["allergies"].splitlines()
            for a in re.split(r",(?![^()]*\))", line)
        ]
        return {
            "recorded_on": d["recorded_on"],
            "conditions": d["conditions"],
            "other_conditions": d["other_conditions"],
            "allergies": [a for a in allergies if a],
            "pregnant": _tri(d.get("pregnant", "")),
            "lactating": _tri(d.get("lactating", "")),
            "malignancy": d["malignancy"],
            "malignancy_details": d["malignancy_details"],
            "autoimmune_disease": d["autoimmune_disease"],
            "bleeding_disorder": d["bleeding_disorder"],
            "platelet_count_10e9_per_l": d["platelet_count_10e9_per_l"],
            "keloid": d["keloid"],
            "scalp_conditions": d["scalp_conditions"],
            "prior_treatments": [
                {"modality": m, "on": d[f"prior_{m}_on"], "notes": d[f"prior_{m}_notes"]}
                for m in screening.MODALITIES
                if d.get(f"prior_{m}_on")
            ]
            + [dict(p) for p in self.carried_prior_treatments],
            "notes": d["notes"],
        } | {"medications": shown_medications + [dict(m) for m in self.carried_medications]}

    @classmethod
    def initial_from(cls, h: Any, today: Any) -> dict[str, Any]:
        """Pre-fill from the latest version, so a new version changes only what changed."""
        if h is None:
            return {"recorded_on": today, "malignancy": "none"}
        initial: dict[str, Any] = {
            "recorded_on": today,
            "conditions": h.conditions,
            "other_conditions": h.other_conditions,
            "allergies": "\n".join(h.allergies),
            # Pregnancy and breastfeeding change between visits: a "No" is asked again each
            # version, never carried forward unread; a "Yes" is kept (it blocks until changed).
            "pregnant": "yes" if h.pregnant else "",
            "lactating": "yes" if h.lactating else "",
            "malignancy": h.malignancy,
            "malignancy_details": h.malignancy_details,
            "autoimmune_disease": h.autoimmune_disease,
            "bleeding_disorder": h.bleeding_disorder,
            "platelet_count_10e9_per_l": h.platelet_count_10e9_per_l,
            "keloid": h.keloid,
            "scalp_conditions": h.scalp_conditions,
            "notes": h.notes,
        }
        medications, _, priors, _ = _rows_of(h)
        for c, m in medications.items():
            initial.update(
                {
                    f"med_{c}": True,
                    f"med_{c}_name": m.get("name", ""),
                    f"med_{c}_start": m.get("start"),
                    f"med_{c}_stop": m.get("stop"),
                }
            )
        for modality, p in priors.items():
            initial[f"prior_{modality}_on"] = p["on"]
            initial[f"prior_{modality}_notes"] = p.get("notes", "")
        return initial


def _rows_of(h: Any) -> tuple[dict[str, dict], list[dict], dict[str, dict], list[dict]]:
    """A history's medications and prior treatments as the form's rows show them: per drug
    class the one still taken (else the one stopped last), per modality the latest session;
    and the entries left over, which the form carries unchanged."""
    if h is None:
        return {}, [], {}, []

    def current_first(m: dict) -> tuple[bool, str, str]:
        return (not m.get("stop"), str(m.get("stop") or ""), str(m.get("start") or ""))

    shown_meds: dict[str, dict] = {}
    for m in sorted(h.medications, key=current_first, reverse=True):
        shown_meds.setdefault(m["drug_class"], m)
    shown_ids = {id(m) for m in shown_meds.values()}
    shown_priors: dict[str, dict] = {}
    for p in sorted(h.prior_treatments, key=lambda p: str(p["on"]), reverse=True):
        shown_priors.setdefault(p["modality"], p)
    prior_ids = {id(p) for p in shown_priors.values()}
    return (
        shown_meds,
        [m for m in h.medications if id(m) not in shown_ids],
        shown_priors,
        [p for p in h.prior_treatments if id(p) not in prior_ids],
    )


# Service error names (``medications[3].stop``) -> form field names.
def history_error_aliases(data: dict[str, Any]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for i, m in enumerate(data.get("medications", [])):
        for part in ("start", "stop", "name"):
            aliases[f"medications[{i}].{part}"] = f"med_{m['drug_class']}_{part}"
    for i, p in enumerate(data.get("prior_treatments", [])):
        for part in ("on", "notes"):
            aliases[f"prior_treatments[{i}].{part}"] = f"prior_{p['modality']}_{part}"
    return aliases


class ScreenAgainForm(Form):
    product_components = forms.CharField(
        required=False,
        max_length=1000,
        label="Components of the product to be used",
        help_text="Comma-separated, from the product sheet (checked against allergies).",
    )

    def to_components(self) -> list[str]:
        raw = self.cleaned_data["product_components"]
        return [c.strip() for c in raw.split(",") if c.strip()]


class OverrideForm(Form):
    modality = forms.ChoiceField(
        choices=[(m, MODALITY_LABELS[m]) for m in screening.MODALITIES], label="Treatment"
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Clinical reason for overriding the BLOCK",
        max_length=2000,
    )


class ExamForm(Form):
    examined_on = forms.DateField(widget=DateInput(), label="Examined on")
    norwood_hamilton = forms.ChoiceField(
        choices=[("", "—")] + [(k, f"{k} — {v}") for k, v in scales.NORWOOD_HAMILTON.items()],
        required=False,
        label="Norwood–Hamilton",
    )
    ludwig = forms.ChoiceField(
        choices=[("", "—")] + [(k, f"{k} — {v}") for k, v in scales.LUDWIG.items()],
        required=False,
        label="Ludwig",
    )
    sinclair = forms.TypedChoiceField(
        choices=[("", "—")] + [(str(k), f"{k} — {v}") for k, v in scales.SINCLAIR.items()],
        coerce=int,
        empty_value=None,
        required=False,
        label="Sinclair",
    )
    female_pattern_confirmed = forms.BooleanField(
        required=False,
        label="Female-type pattern confirmed",
        help_text=(
            "Needed to use Ludwig or Sinclair on a male record; with a Ludwig or Sinclair "
            "grade it also allows a female-pattern diagnosis on or after the exam date."
        ),
    )
    basp_basic = forms.ChoiceField(
        choices=[("", "—")] + [(k, k) for k in scales.BASP_BASIC],
        required=False,
        label="BASP basic type",
    )
    basp_f = forms.ChoiceField(
        choices=[("", "—")] + [(k, k) for k in scales.BASP_SPECIFIC_F],
        required=False,
        label="BASP specific F",
    )
    basp_v = forms.ChoiceField(
        choices=[("", "—")] + [(k, k) for k in scales.BASP_SPECIFIC_V],
        required=False,
        label="BASP specific V",
    )
    salt_top = FloatCommaField(required=False, label="SALT: top, % lost")
    salt_posterior = FloatCommaField(required=False, label="SALT: back, % lost")
    salt_right = FloatCommaField(required=False, label="SALT: right side, % lost")
    salt_left = FloatCommaField(required=False, label="SALT: left side, % lost")
    aa_qol_impact = forms.IntegerField(required=False, label="AA: quality-of-life impact (0–10)")
    aa_brow_or_lash_loss = forms.BooleanField(required=False, label="AA: brow or lash loss")
    aa_months_failed_treatment = FloatCommaField(
        required=False, label="AA: months of failed treatment"
    )
    aa_rapid_loss = forms.BooleanField(required=False, label="AA: rapid loss")
    aa_diffuse_pull_test = forms.BooleanField(required=False, label="AA: diffuse positive pull")
    pull_hairs_pulled = forms.IntegerField(required=False, label="Pull test: hairs grasped")
    pull_hairs_out = forms.IntegerField(required=False, label="Pull test: hairs out")
    trichoscopy_signs = forms.MultipleChoiceField(
        choices=[(c, s.label) for c, s in scales.TRICHOSCOPY_SIGNS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Trichoscopy signs",
    )
    findings = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Findings"
    )

    GROUPS = (
        ("Stage", ("examined_on", "norwood_hamilton", "ludwig", "sinclair",
                   "female_pattern_confirmed", "basp_basic", "basp_f", "basp_v")),
        ("SALT (alopecia areata)", ("salt_top", "salt_posterior", "salt_right", "salt_left",
                                    "aa_qol_impact", "aa_months_failed_treatment",
                                    "aa_brow_or_lash_loss", "aa_rapid_loss",
                                    "aa_diffuse_pull_test")),
        ("Pull test and trichoscopy", ("pull_hairs_pulled", "pull_hairs_out",
                                       "trichoscopy_signs", "findings")),
    )  # fmt: skip

    def __init__(self, *args: Any, sex_at_birth: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sex_at_birth = sex_at_birth

    @property
    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        # The confirmation only lets a male record use a female scale: not shown otherwise.
        hidden = set() if self.sex_at_birth == "male" else {"female_pattern_confirmed"}
        return [
            (title, [self[n] for n in names if n not in hidden]) for title, names in self.GROUPS
        ]

    def to_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class DiagnosisForm(Form):
    diagnosed_on = forms.DateField(widget=DateInput(), label="Diagnosed on")
    condition = forms.ChoiceField(
        choices=[(d.key, d.label) for d in coding.DIAGNOSES.values()], label="Diagnosis"
    )
    stage = forms.CharField(
        required=False,
        max_length=30,
        help_text="Norwood (e.g. IIIv), Ludwig (I–III), Sinclair (1–5) or BASP (M2V1); "
        "empty = from the latest exam.",
    )
    label = forms.CharField(required=False, max_length=200, label="Other: condition name")
    icd10_code = forms.CharField(required=False, max_length=10, label="Other: ICD-10 code")
    snomed_code = forms.CharField(required=False, max_length=20, label="Other: SNOMED CT code")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def to_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class PlanForm(Form):
    proposal_key = forms.CharField(widget=forms.HiddenInput)
    sessions_planned = forms.IntegerField(required=False, label="Sessions")
    interval_weeks = FloatCommaField(required=False, label="Weeks between sessions")
    start_on = forms.DateField(required=False, widget=DateInput(), label="First session on")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    confirm_schedule = forms.BooleanField(
        required=False,
        label="The interval is right for this patient although it is outside the protocol's "
        "range: keep it, with the warning on the plan",
    )

    def to_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    def offers_confirm_schedule(self) -> bool:
        """The confirmation only once the service asked for it (an interval outside the
        protocol's range), as on the session form."""
        return bool(self.errors.get("confirm_schedule") or self.data.get("confirm_schedule"))


class PlanEditForm(OpenedValuesForm, PlanForm):
    """A plan's editable fields, each with its value as opened: a save changes only what this
    person changed (see OpenedValuesForm)."""

    def __init__(self, *args: Any, plan: Any = None, **kwargs: Any) -> None:
        if plan is not None:
            kwargs["initial"] = {f: getattr(plan, f) for f in PLAN_EDIT_FIELDS}
        super().__init__(*args, **kwargs)
        del self.fields["proposal_key"]
        self.track_opened_values(list(PLAN_EDIT_FIELDS))

    def changes(self) -> dict[str, Any]:
        return {f: self.cleaned_data[f] for f in self.changed_data}


PLAN_EDIT_FIELDS = ("sessions_planned", "interval_weeks", "start_on", "notes")


class CancelForm(Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    end_course = forms.BooleanField(
        required=False, label="Also end the follow-up course: cancel its planned visits"
    )


class SignConsentForm(Form):
    modality = forms.ChoiceField(choices=[(m, m) for m in screening.MODALITIES])
    signed_name = forms.CharField(max_length=200, label="Patient's full name (typed)")
    signed_on = forms.DateField(widget=DateInput(), label="Signed on")
    signature_png = forms.CharField(required=False, widget=forms.HiddenInput)
    form_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def to_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class WithdrawForm(Form):
    withdrawn_on = forms.DateField(widget=DateInput(), label="Withdrawn on")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class RuleOverrideForm(Form):
    rule_id = forms.ChoiceField(choices=())
    action = forms.ChoiceField(
        choices=[("set_outcome", "Change the outcome"), ("disable", "Disable the rule")]
    )
    outcome = forms.ChoiceField(
        choices=[("", "—"), ("WARN", "WARN"), ("REFER", "REFER"), ("BLOCK", "BLOCK")],
        required=False,
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rules = screening.load_default_ruleset().rules
        form_field(self, "rule_id", forms.ChoiceField).choices = [(r.id, r.id) for r in rules]


class ProtocolTemplateForm(Form):
    title = forms.CharField(max_length=200)
    sessions_min = forms.IntegerField(required=False)
    sessions_max = forms.IntegerField(required=False)
    interval_weeks_min = FloatCommaField(required=False, label="Interval (weeks), min")
    interval_weeks_max = FloatCommaField(required=False, label="Interval (weeks), max")
    maintenance_interval_months = forms.IntegerField(required=False)
    schedule = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    active = forms.BooleanField(required=False, label="Offered in proposals")


class ConsentTextForm(Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}))
