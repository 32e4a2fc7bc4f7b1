"""Forms shared by several apps."""

from __future__ import annotations

from typing import Any

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


class FormRenderer(DjangoTemplates):
    """The project's form renderer (settings.FORM_RENDERER): every form gets ShownBoundField."""

    bound_field_class = ShownBoundField
