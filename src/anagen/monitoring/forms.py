"""Forms: typing and widgets only. The rules live in services.py (shared with the API)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from anagen.core.forms import FloatCommaField, Form, ModelForm, OpenedValuesForm
from anagen.monitoring import ctcae, schedule, session_link
from anagen.monitoring.models import (
    HGQ_ITEMS,
    HGQ_POINT,
    HGQ_SCALES,
    SEVEN_POINT,
    VIEWS,
    AdverseEvent,
    MonitoringSettings,
    TreatmentDecision,
    Visit,
)
from anagen.monitoring.session_link import SessionUse
from anagen.monitoring.uploads import (
    MAX_BYTES,
    MAX_SIDE_PX,
    MIN_SIDE_PX,
    TRICHOSCOPY_MIN_SIDE_PX,
)
from anagen.patients.forms import DateInput

SEVEN = [("", "—")] + [(str(v), label) for v, label in SEVEN_POINT]
IMAGE_HELP = (
    f"JPEG or PNG, up to {MAX_BYTES // (1024 * 1024)} MB, {MIN_SIDE_PX}–{MAX_SIDE_PX} px a side "
    f"(trichoscopy at least {TRICHOSCOPY_MIN_SIDE_PX}). Location data is removed."
)


def _num(label: str, help_text: str = "", *, integer: bool = False) -> forms.Field:
    # Ranges are checked in services.py so that forms and API give the same messages.
    field_class = forms.IntegerField if integer else FloatCommaField
    return field_class(label=label, required=False, help_text=help_text)


AREA_HELP = (
    "Area of the marked target area in which the hairs were counted. Left blank, the area is "
    "not given and no density is derived from the count."
)


class SevenPointField(forms.TypedChoiceField):
    def __init__(self, label: str, choices: list | None = None, **kwargs) -> None:
        if choices is not None:
            choices = [("", "—")] + [(str(v), text) for v, text in choices]
        super().__init__(
            label=label, choices=choices or SEVEN, coerce=int, empty_value=None, required=False,
            **kwargs,
        )  # fmt: skip


class FileInput(forms.ClearableFileInput):
    def __init__(self) -> None:
        super().__init__(attrs={"accept": "image/jpeg,image/png"})


class VisitForm(Form):
    visit_date = forms.DateField(
        widget=DateInput(), error_messages={"invalid": "Enter a real date as YYYY-MM-DD."}
    )
    is_baseline = forms.BooleanField(
        required=False, label="Baseline visit", help_text="Reference for change from baseline"
    )
    confirm_same_day = forms.BooleanField(
        required=False,
        label="This is a separate visit on the same day",
        help_text="Tick only when the patient already had a visit on this date and this one "
        "is a separate visit, not the same one entered again.",
    )
    # How many visits that day the refusal named: the box's confirmation holds only while
    # that is still the number (the same confirmed form sent again is asked again).
    same_day_seen = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    confirm_early = forms.BooleanField(
        required=False,
        label="This visit stands for the appointment although it is early",
        help_text="Tick only when this visit is meant to replace the planned one (it was "
        "brought forward); otherwise record the visit without the appointment.",
    )
    without_appointment = forms.BooleanField(
        required=False,
        label="Record this visit without the appointment",
        help_text="The appointment stays planned and is asked for on its due date.",
    )
    # Target-area measurements (manual).
    target_area_cm2 = _num("Target area (cm²)", AREA_HELP)
    hair_count = _num("Hair count in target area", integer=True)
    density_per_cm2 = _num("Density (hairs/cm²)")
    mean_diameter_um = _num("Mean diameter (µm)", "Plausible range 5–150 µm")
    terminal_pct = _num("Terminal hairs (%)")
    vellus_pct = _num("Vellus hairs (%)")
    anagen_pct = _num("Anagen hairs (%)")
    global_assessment = SevenPointField(
        "Investigator global photographic assessment", help_text="7-point scale vs baseline"
    )
    pull_test = forms.ChoiceField(choices=Visit.PullTest.choices, initial="not_done")
    pull_test_hairs = _num("Pull test: hairs extracted", integer=True)
    pull_test_hairs_grasped = _num(
        "Pull test: hairs grasped", "Standard 40–60; more than 10 % out is positive", integer=True
    )
    notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000
    )

    def __init__(
        self,
        *args,
        held: Collection[str] = (),
        last_area: tuple[float, date] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Photo fields filled by a photo held from the last try (monitoring.held_photos).
        self.held = frozenset(held)
        # No default area: a count typed without looking at it would be stored as counted
        # over a measured area (density = count ÷ area). The area the patient's last visit
        # gave is offered, so the same marked area is counted again, and the help says so.
        if last_area is not None:
            area, on = last_area
            self.fields["target_area_cm2"].initial = area
            self.fields["target_area_cm2"].help_text = (
                f"Pre-filled with the area given at this patient's visit of {on:%Y-%m-%d}, so "
                "the same marked area is counted again: change it if this visit's area "
                "differs, or clear it if no area was measured (then no density is derived)."
            )
        for name, label in HGQ_ITEMS:
            self.fields[name] = SevenPointField(label, HGQ_SCALES.get(name, HGQ_POINT))
        for view, label in VIEWS:
            self.fields[f"photo_{view}"] = forms.FileField(
                label=f"Global photo: {label.lower()}", required=False, widget=FileInput()
            )
        self.fields["trichoscopy"] = forms.FileField(
            label="Trichoscopy image of the target area",
            required=False,
            widget=FileInput(),
            help_text=IMAGE_HELP,
        )
        self.fields["target_area"] = forms.CharField(
            required=False, max_length=80, label="Target area (trichoscopy)",
            help_text="Where the marked area is, e.g. vertex tattoo point",
        )  # fmt: skip

    # Set by the view when the service refused a second visit that day.
    same_day_refused = False

    def offers_confirm_same_day(self) -> bool:
        """The same-day checkbox is shown once a second visit that day was refused, and
        stays while it is ticked (another field may still need fixing)."""
        return self.same_day_refused or self._ticked("confirm_same_day")

    def _ticked(self, *names: str) -> bool:
        """Whether any of the boxes ``names`` was ticked in the posted data."""
        return self.is_bound and any(
            self.fields[name].widget.value_from_datadict(
                self.data, self.files, self.add_prefix(name)
            )
            for name in names
        )

    # What a visit records besides its date (the target area alone is a default, not a
    # finding).
    FINDINGS = (
        "hair_count", "density_per_cm2", "mean_diameter_um", "terminal_pct", "vellus_pct",
        "anagen_pct", "global_assessment", "pull_test_hairs", "pull_test_hairs_grasped", "notes",
        "trichoscopy",
    )  # fmt: skip
    NOTHING_RECORDED = (
        "Nothing is recorded for this visit: enter a measurement, a photo, a test, a "
        "questionnaire answer or a note (where nothing could be measured, say why in the notes)."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        names = [*self.FINDINGS, *(n for n, _ in HGQ_ITEMS), *(f"photo_{v}" for v, _ in VIEWS)]
        if data.get("confirm_early") and data.get("without_appointment"):
            self.add_error(
                "without_appointment",
                "Either the visit stands for the appointment or it is recorded without it: "
                "tick one of the two.",
            )
        found = bool(self.held) or any(data.get(n) not in (None, "", False) for n in names)
        if not found and data.get("pull_test", "not_done") == "not_done" and not self.errors:
            # A visit of a date only was saved as a row of dashes on the timeline and the
            # progress page (a review); the API may still record one, for images sent after.
            raise forms.ValidationError(self.NOTHING_RECORDED)
        return data

    def offers_confirm_early(self) -> bool:
        """Shown once the service held the visit back as early for its appointment (the
        error sits on the box), and while the box is ticked."""
        return bool(self.errors.get("confirm_early")) or self._ticked(
            "confirm_early", "without_appointment"
        )

    def field_groups(self) -> dict[str, list]:
        confirm = ["confirm_same_day"] if self.offers_confirm_same_day() else []
        if self.offers_confirm_early():
            confirm += ["confirm_early", "without_appointment"]
        names = {
            "visit": ["visit_date", *confirm, "is_baseline"],
            "measurements": [
                "target_area_cm2",
                "hair_count",
                "density_per_cm2",
                "mean_diameter_um",
                "terminal_pct",
                "vellus_pct",
                "anagen_pct",
            ],
            "assessment": [
                "global_assessment",
                "pull_test",
                "pull_test_hairs",
                "pull_test_hairs_grasped",
            ],
            "hgq": [n for n, _ in HGQ_ITEMS],
            "photos": [f"photo_{v}" for v, _ in VIEWS] + ["trichoscopy", "target_area"],
            "notes": ["notes"],
        }
        return {k: [self[n] for n in v] for k, v in names.items()}


class PhotoForm(Form):
    kind = forms.ChoiceField(choices=[("global", "Global photo"), ("trichoscopy", "Trichoscopy")])
    view = forms.ChoiceField(choices=[("", "— (trichoscopy)")] + VIEWS, required=False)
    target_area = forms.CharField(required=False, max_length=80)
    image = forms.FileField(widget=FileInput(), help_text=IMAGE_HELP)


class DatalistInput(forms.TextInput):
    """A text box offering ``options`` (value, label) in a <datalist>: the known values are
    one click away and anything else can still be typed (and is checked by the service)."""

    def __init__(self, options: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options = list(options)

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        if not self.options:
            return super().render(name, value, attrs, renderer)
        list_id = f"{(attrs or {}).get('id') or f'id_{name}'}_options"
        box = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}" label="{}"></option>', self.options)
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)


def _term_choices() -> list[tuple[str, str]]:
    return [("", "—")] + [(t.key, t.name) for t in ctcae.TERMS.values()]


class AdverseEventForm(OpenedValuesForm, Form):
    term_key = forms.ChoiceField(label="CTCAE term", choices=_term_choices)
    grade = forms.TypedChoiceField(
        choices=[("", "—")] + [(str(g), f"Grade {g}") for g in range(1, 6)],
        coerce=int,
        empty_value=None,
        help_text="Grade definitions for each term are listed below the form",
    )
    onset_date = forms.DateField(
        widget=DateInput(), error_messages={"invalid": "Enter a real date as YYYY-MM-DD."}
    )
    resolution_date = forms.DateField(
        widget=DateInput(),
        required=False,
        error_messages={"invalid": "Enter a real date as YYYY-MM-DD."},
    )
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000
    )
    seriousness = forms.MultipleChoiceField(
        choices=AdverseEvent.SERIOUSNESS_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Seriousness (ICH E2A)",
        help_text="Leave empty when the event is not serious",
    )
    relatedness = forms.ChoiceField(
        choices=AdverseEvent.Relatedness.choices, label="Related to treatment"
    )
    # The patient's sessions and the lots used in them are offered (see __init__); the
    # service checks what is sent, so the API and a hand-made request meet the same rules.
    related_session_date = forms.DateField(
        widget=forms.Select(), required=False, label="Related session",
        error_messages={"invalid": "Enter a real date as YYYY-MM-DD."},
    )  # fmt: skip
    product_lot_number = forms.CharField(
        required=False, max_length=60, label="Product lot number", widget=DatalistInput()
    )
    action_taken = forms.ChoiceField(
        choices=AdverseEvent.Action.choices,
        help_text="“Treatment stopped” holds the next session back until a clinician decides "
        "at a visit",
    )
    outcome = forms.ChoiceField(choices=AdverseEvent.Outcome.choices)
    meddra_code = forms.CharField(required=False, max_length=12, label="MedDRA code (optional)")
    meddra_version = forms.CharField(required=False, max_length=10, label="MedDRA version")

    def __init__(
        self,
        *args: Any,
        sessions: Sequence[SessionUse] = (),
        event: AdverseEvent | None = None,
        **kwargs: Any,
    ) -> None:
        """``sessions``: the patient's non-voided sessions (``selectors.session_uses``);
        ``event``: the event being changed, whose stored session stays offered even when
        that session was voided since (an unchanged value is not checked again).

        A posted session date that is not one of the choices (a tab left open while the
        session was voided, a hand-made request) stays offered and selected, so the service
        refuses it again until the user picks another: falling back to "none" would save
        the event without a session on the second click."""
        super().__init__(*args, **kwargs)
        if event is not None:
            self.fields["change_reason"] = forms.CharField(
                required=False,
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2}),
                label="Reason for the change",
                help_text="Needed when the change lowers the event (grade, term, seriousness, "
                "relatedness); kept in the history",
            )
        choices = session_link.session_choices(sessions)
        stored = event.related_session_date if event else None
        if stored is not None and stored.isoformat() not in dict(choices):
            choices.append((stored.isoformat(), f"{stored:%Y-%m-%d} · session voided since"))
        posted = self._posted_session_date()
        if posted.strip() and posted not in dict(choices):
            choices.append((posted, f"{posted.strip()} · no recorded session on this date"))
        choices.sort(reverse=True)
        date_field = self.fields["related_session_date"]
        assert isinstance(date_field.widget, forms.Select)
        date_field.widget.choices = [("", "— none —"), *choices]
        date_field.help_text = (
            "The patient's treatment sessions, with the lots used"
            if sessions
            else "No treatment session is recorded for this patient."
        )
        lot_field = self.fields["product_lot_number"]
        assert isinstance(lot_field.widget, DatalistInput)
        lot_field.widget.options = session_link.lot_choices(sessions)
        lot_field.help_text = (
            "A lot used in the related session, or in any of the patient's sessions when "
            "no session is named"
        )

    def _posted_session_date(self) -> str:
        """The related session date as posted ("" when unbound or not sent), unchanged so
        that the select shows it as the selected option."""
        if not self.is_bound:
            return ""
        raw = self.data.get(self.add_prefix("related_session_date"), "")
        return raw if isinstance(raw, str) else ""


class ScheduleForm(Form):
    first_session_date = forms.DateField(
        widget=DateInput(), error_messages={"invalid": "Enter a real date as YYYY-MM-DD."}
    )
    sessions_planned = forms.IntegerField(min_value=1, max_value=schedule.MAX_SESSIONS, initial=3)
    interval_weeks = FloatCommaField(initial=4, label="Weeks between sessions")
    follow_up_weeks = forms.CharField(
        initial="4,12,24,48", max_length=200, label="Follow-up visits (weeks)",
        help_text="Weeks after the first session, separated by commas",
    )  # fmt: skip
    protocol_key = forms.ChoiceField(
        required=False,
        label="Protocol followed",
        help_text="Sessions of this protocol's treatment count towards the course",
    )

    def __init__(self, *args, protocols: dict[str, str] | None = None, **kwargs) -> None:
        """``protocols``: the clinic's protocol key -> title (the service checks the key)."""
        super().__init__(*args, **kwargs)
        choices = sorted((protocols or {}).items(), key=lambda kv: kv[1])
        field = self.fields["protocol_key"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "— none —"), *choices]


