"""Shared form behaviour: text too long is refused with the limit, never cut by the browser."""

from __future__ import annotations

from django import forms

from anagen.core.forms import VoidReasonForm


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
