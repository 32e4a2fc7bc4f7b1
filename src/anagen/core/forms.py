"""Forms shared by several apps."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from django.forms.renderers import DjangoTemplates
from django.utils.html import format_html

from anagen.core.checks import hidden_text_problem
from anagen.core.text import decimal_comma


class TextCheckedForm(forms.BaseForm):
    """Refuses, in every field, text holding a control character or a bidirectional override
    (core.checks.hidden_text_problem; line breaks and tabs are kept): an escape sequence or a
    right-to-left override in a void reason, a token name or a note was stored verbatim and
    shown so in the audit trail and CSV exports. Passwords are left to their own checks."""

    def _clean_fields(self) -> None:
        super()._clean_fields()  # type: ignore[misc]  # not in django-stubs
        for name, field in self.fields.items():
            value = self.cleaned_data.get(name)
            if isinstance(field.widget, forms.PasswordInput):
                continue
            texts = value if isinstance(value, list | tuple) else [value]
            for text in texts:
                if isinstance(text, str) and (problem := hidden_text_problem(text)):
                    self.add_error(name, problem)
                    break


class Form(TextCheckedForm, forms.Form):
    """The project's form: every app's forms derive from it (or from ModelForm)."""


class ModelForm(TextCheckedForm, forms.ModelForm):
    """The project's model form (see Form)."""


class VoidReasonForm(Form):
    """The reason for voiding a record entered in error (the services check it again)."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        min_length=5,
        max_length=1000,
        error_messages={
            "required": "Give the reason for voiding (at least 5 characters).",
            "min_length": "Give the reason for voiding (at least 5 characters).",
        },
        help_text="Why this entry is void (for example: wrong patient, typing error).",
    )


def form_field[F: forms.Field](form: forms.BaseForm, name: str, kind: type[F]) -> F:
    """``form``'s field ``name`` as a ``kind`` (so its choices or queryset can be set)."""
    field = form.fields[name]
    if not isinstance(field, kind):
        raise TypeError(f"{name} is not a {kind.__name__}")
    return field


class ShownBoundField(BoundField):
    """A field whose value is shown back without NUL characters. Django refuses them (a field
    error), but the form sent back with that error would carry them into the page, where a NUL
    is not allowed in HTML: each is shown as U+FFFD, the replacement character, instead.

    Text inputs carry no ``maxlength``: a browser silently cuts pasted text at that length, and
    the person saves a note or name they never read in full. The form refuses text that is too
    long instead, naming the limit, and gives the whole text back to shorten.
    """

    def build_widget_attrs(self, attrs: dict[str, Any], widget: Any = None) -> dict[str, Any]:
        attrs = super().build_widget_attrs(attrs, widget)
        attrs["maxlength"] = False  # Django's attrs template leaves out False attributes
        return attrs

    def as_widget(self, widget: Any = None, attrs: Any = None, only_initial: bool = False) -> Any:
        # Numbers are typed into text boxes with a number keypad, not <input type="number">:
        # a browser set to English reads "4,5" there as 45 (a thousands separator) and sends
        # that, so a temperature of 4,5 °C was stored as 45 °C and "2,5" vials as 25. As text,
        # the form sees what was typed and refuses what is not a number.
        widget = widget or self.field.widget
        if isinstance(widget, forms.NumberInput):
            widget = number_as_text(widget, self.field)
        return super().as_widget(widget, attrs, only_initial)

    def value(self) -> Any:
        value = super().value()
        if isinstance(value, str):
            return value.replace("\x00", "\ufffd")
        if isinstance(value, list | tuple):
            return [v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in value]
        return value

    # --- the value a field had when its edit form was opened (OpenedValuesForm) -------------

    @property
    def tracked(self) -> bool:
        return bool(getattr(self.field, "track_opened", False))

    @property
    def opened_name(self) -> str:
        return f"{OPENED_PREFIX}{self.html_name}"

    def opened_sent(self) -> tuple[bool, Any]:
        """(whether the form sent the field's opened value, that value as sent)."""
        data = self.form.data
        if self.opened_name not in data:
            return False, None
        try:
            return True, json.loads(data[self.opened_name])
        except (TypeError, ValueError):
            return False, None

    def _has_changed(self) -> bool:
        # Against the value when opened, not the stored one: someone else's change since is
        # not this person's. A page from before its fields carried the opened value (or a
        # script) sends none: compared with the stored value, as before.
        if self.tracked:
            sent, opened = self.opened_sent()
            if sent:
                try:
                    opened = self.field.to_python(opened)
                except (ValidationError, TypeError, AttributeError, ValueError):
                    # Not a value this field could have shown (a page tampered with: a
                    # number where a date was): taken as changed, never a 500.
                    return True
                return bool(self.field.has_changed(opened, self.data))
        return bool(super()._has_changed())  # type: ignore[misc]  # not in django-stubs

    @property
    def opened_input(self) -> str:
        """A hidden input with the value the field had when the form was opened, as JSON
        (an empty list too, for which Django's own hidden initial renders nothing). Sent
        back, it is kept; a page opened without it gets the stored value."""
        if not self.tracked:
            return ""
        sent, opened = self.opened_sent()
        if not sent:
            opened = plain_value(self.field.prepare_value(self.initial))
        return format_html(
            '<input type="hidden" name="{}" value="{}">', self.opened_name, json.dumps(opened)
        )


OPENED_PREFIX = "opened-"


