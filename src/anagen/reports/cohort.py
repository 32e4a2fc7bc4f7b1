"""Cohort report data: the outcomes module's cohort analysis (the same selectors, filters and
statistics as the outcomes cohort page), always de-identified, laid out for paper."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.http import QueryDict

from anagen.accounts.models import Clinic
from anagen.outcomes import selectors as outcomes
from anagen.outcomes.cohort import arm_words
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
    small = outcomes.SMALL_CELL
    cells = outcomes.small_cells_hidden(view.result.sections, small, view.ae_sections)
    withheld = withheld_tables(cells)
    result = view.result
    # Once a cell is hidden, exact totals would give it back by subtraction (18 patients
    # match, the arms shown hold 6 and 7): they are given in bands of ``small``.
    band = bool(cells["n_hidden"])
    return {
        "clinic": clinic,
        "generated_at": generated_at,
        "view": view,
        "result": result,
        "filters_text": form.described(),
        "small_cell": small,
        "cells": cells,
        "withheld": withheld,
        "banded": band,
        "sizes": {
            "patients": shared_count(result.n_patients, small, band),
            "with_baseline": shared_count(result.n_with_baseline, small, band),
            "analysed": shared_count(result.n_analysed, small, band),
        },
        "model_sizes": _model_sizes(result.sections, small, band),
        "cohort_notes": [shareable_text(n, small, band=band) for n in result.notes],
        "notes": shareable_notes(
            [*result.sections.values(), *view.ae_sections],
            small,
            hidden_names(cells),
            withheld,
            band=band,
        ),  # fmt: skip
        # The notice goes where exosome results are read, on the first page, not after them.
        "exosome_arms": [a for a in view.result.arms if "exosome" in a.split("+")],
    }


# The adverse-event tables by product and by lot split the sessions of the table above them
# (by modality, by product): with one row hidden, the rows shown subtract from the row above
# to give it back. Such a table is left out whole.
_SPLITS_A_TABLE_ABOVE = ("ae_product", "ae_lot")


def withheld_tables(cells: dict[str, Any]) -> set[str]:
    """The adverse-event tables the shared PDF leaves out whole: those splitting a table
    above them that have a hidden row. A product of few patients has lots of few patients,
    so a withheld product table withholds the lot table too."""
    ae = cells["ae"]
    out = {k for k in _SPLITS_A_TABLE_ABOVE if any(r["hidden"] for r in ae.get(k, []))}
    if "ae_product" in out and "ae_lot" in ae:
        out.add("ae_lot")
    return out


def _model_sizes(sections: dict[str, Any], small: int, band: bool) -> dict[str, str]:
    """The models' patient and observation counts as the shared PDF prints them (an exact
    ANCOVA total less the arms shown gave a hidden arm's size)."""
    out = {}
    for key, field in (("ancova", "n_used"), ("mmrm", "n_subjects"), ("mmrm", "n_observations")):
        section = sections.get(key)
        if section is not None and section.ok and field in section.data:
            out[f"{key}_{field}"] = shared_count(int(section.data[field]), small, band)
    return out


def hidden_names(cells: dict[str, Any]) -> dict[str, set[str]]:
    """Per section, the names (arms in words, products, lots) of rows not shown: the notes
    under a table must not give their sessions or patients ("UC-2605-H has only 9
    sessions")."""
    names: dict[str, set[str]] = {}
    for key in ("responders", "ancova"):
        names[key] = {arm_words(r["arm"]) for r in cells[key] if r["hidden"]}
    for key, rows in cells["ae"].items():
        names[key] = {str(r["group"]) for r in rows if r["hidden"]}
    return names


def shared_count(n: int, small: int, band: bool) -> str:
    """A count as the shared PDF prints it: "fewer than 5" below ``small``, and in bands of
    ``small`` ("15 to 19") when ``band``."""
    if 0 < n < small:
        return f"fewer than {small}"
    if band and n:
        low = n // small * small
        return f"{low} to {low + small - 1}"
    return str(n)


