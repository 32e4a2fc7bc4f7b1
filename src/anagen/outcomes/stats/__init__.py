"""Trial statistics for Anagen outcomes: pure NumPy/SciPy, no Django.

Public API (all results are frozen dataclasses with a JSON-serialisable ``to_dict()``):

- ``change_from_baseline``, ``change_by_visit``, ``mean_change_ci``
- ``responder_rate``, ``clopper_pearson``, ``poisson_exact_ci``, ``incidence_per_100``
- ``ancova`` (landmark-visit ANCOVA), ``fit_mmrm`` (unstructured REML MMRM, Satterthwaite df)
- ``fit_mmrm_design`` (same unstructured model for any design matrix, REML or ML)
- ``NotEnoughDataError`` (a ``ValueError``) when the data cannot support an estimate

See docs/statistics.md.
"""

from .ancova import AncovaResult, ancova
from .descriptive import (
    ChangeByVisit,
    Incidence,
    MeanCI,
    ProportionCI,
    ResponderRate,
    VisitChange,
    change_by_visit,
    change_from_baseline,
    clopper_pearson,
    incidence_per_100,
    mean_change_ci,
    poisson_exact_ci,
    responder_rate,
)
from .errors import NotEnoughDataError
from .mmrm import Contrast, Estimate, FTest, LSMean, MMRMResult, fit_mmrm, fit_mmrm_design

__all__ = [
    "AncovaResult",
    "ChangeByVisit",
    "Contrast",
    "Estimate",
    "FTest",
    "Incidence",
    "LSMean",
    "MMRMResult",
    "MeanCI",
    "NotEnoughDataError",
    "ProportionCI",
    "ResponderRate",
    "VisitChange",
    "ancova",
    "change_by_visit",
    "change_from_baseline",
    "clopper_pearson",
    "fit_mmrm",
    "fit_mmrm_design",
    "incidence_per_100",
    "mean_change_ci",
    "poisson_exact_ci",
    "responder_rate",
]