# What a single appointment is for (stored as its label; the kind is "extra visit").
APPOINTMENT_PURPOSES = (
    ("Consultation", "Consultation"),
    ("Review visit", "Review visit"),
    ("Other", "Other (say what below)"),
)


class AppointmentForm(Form):
    due_date = forms.DateField(
        widget=DateInput(),
        label="Date",
        error_messages={"invalid": "Enter a real date as YYYY-MM-DD."},
    )
    purpose = forms.ChoiceField(choices=APPOINTMENT_PURPOSES, initial="Consultation")
    details = forms.CharField(
        required=False, max_length=80, label="Details (optional)",
        help_text="Shown on the agenda after the purpose, e.g. 'first consultation, PRP'",
    )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("purpose") == "Other" and not (data.get("details") or "").strip():
            self.add_error("details", "Say what the appointment is for.")
        return data

    def label(self) -> str:
        purpose = self.cleaned_data["purpose"]
        details = (self.cleaned_data.get("details") or "").strip()
        if purpose == "Other":
            return details
        return f"{purpose}: {details}" if details else purpose


class RescheduleForm(Form):
    due_date = forms.DateField(
        widget=DateInput(),
        label="New date",
        error_messages={"invalid": "Enter a real date as YYYY-MM-DD."},
    )
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    move_later = forms.BooleanField(
        required=False,
        label="Move the later visits of the course too",
        help_text="By as many days, so that the course keeps its order and spacing.",
    )