_SMALL_COUNT = re.compile(
    # Not a rule's threshold ("cells with fewer than 10 patients are marked"): a count.
    r"(?<!fewer than )(?<!at least )(?<!under )\b(?:only )?(\d+) (patient|session|subject)s?\b"
    r"( (?:also )?(?:matches|match|has|have)\b)?"
)
# A masked count is plural ("fewer than 5 patients"), and so is its verb.
_PLURAL_VERB = {"matches": "match", "has": "have"}
_EVENTS_AMONG_OTHERS = re.compile(r"; \d+ of them were followed by an adverse event\.")
# "18 of 50 to 54 patients": the part of a banded count, banded too.
_COUNT_OF_BANDED = re.compile(
    r"\b(\d+) of (?=(?:fewer than \d+|\d+ to \d+) (?:patient|session|subject)s)"
)
_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Z0-9])")
# "52 of 52 analysed follow-up visits": with the visits per patient, the exact total gave the
# patients back, hidden arm and all (researcher review).
_VISITS_OF = re.compile(r"\b(\d+) of (\d+) (analysed follow-up visits)\b")


def shareable_text(text: str, small: int, *, band: bool = False) -> str:
    """``text`` with every count of 1 to ``small`` - 1 patients or sessions worded as "fewer
    than ``small``" (and, with ``band``, larger ones in bands): the PDF hides such cells, and
    its notes named them ("Topical minoxidil has only 1 patient at week 12"). How many
    sessions outside the table had an event is left out (it is not counted by patient, so it
    cannot be checked against the rule)."""

    def mask(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if 0 < n < small or (band and n):
            verb = m.group(3) or ""
            last = verb.rsplit(" ", 1)[-1]
            verb = verb.removesuffix(last) + _PLURAL_VERB.get(last, last) if verb else ""
            return f"{shared_count(n, small, band)} {m.group(2)}s{verb}"
        return m.group(0)

    text = _SMALL_COUNT.sub(mask, _EVENTS_AMONG_OTHERS.sub(".", text))
    if band:
        text = _COUNT_OF_BANDED.sub(
            lambda m: f"{shared_count(int(m.group(1)), small, band)} of ", text
        )
        text = _VISITS_OF.sub(
            lambda m: (
                f"{shared_count(int(m.group(1)), small, band)} of "
                f"{shared_count(int(m.group(2)), small, band)} {m.group(3)}"
            ),
            text,
        )
    return text


def _without_names(text: str, names: set[str]) -> str:
    """``text`` without the sentences that name any of ``names``."""
    if not names:
        return text
    kept = [t for t in _SENTENCE_END.split(text) if not any(n in t for n in names)]
    return " ".join(kept)


def shareable_notes(
    sections: list[Any],
    small: int,
    hidden: dict[str, set[str]] | None = None,
    withheld: Collection[str] = (),
    *,
    band: bool = False,
) -> dict[str, dict[str, Any]]:
    """Each section's message, warnings and missing-data note as the shared PDF prints them:
    counts masked, notes naming a hidden row left out, a withheld table's warnings too."""
    hidden = hidden or {}
    out = {}
    for section in sections:
        names = hidden.get(section.key, set())
        warnings = [] if section.key in withheld else section.warnings

        def shared(text: str, names: set[str] = names) -> str:
            return shareable_text(_without_names(text, names), small, band=band)

        out[section.key] = {
            "message": shared(section.message),
            "warnings": [w for w in (shared(w) for w in warnings) if w],
            "missing_data": shared(section.missing_data),
        }
    return out


# What a withheld row keeps: what names it (arm, week, group), not what it measured.
_ROW_NAMES = frozenset({"arm", "reference_arm", "week", "visit", "group"})


def _withhold(rows: list[dict[str, Any]], hidden: list[bool]) -> list[dict[str, Any]]:
    """``rows`` each marked ``hidden``, a hidden row's figures (its n too) set to None."""
    out = []
    for row, flag in zip(rows, hidden, strict=True):
        kept = {k: (v if k in _ROW_NAMES else None) for k, v in row.items()} if flag else row
        out.append({**kept, "hidden": flag})
    return out


def shareable_summary(view: outcomes.CohortView) -> dict[str, Any]:
    """The cohort summary as the API gives it to de-identified readers: the shared report's
    rule (``small_cells_hidden``). An API answer is a copy taken out of the page, so each
    result resting on 1 to SMALL_CELL - 1 patients is marked ``hidden`` and its figures are
    withheld; the adjusted means of an arm that small too, and notes naming or counting
    such a cell are worded as in the PDF. With a result hidden, the totals are withheld as
    the PDF bands them: ``banded_totals`` gives them in bands of SMALL_CELL, and the models'
    sizes and degrees of freedom (n less their parameters) are null, since exact totals less
    the arms shown gave a hidden arm's size back."""
    small = outcomes.SMALL_CELL
    out = view.to_dict()
    cells = outcomes.small_cells_hidden(view.result.sections, small, view.ae_sections)
    withheld = withheld_tables(cells)
    band = bool(cells["n_hidden"])
    sections = out["sections"]
    for key, field in (
        ("by_visit", "rows"),
        ("responders", "rows"),
        ("ancova", "contrasts"),
        ("mmrm", "contrasts"),
    ):
        if cells[key]:
            data = sections[key]["data"]
            data[field] = _withhold(data[field], [r["hidden"] for r in cells[key]])
    n_at = {(r["arm"], r["week"]): r["n"] for r in cells["by_visit"]}
    ancova = sections.get("ancova")
    if ancova and ancova["ok"]:
        data = ancova["data"]
        n_arm = dict(zip(data["arms"], data["n_per_arm"], strict=True))
        data["n_per_arm"] = [None if 0 < n < small else n for n in data["n_per_arm"]]
        data["lsmeans"] = _withhold(
            data["lsmeans"], [0 < n_arm.get(x["arm"], 0) < small for x in data["lsmeans"]]
        )
    mmrm = sections.get("mmrm")
    if mmrm and mmrm["ok"]:
        data = mmrm["data"]
        # Its note says "fewer than 5 subjects with missing visits"; the number, not less.
        if 0 < (data.get("n_incomplete_subjects") or 0) < small:
            data["n_incomplete_subjects"] = None
        data["lsmeans"] = _withhold(
            data["lsmeans"],
            [0 < n_at.get((x["arm"], x["week"]), 0) < small for x in data["lsmeans"]],
        )
    for section in out["adverse_events"]:
        rows = cells["ae"].get(section["key"])
        if rows:
            whole = section["key"] in withheld  # its rows subtract to the hidden row above
            flags = [whole or r["hidden"] for r in rows]
            section["data"]["rows"] = _withhold(section["data"]["rows"], flags)
    if band:
        _withhold_totals(out, sections, small)
    notes = shareable_notes(
        [*view.result.sections.values(), *view.ae_sections],
        small,
        hidden_names(cells),
        withheld,
        band=band,
    )
    for section in [*sections.values(), *out["adverse_events"]]:
        section.update(notes.get(section["key"], {}))
    out["notes"] = [shareable_text(n, small, band=band) for n in out["notes"]]
    return out


_TOTALS = ("n_patients", "n_with_baseline", "n_analysed")
# Per model, the sizes that less the arms shown give a hidden arm's size back.
_MODEL_SIZES = {"ancova": ("n_used", "df_residual"), "mmrm": ("n_subjects", "n_observations")}


def _withhold_totals(out: dict[str, Any], sections: dict[str, Any], small: int) -> None:
    """With a result hidden, the answer's exact totals as the shared PDF treats them: the
    cohort's in bands (``banded_totals``), the models' sizes and degrees of freedom null."""
    out["banded_totals"] = {k: shared_count(out[k], small, True) for k in _TOTALS}
    for key in _TOTALS:
        out[key] = None
    for key, fields in _MODEL_SIZES.items():
        section = sections.get(key)
        if not (section and section["ok"]):
            continue
        data = section["data"]
        for field in fields:
            if field in data:
                data[field] = None
        for row in [*data.get("lsmeans", []), *data.get("contrasts", [])]:
            if "df" in row:
                row["df"] = None
