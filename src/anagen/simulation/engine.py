"""Event-driven, exact simulation of follicle cycles (the numerical kernel).

Every follicle is a semi-Markov renewal process A → C → T → (K with p_K) → A with lognormal
phase lengths. Instead of stepping through days, the kernel makes one vectorised pass per
*cycle generation* over all follicles that are still inside the time horizon, so cost grows
with the number of cycles, not with time resolution, and event times are continuous (exact).

Visible-hair intervals are recorded into per-row difference arrays on the integer-day grid
(``np.bincount`` of start and end indices; a cumulative sum gives counts). Visits happen on
whole days, so ``ceil`` of a continuous event time gives the exact first day an interval
covers: an interval [s, e) covers day k iff ceil(s) ≤ k < ceil(e).

Time-varying treatments stay exact:

* phase-clock multipliers k(t) (piecewise constant): a phase with intrinsic length D that
  starts at t0 ends at Λ⁻¹(Λ(t0) + D) with Λ(t) = ∫ k. This is the same as rescaling the
  residual time r → r/k at every switch point.
* induction pulses: a dormant follicle (telogen or kenogen) is pushed into anagen by a
  competing clock with piecewise-constant hazard h(t); the induction time is
  H⁻¹(H(t0) + E), E ~ Exp(1). One exponential covers telogen and the kenogen that follows
  (memorylessness makes this equal to a fresh draw at the phase boundary).

Random numbers come from one ``numpy.random.Generator`` per row (a row is a patient's target
area); each row draws its own block every generation, so the result for a row does not
depend on which other rows share the call (chunking-independent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .params import CycleParams

ANAGEN, CATAGEN, TELOGEN, KENOGEN = 0, 1, 2, 3
STATIONARY = -1  # start phase drawn from the stationary (length-biased) distribution

_N_NORMAL = 4  # anagen, catagen, telogen, kenogen lengths
_N_UNIFORM = 2  # kenogen choice, induction exponential


@dataclass
class Effects:
    """Per-row piecewise-constant treatment effects on shared breakpoints.

    ``times[b]`` (days, ``times[0] == 0``, increasing) starts segment b; the last segment
    extends to infinity. Every rate array has shape (rows, len(times)).
    """

    times: np.ndarray
    anagen_rate: np.ndarray  # phase-clock speed; < 1 prolongs anagen
    telogen_rate: np.ndarray
    kenogen_rate: np.ndarray
    hazard: np.ndarray  # anagen-induction hazard (per day) for telogen/kenogen follicles
    mini_scale: np.ndarray  # multiplier on the per-cycle miniaturisation step (0 = halted)
    thicken: np.ndarray  # per-cycle log-diameter gain (towards the original diameter)


@dataclass
class Follicles:
    """Follicle attributes, concatenated over rows; ``row`` must be non-decreasing."""

    row: np.ndarray  # int64
    log_d: np.ndarray  # current log diameter (µm)
    dlog_d: np.ndarray  # per-cycle log-diameter step (<= 0)
    log_d_cap: np.ndarray  # original log diameter (thickening never exceeds it)
    start_phase: np.ndarray  # int8: STATIONARY or KENOGEN (forced, e.g. new grafts)
    start_residual: np.ndarray  # days left in a forced start phase


@dataclass
class DailyCounts:
    """Noise-free counts per row (axis 0) and day 0..last_day (axis 1)."""

    hairs_terminal: np.ndarray
    hairs_vellus: np.ndarray
    anagen_terminal: np.ndarray
    anagen_vellus: np.ndarray
    young_terminal: np.ndarray  # anagen hairs younger than the emergence lag
    young_vellus: np.ndarray
    diameter_sum_um: np.ndarray
    alive: np.ndarray  # living follicles
    shed: np.ndarray  # (rows,) telogen exits (hair shed) on days (0, last_day]
    cycles: int  # full cycles simulated (anagen onsets after day 0)

    @property
    def hairs(self) -> np.ndarray:
        return self.hairs_terminal + self.hairs_vellus

    @property
    def anagen(self) -> np.ndarray:
        return self.anagen_terminal + self.anagen_vellus


class _Clock:
    """Λ(t) = ∫₀ᵗ k for per-row piecewise-constant k ≥ 0, with a vectorised inverse."""

    def __init__(self, times: np.ndarray, rates: np.ndarray) -> None:
        self.t = times
        self.k = np.ascontiguousarray(rates, dtype=float)
        n_rows, n_bp = self.k.shape
        self.n_bp = n_bp
        cum = np.zeros_like(self.k)
        if n_bp > 1:
            cum[:, 1:] = np.cumsum(self.k[:, :-1] * np.diff(times), axis=1)
        self.cum = cum
        self.top = cum[:, -1]
        # Offsetting each row makes one globally sorted array: one searchsorted inverts all rows.
        self.off = np.concatenate([[0.0], np.cumsum(self.top + 1.0)[:-1]])
        self.flat = (cum + self.off[:, None]).ravel()
        self.cum_flat = cum.ravel()
        self.k_flat = self.k.ravel()

    def forward(self, t: np.ndarray, row: np.ndarray) -> np.ndarray:
        b = np.searchsorted(self.t, t, side="right") - 1
        j = row * self.n_bp + b
        return self.cum_flat[j] + self.k_flat[j] * (t - self.t[b])

    def inverse(self, lam: np.ndarray, row: np.ndarray) -> np.ndarray:
        clamped = np.minimum(lam, self.top[row])
        j = np.searchsorted(self.flat, clamped + self.off[row], side="right") - 1
        b = j - row * self.n_bp
        dl = lam - self.cum_flat[j]
        k = self.k_flat[j]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.t[b] + dl / k
        out[dl <= 0] = self.t[b][dl <= 0]
        out[(k <= 0) & (dl > 0)] = np.inf
        return out

    def advance(self, t0: np.ndarray, length: np.ndarray, row: np.ndarray) -> np.ndarray:
        return self.inverse(self.forward(t0, row) + length, row)


class _Segments:
    """Lookup of a per-row piecewise-constant value at given times."""

    def __init__(self, times: np.ndarray, values: np.ndarray) -> None:
        self.t = times
        self.v = np.ascontiguousarray(values, dtype=float).ravel()
        self.n_bp = len(times)

    def at(self, t: np.ndarray, row: np.ndarray) -> np.ndarray:
        b = np.searchsorted(self.t, t, side="right") - 1
        return self.v[row * self.n_bp + b]


def lognormal_sigma(cv: float) -> float:
    return math.sqrt(math.log1p(cv * cv))


class _Constants:
    """Cycle parameters pre-transformed to log space."""

    def __init__(self, p: CycleParams) -> None:
        self.gamma = p.anagen_diameter_exponent
        self.ld_ref = math.log(p.reference_diameter_um)
        self.ld_vel = math.log(p.vellus_cutoff_um)
        self.ld_death = math.log(p.death_diameter_um)
        self.sA = lognormal_sigma(p.anagen_cv)
        self.sC = lognormal_sigma(p.catagen_cv)
        self.sT = lognormal_sigma(p.telogen_cv)
        self.sK = lognormal_sigma(p.kenogen_cv)
        self.lmC = math.log(p.catagen_mean_days) if p.catagen_mean_days > 0 else -np.inf
        self.lmT = math.log(p.telogen_mean_days)
        # μ of the lognormal (log-mean minus σ²/2) so that E[duration] equals the mean.
        self.muC = self.lmC - 0.5 * self.sC**2
        self.muT = self.lmT - 0.5 * self.sT**2
        self.lmK0 = math.log(p.kenogen_mean_days_terminal)
        self.dlmK = math.log(p.kenogen_mean_days_miniaturised) - self.lmK0
        self.pK0 = p.kenogen_prob_terminal
        self.dpK = p.kenogen_prob_miniaturised - p.kenogen_prob_terminal
        self.inv_span = 1.0 / (self.ld_ref - self.ld_vel)

    def ramp(self, ld: np.ndarray) -> np.ndarray:
        r = np.subtract(self.ld_ref, ld)
        r *= self.inv_span
        np.maximum(r, 0.0, out=r)
        return np.minimum(r, 1.0, out=r)

    def log_mean_anagen(self, row_offset: np.ndarray, ld: np.ndarray) -> np.ndarray:
        return row_offset + self.gamma * (ld - self.ld_ref)


def _draw(
    rngs: Sequence[np.random.Generator], row: np.ndarray, n_rows: int, n_norm: int, n_unif: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row random numbers for the follicles listed in ``row`` (sorted by row).

    Each row's block comes from that row's own generator, in row order, so a row's stream
    depends only on its own history. The number of draws never depends on the treatment
    path, only on the row's own follicles.
    """
    n = row.size
    z = np.empty((n, n_norm), dtype=np.float32)
    u = np.empty((n, n_unif), dtype=np.float32)
    # ``row`` is sorted: row boundaries by binary search instead of a full bincount.
    bounds = np.searchsorted(row, np.arange(n_rows + 1))
    counts = np.diff(bounds)
    nz = np.flatnonzero(counts)
    stop = bounds[1:][nz]
    # Python ints in the loop: numpy scalar arithmetic would dominate for small rows.
    for r, s, e in zip(nz.tolist(), (stop - counts[nz]).tolist(), stop.tolist(), strict=True):
        g = rngs[r]
        if n_norm:
            g.standard_normal(out=z[s:e], dtype=np.float32)
        if n_unif:
            g.random(out=u[s:e], dtype=np.float32)
    return z, u


