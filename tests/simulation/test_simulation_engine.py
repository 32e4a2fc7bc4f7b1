"""The kernel reproduces renewal theory, the Halloy 2002 ODE, and exact clock changes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from anagen.simulation import engine
from anagen.simulation.checks import (
    halloy2002_cycle,
    halloy2002_ode_steady_state,
    mean_cycle_days,
    shedding_per_day,
    stationary_fractions,
)
from anagen.simulation.params import CycleParams


def _run(params, n, diameter_um, last_day, seed=1, effects_fn=None, rows=1):
    """n follicles per row at a fixed diameter, no miniaturisation."""
    total = n * rows
    ld = np.full(total, math.log(diameter_um))
    foll = engine.Follicles(
        row=np.repeat(np.arange(rows), n),
        log_d=ld,
        dlog_d=np.zeros(total),
        log_d_cap=ld.copy(),
        start_phase=np.full(total, engine.STATIONARY, dtype=np.int8),
        start_residual=np.zeros(total),
    )
    rngs = [np.random.default_rng([seed, r]) for r in range(rows)]
    eff = effects_fn(rows) if effects_fn else None
    return engine.simulate(
        params,
        foll,
        np.full(rows, math.log(params.anagen_mean_days)),
        rngs,
        last_day,
        effects=eff,
    )


def _tol(p, n, k=4.5):
    """k binomial standard errors (fractions of n independent follicles)."""
    return k * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("diameter", [70.0, 45.0, 28.0])
def test_phase_fractions_equal_expected_phase_over_expected_cycle(diameter):
    p = CycleParams()
    n = 60_000
    out = _run(p, n, diameter, 900)
    expect = stationary_fractions(p, diameter)
    for day in (0, 450, 900):
        anagen = out.anagen[0, day] / n
        hair = out.hairs[0, day] / n
        assert abs(anagen - expect["anagen"]) < _tol(expect["anagen"], n)
        assert abs(hair - (1 - expect["kenogen"])) < _tol(1 - expect["kenogen"], n)
    # vellus classification follows the diameter cut-off
    assert (out.hairs_vellus.sum() > 0) == (diameter < p.vellus_cutoff_um)


def test_shedding_rate_equals_follicles_over_mean_cycle():
    p = CycleParams(anagen_mean_days=400.0)
    n, days = 40_000, 1000
    out = _run(p, n, 60.0, days)
    expected = shedding_per_day(p, n, 60.0) * days
    assert abs(out.shed[0] - expected) < 4.5 * math.sqrt(expected)


def test_shedding_rate_wrong_if_cycle_mean_misspecified():
    # the check is sharp: a 10 % longer cycle would be detected
    p = CycleParams(anagen_mean_days=400.0)
    n, days = 40_000, 1000
    out = _run(p, n, 60.0, days)
    wrong = 0.9 * shedding_per_day(p, n, 60.0) * days
    assert abs(out.shed[0] - wrong) > 4.5 * math.sqrt(wrong)


def test_steady_state_matches_halloy_2002_ode():
    ode = halloy2002_ode_steady_state(3.6, 2.4, 2.0)
    # the ODE's own steady state is A* = μA / Σμ (45/30/25 %)
    assert ode["anagen"] == pytest.approx(3.6 / 8.0, abs=1e-6)
    assert ode["kenogen"] == pytest.approx(2.0 / 8.0, abs=1e-6)
    p = halloy2002_cycle(3.6, 2.4, 2.0)
    n = 50_000
    out = _run(p, n, 70.0, 400, seed=5)
    for day in (0, 400):
        anagen = out.anagen[0, day] / n
        hair = out.hairs[0, day] / n  # anagen + telogen (no catagen in this model)
        assert abs(anagen - ode["anagen"]) < _tol(ode["anagen"], n)
        assert abs((hair - anagen) - ode["telogen"]) < _tol(ode["telogen"], n)


def _const_effects(rows, **rates):
    t = np.array([0.0])
    one = np.ones((rows, 1))
    kw = dict(
        anagen_rate=one,
        telogen_rate=one,
        kenogen_rate=one,
        hazard=0 * one,
        mini_scale=one,
        thicken=0 * one,
    )
    for k, v in rates.items():
        kw[k] = np.full((rows, 1), v)
    return engine.Effects(times=t, **kw)


def test_anagen_clock_multiplier_rescales_anagen_exactly():
    # A clock running at half speed from day 0 doubles the mean anagen: the new steady state
    # (reached after many short cycles) is the analytic one with 2 μA.
    p = CycleParams(anagen_mean_days=60.0, anagen_diameter_exponent=0.0)
    n = 40_000
    out = _run(p, n, 70.0, 1500, effects_fn=lambda r: _const_effects(r, anagen_rate=0.5))
    slow = CycleParams(anagen_mean_days=120.0, anagen_diameter_exponent=0.0)
    expect = stationary_fractions(slow, 70.0)["anagen"]
    base = stationary_fractions(p, 70.0)["anagen"]
    assert abs(out.anagen[0, 1500] / n - expect) < _tol(expect, n)
    assert abs(expect - base) > 10 * _tol(expect, n)  # the test can tell the two apart


def test_induction_hazard_is_a_competing_exponential_clock():
    # Constant hazard h on telogen (no kenogen): effective telogen mean is ∫ S_T(t) e^{-ht} dt.
    h = 1 / 60
    p = CycleParams(
        anagen_mean_days=80.0,
        anagen_diameter_exponent=0.0,
        kenogen_prob_terminal=0.0,
        kenogen_prob_miniaturised=0.0,
    )
    sig = engine.lognormal_sigma(p.telogen_cv)
    dist = stats.lognorm(s=sig, scale=p.telogen_mean_days * math.exp(-0.5 * sig**2))
    t_eff, _ = integrate.quad(lambda t: dist.sf(t) * math.exp(-h * t), 0, np.inf)
    means = [p.anagen_mean_days, p.catagen_mean_days, t_eff]
    expect_telogen = t_eff / sum(means)
    n = 40_000
    out = _run(p, n, 70.0, 1200, effects_fn=lambda r: _const_effects(r, hazard=h))
    telogen = (out.hairs[0, 1200] - out.anagen[0, 1200]) / n - p.catagen_mean_days / sum(means)
    assert abs(telogen - expect_telogen) < _tol(expect_telogen, n)
    assert t_eff < 0.8 * p.telogen_mean_days  # the hazard matters


def test_clock_inverse_is_exact_for_piecewise_rates():
    rng = np.random.default_rng(3)
    times = np.array([0.0, 10.0, 25.0, 40.0, 90.0])
    rates = rng.uniform(0.2, 3.0, size=(3, times.size))
    clk = engine._Clock(times, rates)
    row = rng.integers(0, 3, 500)
    t0 = rng.uniform(0, 120, 500)
    length = rng.uniform(0, 80, 500)
    t1 = clk.advance(t0, length, row)

    def integral(r, a, b):
        grid = np.concatenate([[a], times[(times > a) & (times < b)], [b]])
        seg = np.searchsorted(times, grid[:-1], side="right") - 1
        return float(np.sum(rates[r, seg] * np.diff(grid)))

    got = np.array([integral(r, a, b) for r, a, b in zip(row, t0, t1, strict=True)])
    np.testing.assert_allclose(got, length, rtol=1e-9, atol=1e-9)


def test_zero_hazard_never_induces():
    clk = engine._Clock(np.array([0.0, 5.0]), np.array([[0.1, 0.0]]))
    out = clk.inverse(np.array([0.2, 0.5, 0.6, 1.0]), np.zeros(4, dtype=np.int64))
    assert out[0] == pytest.approx(2.0)
    assert out[1] == pytest.approx(5.0)  # the whole budget is used exactly at the switch
    assert np.isinf(out[2]) and np.isinf(out[3])


def test_mean_cycle_of_default_terminal_follicle_is_about_3_4_years():
    # REF B§2 derived check: 100,000 follicles / ~3.4-y mean cycle ≈ 80 shed/day.
    cycle_years = mean_cycle_days(CycleParams(), 70.0) / 365.25
    assert 3.0 < cycle_years < 3.8
    assert 70 < shedding_per_day(CycleParams(), 100_000, 70.0) < 95