class EndCourseForm(Form):
    """End a course early: its planned visits are closed, with the reason."""

    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in each visit's history, e.g. 'plan cancelled: patient stopped'",
    )


class VisitStatusForm(Form):
    """Mark a planned appointment missed or cancelled (or planned again), with the reason."""

    status = forms.ChoiceField(
        choices=(
            ("missed", "Missed: the patient did not come"),
            ("cancelled", "Cancelled"),
            ("planned", "Planned again"),
        ),
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the appointment's history, e.g. 'patient called, unwell'",
    )


class DecisionForm(Form):
    sessions_done = forms.IntegerField(
        min_value=0, max_value=48,
        help_text="Sessions beyond the number planned are extra sessions added after a "
        "partial response; the proposal counts them against the clinic's maximum.",
    )  # fmt: skip
    sessions_planned = forms.IntegerField(min_value=1, max_value=schedule.MAX_SESSIONS)
    decision = forms.ChoiceField(choices=TreatmentDecision.PROPOSAL_CHOICES, label="Your decision")
    extra_sessions = forms.IntegerField(required=False, min_value=1, max_value=12)
    maintenance_interval_months = forms.IntegerField(required=False, min_value=1, max_value=36)
    rationale = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000,
        help_text="Required when the decision differs from the proposal",
    )  # fmt: skip


