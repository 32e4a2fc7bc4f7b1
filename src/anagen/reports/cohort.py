"""Cohort report data: the outcomes module's cohort analysis (the same selectors, filters and
statistics as the outcomes cohort page), always de-identified, laid out for paper."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.http import QueryDict

from anagen.accounts.models import Clinic
from anagen.outcomes import selectors as outcomes
from anagen.outcomes.forms import CohortFilterForm


def filter_form(
    clinic: Clinic, data: QueryDict | dict | None, *, allow_stale: bool = False
) -> CohortFilterForm:
    """The outcomes cohort page's filter form, with the clinic's own choices (read from one
    load of the analysis tables; ``allow_stale``: the snapshot as it is, not rebuilt)."""
    tables = outcomes.analysis_tables(clinic, allow_stale=allow_stale)
    return CohortFilterForm(
        data or None,
        choices=outcomes.filter_choices(clinic, tables=tables),
        combinations=outcomes.combination_choices(clinic, tables=tables),
    )


def report_context(
    clinic: Clinic, form: CohortFilterForm, *, generated_at: datetime
) -> dict[str, Any]:
    """Analyse the cohort the (valid or unbound) form describes; no patient listing."""
    if not form.is_bound:
        form = filter_form(clinic, {"outcome": "density_per_cm2"})
    form.is_valid()
    view = outcomes.cohort_analysis(clinic, form.filters(), form.options(), deidentified=True)
    return {
        "clinic": clinic,
        "generated_at": generated_at,
        "view": view,
        "result": view.result,
        "filters_text": form.filters().describe(),
        "small_cell": outcomes.SMALL_CELL,
        "cells": outcomes.small_cells_hidden(
            view.result.sections, outcomes.SMALL_CELL, view.ae_sections
        ),
        "notes": shareable_notes(
            [*view.result.sections.values(), *view.ae_sections], outcomes.SMALL_CELL
        ),
        # The notice goes where exosome results are read, on the first page, not after them.
        "exosome_arms": [a for a in view.result.arms if "exosome" in a.split("+")],
    }


_SMALL_COUNT = re.compile(r"\b(?:only )?(\d+) (patient|session)s?\b")
_EVENTS_AMONG_OTHERS = re.compile(r"; \d+ of them were followed by an adverse event\.")


def shareable_text(text: str, small: int) -> str:
    """``text`` with every count of 1 to ``small`` - 1 patients or sessions worded as "fewer
    than ``small``": the PDF hides such cells, and its notes named them ("Topical minoxidil
    has only 1 patient at week 12"). How many sessions outside the table had an event is
    left out (it is not counted by patient, so it cannot be checked against the rule)."""

    def mask(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return f"fewer than {small} {m.group(2)}s" if 0 < n < small else m.group(0)

    return _SMALL_COUNT.sub(mask, _EVENTS_AMONG_OTHERS.sub(".", text))


def shareable_notes(sections: list[Any], small: int) -> dict[str, dict[str, Any]]:
    """Each section's message, warnings and missing-data note as the shared PDF prints them."""
    return {
        section.key: {
            "message": shareable_text(section.message, small),
            "warnings": [shareable_text(w, small) for w in section.warnings],
            "missing_data": shareable_text(section.missing_data, small),
        }
        for section in sections
    }
