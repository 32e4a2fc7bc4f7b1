"""Outcomes: patient progress, cohort analytics, treatment comparison (API).

Read-only. The cohort summary is aggregate data: for researchers (and anyone without
``progress.view``) it carries no patient-level rows at all; the numbers are the same as on
the cohort page because both call ``outcomes.selectors.cohort_analysis``.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import QueryDict
from ninja import Field, Query, Router, Schema

from anagen.accounts.models import Clinic
from anagen.accounts.roles import Role, allowed
from anagen.api.auth import guard
from anagen.api.errors import refuse
from anagen.core.http import ClinicRequest
from anagen.outcomes import selectors
from anagen.outcomes.forms import CohortFilterForm
from anagen.patients.selectors import log_request_access
from anagen.reports.cohort import filter_form, shareable_summary
from anagen.simulation.treatments import models_exosome

# Given wherever an answer concerns exosome treatment, as the pages show the clinic's notice.
INVESTIGATIONAL_NOTICE = (
    "Investigational product: exosome products are not approved for hair loss in most "
    "jurisdictions. These figures are measurements, not evidence that the treatment works."
)

router = Router(tags=["outcomes"])

OutcomeKey = Literal[
    "density_per_cm2",
    "hair_count",
    "mean_diameter_um",
    "terminal_pct",
    "vellus_pct",
    "anagen_pct",
    "cumulative_thickness_mm_per_cm2",
]


class CohortQuery(Schema):
    """The cohort filters as on /outcomes/cohort/, all optional: the same for the cohort summary
    and the cohort PDF, so a value one accepts the other does too."""

    outcome: OutcomeKey = "density_per_cm2"
    modality: list[str] = Field(
        default_factory=list, max_length=10, description="Patients who received all of these"
    )
    combination: str = Field(
        "", max_length=100, description="Exact combination, e.g. prp+minoxidil"
    )
    diagnosis: str = Field("", max_length=40)
    # As the page offers it, after its scale's name: "Norwood–Hamilton IIIv" is 21 characters.
    stage: str = Field(
        "",
        max_length=40,
        description="Stage after its scale's name, e.g. Norwood–Hamilton III, Ludwig II",
    )
    sex: str = Field("", max_length=10)
    age_band: str = Field("", max_length=10, description="<30, 30-39, 40-49, 50-59, 60+")
    product: str = Field("", max_length=20, description="Product id")
    lot: str = Field("", max_length=20, description="Lot id")
    protocol: str = Field("", max_length=60, description="Protocol template key")
    threshold: float | None = Field(
        None, ge=-1000, le=1000, allow_inf_nan=False, description="Responder threshold"
    )
    landmark: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="Landmark visit (study week: 4, 8, 12, 16, 24, 36, 48, 72 or 96)",
    )
    reference: str = Field("", max_length=100, description="Reference arm")


def valid_cohort_form(
    clinic: Clinic, values: dict[str, Any], *, allow_stale: bool = False
) -> CohortFilterForm:
    """The cohort page's filter form for these query values, or 400 naming each bad one.

    The same form as the page and the PDF report, so an unknown modality, sex or age band, or
    a lot of another clinic, is refused rather than answered with an empty cohort.
    ``allow_stale``: the choices come from the analysis snapshot as it is, as on the page
    (the summary then says it is stale) instead of rebuilding it first."""
    data = QueryDict(mutable=True)
    for key, value in values.items():
        if isinstance(value, list):
            data.setlist(key, [str(v) for v in value])
        elif value not in (None, ""):
            data[key] = str(value)
    form = filter_form(clinic, data, allow_stale=allow_stale)
    if form.is_bound and not form.is_valid():
        refuse(form.errors)
    if not form.is_bound:
        form = filter_form(clinic, QueryDict("outcome=density_per_cm2"), allow_stale=allow_stale)
        form.is_valid()
    return form


def _deidentified(request: ClinicRequest) -> bool:
    role = getattr(request, "role", None)
    return role == Role.RESEARCHER or not allowed(role, "progress.view")


@router.get(
    "/cohort",
    response=dict[str, Any],
    summary="Cohort summary: mean change with CI per visit, responders, ANCOVA, MMRM, AE rates",
    auth=guard("cohort.view"),
)
def cohort_summary(request: ClinicRequest, q: Query[CohortQuery]):
    form = valid_cohort_form(request.clinic, q.dict(), allow_stale=True)
    deidentified = _deidentified(request)
    view = selectors.cohort_analysis(
        request.clinic,
        form.filters(),
        form.options(),
        deidentified=deidentified,
        allow_stale=True,  # then data_freshness.stale is true and data_freshness.notice says so
    )
    # De-identified readers get the shared report's small-cell rule: the page warns "do not
    # copy them out", and an API answer is such a copy.
    out = shareable_summary(view) if deidentified else view.to_dict()
    out["investigational_notice"] = (
        INVESTIGATIONAL_NOTICE if models_exosome(out.get("arms") or ()) else None
    )
    return out


@router.get(
    "/patients/{int:patient_id}/progress",
    response=dict[str, Any],
    summary="One patient's change from baseline per visit and model forecast (logged)",
    auth=guard("progress.view"),
)
def patient_progress(request: ClinicRequest, patient_id: int, forecast: bool = False):
    patient = selectors.get_patient(request.clinic, patient_id)
    log_request_access(request, patient, channel="api")
    result = selectors.patient_progress(patient, with_forecast=forecast)
    notice = INVESTIGATIONAL_NOTICE if models_exosome(result.modalities) else None
    return {"patient_id": patient.pk, "investigational_notice": notice, **result.to_dict()}
