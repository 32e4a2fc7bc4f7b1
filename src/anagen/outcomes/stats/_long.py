"""Turn a long-format table (one row per subject and visit) into per-subject arrays.

Shared by the ANCOVA and the MMRM so both see the same subjects, arms and visits and both
describe excluded subjects the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .errors import NotEnoughDataError


@dataclass
class LongData:
    subjects: np.ndarray  # ids of included subjects
    arms: list[str]  # reference arm first
    arm_index: np.ndarray  # (n,) index into arms
    visits: list[object]  # analysis visits in order
    y: np.ndarray  # (n, T) values, NaN = missing
    baseline: np.ndarray | None  # (n,)
    covariates: np.ndarray  # (n, k) numeric design columns (dummy-coded)
    covariate_names: list[str]
    n_subjects_input: int
    n_excluded_missing_covariate: int
    n_excluded_no_value: int


def visit_index(
    vis: np.ndarray, observed: np.ndarray, visit_order: Sequence | None
) -> tuple[list, np.ndarray]:
    """The analysed visits (``visit_order``, else the sorted visits with an observed value)
    and each row's position among them (-1: a visit outside them, not analysed)."""
    if visit_order is not None:
        visits = list(visit_order)
        if len(set(map(str, visits))) != len(visits):
            raise ValueError("visit_order contains duplicates")
    else:
        present = pd.unique(vis[observed])
        try:
            visits = sorted(present.tolist())
        except TypeError:
            visits = sorted(present.tolist(), key=str)
    vis_key = {str(v): j for j, v in enumerate(visits)}
    vis_codes, vis_uniques = pd.factorize(vis, sort=False)
    vis_lookup = np.array([vis_key.get(str(v), -1) for v in vis_uniques], dtype=np.int64)
    return visits, vis_lookup[vis_codes]


def wide_outcome(
    val: np.ndarray,
    subj_idx: np.ndarray,
    subj_ids: Sequence[Any],
    vis_idx: np.ndarray,
    visits: Sequence[Any],
    use: np.ndarray,
) -> np.ndarray:
    """The outcome as a subjects × visits array (NaN where missing) from the rows in ``use``;
    ValueError when a subject has two values at one visit."""
    n_subj, n_vis = len(subj_ids), len(visits)
    cell = subj_idx[use] * n_vis + vis_idx[use]
    counts = np.bincount(cell, minlength=n_subj * n_vis)
    if (counts > 1).any():
        dup = int(np.argmax(counts > 1))
        raise ValueError(
            f"subject {subj_ids[dup // n_vis]!r} has more than one value at visit "
            f"{visits[dup % n_vis]!r}; aggregate repeated measurements before analysis"
        )
    y = np.full((n_subj, n_vis), np.nan)
    y[subj_idx[use], vis_idx[use]] = val[use]
    return y


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b


def _per_subject(values: np.ndarray, subj_idx: np.ndarray, n_subj: int, name: str) -> np.ndarray:
    """First value per subject, checking that the value is the same on all of its rows."""
    first_row = np.full(n_subj, -1, dtype=np.int64)
    # Reverse assignment leaves the first occurrence in place.
    first_row[subj_idx[::-1]] = np.arange(subj_idx.size)[::-1]
    first = values[first_row]
    bad = ~_same(values, first[subj_idx])
    if bad.any():
        raise ValueError(
            f"{name} must be constant within a subject; it changes for subject index "
            f"{int(subj_idx[np.argmax(bad)])}"
        )
    return first


