"""Outcomes pages. Thin: the form types the filters, selectors read, cohort.py decides."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from anagen.accounts.permissions import can, require_permission
from anagen.accounts.roles import Role
from anagen.core.http import ClinicRequest, query_without_page
from anagen.imaging import selectors as imaging_selectors
from anagen.monitoring.models import Measurement
from anagen.outcomes import cohort, comparison, progress, selectors
from anagen.outcomes.forms import CohortFilterForm, ComparisonFilterForm
from anagen.patients.models import Patient
from anagen.patients.selectors import log_listed_access, log_request_access


def is_deidentified(request: ClinicRequest) -> bool:
    """Researchers see de-identified analytics only (roles.py)."""
    return request.role == Role.RESEARCHER or not can(request, "progress.view")


@require_permission("progress.view")
@require_GET
def patient_progress(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = selectors.get_patient(request.clinic, patient_id)
    log_request_access(request, patient)
    result = selectors.patient_progress(patient)
    context = {
        "patient": patient,
        "progress": result,
        "measures": [(k, cohort.OUTCOMES[k]) for k in progress.MEASURES],
        "chart": progress.progress_chart_spec(result),
        "forecast_chart": progress.forecast_chart_spec(result),
        "within_noise_legend": progress.WITHIN_NOISE_LEGEND,
        "imaging_notes": imaging_selectors.accuracy_notes(
            patient, (r.visit_date for r in result.rows if r.source == Measurement.Source.IMAGING)
        ),
    }
    return render(request, "outcomes/progress.html", context)


@require_permission("cohort.view")
@require_GET
def cohort_view(request: ClinicRequest) -> HttpResponse:
    # One fingerprint and one read of the analysis tables per request (filter choices and
    # analysis share them). Stale allowed: while the analysis snapshot is rebuilt in the
    # background the page answers from the previous one, with a notice (view.freshness).
    fingerprint = selectors.data_fingerprint(request.clinic)
    tables = selectors.analysis_tables(request.clinic, allow_stale=True, fingerprint=fingerprint)
    choices = selectors.filter_choices(request.clinic, tables=tables)
    combinations = selectors.combination_choices(request.clinic, tables=tables)
    # The listing's page number is not a filter.
    query = request.GET.copy()
    page_number = query.pop("page", [None])[-1]
    form = CohortFilterForm(query or None, choices=choices, combinations=combinations)
    deidentified = is_deidentified(request)
    context: dict = {"form": form, "deidentified": deidentified, "small_cell": selectors.SMALL_CELL}
    status = 200
    if query and not form.is_valid():
        status = 400
        context["view"] = None
    else:
        if not query:
            form = CohortFilterForm(
                {"outcome": "density_per_cm2"}, choices=choices, combinations=combinations
            )
            form.is_valid()
            context["form"] = form
        view = selectors.cohort_analysis(
            request.clinic,
            form.filters(),
            form.options(),
            deidentified=deidentified,
            allow_stale=True,
            fingerprint=fingerprint,
            tables=tables,
        )
        r = view.result
        by_visit = r.sections.get("by_visit")
        listing = selectors.listing_page(request.clinic, view, page_number)
        if not deidentified:
            # The listing names the page's patients with their record numbers: who saw whom
            # is asked of it as of a record opened (study ids alone are not logged).
            log_listed_access(
                request,
                Patient.objects.filter(
                    clinic=request.clinic, pk__in=[p["patient_id"] for p in listing]
                ),
            )
        context.update(
            view=view,
            result=r,
            chart=(
                # A change's unit: a share changes in percentage points, not per cent.
                progress.cohort_chart_spec(
                    by_visit.data["rows"], r.outcome.change_unit, view.arm_labels
                )
                if by_visit is not None and by_visit.ok
                else None
            ),
            filters_text=form.described(),
            has_exosome_arm=any("exosome" in a.split("+") for a in r.arms),
            listing=listing,
            filter_query=query_without_page(request),
            can_open_patients=can(request, "progress.view") and not deidentified,
        )
    return render(request, "outcomes/cohort.html", context, status=status)


def _query_of(request: ClinicRequest, names: Iterable[str]) -> str:
    """The request's query string with only the parameters ``names``."""
    query = QueryDict(mutable=True)
    for name in names:
        if name in request.GET:
            query.setlist(name, request.GET.getlist(name))
    return query.urlencode()


@require_permission("cohort.view")
@require_GET
def comparison_view(request: ClinicRequest) -> HttpResponse:
    fingerprint = selectors.data_fingerprint(request.clinic)
    tables = selectors.analysis_tables(request.clinic, allow_stale=True, fingerprint=fingerprint)
    form = ComparisonFilterForm(
        request.GET or {"outcome": "density_per_cm2"},
        choices=selectors.filter_choices(request.clinic, tables=tables),
        combinations=[],
    )
    context: dict = {
        "form": form,
        "small_cell": selectors.SMALL_CELL,
        "small_n": cohort.SMALL_N,
        "endpoint_weeks": comparison.PUBLISHED_ENDPOINT_WEEKS,
        "profiles": [{"profile": p, "measured": []} for p in comparison.PROFILES],
        "result": None,
    }
    if not form.is_valid():
        return render(request, "outcomes/comparison.html", context, status=400)
    view = selectors.cohort_analysis(
        request.clinic,
        form.filters(),
        form.options(),
        deidentified=True,
        allow_stale=True,
        fingerprint=fingerprint,
        tables=tables,
    )
    r = view.result
    measured: dict[str, list[dict]] = {}
    by_visit = r.sections.get("by_visit")
    if by_visit is not None and by_visit.ok:
        for row in by_visit.data["rows"]:
            if row["week"] == r.landmark_week:
                for mod in row["arm"].split("+"):
                    measured.setdefault(mod, []).append(
                        {**row, "arm_label": view.arm_labels.get(row["arm"], row["arm"])}
                    )
    shown = {r["arm"]: r["n"] for rows in measured.values() for r in rows}
    context.update(
        # As on the cohort page: one patient's "mean change" is that patient's change.
        small_cells=sum(0 < n < selectors.SMALL_CELL for n in shown.values()),
        profiles=[{"profile": p, "measured": measured.get(p.key, [])} for p in comparison.PROFILES],
        result=r,
        filters_text=form.described(),
        # The same patients on the cohort page: only the filters this page took (another
        # page's parameters typed into the address would make that link a 400).
        cohort_query=_query_of(request, form.fields),
        untreated=measured.get("none", []),
        n_arms_shown=len(shown),
        freshness=view.freshness,
    )
    return render(request, "outcomes/comparison.html", context)
