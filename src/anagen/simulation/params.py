"""Model parameters: one versioned, documented place for every default.

Sources are cited as ``REF B§n`` = ``/work/shared/REFERENCE.md`` Part B section n (and
``REF A§n`` for Part A). ``[U]`` marks a value the reference itself flags as unconfirmed or a
value that had to be chosen by calibration, because no published number exists (for example a
per-cycle miniaturisation factor, REF B§1 "Not found anywhere").

Time is in days, diameters in micrometres, areas in cm².
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum

from .errors import ParameterError, require_nonnegative, require_positive, require_probability

MODEL_VERSION = "1.0.0"
DAYS_PER_YEAR = 365.25
DAYS_PER_WEEK = 7.0
# Highest density (hairs/cm²) accepted as an input or a claimed result. REF B§2: normal adult
# scalp is 223 ± 4 (SE) hairs/cm², range 175–300 (Barman 1965), and follicles/cm² fall from
# ~615 in the twenties to ~435 at 70–80; a density above 600 is twice the top of the normal
# range and above the follicle count of a young adult scalp, i.e. a unit or typing error.
MAX_DENSITY_PER_CM2 = 600.0


class Region(StrEnum):
    """Scalp region of the target area.

    Occipital scalp is unaffected by androgenetic alopecia in men (REF B§2), so it is modelled
    with zero susceptibility and serves as an internal control.
    """

    FRONTAL = "frontal"
    VERTEX = "vertex"
    OCCIPITAL = "occipital"


@dataclass(frozen=True)
class CycleParams:
    """Per-follicle semi-Markov cycle A → C → T → (K with probability p_K) → A.

    Phase durations are lognormal with the given mean and coefficient of variation (Halloy
    2000; Bernard 2012 lognormal law, REF B§1).

    Defaults and sources:

    - ``anagen_mean_days = 1096`` (3 years) for a terminal follicle of ``reference_diameter_um``:
      textbook anagen 2–7 y, mean ~3 y (REF B§2).
    - ``anagen_cv = 0.45`` [U]: puts the 5–95 % range at ~1.4–5.5 y, matching "2–7 years".
    - ``anagen_diameter_exponent = 2.0`` [U]: mean anagen ∝ (d/d_ref)^γ; diameter decline
      parallels anagen shortening (Courtois 1994, REF B§1). γ = 2 gives ~0.5 y at 30 µm.
    - ``catagen_mean_days = 17.5``, ``catagen_cv = 0.2``: catagen 2–3 weeks (REF B§2).
    - ``telogen_mean_days = 91``, ``telogen_cv = 0.3``: telogen ~3 (2–4) months (REF B§2).
    - ``kenogen_prob_terminal = 0.3`` [U] rising to ``kenogen_prob_miniaturised = 0.8`` at the
      vellus cut-off: kenogen in 80 % of cycles of the balding cohort (REF B§2).
    - ``kenogen_mean_days_terminal = 120`` → ``kenogen_mean_days_miniaturised = 210``:
      kenogen ~4 months rising to ~7 months (Rebora & Guarrera 2002, REF B§2);
      ``kenogen_cv = 0.5`` [U] (3 months – 1 year range in women).
    - ``reference_diameter_um = 70``: terminal hairs typically 65–75 µm (REF B§2).
    - ``vellus_cutoff_um = 30``: vellus < 30 µm (REF B§2, REF A§2).
    - ``death_diameter_um = 15`` [U]: follicle loss once a follicle has miniaturised below
      this (Halloy 2000: death after a critical state; value not published, REF B§1).
    """

    anagen_mean_days: float = 1096.0
    anagen_cv: float = 0.45
    anagen_diameter_exponent: float = 2.0
    catagen_mean_days: float = 17.5
    catagen_cv: float = 0.2
    telogen_mean_days: float = 91.0
    telogen_cv: float = 0.3
    kenogen_prob_terminal: float = 0.3
    kenogen_prob_miniaturised: float = 0.8
    kenogen_mean_days_terminal: float = 120.0
    kenogen_mean_days_miniaturised: float = 210.0
    kenogen_cv: float = 0.5
    reference_diameter_um: float = 70.0
    vellus_cutoff_um: float = 30.0
    death_diameter_um: float = 15.0
    version: str = MODEL_VERSION

    def __post_init__(self) -> None:
        for name in (
            "anagen_mean_days",
            "telogen_mean_days",
            "kenogen_mean_days_terminal",
            "kenogen_mean_days_miniaturised",
            "reference_diameter_um",
            "vellus_cutoff_um",
            "death_diameter_um",
        ):
            require_positive(name, getattr(self, name))
        for name in (
            "catagen_mean_days",
            "anagen_cv",
            "catagen_cv",
            "telogen_cv",
            "kenogen_cv",
            "anagen_diameter_exponent",
        ):
            require_nonnegative(name, getattr(self, name))
        require_probability("kenogen_prob_terminal", self.kenogen_prob_terminal)
        require_probability("kenogen_prob_miniaturised", self.kenogen_prob_miniaturised)
        if not self.death_diameter_um < self.vellus_cutoff_um < self.reference_diameter_um:
            raise ParameterError(
                "vellus_cutoff_um",
                self.vellus_cutoff_um,
                "need death_diameter_um < vellus_cutoff_um < reference_diameter_um",
            )

    # -- derived quantities used by the engine and the analytic checks --------------------
    def ramp(self, diameter_um: float) -> float:
        """0 at the reference diameter, 1 at (or below) the vellus cut-off (log scale)."""
        lo, hi = math.log(self.vellus_cutoff_um), math.log(self.reference_diameter_um)
        x = (hi - math.log(diameter_um)) / (hi - lo)
        return min(1.0, max(0.0, x))

    def anagen_mean(self, diameter_um: float, multiplier: float = 1.0) -> float:
        ratio = diameter_um / self.reference_diameter_um
        return self.anagen_mean_days * multiplier * ratio**self.anagen_diameter_exponent

    def kenogen_prob(self, diameter_um: float) -> float:
        r = self.ramp(diameter_um)
        return self.kenogen_prob_terminal + r * (
            self.kenogen_prob_miniaturised - self.kenogen_prob_terminal
        )

    def kenogen_mean(self, diameter_um: float) -> float:
        r = self.ramp(diameter_um)
        lo, hi = self.kenogen_mean_days_terminal, self.kenogen_mean_days_miniaturised
        return math.exp(math.log(lo) + r * (math.log(hi) - math.log(lo)))

    def phase_means(self, diameter_um: float, anagen_multiplier: float = 1.0) -> dict[str, float]:
        """Expected time per cycle spent in each phase (kenogen weighted by p_K)."""
        return {
            "anagen": self.anagen_mean(diameter_um, anagen_multiplier),
            "catagen": self.catagen_mean_days,
            "telogen": self.telogen_mean_days,
            "kenogen": self.kenogen_prob(diameter_um) * self.kenogen_mean(diameter_um),
        }


# Norwood / Ludwig stage → accumulated log-diameter shrink S of a follicle of susceptibility 1.
# Calibrated [U] (no per-stage densities are published, REF B§2) so that the MEASURED baseline
# density of the trial-typical vertex stages IIIv, IV and V (1 cm² target area, default
# measurement layer) has stage means of about 134, 123 and 110 hairs/cm², inside the
# "baseline AGA density 95–145 hairs/cm²" simulation default of REF A§7 (the band is read as
# measured density: phototrichograms read low, REF B§2). The noise-free (true) densities of those
# stages are about 16 % higher (≈ 162, 153, 140). Stage I reads ≈ 214 measured / 220 true,
# i.e. normal scalp (Barman 223, REF B§2), and stage VII ≈ 73 measured.
# Tested in tests/simulation/test_simulation_reference_ranges.py.
NORWOOD_SHRINK: dict[str, float] = {
    "I": 0.15,
    "II": 0.3,
    "IIa": 0.35,
    "III": 0.7,
    "IIIa": 0.8,
    "IIIv": 0.8,
    "IV": 0.9,
    "IVa": 0.95,
    "V": 1.02,
    "Va": 1.1,
    "VI": 1.25,
    "VII": 1.5,
}
LUDWIG_SHRINK: dict[str, float] = {"I": 0.4, "II": 0.65, "III": 0.95}


def canonical_stage(stage: str, scale: str = "norwood") -> str:
    """``stage`` as the scale writes it ("iv" → "IV", "iiiv" → "IIIv"): people type stages
    in any case, and the table's keys differ by case only in their suffix letters. A name
    that matches no stage comes back stripped, for ``stage_shrink`` to refuse."""
    table = NORWOOD_SHRINK if scale == "norwood" else LUDWIG_SHRINK
    text = stage.strip()
    return next((key for key in table if key.lower() == text.lower()), text)


def stage_shrink(stage: str, scale: str = "norwood") -> float:
    table = NORWOOD_SHRINK if scale == "norwood" else LUDWIG_SHRINK
    if stage not in table:
        raise ParameterError(f"{scale}_stage", stage, f"must be one of {', '.join(table)}")
    return table[stage]


@dataclass(frozen=True)
class PopulationParams:
    """Patient- and follicle-level variation (the hierarchy of REF B§5 item 4).

    - ``follicle_sites_per_cm2 = 240``, ``follicle_sites_sd = 30`` [U]: calibrated so that the
      simulated noise-free density of near-normal scalp (Norwood I) is ≈ 220 hairs/cm², i.e.
      Barman 1965's 223 ± 4 (SE) hairs/cm², range 175–300 (REF B§2). The factor 240/223
      (≈ 93 % of sites carrying a visible hair) is the model's own stationary share for
      non-miniaturised follicles (telogen hairs are visible; kenogen in 30 % of cycles, ~120
      days), not a published number. REF B§3's "~15 % of follicles without a visible hair" is
      a rough figure used for a variance estimate, not a parameter here; the model has ≈ 7 %
      of living follicles without a visible hair at Norwood I and ≈ 25 % at the trial stages
      IIIv–V (≈ 37 % of the original sites once lost follicles are counted).
    - ``terminal_diameter_cv = 0.12``: terminal hairs 65–75 µm (REF B§2) [U].
    - ``susceptibility_shape = 2.0`` [U]: gamma-distributed (mean 1) follicle susceptibility,
      so miniaturisation is patchy within a target area.
    - ``miniaturisation_per_cycle = 0.05`` with ``miniaturisation_cv = 0.5`` [U]: per-cycle
      log-diameter shrink of a susceptibility-1 follicle (a factor ~0.95 per cycle); no
      published value (REF B§1), calibrated to −13 % over 4 years untreated (Price 2006,
      REF B§3; the model gives ≈ −3.5 %/year at stages IIIv–V) and to placebo drift.
    - ``anagen_multiplier_sd = 0.15`` [U]: patient log-SD of mean anagen (ageing and between-
      person variation, REF B§2).
    - ``response_cv = 1.0`` [U]: patient treatment response (gamma, mean 1, CV 1); calibrated
      so that the SD of change in a 5 % minoxidil arm exceeds placebo's as in Olsen 2002
      (25.4 vs 21.7, i.e. ≈ 13 hairs/cm² extra SD, REF B§3).
    - ``region_susceptibility``: occipital 0 (unaffected control, REF B§2); frontal and vertex 1.
    - ``shrink_sd = 0.15`` [U]: patient SD of accumulated shrink around the stage value.
    """

    follicle_sites_per_cm2: float = 240.0
    follicle_sites_sd: float = 30.0
    terminal_diameter_cv: float = 0.12
    susceptibility_shape: float = 2.0
    miniaturisation_per_cycle: float = 0.05
    miniaturisation_cv: float = 0.5
    anagen_multiplier_sd: float = 0.15
    response_cv: float = 1.0
    shrink_sd: float = 0.15
    region_susceptibility: dict[str, float] = field(
        default_factory=lambda: {"frontal": 1.0, "vertex": 1.0, "occipital": 0.0}
    )
    version: str = MODEL_VERSION

    def __post_init__(self) -> None:
        require_positive("follicle_sites_per_cm2", self.follicle_sites_per_cm2)
        require_positive("susceptibility_shape", self.susceptibility_shape)
        for f in fields(self):
            if f.name in ("region_susceptibility", "version", "susceptibility_shape"):
                continue
            require_nonnegative(f.name, getattr(self, f.name))
        for region, value in self.region_susceptibility.items():
            require_nonnegative(f"region_susceptibility[{region}]", value)


def with_overrides(obj, **changes):  # noqa: ANN001, ANN201 - thin helper over dataclasses.replace
    """``dataclasses.replace`` that re-runs validation (frozen dataclasses do on replace)."""
    return replace(obj, **changes)