def _code_covariates(
    covariates: Mapping[str, ArrayLike] | None, n_rows: int
) -> tuple[list[np.ndarray], list[str]]:
    """Numeric columns are used as they are; text or category columns are dummy-coded."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    if not covariates:
        return cols, names
    for name, raw in covariates.items():
        arr = np.asarray(raw)
        if arr.ndim != 1 or arr.size != n_rows:
            raise ValueError(f"covariate {name!r} must be a 1-D array with one value per row")
        if arr.dtype.kind in "biuf":
            cols.append(arr.astype(float))
            names.append(str(name))
            continue
        s = pd.Series(arr, dtype=object)
        missing = s.isna().to_numpy()
        levels = sorted({str(v) for v in s[~missing]})
        text = s.astype(str).to_numpy()
        # Treatment coding with the first sorted level as reference (R's default).
        for level in levels[1:]:
            col = (text == level).astype(float)
            col[missing] = np.nan
            cols.append(col)
            names.append(f"{name}[{level}]")
    return cols, names


def prepare_long(
    subject: ArrayLike,
    arm: ArrayLike,
    visit: ArrayLike,
    baseline: ArrayLike | None,
    value: ArrayLike,
    *,
    reference_arm: object | None = None,
    covariates: Mapping[str, ArrayLike] | None = None,
    visit_order: Sequence[object] | None = None,
) -> LongData:
    # Keep native dtypes: converting 10^6 ids to Python objects costs more than the fit.
    subj = np.asarray(subject).ravel()
    arm_a = np.asarray(arm).ravel()
    vis = np.asarray(visit).ravel()
    try:
        val = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError("value must be numeric (use NaN for missing)") from exc
    n_rows = val.size
    lengths = {"subject": subj.size, "arm": arm_a.size, "visit": vis.size, "value": n_rows}
    base = None
    if baseline is not None:
        base = np.asarray(baseline, dtype=float).ravel()
        lengths["baseline"] = base.size
    if len(set(lengths.values())) != 1:
        raise ValueError(f"input arrays differ in length: {lengths}")
    if n_rows == 0:
        raise NotEnoughDataError("no patient has a value to analyse")
    if np.isinf(val).any() or (base is not None and np.isinf(base).any()):
        raise ValueError("values and baselines must be finite or NaN")
    if pd.isna(subj).any() or pd.isna(vis).any():
        raise ValueError("subject and visit must not be missing")
    if pd.isna(arm_a).any():
        raise ValueError("arm must not be missing")

    subj_idx, subj_ids = pd.factorize(subj, sort=False)
    n_subj = len(subj_ids)
    # Arms are compared as text (1 and "1" are the same arm), via their few distinct values.
    arm_codes, arm_uniques = pd.factorize(arm_a, sort=False)
    arm_labels = sorted({str(a) for a in arm_uniques})
    label_index = {a: i for i, a in enumerate(arm_labels)}
    arm_canon = np.array([label_index[str(a)] for a in arm_uniques], dtype=np.int64)[arm_codes]
    arm_per_subj = np.array(arm_labels, dtype=object)[
        _per_subject(arm_canon, subj_idx, n_subj, "arm")
    ]
    base_per_subj = None if base is None else _per_subject(base, subj_idx, n_subj, "baseline")
    cov_cols, cov_names = _code_covariates(covariates, n_rows)
    cov_per_subj = [
        _per_subject(c, subj_idx, n_subj, f"covariate {nm!r}")
        for c, nm in zip(cov_cols, cov_names, strict=True)
    ]
    cov_mat = np.column_stack(cov_per_subj) if cov_per_subj else np.zeros((n_subj, 0))

    observed = ~np.isnan(val)
    if not observed.any():
        raise NotEnoughDataError("all outcome values are missing")
    visits, vis_idx = visit_index(vis, observed, visit_order)
    # Rows at visits outside visit_order are not analysed (e.g. screening visits).
    use = observed & (vis_idx >= 0)
    y = wide_outcome(val, subj_idx, subj_ids, vis_idx, visits, use)

    bad_cov = np.zeros(n_subj, dtype=bool)
    if base_per_subj is not None:
        bad_cov |= np.isnan(base_per_subj)
    if cov_mat.shape[1]:
        bad_cov |= np.isnan(cov_mat).any(axis=1)
    no_value = np.isnan(y).all(axis=1)
    keep = ~bad_cov & ~no_value
    n_bad_cov = int((bad_cov & ~no_value).sum())
    n_no_value = int(no_value.sum())
    if not keep.any():
        raise NotEnoughDataError(
            "no subject has an observed value together with baseline and covariates"
        )

    arms_present = sorted(set(arm_per_subj[keep].tolist()))
    if reference_arm is not None:
        ref = str(reference_arm)
        if ref not in arms_present:
            raise NotEnoughDataError(f"reference arm {ref!r} has no analysable subjects")
    else:
        ref = arms_present[0]
    arms = [ref] + [a for a in arms_present if a != ref]
    arm_code = {a: i for i, a in enumerate(arms)}
    arm_index = np.array([arm_code[a] for a in arm_per_subj[keep]], dtype=np.int64)

    return LongData(
        subjects=np.asarray(subj_ids)[keep],
        arms=arms,
        arm_index=arm_index,
        visits=visits,
        y=y[keep],
        baseline=None if base_per_subj is None else base_per_subj[keep],
        covariates=cov_mat[keep],
        covariate_names=cov_names,
        n_subjects_input=n_subj,
        n_excluded_missing_covariate=n_bad_cov,
        n_excluded_no_value=n_no_value,
    )


NO_EXCLUSION = "No subject was excluded."


def exclusion_text(data: LongData) -> str:
    parts = []
    if data.n_excluded_no_value:
        parts.append(f"{data.n_excluded_no_value} without any analysable visit value")
    if data.n_excluded_missing_covariate:
        parts.append(f"{data.n_excluded_missing_covariate} with a missing baseline or covariate")
    if not parts:
        return NO_EXCLUSION
    return f"Excluded {' and '.join(parts)} (of {data.n_subjects_input} subjects)."
