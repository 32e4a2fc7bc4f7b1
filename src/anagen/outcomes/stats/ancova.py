"""ANCOVA of change from baseline at a landmark visit (baseline covariate, treatment factor)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ._long import NO_EXCLUSION, exclusion_text, prepare_long
from ._results import ResultMixin
from .errors import NotEnoughDataError
from .mmrm import Contrast, Estimate, LSMean

__all__ = ["AncovaResult", "ancova"]


@dataclass(frozen=True)
class AncovaResult(ResultMixin):
    visit: str
    arms: tuple[str, ...]
    reference_arm: str
    coefficients: tuple[Estimate, ...]
    lsmeans: tuple[LSMean, ...]
    contrasts: tuple[Contrast, ...]
    residual_sd: float
    df_residual: int
    n_used: int
    n_per_arm: tuple[int, ...]
    level: float
    missing_data: str
    method: str = "ANCOVA (ordinary least squares)"


def ancova(
    subject: ArrayLike,
    arm: ArrayLike,
    visit: ArrayLike,
    baseline: ArrayLike,
    value: ArrayLike,
    *,
    landmark_visit: object,
    reference_arm: object | None = None,
    covariates: Mapping[str, ArrayLike] | None = None,
    level: float = 0.95,
    visit_label: str | None = None,
    n_without_landmark: int = 0,
) -> AncovaResult:
    """ANCOVA of ``value`` (normally the change from baseline) at ``landmark_visit``.

    Model: ``value ~ arm + baseline (+ covariates)`` on subjects with a value at the landmark
    visit. Accepts the same long-format table as ``fit_mmrm``; rows at other visits are ignored.
    Treatment effects are differences from ``reference_arm`` adjusted for baseline; LS means are
    at the mean baseline (and mean covariates) of the analysed subjects. ``visit_label`` names
    the landmark in the missing-data statement ("week 12"; default "visit <landmark>").
    ``n_without_landmark``: subjects of the analysis with a baseline but no value at the
    landmark, which a caller passing the landmark rows only knows and this table cannot show;
    the statement counts them as left out.
    """
    if not 0.0 < level < 1.0:
        raise ValueError("level must be between 0 and 1")
    vis = np.asarray(visit, dtype=object).ravel()
    data = prepare_long(
        subject,
        arm,
        vis,
        baseline,
        value,
        reference_arm=reference_arm,
        covariates=covariates,
        visit_order=[landmark_visit],
    )
    y = data.y[:, 0]
    n = y.size
    arms = data.arms
    if len(arms) < 2:
        raise NotEnoughDataError(
            f"only arm {arms[0]!r} has values at visit {landmark_visit!r}; a comparison needs two"
        )
    cols = [np.ones(n)] + [(data.arm_index == a).astype(float) for a in range(1, len(arms))]
    base = np.asarray(data.baseline, dtype=float)
    x = np.column_stack([*cols, base, data.covariates])
    p = x.shape[1]
    df = n - p
    if df < 1:
        raise NotEnoughDataError(
            f"{n} subjects at visit {landmark_visit!r} cannot estimate {p} coefficients and a "
            "residual variance"
        )
    if np.linalg.matrix_rank(x) < p:
        raise NotEnoughDataError(
            "the ANCOVA design is singular (baseline or a covariate is constant or collinear "
            "with arm)"
        )
    # QR keeps the solution accurate when baseline is large relative to the change.
    qmat, rmat = np.linalg.qr(x)
    beta = np.linalg.solve(rmat, qmat.T @ y)
    resid = y - x @ beta
    rss = float(resid @ resid)
    # An exact fit (all changes equal, or fully explained by arm and baseline) leaves no
    # residual variance: its "p" would be floating-point noise, so no test is made.
    if rss <= 1e-12 * max(1.0, float(y @ y)):
        raise NotEnoughDataError(
            "the values fit the model exactly (no residual variance), so no interval or test "
            "can be computed"
        )
    sigma2 = rss / df
    r_inv = np.linalg.inv(rmat)
    cov = sigma2 * (r_inv @ r_inv.T)
    tq = float(stats.t.ppf(0.5 + level / 2, df))

    def est(lvec: np.ndarray, name: str) -> Estimate:
        e = float(lvec @ beta)
        s = float(np.sqrt(lvec @ cov @ lvec))
        t = e / s if s > 0 else np.inf
        return Estimate(
            name, e, s, float(df), e - tq * s, e + tq * s, t, float(2 * stats.t.sf(abs(t), df))
        )

    names = ["intercept"] + [f"arm {a}" for a in arms[1:]] + ["baseline", *data.covariate_names]
    coefs = tuple(est(row, nm) for row, nm in zip(np.eye(p), names, strict=True))
    visit_name = str(landmark_visit)
    means = x.mean(axis=0)
    lsmeans, contrasts = [], []
    for a, arm_name in enumerate(arms):
        row = means.copy()
        row[1 : len(arms)] = 0.0
        if a:
            row[a] = 1.0
        e = est(row, arm_name)
        lsmeans.append(LSMean(arm_name, visit_name, e.estimate, e.se, e.df, e.lower, e.upper))
        if a:
            c = coefs[a]
            contrasts.append(
                Contrast(
                    arm_name,
                    arms[0],
                    visit_name,
                    c.estimate,
                    c.se,
                    c.df,
                    c.lower,
                    c.upper,
                    c.t,
                    c.p,
                )
            )
    n_per_arm = tuple(int((data.arm_index == a).sum()) for a in range(len(arms)))
    where = visit_label or f"visit {visit_name}"
    excluded = exclusion_text(data)
    if n_without_landmark > 0:
        left_out = (
            f"{n_without_landmark} subject{'s' if n_without_landmark != 1 else ''} with a "
            f"baseline but no value at {where} {'were' if n_without_landmark != 1 else 'was'} "
            "left out."
        )
        excluded = left_out if excluded == NO_EXCLUSION else f"{left_out} {excluded}"
    statement = (
        f"Complete-case ANCOVA at {where}: {n} subjects with a value there were "
        f"analysed. {excluded} Subjects missing the landmark visit are dropped, which "
        "is unbiased only if missingness is unrelated to the outcome given arm and baseline "
        "(MCAR/covariate-dependent); the MMRM uses earlier visits and is valid under MAR."
    )
    return AncovaResult(
        visit=visit_name,
        arms=tuple(arms),
        reference_arm=arms[0],
        coefficients=coefs,
        lsmeans=tuple(lsmeans),
        contrasts=tuple(contrasts),
        residual_sd=float(np.sqrt(sigma2)),
        df_residual=int(df),
        n_used=int(n),
        n_per_arm=n_per_arm,
        level=float(level),
        missing_data=statement,
    )
