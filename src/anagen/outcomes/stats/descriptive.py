"""Change from baseline, mean-change CIs, responder rates and adverse-event incidence.

All intervals are two-sided at ``level`` (default 95 %). Exact intervals are used for counts:
Clopper-Pearson for proportions and Garwood's chi-square interval for Poisson rates, because
clinic series are small and Wald intervals under-cover badly at small n or rare events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ._results import ResultMixin
from .errors import NotEnoughDataError

__all__ = [
    "ChangeByVisit",
    "Incidence",
    "MeanCI",
    "ProportionCI",
    "ResponderRate",
    "VisitChange",
    "change_by_visit",
    "change_from_baseline",
    "clopper_pearson",
    "incidence_per_100",
    "mean_change_ci",
    "poisson_exact_ci",
    "responder_rate",
]


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (exclusive), got {level}")
    return level


def _as_float(x: ArrayLike, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric") from exc
    return np.atleast_1d(arr)


def change_from_baseline(baseline: ArrayLike, value: ArrayLike) -> np.ndarray:
    """Return ``value - baseline`` element-wise (NaN where either is missing)."""
    b = _as_float(baseline, "baseline")
    v = _as_float(value, "value")
    if b.shape != v.shape:
        raise ValueError(f"baseline and value differ in shape: {b.shape} vs {v.shape}")
    return v - b


@dataclass(frozen=True)
class MeanCI(ResultMixin):
    n: int
    n_missing: int
    mean: float
    sd: float
    se: float
    df: int
    lower: float
    upper: float
    level: float
    method: str = "t interval"


def mean_change_ci(changes: ArrayLike, level: float = 0.95) -> MeanCI:
    """Mean of ``changes`` with a Student-t confidence interval; NaNs are counted and dropped."""
    level = _check_level(level)
    x = _as_float(changes, "changes").ravel()
    missing = np.isnan(x)
    x = x[~missing]
    n = int(x.size)
    if n < 2:
        # One value has no spread: any interval would be invented.
        raise NotEnoughDataError(
            f"a confidence interval for a mean needs at least 2 values, got {n}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("changes contain infinite values")
    mean = float(x.mean())
    sd = float(x.std(ddof=1))
    se = sd / np.sqrt(n)
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return MeanCI(
        n=n,
        n_missing=int(missing.sum()),
        mean=mean,
        sd=sd,
        se=se,
        df=n - 1,
        lower=mean - t * se,
        upper=mean + t * se,
        level=level,
    )


@dataclass(frozen=True)
class VisitChange(ResultMixin):
    arm: str
    visit: str
    n: int
    mean: float
    sd: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ChangeByVisit(ResultMixin):
    rows: tuple[VisitChange, ...]
    level: float
    missing_data: str


def change_by_visit(
    subject: ArrayLike,
    arm: ArrayLike,
    visit: ArrayLike,
    baseline: ArrayLike,
    value: ArrayLike,
    *,
    level: float = 0.95,
    visit_order: Sequence[object] | None = None,
) -> ChangeByVisit:
    """Observed change from baseline summarised per arm and visit (long-format input).

    Cells with fewer than two values get ``nan`` spread and limits (``None`` in ``to_dict``)
    rather than a made-up interval.
    """
    level = _check_level(level)
    subj = np.asarray(subject, dtype=object).ravel()
    arm_a = np.asarray(arm, dtype=object).ravel()
    vis = np.asarray(visit, dtype=object).ravel()
    chg = change_from_baseline(baseline, value).ravel()
    if not (subj.size == arm_a.size == vis.size == chg.size):
        raise ValueError("subject, arm, visit, baseline and value must have the same length")
    ok = ~np.isnan(chg)
    if not ok.any():
        raise NotEnoughDataError("no subject has both a baseline and a visit value")
    visits = list(visit_order) if visit_order is not None else sorted(set(vis[ok].tolist()))
    arms = sorted({str(a) for a in arm_a[ok]})
    t_q = 0.5 + level / 2
    rows = []
    for a in arms:
        for v in visits:
            sel = ok & (arm_a.astype(str) == a) & (vis == v)
            x = chg[sel]
            n = int(x.size)
            mean = float(x.mean()) if n else float("nan")
            if n >= 2:
                sd = float(x.std(ddof=1))
                half = float(stats.t.ppf(t_q, n - 1)) * sd / np.sqrt(n)
                lo, hi = mean - half, mean + half
            else:
                sd = lo = hi = float("nan")
            rows.append(VisitChange(a, str(v), n, mean, sd, lo, hi))
    n_subj = len(set(subj.tolist()))
    n_used = len(set(subj[ok].tolist()))
    statement = (
        f"Observed-case summary: {int(ok.sum())} of {chg.size} subject-visits have both a "
        f"baseline and a visit value ({n_used} of {n_subj} subjects). Missing visits are not "
        "imputed, so later visits summarise a shrinking, possibly selected group; use the MMRM "
        "for inference under missing at random."
    )
    return ChangeByVisit(rows=tuple(rows), level=level, missing_data=statement)


@dataclass(frozen=True)
class ProportionCI(ResultMixin):
    k: int
    n: int
    proportion: float
    lower: float
    upper: float
    level: float
    method: str = "Clopper-Pearson exact"


def _count(x: object, name: str) -> int:
    arr = np.asarray(x)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a single count")
    val = float(arr)
    if not np.isfinite(val) or val < 0 or val != int(val):
        raise ValueError(f"{name} must be a non-negative whole number, got {x!r}")
    return int(val)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> ProportionCI:
    """Exact (Clopper-Pearson) interval for ``k`` successes out of ``n``."""
    level = _check_level(level)
    k = _count(k, "k")
    n = _count(n, "n")
    if n == 0:
        raise NotEnoughDataError("a proportion needs at least one subject (n = 0)")
    if k > n:
        raise ValueError(f"k ({k}) cannot exceed n ({n})")
    alpha = 1.0 - level
    # Beta quantiles are the exact inversion of the two one-sided binomial tests.
    lower = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    upper = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return ProportionCI(k=k, n=n, proportion=k / n, lower=lower, upper=upper, level=level)


@dataclass(frozen=True)
class ResponderRate(ResultMixin):
    responders: int
    n: int
    n_missing: int
    threshold: float
    direction: str
    proportion: float
    lower: float
    upper: float
    level: float
    method: str = "Clopper-Pearson exact"
    missing_data: str = ""


def responder_rate(
    changes: ArrayLike,
    threshold: float,
    *,
    direction: Literal["increase", "decrease"] = "increase",
    level: float = 0.95,
) -> ResponderRate:
    """Share of subjects whose change reaches ``threshold``.

    ``direction="increase"`` counts ``change >= threshold`` (e.g. gain of >= 10 hairs/cm2);
    ``"decrease"`` counts ``change <= threshold``. Missing changes are excluded and reported.
    """
    if direction not in ("increase", "decrease"):
        raise ValueError("direction must be 'increase' or 'decrease'")
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise ValueError("threshold must be finite")
    x = _as_float(changes, "changes").ravel()
    missing = np.isnan(x)
    x = x[~missing]
    if not np.all(np.isfinite(x)):
        raise ValueError("changes contain infinite values")
    if x.size == 0:
        raise NotEnoughDataError("no non-missing change values to classify as responders")
    hits = x >= threshold if direction == "increase" else x <= threshold
    ci = clopper_pearson(int(hits.sum()), int(x.size), level)
    statement = (
        f"{int(missing.sum())} of {missing.size} subjects without a change value were excluded "
        "(complete-case); counting them as non-responders would give a lower, conservative rate."
        if missing.any()
        else "No subject was excluded."
    )
    return ResponderRate(
        responders=ci.k,
        n=ci.n,
        n_missing=int(missing.sum()),
        threshold=threshold,
        direction=direction,
        proportion=ci.proportion,
        lower=ci.lower,
        upper=ci.upper,
        level=ci.level,
        missing_data=statement,
    )


def poisson_exact_ci(k: int, level: float = 0.95) -> tuple[float, float]:
    """Garwood (1936) exact interval for the mean of a Poisson count ``k``."""
    level = _check_level(level)
    k = _count(k, "k")
    alpha = 1.0 - level
    lower = 0.0 if k == 0 else float(stats.chi2.ppf(alpha / 2, 2 * k)) / 2
    upper = float(stats.chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2
    return lower, upper


@dataclass(frozen=True)
class Incidence(ResultMixin):
    events: int
    sessions: int
    per_100: float
    lower: float
    upper: float
    level: float
    method: str


def incidence_per_100(
    events: ArrayLike,
    sessions: ArrayLike,
    *,
    level: float = 0.95,
    method: Literal["rate", "proportion"] = "rate",
) -> Incidence:
    """Adverse events per 100 treatment sessions with an exact interval.

    ``events``/``sessions`` may be totals or per-patient arrays (they are summed).
    ``method="rate"``: events are counts (a session may have several) and the interval is
    Garwood's exact Poisson interval. ``method="proportion"``: events are sessions with at
    least one event (so ``events <= sessions``) and the interval is Clopper-Pearson.
    """
    ev = _as_float(events, "events")
    se = _as_float(sessions, "sessions")
    if ev.shape != se.shape:
        raise ValueError("events and sessions must have the same shape")
    if np.isnan(ev).any() or np.isnan(se).any():
        raise ValueError("events and sessions must not contain missing values")
    if (ev < 0).any() or (se < 0).any():
        raise ValueError("events and sessions must be non-negative")
    if (ev != np.floor(ev)).any() or (se != np.floor(se)).any():
        # Half an event summed with half another is not one event: each entry is a count.
        raise ValueError("events and sessions must be whole numbers (counts)")
    k = _count(ev.sum(), "events")
    n = _count(se.sum(), "sessions")
    if n == 0:
        raise NotEnoughDataError("incidence per 100 sessions needs at least one session")
    if method == "rate":
        lo, hi = poisson_exact_ci(k, level)
        return Incidence(
            events=k,
            sessions=n,
            per_100=100.0 * k / n,
            lower=100.0 * lo / n,
            upper=100.0 * hi / n,
            level=_check_level(level),
            method="Poisson exact (Garwood)",
        )
    if method == "proportion":
        if (ev > se).any():
            raise ValueError("with method='proportion' events (sessions with an event) <= sessions")
        ci = clopper_pearson(k, n, level)
        return Incidence(
            events=k,
            sessions=n,
            per_100=100.0 * ci.proportion,
            lower=100.0 * ci.lower,
            upper=100.0 * ci.upper,
            level=ci.level,
            method="Clopper-Pearson exact",
        )
    raise ValueError("method must be 'rate' or 'proportion'")
