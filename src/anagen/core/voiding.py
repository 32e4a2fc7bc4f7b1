"""The one page and flow for voiding a record entered in error (a reading, a session, a
visit's records): a reason is asked for, the app's service voids, and a refused reason comes
back on the page (400) with the error while nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from anagen.core.checks import Refusal
from anagen.core.forms import VoidReasonForm
from anagen.core.http import ClinicRequest


class Voidable(Protocol):
    @property
    def is_voided(self) -> bool: ...

    def refresh_from_db(self) -> None: ...


@dataclass(frozen=True)
class VoidTarget:
    record: Voidable
    label: str  # "reading", "adverse event": "This reading is already voided."
    description: str  # what the page shows the record as
    back: str  # where the page returns to, voided or not
    note: str = ""  # what else voiding does, said before the user confirms
    patient: Any = None  # the patient whose banner the page shows, if any
    # A yes/no question voiding asks as well (label, help text), passed to ``void`` as its
    # second argument: a session's "the vials were not used".
    option: tuple[str, str] | None = None


def void_page(request: ClinicRequest, target: VoidTarget, void: Callable[..., str]) -> HttpResponse:
    """Show the void form for ``target`` and, on a valid POST, call ``void(reason)`` (the
    app's service, which checks role and reason again and returns the message to show);
    ``void(reason, answer)`` when the target asks an ``option``."""
    already = f"This {target.label} is already voided."
    form = VoidReasonForm(request.POST or None)
    if target.option is not None:
        label, help_text = target.option
        form.fields["option"] = forms.BooleanField(required=False, label=label, help_text=help_text)
    if target.record.is_voided and request.method == "GET":
        # A stale tab or the back button: nothing to do here.
        messages.info(request, already)
        return redirect(target.back)
    if target.record.is_voided:
        form.is_valid()
        form.add_error(None, already)
    elif request.method == "POST" and form.is_valid():
        try:
            reason = form.cleaned_data["reason"]
            if target.option is None:
                done = void(reason)
            else:
                done = void(reason, form.cleaned_data["option"])
        except Refusal as exc:
            for field, msgs in exc.errors.items():
                for msg in msgs:
                    form.add_error(field if field in form.fields else None, msg)
            target.record.refresh_from_db()  # voided meanwhile in another tab: no second button
        else:
            messages.success(request, done)
            return redirect(target.back)
    context = {
        "already_voided": target.record.is_voided,
        "form": form,
        "patient": target.patient,
        "what": f"this {target.label}",
        "description": target.description,
        "note": target.note,
        "back": target.back,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "includes/void_page.html", context, status=status)