def number_as_text(widget: forms.NumberInput, field: forms.Field) -> forms.TextInput:
    """A text box in place of a number input, with the phone's number pad where the number
    cannot be negative (the pads have no minus sign: a freezer's −80 °C needs the keyboard).
    The field's range and step are checked on the server, with a message."""
    kept = {k: v for k, v in widget.attrs.items() if k not in ("min", "max", "step")}
    low = getattr(field, "min_value", None)
    if low is not None and low >= 0 and "inputmode" not in kept:
        # (Django's DecimalField and FloatField are IntegerFields too.)
        whole = not isinstance(field, forms.DecimalField | forms.FloatField)
        kept["inputmode"] = "numeric" if whole else "decimal"
    text = forms.TextInput(attrs=kept)
    text.is_required = widget.is_required
    return text


def plain_value(value: Any) -> Any:
    """A field's prepared value as JSON can hold it (dates as ISO text, numbers as text)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(getattr(value, "pk", value))


def shown_value(field: forms.Field, value: Any) -> str:
    """A stored value as the page shows it: choice labels, not keys; "—" for nothing."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "" or value == []:
        return "—"
    labels = {str(k): str(v) for k, v in getattr(field, "choices", []) or []}
    items = value if isinstance(value, list | tuple) else [value]
    return ", ".join(labels.get(str(plain_value(v)), str(plain_value(v))) for v in items)


class OpenedValuesForm(forms.BaseForm):
    """An edit form that knows each field's value when it was opened (a hidden "opened-"
    input, see ShownBoundField): ``changed_data`` is then what this person changed, so a save
    does not put back what someone else changed meanwhile in another field (a lost update).
    A field both changed, to different values, is refused naming the stored value
    (``refuse_conflicts``)."""

    def track_opened_values(self, names: list[str] | None = None) -> None:
        for name in names if names is not None else list(self.fields):
            self.fields[name].track_opened = True  # type: ignore[attr-defined]

    def changed_elsewhere(self) -> list[str]:
        """The labels of the tracked fields whose stored value is no longer the one the form
        was opened with: someone else saved the record meanwhile."""
        out = []
        for name, field in self.fields.items():
            if not getattr(field, "track_opened", False):
                continue
            bound = cast(ShownBoundField, self[name])
            sent, opened = bound.opened_sent()
            if sent and _differs(field, bound.initial, opened):
                out.append(str(bound.label))
        return out

    def refuse_conflicts(self) -> bool:
        """Add an error to each field changed here and, differently, by someone else since
        the form was opened; its opened value becomes the stored one, so that saving again
        after a look keeps what this person then sends. True when there was a conflict."""
        conflicts = []
        for name in self.changed_data:
            bound, field = self[name], self.fields[name]
            sent, opened = cast(ShownBoundField, bound).opened_sent()
            if not sent or not getattr(field, "track_opened", False):
                continue
            stored = bound.initial
            if _differs(field, stored, opened) and field.has_changed(stored, bound.data):
                conflicts.append((name, field, stored))
        if not conflicts:
            return False
        data = cast(Any, self.data).copy()  # a QueryDict (immutable) or a dict
        for name, field, stored in conflicts:
            self.add_error(
                name,
                f"Changed by someone else since you opened this page (now: "
                f"“{shown_value(field, stored)}”). Check the value and save again.",
            )
            data[f"{OPENED_PREFIX}{self.add_prefix(name)}"] = json.dumps(
                plain_value(field.prepare_value(stored))
            )
        # The fields someone else changed and this person did not are shown as now stored
        # (and taken as opened so), not as they were when the page was opened.
        for name, field in self.fields.items():
            if name in self.changed_data or not getattr(field, "track_opened", False):
                continue
            bound = self[name]
            sent, opened = cast(ShownBoundField, bound).opened_sent()
            if sent and _differs(field, bound.initial, opened):
                _put_value(data, self.add_prefix(name), field, bound.initial)
                data[f"{OPENED_PREFIX}{self.add_prefix(name)}"] = json.dumps(
                    plain_value(field.prepare_value(bound.initial))
                )
        self.data = data
        return True


def _differs(field: forms.Field, stored: Any, opened: Any) -> bool:
    """Whether the stored value is no longer the opened one (``opened`` as its JSON input
    holds it), compared as the page writes them: a float stored, its text opened."""

    def key(value: Any) -> Any:
        value = plain_value(value)
        if isinstance(value, list):
            return sorted(str(v) for v in value)
        return "" if value is None else str(value)

    return bool(key(field.prepare_value(stored)) != key(opened))


def _put_value(data: Any, key: str, field: forms.Field, stored: Any) -> None:
    """``stored`` into form data as its widget would send it."""
    value = plain_value(field.prepare_value(stored))
    if isinstance(field.widget, forms.CheckboxInput):
        if value:
            data[key] = "on"
        else:
            data.pop(key, None)
        return
    values = ["" if v is None else str(v) for v in (value if isinstance(value, list) else [value])]
    if hasattr(data, "setlist"):
        data.setlist(key, values)
    else:
        data[key] = values if isinstance(value, list) else values[0]


class DecimalCommaField(forms.DecimalField):
    """A decimal that may be typed with a decimal comma ("1,5"), see text.decimal_comma."""

    def to_python(self, value: Any) -> Any:
        return super().to_python(decimal_comma(value) if isinstance(value, str) else value)


class FloatCommaField(forms.FloatField):
    """A number that may be typed with a decimal comma ("1,5"), see text.decimal_comma."""

    def to_python(self, value: Any) -> Any:
        return super().to_python(decimal_comma(value) if isinstance(value, str) else value)


class FormRenderer(DjangoTemplates):
    """The project's form renderer (settings.FORM_RENDERER): every form gets ShownBoundField."""

    bound_field_class = ShownBoundField
