"""Forms shared by several apps."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.forms.boundfield import BoundField
from django.forms.renderers import DjangoTemplates


class VoidReasonForm(forms.Form):
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

    def value(self) -> Any:
        value = super().value()
        if isinstance(value, str):
            return value.replace("\x00", "\ufffd")
        if isinstance(value, list | tuple):
            return [v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in value]
        return value

    def _has_changed(self) -> bool:
        # A form opened before its fields carried their opened value (or sent by a script)
        # has no "initial-" input: compared with the stored value, as before.
        if self.field.show_hidden_initial and self.html_initial_name not in self.form.data:
            return bool(self.field.has_changed(self.initial, self.data))
        return bool(super()._has_changed())  # type: ignore[misc]  # not in django-stubs

    @property
    def opened_input(self) -> str:
        """The hidden input with the value the field had when the form was opened (Django
        adds it to ``{{ field }}``, not to ``{{ field.as_widget }}``, used beside errors)."""
        if not self.field.show_hidden_initial:
            return ""
        return str(self.as_hidden(only_initial=True))


class OpenedValuesForm(forms.BaseForm):
    """An edit form that knows each field's value when it was opened (a hidden "initial-"
    input): ``changed_data`` is then what this person changed, so a save does not put back
    what someone else changed meanwhile in another field (a lost update). A field both
    changed, to different values, is refused with the other value named (``refuse_conflicts``).
    """

    def track_opened_values(self, names: list[str] | None = None) -> None:
        for name in names if names is not None else list(self.fields):
            self.fields[name].show_hidden_initial = True

    def refuse_conflicts(self) -> bool:
        """Add an error to each field changed here and, differently, elsewhere since the form
        was opened; the field's opened value becomes the stored one, so saving again after
        a look keeps what is then shown. True when there was a conflict."""
        conflicts = []
        for name in self.changed_data:
            bound, field = self[name], self.fields[name]
            if not field.show_hidden_initial or bound.html_initial_name not in self.data:
                continue
            opened = field.hidden_widget().value_from_datadict(
                self.data, self.files, bound.html_initial_name
            )
            stored = bound.initial
            if field.has_changed(stored, opened) and field.has_changed(stored, bound.data):
                conflicts.append((name, bound, field, stored))
        if not conflicts:
            return False
        data = cast(Any, self.data).copy()  # a QueryDict (immutable) or a dict
        for name, bound, field, stored in conflicts:
            shown = field.prepare_value(stored)
            self.add_error(
                name,
                "Changed by someone else since you opened this page (now: "
                f"“{'—' if shown in (None, '') else shown}”). Check the value and save again.",
            )
            data[bound.html_initial_name] = "" if shown is None else str(shown)
        self.data = data
        return True


class FormRenderer(DjangoTemplates):
    """The project's form renderer (settings.FORM_RENDERER): every form gets ShownBoundField."""

    bound_field_class = ShownBoundField
