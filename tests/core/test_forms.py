"""Shared form behaviour: text too long is refused with the limit, never cut by the browser;
numbers are typed as text, so the browser never turns "4,5" into 45."""

from __future__ import annotations

import pytest
from django import forms

from anagen.core.forms import Form, OpenedValuesForm, VoidReasonForm


class _NameForm(forms.Form):
    name = forms.CharField(max_length=10)
    notes = forms.CharField(max_length=20, widget=forms.Textarea)


def test_text_inputs_carry_no_maxlength_for_the_browser_to_cut_pasted_text_at():
    html = str(_NameForm())
    assert 'name="name"' in html and 'name="notes"' in html
    assert "maxlength" not in html


def test_text_over_the_limit_is_refused_naming_the_limit_and_given_back_whole():
    long_name = "Storage room B, second freezer"
    form = _NameForm({"name": long_name, "notes": ""})
    assert not form.is_valid()
    (error,) = form.errors["name"]
    assert "at most 10 characters" in error and f"it has {len(long_name)}" in error
    assert f'value="{long_name}"' in str(form["name"])


def test_the_void_reason_form_alone_refuses_it_too():
    form = VoidReasonForm({"reason": "x" * 1001})
    assert not form.is_valid() and "at most 1000 characters" in form.errors["reason"][0]


class _ReadingForm(forms.Form):
    temperature_c = forms.DecimalField(max_digits=5, decimal_places=1, label="Temperature")
    vials = forms.IntegerField(min_value=1, max_value=1000)
    depth_mm = forms.DecimalField(min_value=0, max_value=10, required=False)


def test_numbers_are_text_boxes_so_the_browser_cannot_read_a_comma_as_thousands():
    """Chromium in English takes "4,5" typed into <input type=number> as 45 and sends that."""
    html = str(_ReadingForm())
    assert 'type="number"' not in html
    assert html.count('type="text"') == 3
    assert "min=" not in html and "max=" not in html and "step=" not in html


def test_the_number_pad_is_offered_only_where_the_number_cannot_be_negative():
    form = _ReadingForm()
    assert "inputmode" not in str(form["temperature_c"])  # −80 °C needs the minus key
    assert 'inputmode="numeric"' in str(form["vials"])
    assert 'inputmode="decimal"' in str(form["depth_mm"])


def test_a_comma_reaches_the_form_and_is_refused_not_stored_as_ten_times_the_value():
    form = _ReadingForm({"temperature_c": "4,5", "vials": "2,5", "depth_mm": ""})
    assert not form.is_valid()
    assert form.errors["temperature_c"] == ["Enter a number."]
    assert form.errors["vials"] == ["Enter a whole number."]
    assert 'value="4,5"' in str(form["temperature_c"])  # given back as typed, to correct


def _typed_number_fields() -> list[tuple[str, str, forms.Field]]:
    """(form, field, field) for every fraction field of the app's forms."""
    import importlib
    import importlib.util
    import inspect
    import pkgutil

    import anagen

    found = []
    for app in pkgutil.iter_modules(anagen.__path__):
        if not app.ispkg or importlib.util.find_spec(f"anagen.{app.name}.forms") is None:
            continue
        module = importlib.import_module(f"anagen.{app.name}.forms")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, forms.BaseForm):
                continue
            for field_name, field in getattr(cls, "base_fields", {}).items():
                if isinstance(field, forms.FloatField | forms.DecimalField):
                    found.append((f"{module.__name__}.{name}", field_name, field))
    return found


def test_every_fraction_a_person_types_takes_a_decimal_comma():
    """A tablet set to a comma-decimal language has no point on its number pad: "10,5" in a
    SALT region or "2,5" weeks between sessions was refused with "Enter a number." while the
    session form read it (review)."""
    from anagen.core.forms import DecimalCommaField, FloatCommaField

    fields = _typed_number_fields()
    names = {f"{form}.{name}" for form, name, _ in fields}
    # The search finds the forms (a rename would otherwise leave this test checking nothing).
    assert "anagen.assessment.forms.ExamForm.salt_top" in names
    assert "anagen.products.forms.ProductEditForm.volume_ml" in names
    plain = [
        f"{form}.{name}"
        for form, name, field in fields
        if not isinstance(field, FloatCommaField | DecimalCommaField)
    ]
    assert plain == []


def test_a_decimal_comma_is_read_as_a_point_in_an_exam_and_a_plan():
    from anagen.assessment.forms import ExamForm, PlanForm

    exam = ExamForm({"salt_top": "10,5"})
    exam.is_valid()
    assert "salt_top" not in exam.errors and exam.cleaned_data["salt_top"] == 10.5
    plan = PlanForm({"interval_weeks": "2,5"})
    plan.is_valid()
    assert "interval_weeks" not in plan.errors and plan.cleaned_data["interval_weeks"] == 2.5
    # Three digits after the comma may be thousands: refused, not guessed.
    thousands = PlanForm({"interval_weeks": "2,500"})
    assert not thousands.is_valid() and thousands.errors["interval_weeks"] == ["Enter a number."]


class _NotesForm(Form):
    title = forms.CharField(required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea)
    password = forms.CharField(required=False, widget=forms.PasswordInput)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("notes", "wrong \x1b[31mpatient", "U+001B"),
        ("notes", "ring\x07", "U+0007"),
        ("title", "lot 1234\u202e", "U+202E"),
        ("title", "\u2066isolate\u2069", "U+2066, U+2069"),
    ],
)
def test_every_form_refuses_control_characters_and_bidi_overrides_naming_the_field(
    field, value, code
):
    """Stored verbatim, an escape sequence or a right-to-left override garbled or disguised
    the text in the audit trail and CSV exports."""
    form = _NotesForm({field: value})
    assert not form.is_valid()
    assert form.errors[field] == [f"Remove the control or invisible character(s) {code}."]
    assert field not in form.cleaned_data


def test_line_breaks_and_tabs_stay_allowed_and_passwords_are_left_alone():
    form = _NotesForm({"notes": "line 1\r\n\tline 2", "password": "pass\x1bword"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["notes"] == "line 1\r\n\tline 2"


def test_every_form_of_the_project_derives_from_the_checked_form():
    """A form built on Django's own Form would store control characters again."""
    import importlib
    import inspect

    from django.contrib.auth.forms import AuthenticationForm

    from anagen.core.forms import TextCheckedForm

    found = 0
    for app in ("accounts", "assessment", "imaging", "interop", "monitoring", "outcomes",
                "patients", "products", "treatments", "core"):  # fmt: skip
        module = importlib.import_module(f"anagen.{app}.forms")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, forms.BaseForm) or cls.__module__ != module.__name__:
                continue
            if cls in (TextCheckedForm, OpenedValuesForm) or issubclass(cls, AuthenticationForm):
                continue  # a mixin; the sign-in form reads only a username and password
            assert issubclass(cls, TextCheckedForm), f"{module.__name__}.{name}"
            found += 1
    assert found > 50
