"""Analytic reference values the simulator must reproduce (used by the tests).

* Renewal theory: in steady state the fraction of follicles in a phase equals
  E[time in phase per cycle] / E[cycle length], whatever the duration distributions.
* Shedding: each cycle sheds one hair, so N follicles shed N / E[cycle] hairs per day.
* Halloy et al. 2002 ODE (REF B§1): dA/dt = L/μL − A/μA, dT/dt = A/μA − T/μT,
  dL/dt = T/μT − L/μL, steady state A* = μA/Σμ. Catagen is folded into the other phases and
  every cycle passes through latency (kenogen), so the matching cycle model has catagen 0 and
  p_K = 1.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from .params import CycleParams

DAYS_PER_MONTH = 365.25 / 12


def stationary_fractions(
    params: CycleParams, diameter_um: float, anagen_multiplier: float = 1.0
) -> dict[str, float]:
    """Expected share of follicles in each phase for a fixed diameter."""
    means = params.phase_means(diameter_um, anagen_multiplier)
    total = sum(means.values())
    return {k: v / total for k, v in means.items()}


def mean_cycle_days(
    params: CycleParams, diameter_um: float, anagen_multiplier: float = 1.0
) -> float:
    return sum(params.phase_means(diameter_um, anagen_multiplier).values())


def shedding_per_day(
    params: CycleParams, n_follicles: int, diameter_um: float, anagen_multiplier: float = 1.0
) -> float:
    return n_follicles / mean_cycle_days(params, diameter_um, anagen_multiplier)


def halloy2002_cycle(
    mu_a_months: float = 3.6, mu_t_months: float = 2.4, mu_l_months: float = 2.0, cv: float = 0.5
) -> CycleParams:
    """Cycle parameters equivalent to the Halloy 2002 ODE example (BioModels MODEL1006230014:
    μA = 3.6, μT = 2.4, μL = 2 months; illustrative, not physiological)."""
    return CycleParams(
        anagen_mean_days=mu_a_months * DAYS_PER_MONTH,
        anagen_cv=cv,
        anagen_diameter_exponent=0.0,
        catagen_mean_days=0.0,
        catagen_cv=0.0,
        telogen_mean_days=mu_t_months * DAYS_PER_MONTH,
        telogen_cv=cv,
        kenogen_prob_terminal=1.0,
        kenogen_prob_miniaturised=1.0,
        kenogen_mean_days_terminal=mu_l_months * DAYS_PER_MONTH,
        kenogen_mean_days_miniaturised=mu_l_months * DAYS_PER_MONTH,
        kenogen_cv=cv,
    )


def halloy2002_ode_steady_state(
    mu_a: float = 3.6, mu_t: float = 2.4, mu_l: float = 2.0, t_end: float = 600.0
) -> dict[str, float]:
    """Integrate the Halloy 2002 ODE from all-anagen to ``t_end`` (same time unit as the μ's)
    and return the final shares (A, T, L)."""

    def rhs(_t: float, y: np.ndarray) -> list[float]:
        a, t, lat = y
        return [lat / mu_l - a / mu_a, a / mu_a - t / mu_t, t / mu_t - lat / mu_l]

    sol = solve_ivp(rhs, (0.0, t_end), [1.0, 0.0, 0.0], rtol=1e-10, atol=1e-12)
    a, t, lat = sol.y[:, -1]
    total = a + t + lat
    return {"anagen": a / total, "telogen": t / total, "kenogen": lat / total}