class _Tally:
    """Start/end indices of intervals on the (class, row, day) grid; summed at the end."""

    def __init__(self, n_rows: int, last_day: int) -> None:
        self.n_rows, self.last_day, self.width = n_rows, last_day, last_day + 2
        self.stride = n_rows * self.width
        self.starts: list[np.ndarray] = []
        self.ends: dict[str, list[np.ndarray]] = {"present": []}
        # Unweighted-only end indices are counted as they come (integer sums: exact, and no
        # large lists to keep and concatenate).
        # Small parts (many short rows, e.g. 1 cm² trials) are still concatenated at the end.
        self.end_counts = {
            key: np.zeros(2 * self.stride, dtype=np.int64) for key in ("anagen", "young")
        }
        self.end_small: dict[str, list[np.ndarray]] = {"anagen": [], "young": []}
        # Diameter weights travel with the visible-hair starts and present ends.
        self.d_start: list[np.ndarray] = []
        self.d_end: list[np.ndarray] = []
        self.deaths: list[np.ndarray] = []

    def end(self, key: str, idx: np.ndarray) -> None:
        """Record interval ends (flat grid indices) for ``anagen`` or ``young``."""
        if 4 * idx.size >= self.stride:
            self.end_counts[key] += np.bincount(idx, minlength=2 * self.stride)
        else:
            self.end_small[key].append(idx)

    def index(self, t: np.ndarray) -> np.ndarray:
        """First day ≥ t (clipped to the grid); an interval [s, e) covers [idx(s), idx(e))."""
        return np.minimum(np.ceil(np.maximum(t, 0.0)), self.last_day + 1).astype(np.int64)

    def index_pos(self, t: np.ndarray) -> np.ndarray:
        """``index`` for times known to be >= 0 (one operation fewer in the hot loop)."""
        x = np.ceil(t)
        np.minimum(x, self.last_day + 1, out=x)
        return x.astype(np.int64)

    def counts(
        self, alive_start: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """Per-class daily counts, diameter sums, hairs alive and hairs shed."""
        size = 2 * self.stride
        d1 = self.last_day + 1
        shape = (2, self.n_rows, self.width)

        def cat(parts: list[np.ndarray], dtype: type = np.int64) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        starts = cat(self.starts)
        s = np.bincount(starts, minlength=size)
        out = {}
        ends_by = {}
        for key in ("present", *self.end_counts):
            if key in self.end_counts:
                e = self.end_counts[key]
                if self.end_small[key]:
                    e += np.bincount(cat(self.end_small[key]), minlength=size)
            else:
                idx = cat(self.ends[key])
                e = np.bincount(idx, minlength=size)
                ends_by[key] = idx
            out[key] = np.cumsum(np.subtract(s, e).reshape(shape), axis=2)[:, :, :d1]
            if key == "present":
                # every present interval ends with its hair being shed (telogen exit)
                shed = e.reshape(shape)[:, :, 1:d1].sum(axis=(0, 2))
        dsum = np.bincount(starts, weights=cat(self.d_start, float), minlength=size)
        dsum -= np.bincount(ends_by["present"], weights=cat(self.d_end, float), minlength=size)
        dsum = np.cumsum(dsum.reshape(shape).sum(axis=0), axis=1)[:, :d1]
        alive = np.zeros((self.n_rows, self.width), dtype=np.int64)
        alive[:, 0] = alive_start
        if self.deaths:
            alive -= np.bincount(np.concatenate(self.deaths), minlength=self.stride).reshape(
                self.n_rows, self.width
            )
        alive = np.cumsum(alive, axis=1)[:, :d1]
        # Rounding in the weighted cumulative sum can leave -1e-12 where no hair is present.
        return out, np.maximum(dsum, 0.0), alive, shed


def simulate(
    params: CycleParams,
    follicles: Follicles,
    anagen_log_mean: np.ndarray,
    rngs: Sequence[np.random.Generator],
    last_day: int,
    emergence_lag_days: int = 21,
    effects: Effects | None = None,
) -> DailyCounts:
    """Simulate all follicles from day 0 to ``last_day`` (inclusive) and count per day.

    ``anagen_log_mean[r]`` is log of row r's mean anagen length (days) at the reference
    diameter. Follicles with ``start_phase == STATIONARY`` start from the stationary
    (length-biased) phase and residual-time distribution of the untreated cycle; forced
    kenogen starts (new grafts) carry no hair until their first anagen.
    ``emergence_lag_days`` (whole days) defines the "young anagen" channel: hairs in their
    first days of anagen that have not yet emerged far enough to be counted.
    """
    c = _Constants(params)
    n_rows = len(rngs)
    last_day = int(last_day)
    horizon = float(last_day)
    lag = int(round(emergence_lag_days))
    tally = _Tally(n_rows, last_day)
    width, stride = tally.width, tally.stride
    row = np.ascontiguousarray(follicles.row, dtype=np.int64)
    if row.size and np.any(np.diff(row) < 0):
        raise ValueError("follicles.row must be sorted (non-decreasing)")
    ld = np.array(follicles.log_d, dtype=float)
    dld = np.asarray(follicles.dlog_d, dtype=float)
    cap = np.asarray(follicles.log_d_cap, dtype=float)
    # Row offset of the anagen log-length: log mean − σ²/2 − γ·log d_ref.
    aoff = np.asarray(anagen_log_mean, dtype=float) - 0.5 * c.sA**2 - c.gamma * c.ld_ref
    treated = effects is not None
    if effects is not None:
        times = np.asarray(effects.times, dtype=float)
        clk_a = _Clock(times, effects.anagen_rate)
        clk_t = _Clock(times, effects.telogen_rate)
        clk_k = _Clock(times, effects.kenogen_rate)
        haz = _Clock(times, effects.hazard)
        mini = _Segments(times, effects.mini_scale)
        thick = _Segments(times, effects.thicken)
    has_c = c.lmC > -np.inf

    def dormant(
        rw: np.ndarray,
        lds: np.ndarray,
        t_tel: np.ndarray,
        tel_len: np.ndarray,
        zk: np.ndarray,
        u: np.ndarray,
        ken_only: np.ndarray | None = None,
        ken_len: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Telogen from t_tel (intrinsic length tel_len), then kenogen with p_K(d).

        Returns (telogen end = shedding time, next anagen onset). ``ken_only`` marks
        follicles that are already in kenogen at t_tel with ``ken_len`` left.
        """
        # In-place arithmetic below keeps the operation order of the plain expressions
        # (bit-identical results) while avoiding full-size temporaries.
        ramp = c.ramp(lds)
        klen = np.multiply(ramp, c.dlmK)
        klen += c.lmK0 - 0.5 * c.sK**2
        klen += np.multiply(zk, c.sK)  # float32 product, as in c.sK * zk
        np.exp(klen, out=klen)
        if ken_only is not None:
            klen = np.where(ken_only, ken_len, klen)
        ramp *= c.dpK
        ramp += c.pK0
        goes_k = np.less(u[:, 0], ramp)
        if not treated:
            if ken_only is not None:
                e_t = np.where(ken_only, t_tel, t_tel + tel_len)
                goes_k |= ken_only
            else:
                e_t = np.add(t_tel, tel_len, out=t_tel)  # t_tel is a scratch array here
            klen *= goes_k
            klen += e_t
            return e_t, klen
        e_tn = clk_t.advance(t_tel, tel_len, rw)
        expo = -np.log1p(-u[:, 1].astype(float))
        # A uniform draw of exactly 0 (odds 2^-24) would give a zero exponential, which the
        # clock inverse maps to the start of a zero-hazard segment, i.e. before telogen.
        np.maximum(expo, np.finfo(float).tiny, out=expo)
        tau = haz.inverse(haz.forward(t_tel, rw) + expo, rw)
        induced = tau < e_tn
        if ken_only is not None:
            e_tn = np.where(ken_only, t_tel, e_tn)
            induced &= ~ken_only
            goes_k |= ken_only
        goes_k &= ~induced
        e_t = np.where(induced, tau, e_tn)
        e_k = np.minimum(clk_k.advance(e_t, klen, rw), tau)
        return e_t, np.where(goes_k, e_k, e_t)

    # ---------------- initial state: stationary phase + residual, or forced kenogen -------
    z, u = _draw(rngs, row, n_rows, 1, 2)
    n = row.size
    ramp = c.ramp(ld)
    lmA = aoff[row] + c.gamma * ld + 0.5 * c.sA**2  # log of the mean anagen length
    lmK = c.lmK0 + c.dlmK * ramp
    mA = np.exp(lmA)
    mC = math.exp(c.lmC) if has_c else 0.0
    mT = math.exp(c.lmT)
    mK = (c.pK0 + c.dpK * ramp) * np.exp(lmK)
    x = u[:, 0] * (mA + mC + mT + mK)
    phase = np.full(n, KENOGEN, dtype=np.int8)
    phase[x < mA + mC + mT] = TELOGEN
    phase[x < mA + mC] = CATAGEN
    phase[x < mA] = ANAGEN
    forced = np.asarray(follicles.start_phase) == KENOGEN
    phase[forced] = KENOGEN
    sig = np.array([c.sA, c.sC, c.sT, c.sK])[phase]
    lmean = np.where(phase == ANAGEN, lmA, np.where(phase == KENOGEN, lmK, 0.0))
    lmean[phase == CATAGEN] = c.lmC if has_c else 0.0
    lmean[phase == TELOGEN] = c.lmT
    # Length-biased lognormal LN(μ + σ², σ), μ = log(mean) − σ²/2; age uniform on it.
    length = np.exp(lmean + 0.5 * sig**2 + sig * z[:, 0])
    age = u[:, 1] * length
    resid = length - age
    resid[forced] = np.asarray(follicles.start_residual, dtype=float)[forced]
    in_a = phase == ANAGEN
    dorm0 = phase != KENOGEN  # carries a hair at day 0
    e_a = np.zeros(n)
    if treated:
        e_a[in_a] = clk_a.advance(np.zeros(int(in_a.sum())), resid[in_a], row[in_a])
    else:
        e_a[in_a] = resid[in_a]

    base = row * width
    cls = base + np.where(ld < c.ld_vel, stride, 0)
    tally.starts.append(cls[dorm0])
    # Catagen/telogen hairs at day 0 have empty anagen intervals (end index 0).
    ia_end = np.where(in_a, tally.index(e_a), 0)
    tally.end("anagen", (cls + ia_end)[dorm0])
    young_end = np.minimum(tally.index(lag - age), ia_end)
    tally.end("young", (cls + young_end)[dorm0])
    tally.d_start.append(np.exp(ld[dorm0]))
    alive_start = np.bincount(row, minlength=n_rows)

    # Follicles whose current phase ends inside the horizon need the rest of their cycle.
    go = ~in_a | (e_a <= horizon)
    r2, ld2, cls2 = row[go], ld[go], cls[go]
    z3, u2 = _draw(rngs, r2, n_rows, 3, 2)
    ph2, res2, ea2 = phase[go], resid[go], e_a[go]
    cat = np.exp(c.muC + c.sC * z3[:, 0]) if has_c else np.zeros(r2.size)
    cat = np.where(ph2 == CATAGEN, res2, cat)
    t_tel = np.where(ph2 <= CATAGEN, ea2 + cat, 0.0)
    tel = np.where(ph2 == TELOGEN, res2, np.exp(c.muT + c.sT * z3[:, 1]))
    ken = ph2 == KENOGEN
    e_t, onset = dormant(r2, ld2, t_tel, tel, z3[:, 2], u2, ken, res2)
    vis2 = ~ken
    ie = tally.index(e_t)
    tally.ends["present"].append((cls2 + ie)[vis2])
    tally.d_end.append(np.exp(ld2[vis2]))

    def next_generation(onset, row, ld, dld, cap):  # noqa: ANN001, ANN202
        """Follicles whose next anagen starts inside the horizon, after the per-cycle diameter
        step; those that fall below the critical diameter die at that onset. One selection
        for both conditions (the order and the set of survivors are unchanged)."""
        keep = onset <= horizon
        if treated:
            step = dld * mini.at(onset, row) + thick.at(onset, row)
            ld = np.minimum(ld + step, np.maximum(cap, ld))
        else:
            ld = ld + dld
        dead = ld < c.ld_death
        dead &= keep
        if dead.any():
            tally.deaths.append(row[dead] * width + tally.index(onset[dead]))
            keep &= ~dead
        return onset[keep], row[keep], ld[keep], dld[keep], (cap[keep] if treated else cap)

    t_a, row, ld, dld, cap = next_generation(onset, r2, ld2, dld[go], cap[go] if treated else cap)

    # ---------------- renewal loop: one vectorised pass per cycle generation -------------
    cycles = 0
    lag_idx = lag
    buf = np.empty(t_a.size)  # scratch; generations only shrink
    while t_a.size:
        cycles += t_a.size
        # Stage 1: anagen length for every follicle starting a cycle.
        z, _ = _draw(rngs, row, n_rows, 1, 0)
        # Same operation order as exp(aoff[row] + γ·ld + σ_A·z), without temporaries.
        dur_a = aoff[row]
        dur_a += np.multiply(ld, c.gamma, out=buf[: ld.size])
        dur_a += np.multiply(z[:, 0], c.sA)  # float32 product, as in c.sA * z
        np.exp(dur_a, out=dur_a)
        e_a = clk_a.advance(t_a, dur_a, row) if treated else np.add(t_a, dur_a, out=dur_a)
        cls = row * width
        cls += (ld < c.ld_vel) * stride
        ia = np.ceil(t_a).astype(np.int64)
        x = np.ceil(e_a, out=buf[: e_a.size])
        np.minimum(x, horizon + 1, out=x)
        iea = x.astype(np.int64)
        ia += cls
        tally.starts.append(ia)
        iea += cls  # anagen ends: those beyond the horizon (index last_day + 1) count nothing
        tally.end("anagen", iea)
        young = ia + lag_idx
        tally.end("young", np.minimum(young, iea, out=young))
        d = np.exp(ld)
        tally.d_start.append(d)
        # Stage 2: only follicles whose anagen ends inside the horizon need the rest.
        cont = e_a <= horizon
        if not cont.any():
            break
        row, ld, dld = row[cont], ld[cont], dld[cont]
        if treated:
            cap = cap[cont]
        e_a, cls, d = e_a[cont], cls[cont], d[cont]
        z3, u2 = _draw(rngs, row, n_rows, 3, 2)
        # Catagen and telogen lengths are float32 lognormals (as c.mu + c.s * z evaluates).
        if has_c:
            cat = np.multiply(z3[:, 0], c.sC)
            cat += np.float32(c.muC)
            cat = np.add(e_a, np.exp(cat, out=cat), out=e_a)
        else:
            cat = e_a
        tel = np.multiply(z3[:, 1], c.sT)
        tel += np.float32(c.muT)
        np.exp(tel, out=tel)
        e_t, onset = dormant(row, ld, cat, tel, z3[:, 2], u2)
        ie = tally.index_pos(e_t)
        ie += cls
        tally.ends["present"].append(ie)
        tally.d_end.append(d)
        t_a, row, ld, dld, cap = next_generation(onset, row, ld, dld, cap)

    ends, dsum, alive, shed = tally.counts(alive_start)
    return DailyCounts(
        hairs_terminal=ends["present"][0],
        hairs_vellus=ends["present"][1],
        anagen_terminal=ends["anagen"][0],
        anagen_vellus=ends["anagen"][1],
        young_terminal=ends["young"][0],
        young_vellus=ends["young"][1],
        diameter_sum_um=dsum,
        alive=alive,
        shed=shed,
        cycles=cycles,
    )
