"""Mixed model for repeated measures (MMRM) with an unstructured covariance, fitted by REML.

Model, for subject ``i`` at visit ``j`` (visits are categorical)::

    y_ij = z_i' B_j + c_i' gamma + e_ij,        (e_i1 .. e_iT) ~ N(0, Sigma),  Sigma unstructured

``z_i = (1, arm dummies, baseline)`` so every visit has its own intercept, treatment effects
and baseline slope (treatment x visit and baseline x visit); ``c_i`` are further covariates
with one effect across visits (e.g. sex, site). Subjects contribute the visits they have:
the likelihood of the observed values is the correct likelihood under missing at random.

Speed. All design columns are subject-level, so the GLS cross-products for the subjects that
share a missingness pattern ``P`` only need that pattern's sufficient statistics
``U'U`` (q x q), ``U'Y`` (q x T) and ``Y'Y`` (T x T), with ``U = [z, c]``. Every likelihood,
gradient and Satterthwaite evaluation then costs O(patterns * T^2 * q^2), independent of the
number of subjects; the only O(n) work is computing those statistics once.

REML objective (minus twice the restricted log-likelihood, without the 2*pi constant)::

    f(theta) = sum_P n_P log|Sigma_P| + log|X'WX| + y'Wy - b'(X'WX)^{-1} b,   b = X'Wy

optimised over ``theta`` = (log of the Cholesky diagonal, Cholesky off-diagonals) of Sigma
with an analytic gradient (BFGS, then Newton steps on a finite-difference Hessian of the
analytic gradient). Degrees of freedom for any linear contrast ``l'beta`` follow
Satterthwaite: ``df = 2 v^2 / (g' A g)`` with ``v = l'(X'WX)^{-1} l``, ``g = dv/dtheta``
(analytic) and ``A`` the inverse observed information of ``theta`` (as in R ``mmrm``).

``fit_mmrm_design`` fits the same covariance model for any fixed-effects design matrix
(e.g. continuous time), by REML or by ML (the objective without ``log|X'WX|``), through the
same core with a general linear map from ``beta`` to the per-visit coefficients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, optimize, stats

from ._long import LongData, exclusion_text, prepare_long, visit_index, wide_outcome
from ._results import ResultMixin, internal
from .errors import NotEnoughDataError

__all__ = ["Contrast", "Estimate", "FTest", "LSMean", "MMRMResult", "fit_mmrm", "fit_mmrm_design"]


@dataclass(frozen=True)
class Estimate(ResultMixin):
    name: str
    estimate: float
    se: float
    df: float
    lower: float
    upper: float
    t: float
    p: float


@dataclass(frozen=True)
class LSMean(ResultMixin):
    arm: str
    visit: str
    estimate: float
    se: float
    df: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Contrast(ResultMixin):
    arm: str
    reference_arm: str
    visit: str
    estimate: float
    se: float
    df: float
    lower: float
    upper: float
    t: float
    p: float


@dataclass(frozen=True)
class FTest(ResultMixin):
    name: str
    num_df: int
    den_df: float
    f: float
    p: float


class _REMLModel:
    """Sufficient statistics per missingness pattern and the REML objective on them."""

    def __init__(
        self,
        u: np.ndarray,
        y: np.ndarray,
        q1: int,
        ef: np.ndarray | None = None,
        reml: bool = True,
    ) -> None:
        n, t_vis = y.shape
        q = u.shape[1]
        self.T, self.q, self.q1 = t_vis, q, q1
        self.q2 = q - q1
        self.p = t_vis * q1 + self.q2 if ef is None else ef.shape[0]
        # reml=False drops log|X'WX| from the objective: maximum likelihood (ML).
        self.reml = reml
        observed = ~np.isnan(y)
        codes = observed.astype(np.int64) @ (np.int64(1) << np.arange(t_vis, dtype=np.int64))
        uniq, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
        self.masks = ((uniq[:, None] >> np.arange(t_vis)) & 1).astype(bool)  # (P, T)
        self.mm = (self.masks[:, :, None] & self.masks[:, None, :]).astype(float)
        self.n_pat = counts.astype(float)
        y0 = np.where(observed, y, 0.0)
        order = np.argsort(inverse, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        n_p = len(uniq)
        self.uu = np.empty((n_p, q, q))
        self.uy = np.empty((n_p, q, t_vis))
        self.yy = np.empty((n_p, t_vis, t_vis))
        for k in range(n_p):
            idx = order[bounds[k] : bounds[k + 1]]
            uk, yk = u[idx], y0[idx]
            self.uu[k] = uk.T @ uk
            self.uy[k] = uk.T @ yk
            self.yy[k] = yk.T @ yk
        self.n_obs = int(observed.sum())
        # Ef maps beta to the per-visit coefficients of U: the mean at visit j is
        # U @ G_j with vec(G) = Ef' beta. The default Ef is the 0/1 map of the module
        # docstring; any linear map works (fit_mmrm_design passes its own).
        if ef is None:
            ef = np.zeros((self.p, t_vis * q))
            for j in range(t_vis):
                for r in range(q):
                    row = j * q1 + r if r < q1 else t_vis * q1 + (r - q1)
                    ef[row, j * q + r] = 1.0
        elif ef.shape != (self.p, t_vis * q):
            raise ValueError("ef must have shape (p, T * q)")
        self.ef = ef
        self.tril = np.tril_indices(t_vis)
        self.diag_pos = np.flatnonzero(self.tril[0] == self.tril[1])
        self.n_theta = len(self.tril[0])

    # -- parametrisation -------------------------------------------------------------------
    def chol(self, theta: np.ndarray) -> np.ndarray:
        lower = np.zeros((self.T, self.T))
        vals = np.array(theta, dtype=float)
        vals[self.diag_pos] = np.exp(vals[self.diag_pos])
        lower[self.tril] = vals
        return lower

    def theta_from_sigma(self, sigma: np.ndarray) -> np.ndarray:
        lower = np.linalg.cholesky(sigma)
        vals = lower[self.tril].copy()
        vals[self.diag_pos] = np.log(vals[self.diag_pos])
        return vals

    def _chain(self, d_lower: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """Gradient w.r.t. theta from a gradient w.r.t. the Cholesky factor (last two axes)."""
        g = d_lower[..., self.tril[0], self.tril[1]]
        g[..., self.diag_pos] *= lower[self.tril][self.diag_pos]
        return g

    # -- core pieces ------------------------------------------------------------------------
    def weights(self, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-pattern inverse covariance embedded in T x T (zeros at missing visits)."""
        eye = np.eye(self.T)
        s_p = sigma[None] * self.mm + eye[None] * (1.0 - self.masks[:, :, None] * 1.0) * eye
        c = np.linalg.cholesky(s_p)
        logdet = 2.0 * np.log(np.diagonal(c, axis1=1, axis2=2)).sum(axis=1)
        w = np.linalg.inv(s_p) * self.mm
        return w, logdet

    def normal_equations(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        tq = self.T * self.q
        # tensordot/matmul run in BLAS; einsum here was the main cost of small fits.
        g4 = np.tensordot(w, self.uu, axes=(0, 0)).transpose(0, 2, 1, 3).reshape(tq, tq)
        m = self.ef @ g4 @ self.ef.T
        b = self.ef @ np.tensordot(w, self.uy, axes=([0, 2], [0, 2])).ravel()
        ywy = float(np.vdot(w, self.yy))
        return m, b, ywy

    def residual_crossproducts(self, beta: np.ndarray) -> np.ndarray:
        gam = (self.ef.T @ beta).reshape(self.T, self.q)
        cross = self.uy.transpose(0, 2, 1) @ gam.T  # (P, j, k) = sum_q UY[q, j] gam[k, q]
        fitted = gam @ self.uu @ gam.T
        return (self.yy - cross - cross.transpose(0, 2, 1) + fitted) * self.mm

    def objective(self, theta: np.ndarray, grad: bool = True) -> Any:
        # An infinite value makes the optimisers back off instead of producing NaNs.
        fail = (np.inf, np.zeros_like(theta)) if grad else np.inf
        if not np.all(np.isfinite(theta)) or np.max(np.abs(theta[self.diag_pos])) > 200:
            return fail
        lower = self.chol(theta)
        sigma = lower @ lower.T
        try:
            w, logdet = self.weights(sigma)
            m, b, ywy = self.normal_equations(w)
            cm = linalg.cho_factor(m, lower=True)
        except (np.linalg.LinAlgError, linalg.LinAlgError, ValueError):
            return fail
        beta = linalg.cho_solve(cm, b)
        f = float(self.n_pat @ logdet) + ywy - float(b @ beta)
        if self.reml:
            f += 2.0 * float(np.log(np.diag(cm[0])).sum())
        if not np.isfinite(f):
            return fail
        if not grad:
            return f
        resid = self.residual_crossproducts(beta)
        if self.reml:
            v = linalg.cho_solve(cm, np.eye(self.p))
            q4 = (self.ef.T @ v @ self.ef).reshape(self.T, self.q, self.T, self.q)
            resid = resid + np.tensordot(self.uu, q4, axes=([2, 1], [1, 3])) * self.mm
        g_sigma = np.tensordot(self.n_pat, w, axes=1) - (w @ resid @ w).sum(axis=0)
        return f, self._chain(2.0 * g_sigma @ lower, lower)

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        return self.objective(theta)[1]

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Central differences of the analytic gradient (error ~ step^2)."""
        k = theta.size
        hess = np.empty((k, k))
        for i in range(k):
            step = 1e-4 * max(1.0, abs(theta[i]))
            tp, tm = theta.copy(), theta.copy()
            tp[i] += step
            tm[i] -= step
            hess[:, i] = (self.gradient(tp) - self.gradient(tm)) / (2 * step)
        return 0.5 * (hess + hess.T)

    def gls(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        lower = self.chol(theta)
        w, _ = self.weights(lower @ lower.T)
        m, b, _ = self.normal_equations(w)
        cm = linalg.cho_factor(m, lower=True)
        return linalg.cho_solve(cm, b), linalg.cho_solve(cm, np.eye(self.p)), w, lower

    def contrast_df(
        self,
        contrasts: np.ndarray,
        v_beta: np.ndarray,
        w: np.ndarray,
        lower: np.ndarray,
        theta_cov: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Variance and Satterthwaite df of each row ``l`` of ``contrasts``."""
        u = v_beta @ contrasts.T  # (p, c)
        var = np.einsum("pc,pc->c", contrasts.T, u)
        a = (self.ef.T @ u).T.reshape(-1, self.T, self.q)
        # dv/dSigma = sum_P W_P A_P W_P with A_P[j,k] = a_j' (U'U)_P a_k
        a_p = (a[:, None] @ self.uu[None] @ a[:, None].transpose(0, 1, 3, 2)) * self.mm[None]
        b_mat = (w[None] @ a_p @ w[None]).sum(axis=1)
        g = self._chain(2.0 * b_mat @ lower, lower)
        denom = np.einsum("ci,ij,cj->c", g, theta_cov, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(denom > 0, 2.0 * var**2 / denom, np.inf)
        return var, df

    def _kron_map(self, g: np.ndarray) -> np.ndarray:
        """X'GX for per-pattern T x T matrices ``g`` (..., P, T, T) -> (..., p, p)."""
        tq = self.T * self.q
        g4 = np.tensordot(g, self.uu, axes=([-3], [0]))  # (..., j, l, q, r)
        g4 = np.moveaxis(g4, -2, -3).reshape(*g4.shape[:-4], tq, tq)
        return self.ef @ g4 @ self.ef.T

    def kenward_roger(
        self, theta: np.ndarray, theta_cov: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Kenward-Roger pieces in the *linear* parametrisation of Sigma (its distinct entries).

        Returns the adjusted covariance ``Phi_A`` of beta-hat, the matrices
        ``P_k = d(X'WX)/d sigma_k`` and ``W_sigma = Cov(sigma-hat)``. Using the linear
        parametrisation (second derivatives of Sigma are zero, so the R_kl term vanishes)
        makes the adjustment independent of how the optimiser parametrised Sigma; this is
        what SAS ``TYPE=UN DDFM=KR`` and R ``mmrm`` "Kenward-Roger-Linear" do.
        """
        lower = self.chol(theta)
        t_vis = self.T
        rows, cols = self.tril
        m = rows.size
        d_sigma = np.zeros((m, t_vis, t_vis))  # dSigma / d sigma_k
        d_sigma[np.arange(m), rows, cols] = 1.0
        d_sigma[np.arange(m), cols, rows] = 1.0
        # Jacobian of the distinct entries of Sigma w.r.t. theta (delta method for W_sigma).
        d_lower = np.zeros((m, t_vis, t_vis))
        d_lower[np.arange(m), rows, cols] = 1.0
        d_lower[self.diag_pos, rows[self.diag_pos], cols[self.diag_pos]] = lower[
            rows[self.diag_pos], cols[self.diag_pos]
        ]
        d_sig_theta = d_lower @ lower.T + lower @ d_lower.transpose(0, 2, 1)
        jac = d_sig_theta[:, rows, cols].T  # (sigma_k, theta_j)
        w_sigma = jac @ theta_cov @ jac.T
        w, _ = self.weights(lower @ lower.T)
        m_mat, _, _ = self.normal_equations(w)
        phi = linalg.cho_solve(linalg.cho_factor(m_mat, lower=True), np.eye(self.p))
        wdw = w[None] @ d_sigma[:, None] @ w[None]  # (m, P, T, T)
        p_mats = -self._kron_map(wdw)  # (m, p, p)
        d_weighted = np.tensordot(w_sigma, d_sigma, axes=1)
        q_sum = self._kron_map((wdw @ d_weighted[:, None]).sum(axis=0) @ w)
        weighted_p = np.tensordot(w_sigma, p_mats, axes=1)  # sum_l W_kl P_l
        pfp_sum = np.einsum("kab,bc,kcd->ad", p_mats, phi, weighted_p, optimize=True)
        phi_a = phi + 2.0 * phi @ (q_sum - pfp_sum) @ phi
        return 0.5 * (phi_a + phi_a.T), p_mats, w_sigma


def _kr_f_test(
    lmat: np.ndarray,
    est: np.ndarray,
    phi: np.ndarray,
    phi_a: np.ndarray,
    p_mats: np.ndarray,
    w_sigma: np.ndarray,
) -> tuple[float, float, float]:
    """Kenward & Roger (1997) scaled F and denominator df for ``lmat @ beta = 0``.

    ``est`` is ``lmat @ beta``; ``lmat`` must be in the model's internal parametrisation.
    """
    q = lmat.shape[0]
    theta_m = lmat.T @ np.linalg.solve(lmat @ phi @ lmat.T, lmat)
    mk = np.einsum("ab,bc,kcd,de->kae", theta_m, phi, p_mats, phi)
    tr = np.einsum("kaa->k", mk)
    a1 = float(tr @ w_sigma @ tr)
    a2 = float(np.einsum("kl,kab,lba->", w_sigma, mk, mk))
    b = (a1 + 6 * a2) / (2 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    den = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    e_star = 1 / (1 - a2 / q)
    v_star = (2 / q) * (1 + c1 * b) / ((1 - c2 * b) ** 2 * (1 - c3 * b))
    rho = v_star / (2 * e_star**2)
    m_df = 4 + (q + 2) / (q * rho - 1)
    lam = m_df / (e_star * (m_df - 2))
    f_stat = float(est @ np.linalg.solve(lmat @ phi_a @ lmat.T, est)) / q
    return lam * f_stat, m_df, lam


def _fit_theta(model: _REMLModel, theta0: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    res = optimize.minimize(
        model.objective, theta0, jac=True, method="BFGS", options={"gtol": 1e-4, "maxiter": 500}
    )
    theta = res.x
    iterations = int(res.nit)
    f_cur = model.objective(theta, grad=False)
    # f is a sum of terms of size ~n_obs; differences below this are rounding noise.
    noise = 1e-10 * max(1.0, abs(f_cur), float(model.n_obs))

    def polish(theta: np.ndarray, f_cur: float, solve: Any, max_steps: int) -> tuple:
        taken = 0
        for _ in range(max_steps):
            g = model.gradient(theta)
            step = solve(g)
            if not np.all(np.isfinite(step)) or float(g @ step) < 1e-14:
                break
            t = 1.0
            while t > 1e-4:
                cand = theta - t * step
                f_new = model.objective(cand, grad=False)
                if f_new <= f_cur + noise:
                    break
                t /= 2
            else:
                break
            theta, f_cur = cand, min(f_cur, f_new)
            taken += 1
        return theta, f_cur, taken

    # BFGS stops at a loose gradient; SEs and df need the exact optimum. First polish with
    # BFGS's own inverse-Hessian estimate (cheap), then compute the finite-difference Hessian
    # once; take true Newton steps with it only if still needed (then recompute it).
    theta, f_cur, taken = polish(theta, f_cur, lambda g: res.hess_inv @ g, 8)
    iterations += taken
    hess = model.hessian(theta)
    try:
        theta, f_cur, taken = polish(theta, f_cur, lambda g: np.linalg.solve(hess, g), 4)
    except np.linalg.LinAlgError:
        taken = 0
    iterations += taken
    if taken:
        hess = model.hessian(theta)
    if not np.isfinite(f_cur):
        raise NotEnoughDataError("the REML fit failed (the covariance became singular)")
    grad = model.gradient(theta)
    if not (np.all(np.isfinite(hess)) and np.all(np.isfinite(grad))):
        raise NotEnoughDataError(
            "the REML fit failed numerically (the covariance estimate degenerated)"
        )
    eig = np.linalg.eigvalsh(hess)
    positive = eig.min() > 1e-10 * max(1.0, eig.max())
    # Newton decrement g'H^-1 g: the remaining gain in -2 log-likelihood, scale-free.
    decrement = float(grad @ np.linalg.solve(hess, grad)) if positive else np.inf
    if not positive or decrement > 1e-6:
        raise NotEnoughDataError(
            "the unstructured covariance could not be estimated (REML did not reach a proper "
            "maximum); there are too few subjects per visit or pair of visits for the number "
            "of visits"
        )
    return theta, hess, iterations


def _log_likelihood(model: _REMLModel, theta: np.ndarray, scale: float) -> float:
    """(Restricted) log-likelihood on the original scale of the outcome.

    REML: comparable with R ``mmrm``'s ``logLik`` and SAS's "-2 Res Log Likelihood" (x -2);
    ML: with R ``nlme::gls(method="ML")``'s ``logLik`` and SAS's "-2 Log Likelihood".
    The outcome was divided by ``scale``, which shifts -2 log L by ``n_eff * 2 log(scale)``.
    """
    f_min = model.objective(theta, grad=False)
    n_eff = model.n_obs - model.p if model.reml else model.n_obs
    return float(-0.5 * (f_min + n_eff * (np.log(2 * np.pi) + 2 * np.log(scale))))


def _start_theta(model: _REMLModel) -> np.ndarray:
    """Pairwise covariance of ordinary least-squares residuals, made positive definite."""
    w_ident = model.mm * np.eye(model.T)[None]
    m, b, _ = model.normal_equations(w_ident)
    beta = np.linalg.lstsq(m, b, rcond=None)[0]
    resid = model.residual_crossproducts(beta).sum(axis=0)
    pairs = np.einsum("p,pjk->jk", model.n_pat, model.mm)
    sigma = resid / np.maximum(pairs, 1.0)
    vals, vecs = np.linalg.eigh(sigma)
    floor = 1e-3 * max(float(np.max(np.diag(sigma))), 1e-12)
    sigma = (vecs * np.maximum(vals, floor)) @ vecs.T
    return model.theta_from_sigma(sigma)


_DF_LABELS = {
    "satterthwaite": "Satterthwaite",
    "kenward-roger": "Kenward-Roger (linear covariance parameters)",
}


@dataclass(frozen=True)
class MMRMResult(ResultMixin):
    """MMRM fit.

    From ``fit_mmrm``, ``coefficients`` use the per-visit parametrisation of the module
    docstring. From ``fit_mmrm_design`` they are the columns of the given design matrix, and
    ``arms``, ``lsmeans`` and ``contrasts`` are empty (use ``contrast`` and ``f_test``).
    """

    arms: tuple[str, ...]
    reference_arm: str
    visits: tuple[str, ...]
    coefficients: tuple[Estimate, ...]
    lsmeans: tuple[LSMean, ...]
    contrasts: tuple[Contrast, ...]
    covariance: tuple[tuple[float, ...], ...]
    n_subjects: int
    n_observations: int
    n_incomplete_subjects: int
    n_missingness_patterns: int
    reml_loglik: float
    iterations: int
    level: float
    missing_data: str
    method: str = "REML"
    covariance_structure: str = "unstructured"
    df_method: str = "Satterthwaite"
    # The maximised log-likelihood of ``method``: equal to reml_loglik for REML fits; for ML
    # fits (fit_mmrm_design only) reml_loglik is NaN and this is the ML log-likelihood.
    log_likelihood: float = float("nan")
    _beta: np.ndarray = internal()
    _model: _REMLModel = internal()
    _theta: np.ndarray = internal()
    _theta_cov: np.ndarray = internal()
    _scale: float = internal(1.0)
    _kr: tuple[np.ndarray, np.ndarray, np.ndarray] | None = internal()
    _bmat: np.ndarray = internal()
    _layout: tuple[Any, ...] = internal()

    @property
    def coefficient_names(self) -> list[str]:
        return [c.name for c in self.coefficients]

    def contrast(self, weights: ArrayLike, name: str = "contrast") -> Estimate:
        """Estimate, SE, df (``df_method``), CI and p for ``weights @ beta``."""
        lvec = np.asarray(weights, dtype=float).reshape(1, -1)
        if lvec.shape[1] != len(self.coefficients):
            raise ValueError(f"weights must have {len(self.coefficients)} entries")
        return _estimates(self, lvec, [name])[0]

    def with_df_method(self, df_method: Literal["satterthwaite", "kenward-roger"]) -> MMRMResult:
        """The same fit with its inference redone by another df method (no refitting)."""
        if df_method not in ("satterthwaite", "kenward-roger"):
            raise ValueError("df_method must be 'satterthwaite' or 'kenward-roger'")
        if df_method == "kenward-roger" and self.method != "REML":
            raise ValueError("Kenward-Roger degrees of freedom are defined for REML fits only")
        kr = (
            self._model.kenward_roger(self._theta, self._theta_cov)
            if df_method == "kenward-roger"
            else None
        )
        packed = (
            self._model,
            self._theta,
            self._theta_cov,
            self._beta,
            self._bmat,
            self._scale,
            self.level,
            kr,
        )
        coefs, lsmeans, contrasts = _summaries(packed, self._layout)
        return dataclasses.replace(
            self,
            coefficients=coefs,
            lsmeans=lsmeans,
            contrasts=contrasts,
            df_method=_DF_LABELS[df_method],
            _kr=kr,
        )

    def f_test(self, weights: ArrayLike, name: str = "F test") -> FTest:
        """Wald F test of ``weights @ beta = 0`` (one row per constraint).

        Denominator df by the multi-dimensional Satterthwaite method (Fai & Cornelius 1996,
        as in R ``mmrm``/``lmerTest``): the constraints are rotated into independent
        contrasts, each gets its own Satterthwaite df ``nu_m``, and with
        ``E = sum nu_m / (nu_m - 2)`` the denominator df is ``2E / (E - q)``. With
        ``df_method="kenward-roger"``: the Kenward & Roger (1997) scaled F with the adjusted
        covariance and its denominator df.
        """
        lmat = np.atleast_2d(np.asarray(weights, dtype=float))
        if lmat.shape[1] != len(self.coefficients):
            raise ValueError(f"weights must have {len(self.coefficients)} columns")
        q = lmat.shape[0]
        model = self._model
        est = lmat @ self._beta
        lmat = lmat @ self._bmat.T  # into the centred internal parametrisation
        _, v_beta, w, lower = model.gls(self._theta)
        cmat = lmat @ v_beta @ lmat.T
        eigval, eigvec = np.linalg.eigh(cmat)
        if eigval.min() <= 1e-10 * max(eigval.max(), 0.0):
            raise ValueError("the rows of weights are linearly dependent")
        if self._kr is not None:
            phi_a, p_mats, w_sigma = self._kr
            f_kr, den, _ = _kr_f_test(lmat, est, v_beta, phi_a, p_mats, w_sigma)
            return FTest(name=name, num_df=q, den_df=den, f=f_kr, p=float(stats.f.sf(f_kr, q, den)))
        f_stat = float(est @ np.linalg.solve(cmat, est)) / q
        _, nu = model.contrast_df(eigvec.T @ lmat, v_beta, w, lower, self._theta_cov)
        if q == 1:
            den = float(nu[0])
        else:
            big = nu > 2  # nu <= 2: the t variance nu/(nu-2) is infinite, so leave it out
            e_sum = float(np.sum(nu[big] / (nu[big] - 2)))
            den = 2 * e_sum / (e_sum - q) if e_sum > q else float("nan")
        p = float(stats.f.sf(f_stat, q, den)) if np.isfinite(den) else float("nan")
        return FTest(name=name, num_df=q, den_df=den, f=f_stat, p=p)


def _summaries(
    packed: tuple[Any, ...], layout: tuple[Any, ...]
) -> tuple[tuple[Estimate, ...], tuple[LSMean, ...], tuple[Contrast, ...]]:
    names, ls_rows, ls_names, con_rows, con_names, reference = layout
    coefs = tuple(_estimates(packed, np.eye(len(names)), names))
    ls_est = _estimates(packed, ls_rows, [f"{a}@{v}" for a, v in ls_names])
    con_est = _estimates(packed, con_rows, [f"{a}@{v}" for a, v in con_names])
    lsmeans = tuple(
        LSMean(a, v, e.estimate, e.se, e.df, e.lower, e.upper)
        for (a, v), e in zip(ls_names, ls_est, strict=True)
    )
    contrasts = tuple(
        Contrast(a, reference, v, e.estimate, e.se, e.df, e.lower, e.upper, e.t, e.p)
        for (a, v), e in zip(con_names, con_est, strict=True)
    )
    return coefs, lsmeans, contrasts


def _estimates(
    fit: MMRMResult | tuple[Any, ...], lmat: np.ndarray, names: Sequence[str]
) -> list[Estimate]:
    if isinstance(fit, MMRMResult):
        model, theta, theta_cov, beta, bmat, scale, level, kr = (
            fit._model,
            fit._theta,
            fit._theta_cov,
            fit._beta,
            fit._bmat,
            fit._scale,
            fit.level,
            fit._kr,
        )
    else:
        model, theta, theta_cov, beta, bmat, scale, level, kr = fit
    est = lmat @ beta * scale
    lmat_c = lmat @ bmat.T  # the same contrasts in the centred internal parametrisation
    _, v_beta, w, lower = model.gls(theta)
    # For one contrast the Kenward-Roger df equals the Satterthwaite df (lambda = 1, m = 2/A2);
    # only the variance changes, to the small-sample adjusted Phi_A.
    var, df = model.contrast_df(lmat_c, v_beta, w, lower, theta_cov)
    if kr is not None:
        var = np.einsum("ca,ab,cb->c", lmat_c, kr[0], lmat_c)
    if not (np.all(np.isfinite(var)) and np.all(var > 0) and np.all(np.isfinite(df))):
        raise NotEnoughDataError(
            "the fitted model gives no usable standard errors (numerically singular); "
            "check for constant or extreme values"
        )
    se = np.sqrt(var) * scale
    tq = stats.t.ppf(0.5 + level / 2, df)
    tval = est / se
    pval = 2 * stats.t.sf(np.abs(tval), df)
    return [
        Estimate(
            str(nm),
            float(e),
            float(s),
            float(d),
            float(e - t * s),
            float(e + t * s),
            float(tv),
            float(pv),
        )
        for nm, e, s, d, t, tv, pv in zip(names, est, se, df, tq, tval, pval, strict=True)
    ]


def _check_estimable(data: LongData, q1: int) -> None:
    n_subj, n_vis = data.y.shape
    if n_subj < 2:
        raise NotEnoughDataError(f"an MMRM needs at least 2 subjects, got {n_subj}")
    if len(data.arms) < 2:
        raise NotEnoughDataError(
            f"only one arm ({data.arms[0]!r}) has analysable subjects; a treatment comparison "
            "needs at least two"
        )
    obs = ~np.isnan(data.y)
    for j, v in enumerate(data.visits):
        for a, arm in enumerate(data.arms):
            if not obs[data.arm_index == a, j].any():
                raise NotEnoughDataError(
                    f"arm {arm!r} has no observed value at visit {v!r}, so its effect at that "
                    "visit cannot be estimated"
                )
        if obs[:, j].sum() <= q1:
            raise NotEnoughDataError(
                f"visit {v!r} has {int(obs[:, j].sum())} observed values; at least {q1 + 1} are "
                "needed to estimate its mean per arm and its variance"
            )
    both = obs.T.astype(float) @ obs.astype(float)
    for j in range(n_vis):
        for k in range(j):
            if both[j, k] < 1:
                raise NotEnoughDataError(
                    f"no subject is observed at both visit {data.visits[k]!r} and visit "
                    f"{data.visits[j]!r}, so their covariance cannot be estimated"
                )


def fit_mmrm(
    subject: ArrayLike,
    arm: ArrayLike,
    visit: ArrayLike,
    baseline: ArrayLike | None,
    value: ArrayLike,
    *,
    reference_arm: object | None = None,
    covariates: Mapping[str, ArrayLike] | None = None,
    visit_order: Sequence[object] | None = None,
    level: float = 0.95,
    df_method: Literal["satterthwaite", "kenward-roger"] = "satterthwaite",
) -> MMRMResult:
    """Fit an MMRM to a long-format table (one row per subject and post-baseline visit).

    ``value`` is the analysed outcome (usually the change from baseline; NaN = missing).
    ``baseline`` (one value per subject, repeated on its rows) enters as baseline x visit;
    pass ``None`` to leave it out. ``covariates`` maps names to per-row arrays that are
    constant within a subject: numbers enter as they are, text is dummy-coded (first sorted
    level = reference); each has one effect across visits. Visits are sorted unless
    ``visit_order`` is given. ``df_method="kenward-roger"`` uses the Kenward-Roger adjusted
    covariance and df (linear parametrisation of Sigma) instead of Satterthwaite. Raises
    ``NotEnoughDataError`` when the model is not estimable.
    """
    if not 0.0 < level < 1.0:
        raise ValueError("level must be between 0 and 1")
    if df_method not in ("satterthwaite", "kenward-roger"):
        raise ValueError("df_method must be 'satterthwaite' or 'kenward-roger'")
    data = prepare_long(
        subject,
        arm,
        visit,
        baseline,
        value,
        reference_arm=reference_arm,
        covariates=covariates,
        visit_order=visit_order,
    )
    n_subj, n_vis = data.y.shape
    n_arms = len(data.arms)
    has_base = data.baseline is not None
    q1 = n_arms + (1 if has_base else 0)
    _check_estimable(data, q1)

    cols = [np.ones(n_subj)]
    cols += [(data.arm_index == a).astype(float) for a in range(1, n_arms)]
    if has_base:
        cols.append(np.asarray(data.baseline, dtype=float))
    u = np.column_stack([*cols, data.covariates])
    # Internally the outcome is centred per visit and scaled to unit SD, and the design
    # columns are centred: the sufficient statistics then hold central moments, so
    # y'Wy - b'beta does not cancel catastrophically when values sit far from zero.
    # Both are exact reparametrisations, mapped back below.
    scale = float(np.nanstd(data.y))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    y_mean = np.nanmean(data.y, axis=0)
    u_mean = u.mean(axis=0)
    u_mean[0] = 0.0
    model = _REMLModel(u - u_mean, (data.y - y_mean) / scale, q1)
    if model.n_obs <= model.p:
        raise NotEnoughDataError(
            f"{model.n_obs} observations cannot estimate {model.p} fixed effects plus a covariance"
        )
    m_ols, _, _ = model.normal_equations(model.mm * np.eye(n_vis)[None])
    if np.linalg.matrix_rank(m_ols) < model.p:
        raise NotEnoughDataError(
            "the fixed-effects design is singular (a baseline or covariate is constant, or "
            "collinear with arm and visit)"
        )
    theta, hess, iterations = _fit_theta(model, _start_theta(model))
    theta_cov = 2.0 * np.linalg.inv(hess)
    beta_c, _, _, lower = model.gls(theta)
    # x_centred = B x_original for every row: B = I - sum_j (E_j u_mean) e_{intercept j}'.
    e_maps = model.ef.reshape(model.p, n_vis, model.q)
    bmat = np.eye(model.p)
    for j in range(n_vis):
        bmat[:, j * q1] -= e_maps[:, j, :] @ u_mean
    beta = bmat.T @ beta_c
    beta[np.arange(n_vis) * q1] += y_mean / scale
    reml_loglik = _log_likelihood(model, theta, scale)

    vis_names = [str(v) for v in data.visits]
    names = []
    for v in vis_names:
        names.append(f"visit {v}: intercept")
        names += [f"visit {v}: arm {a}" for a in data.arms[1:]]
        if has_base:
            names.append(f"visit {v}: baseline")
    names += data.covariate_names
    kr = model.kenward_roger(theta, theta_cov) if df_method == "kenward-roger" else None
    packed = (model, theta, theta_cov, beta, bmat, scale, level, kr)

    # LS means at the mean baseline and mean covariate values of the analysed subjects.
    base_mean = float(np.mean(data.baseline)) if data.baseline is not None else 0.0
    cov_mean = data.covariates.mean(axis=0)
    ls_rows, ls_names, con_rows, con_names = [], [], [], []
    for j, v in enumerate(vis_names):
        for a, arm_name in enumerate(data.arms):
            row = np.zeros(model.p)
            row[j * q1] = 1.0
            if a:
                row[j * q1 + a] = 1.0
            if has_base:
                row[j * q1 + n_arms] = base_mean
            row[n_vis * q1 :] = cov_mean
            ls_rows.append(row)
            ls_names.append((arm_name, v))
            if a:
                crow = np.zeros(model.p)
                crow[j * q1 + a] = 1.0
                con_rows.append(crow)
                con_names.append((arm_name, v))
    layout = (names, np.array(ls_rows), ls_names, np.array(con_rows), con_names, data.arms[0])
    coefs, lsmeans, contrasts = _summaries(packed, layout)

    sigma = lower @ lower.T * scale**2
    n_incomplete = int(np.isnan(data.y).any(axis=1).sum())
    statement = (
        f"MMRM on all observed values: {model.n_obs} of {n_subj * n_vis} subject-visits observed "
        f"in {n_subj} subjects; {n_incomplete} subjects with missing visits contribute the visits "
        "they have (no imputation, no LOCF). Estimates are unbiased if data are missing at random "
        "(MAR: dropout may depend on arm, baseline, covariates and earlier observed values), not "
        f"if missingness depends on the unobserved values themselves (MNAR). {exclusion_text(data)}"
    )
    return MMRMResult(
        arms=tuple(data.arms),
        reference_arm=data.arms[0],
        visits=tuple(vis_names),
        coefficients=tuple(coefs),
        lsmeans=lsmeans,
        contrasts=contrasts,
        covariance=tuple(tuple(float(x) for x in r) for r in sigma),
        n_subjects=n_subj,
        n_observations=model.n_obs,
        n_incomplete_subjects=n_incomplete,
        n_missingness_patterns=len(model.n_pat),
        reml_loglik=float(reml_loglik),
        iterations=iterations,
        level=float(level),
        missing_data=statement,
        _beta=beta,
        _model=model,
        _theta=theta,
        _theta_cov=theta_cov,
        _scale=scale,
        _kr=kr,
        _bmat=bmat,
        _layout=layout,
        df_method=_DF_LABELS[df_method],
        log_likelihood=float(reml_loglik),
    )


def _long_to_wide_design(
    subject: ArrayLike,
    visit: ArrayLike,
    design: ArrayLike,
    value: ArrayLike,
    visit_order: Sequence[object] | None,
) -> tuple[np.ndarray, np.ndarray, list[object], np.ndarray, int]:
    """Per-subject outcome (n, T) and design (n, T, p) from one row per subject and visit."""
    subj = np.asarray(subject).ravel()
    vis = np.asarray(visit).ravel()
    try:
        val = np.asarray(value, dtype=float).ravel()
        x = np.asarray(design, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("value and design must be numeric (NaN = missing value)") from exc
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError("design must be a 2-D array with one row per observation")
    lengths = {
        "subject": subj.size,
        "visit": vis.size,
        "design rows": x.shape[0],
        "value": val.size,
    }
    if len(set(lengths.values())) != 1:
        raise ValueError(f"input arrays differ in length: {lengths}")
    if val.size == 0:
        raise NotEnoughDataError("no patient has a value to analyse")
    if pd.isna(subj).any() or pd.isna(vis).any():
        raise ValueError("subject and visit must not be missing")
    if np.isinf(val).any() or np.isinf(x).any():
        raise ValueError("values and design must be finite (NaN = missing value)")
    observed = ~np.isnan(val)
    if not observed.any():
        raise NotEnoughDataError("all outcome values are missing")
    visits, vis_idx = visit_index(vis, observed, visit_order)
    use = observed & (vis_idx >= 0)
    if np.isnan(x[use]).any():
        raise ValueError("design has missing values on rows with an observed outcome")
    subj_idx, subj_ids = pd.factorize(subj, sort=False)
    n_subj, n_vis, p = len(subj_ids), len(visits), x.shape[1]
    y = wide_outcome(val, subj_idx, subj_ids, vis_idx, visits, use)
    xw = np.zeros((n_subj, n_vis, p))
    xw[subj_idx[use], vis_idx[use]] = x[use]
    keep = ~np.isnan(y).all(axis=1)
    return y[keep], xw[keep], visits, np.asarray(subj_ids)[keep], int(n_subj - keep.sum())


def fit_mmrm_design(
    subject: ArrayLike,
    visit: ArrayLike,
    design: ArrayLike,
    value: ArrayLike,
    *,
    names: Sequence[str] | None = None,
    visit_order: Sequence[object] | None = None,
    method: Literal["REML", "ML"] = "REML",
    level: float = 0.95,
    df_method: Literal["satterthwaite", "kenward-roger"] = "satterthwaite",
) -> MMRMResult:
    """Unstructured-covariance model ``y = X beta + e`` for any fixed-effects design matrix.

    One row per subject and visit: ``design`` (rows x p) holds that observation's row of X,
    e.g. ``[1, girl, age, girl*age]`` for a growth curve with age continuous; columns may
    change between visits. ``visit`` indexes the unstructured covariance (Sigma is T x T over
    the visits, sorted unless ``visit_order`` is given). ``value`` NaN = missing (rows at
    visits outside ``visit_order`` are ignored). ``method`` "REML" (default) or "ML";
    Kenward-Roger needs REML. Coefficients are named by ``names`` (default x0, x1, ...).

    Same fitting core as ``fit_mmrm`` (sufficient statistics per missingness pattern, analytic
    gradient, Satterthwaite/Kenward-Roger): X is written as ``X_ij = u_i' G_j`` with
    ``u_i`` the subject's rows of X side by side, so its cost grows as ``(T^2 p)^2`` per
    evaluation. It is meant for small designs and for validation against published outputs
    (docs/statistics.md); treatment x visit analyses should use ``fit_mmrm``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError("level must be between 0 and 1")
    if method not in ("REML", "ML"):
        raise ValueError("method must be 'REML' or 'ML'")
    if df_method not in ("satterthwaite", "kenward-roger"):
        raise ValueError("df_method must be 'satterthwaite' or 'kenward-roger'")
    if df_method == "kenward-roger" and method != "REML":
        raise ValueError("Kenward-Roger degrees of freedom are defined for REML fits only")
    y, xw, visits, _, n_dropped = _long_to_wide_design(subject, visit, design, value, visit_order)
    n_subj, n_vis, p = xw.shape
    coef_names = [f"x{k}" for k in range(p)] if names is None else [str(n) for n in names]
    if len(coef_names) != p:
        raise ValueError(f"names must have {p} entries (one per design column)")
    if n_subj < 2:
        raise NotEnoughDataError(f"an MMRM needs at least 2 subjects, got {n_subj}")
    obs = ~np.isnan(y)
    both = obs.T.astype(float) @ obs.astype(float)
    for j in range(n_vis):
        if both[j, j] < 2:
            raise NotEnoughDataError(
                f"visit {visits[j]!r} has {int(both[j, j])} observed values; its variance "
                "cannot be estimated"
            )
        for k in range(j):
            if both[j, k] < 1:
                raise NotEnoughDataError(
                    f"no subject is observed at both visit {visits[k]!r} and visit "
                    f"{visits[j]!r}, so their covariance cannot be estimated"
                )
    x_obs = xw[obs]
    if np.linalg.matrix_rank(x_obs) < p:
        raise NotEnoughDataError("the design matrix is singular on the observed rows")
    n_obs = int(obs.sum())
    if n_obs <= p:
        raise NotEnoughDataError(
            f"{n_obs} observations cannot estimate {p} fixed effects plus a covariance"
        )
    # Internally the outcome is scaled to unit SD and, when the columns of X span a constant,
    # centred: y - m = X (beta - m c) with X c = 1. Both are exact reparametrisations.
    scale = float(np.nanstd(y))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    c_vec = np.linalg.lstsq(x_obs, np.ones(n_obs), rcond=None)[0]
    y_mean = float(np.nanmean(y)) if np.allclose(x_obs @ c_vec, 1.0, atol=1e-10) else 0.0
    # u_i = (X_i1, ..., X_iT) side by side (zeros at missing visits, which get no weight);
    # Ef picks block j of u_i for visit j: X_ij beta = u_i' G_j.
    q = n_vis * p
    ef = np.zeros((p, n_vis * q))
    for j in range(n_vis):
        ef[np.arange(p), j * q + j * p + np.arange(p)] = 1.0
    model = _REMLModel(xw.reshape(n_subj, q), (y - y_mean) / scale, 0, ef=ef, reml=method == "REML")
    theta, hess, iterations = _fit_theta(model, _start_theta(model))
    theta_cov = 2.0 * np.linalg.inv(hess)
    beta_c, _, _, lower = model.gls(theta)
    beta = beta_c + (y_mean / scale) * c_vec
    loglik = _log_likelihood(model, theta, scale)
    kr = model.kenward_roger(theta, theta_cov) if df_method == "kenward-roger" else None
    bmat = np.eye(p)
    packed = (model, theta, theta_cov, beta, bmat, scale, level, kr)
    empty = np.zeros((0, p))
    layout: tuple[Any, ...] = (coef_names, empty, [], empty, [], "")
    coefs, _, _ = _summaries(packed, layout)
    sigma = lower @ lower.T * scale**2
    n_incomplete = int((~obs).any(axis=1).sum())
    dropped = (
        f" {n_dropped} subjects without any analysable value were left out." if n_dropped else ""
    )
    statement = (
        f"{method} fit on all observed values: {n_obs} of {n_subj * n_vis} subject-visits "
        f"observed in {n_subj} subjects; {n_incomplete} subjects with missing visits contribute "
        "the visits they have (no imputation). Valid under missing at random (MAR), not under "
        f"MNAR.{dropped}"
    )
    return MMRMResult(
        arms=(),
        reference_arm="",
        visits=tuple(str(v) for v in visits),
        coefficients=tuple(coefs),
        lsmeans=(),
        contrasts=(),
        covariance=tuple(tuple(float(v) for v in r) for r in sigma),
        n_subjects=n_subj,
        n_observations=n_obs,
        n_incomplete_subjects=n_incomplete,
        n_missingness_patterns=len(model.n_pat),
        reml_loglik=loglik if method == "REML" else float("nan"),
        iterations=iterations,
        level=float(level),
        missing_data=statement,
        method=method,
        df_method=_DF_LABELS[df_method],
        log_likelihood=loglik,
        _beta=beta,
        _model=model,
        _theta=theta,
        _theta_cov=theta_cov,
        _scale=scale,
        _kr=kr,
        _bmat=bmat,
        _layout=layout,
    )
