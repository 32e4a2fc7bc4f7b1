"""Cohort report data: the outcomes module's cohort analysis (the same selectors, filters and
statistics as the outcomes cohort page), always de-identified, laid out for paper."""

from __future__ import annotations

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
        # The notice goes where exosome results are read, on the first page, not after them.
        "exosome_arms": [a for a in view.result.arms if "exosome" in a.split("+")],
    }