class VisitAmendForm(OpenedValuesForm, Form):
    """A visit's assessments and notes, corrected in place with a reason (services.
    amend_visit); what someone else changed meanwhile is kept or refused, not overwritten."""

    global_assessment = SevenPointField(
        "Investigator global photographic assessment", help_text="7-point scale vs baseline"
    )
    pull_test = forms.ChoiceField(choices=Visit.PullTest.choices)
    pull_test_hairs = _num("Pull test: hairs extracted", integer=True)
    pull_test_hairs_grasped = _num(
        "Pull test: hairs grasped", "Standard 40–60; more than 10 % out is positive", integer=True
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in HGQ_ITEMS:
            self.fields[name] = SevenPointField(label, HGQ_SCALES.get(name, HGQ_POINT))
        self.fields["notes"] = forms.CharField(
            required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
        )
        self.fields["reason"] = forms.CharField(
            max_length=500,
            label="Reason for the correction",
            help_text="Kept in the visit's history with the values before, e.g. “pull test "
            "entered as negative by mistake”.",
        )
        self.track_opened_values([n for n in self.fields if n != "reason"])


class MeasurementCorrectForm(OpenedValuesForm, Form):
    """A manual measurement's values, corrected in place with a reason (services.
    correct_measurement); what someone else corrected meanwhile is kept or refused."""

    target_area_cm2 = _num("Target area (cm²)", AREA_HELP)
    hair_count = _num("Hair count in target area", integer=True)
    density_per_cm2 = _num(
        "Density (hairs/cm²)", "Left empty with a count and an area, it is count ÷ area"
    )
    mean_diameter_um = _num("Mean diameter (µm)", "Plausible range 5–150 µm")
    terminal_pct = _num("Terminal hairs (%)")
    vellus_pct = _num("Vellus hairs (%)")
    anagen_pct = _num("Anagen hairs (%)")
    reason = forms.CharField(
        max_length=500,
        label="Reason for the correction",
        help_text="Kept in the measurement's history with the values before, e.g. “density "
        "typed as 0 instead of 160”.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.track_opened_values([n for n in self.fields if n != "reason"])


class SettingsForm(OpenedValuesForm, ModelForm):
    # In words, with the reason for each default (docs/monitoring.md, "Thresholds").
    LABELS = {
        "min_density_pct": "Least density gain that counts (%)",
        "response_density_pct": "Density gain that makes a response (%)",
        "min_diameter_um": "Least diameter gain that counts (µm)",
        "min_global": "Least global assessment that counts (+1 to +3)",
        "response_global": "Global assessment that makes a response (+1 to +3)",
        "stop_ae_grade": "Stop at a related adverse event of CTCAE grade (1–5)",
        "max_extra_sessions": "Most sessions added to a course",
        "maintenance_interval_months": "Maintenance interval (months)",
        "overdue_grace_days": "Days after the due date before a visit is overdue",
    }

    class Meta:
        model = MonitoringSettings
        fields = [*MonitoringSettings.THRESHOLD_FIELDS, "overdue_grace_days"]
        field_classes = {
            name: FloatCommaField
            for name in ("min_density_pct", "response_density_pct", "min_diameter_um")
        }
        help_texts = {
            "min_density_pct": "Below this, a change is within measurement noise (repeat "
            "phototrichograms vary by 2.6–9.8 %). Default 5.",
            "response_density_pct": "Twice the noise floor; about the mean gain of minoxidil "
            "5 %. Default 10.",
            "min_diameter_um": "The image analysis's diameter error target. Default 5.",
            "min_global": "Investigator 7-point global photographic assessment. Default +1.",
            "response_global": "Default +2.",
            "stop_ae_grade": "An event related (or not assessed) at or above this grade "
            "proposes stopping; grade 3 is 'severe'. Default 3.",
            "max_extra_sessions": "After a partial response, before proposing to switch or "
            "combine. Default 2.",
            "maintenance_interval_months": "Proposed for responders to injection courses. "
            "Default 6.",
            "overdue_grace_days": "Default 7.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in self.LABELS.items():
            self.fields[name].label = label


class AgendaFilterForm(Form):
    start = forms.DateField(required=False, widget=DateInput())
    end = forms.DateField(required=False, widget=DateInput())
    month = forms.RegexField(regex=r"^\d{4}-\d{2}$", required=False)
    view = forms.ChoiceField(choices=[("list", "List"), ("calendar", "Calendar")], required=False)

    def _in_window(self, name: str):
        value = self.cleaned_data.get(name)
        if value is not None:
            try:
                schedule.check_date_window(name, value, timezone.localdate())
            except schedule.ScheduleError as exc:
                raise forms.ValidationError(exc.message) from exc
        return value

    def clean_start(self):
        return self._in_window("start")

    def clean_end(self):
        return self._in_window("end")
