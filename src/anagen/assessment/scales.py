"""Hair-loss classification and severity scales: pure calculators and validators.

No Django here: the assessment app, the API and the CLI all call these functions, so the
rules live in one place. Every threshold cites REFERENCE.md Part A (section numbers below).
Invalid input raises :class:`ScaleError` whose ``field`` names the offending field, so forms
and the API can attach the message to the right input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ScaleError(ValueError):
    """An invalid scale value; ``field`` names the input that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Sexes as recorded on the patient record. Only "male" restricts anything (female scales).
SEXES = ("male", "female", "other", "unknown")


def _check_sex(sex: str | None) -> str | None:
    if sex is not None and sex not in SEXES:
        raise ScaleError("sex", f"unknown sex {sex!r}; expected one of {', '.join(SEXES)}")
    return sex


# --- 1.1 Modified Norwood–Hamilton (REFERENCE.md A.1.1, PMC6580804 Table 1 [C]) -------------

NORWOOD_HAMILTON: dict[str, str] = {
    "I": "Minimal frontotemporal recession",
    "II": "Symmetrical triangular frontotemporal recession stopping ≥2 cm anterior to the "
    "coronal line",
    "IIa": "Whole hairline high; mid-frontal island sparse; loss within 2 cm of the frontal line",
    "III": "Deep frontotemporal recession, bare or sparse, extending posterior to the point "
    "~2 cm anterior to the coronal line (minimum 'baldness')",
    "IIIa": "Type-A loss reaches the mid-coronal line",
    "IIIv": "Loss mainly at the vertex; frontal recession ≤ type III",
    "IV": "Worse frontotemporal loss plus sparse vertex, separated by a moderately dense band",
    "IVa": "Type-A loss beyond the mid-coronal line",
    "V": "Both areas larger; bridge narrower and sparser",
    "Va": "Most advanced type A; does not reach the vertex",
    "VI": "Bridge gone; frontotemporal and vertex areas confluent",
    "VII": "Only a narrow horseshoe of sparse, fine hair at the sides and back",
}
NORWOOD_SOURCE = "PMC6580804 Table 1 [C]"

# Ordinal severity used for range checks (e.g. trial inclusion "III–IV"). Type-A variants
# sit with their numeric stage; "III vertex" sits with III.
NORWOOD_ORDER: dict[str, int] = {
    "I": 1,
    "II": 2,
    "IIa": 2,
    "III": 3,
    "IIIa": 3,
    "IIIv": 3,
    "IV": 4,
    "IVa": 4,
    "V": 5,
    "Va": 5,
    "VI": 6,
    "VII": 7,
}

_NORWOOD_ALIASES = {
    "iii vertex": "IIIv",
    "iiivertex": "IIIv",
    "iii-vertex": "IIIv",
    "iii v": "IIIv",
}


def norwood_hamilton(value: str) -> str:
    """Return the canonical Norwood–Hamilton code (e.g. ``"III vertex"`` → ``"IIIv"``)."""
    if not isinstance(value, str) or not value.strip():
        raise ScaleError("norwood_hamilton", "a Norwood–Hamilton category is required")
    text = value.strip()
    alias = _NORWOOD_ALIASES.get(text.lower())
    if alias:
        return alias
    for code in NORWOOD_HAMILTON:
        # Roman numerals are upper case, the variant letter lower case ("IIIa", "IIIv").
        if text == code or (text[:-1].upper() + text[-1:].lower()) == code or text.upper() == code:
            return code
    raise ScaleError(
        "norwood_hamilton",
        f"unknown category {value!r}; expected one of {', '.join(NORWOOD_HAMILTON)}",
    )


# --- 1.2 Female scales (REFERENCE.md A.1.2) ----------------------------------------------------

LUDWIG: dict[str, str] = {
    "I": "Crown thinning, bounded in front 1–3 cm behind the preserved frontal hairline",
    "II": "Pronounced rarefaction in the same area",
    "III": "Full denudation in that area",
}
LUDWIG_SOURCE = "Ludwig 1977 (labels [C], boundary wording [M])"

SINCLAIR: dict[int, str] = {
    1: "Normal central part",
    2: "Widened central part",
    3: "Widened part plus thinning beside it",
    4: "Diffuse loss over the top",
    5: "Advanced loss",
}
SINCLAIR_SOURCE = "PMID 30565210 [C] (per-grade wording [M])"


def _female_scale_allowed(field: str, sex: str | None, allow_in_male: bool) -> None:
    # Ludwig and Sinclair describe female-pattern loss (A.1.2). On a male record they are
    # almost always a coding mistake (Norwood or BASP was meant), so refuse them unless the
    # clinician states explicitly that this man shows a diffuse female-type pattern, which
    # does occur. Women may be staged on Norwood (male-pattern loss in women exists), and
    # BASP is sex-neutral by design, so neither is restricted.
    _check_sex(sex)
    if sex == "male" and not allow_in_male:
        raise ScaleError(
            field,
            "female-pattern scale on a male record; use Norwood–Hamilton or BASP, or confirm "
            "a female-type pattern explicitly",
        )


def ludwig(value: str, *, sex: str | None = None, allow_in_male: bool = False) -> str:
    """Validate a Ludwig grade (``"I"``–``"III"``); refused on male records by default."""
    _female_scale_allowed("ludwig", sex, allow_in_male)
    text = value.strip().upper() if isinstance(value, str) else ""
    if text not in LUDWIG:
        raise ScaleError("ludwig", f"unknown grade {value!r}; expected I, II or III")
    return text


def sinclair(value: int, *, sex: str | None = None, allow_in_male: bool = False) -> int:
    """Validate a Sinclair grade (1–5); refused on male records by default."""
    _female_scale_allowed("sinclair", sex, allow_in_male)
    if isinstance(value, bool) or not isinstance(value, int) or value not in SINCLAIR:
        raise ScaleError("sinclair", f"unknown grade {value!r}; expected an integer 1–5")
    return value


# --- 1.3 BASP (REFERENCE.md A.1.3, Lee JAAD 2007 [C]) -----------------------------------------

BASP_BASIC = ("L", "M0", "M1", "M2", "M3", "C0", "C1", "C2", "C3", "U1", "U2", "U3")
BASP_SPECIFIC_F = ("F1", "F2", "F3")
BASP_SPECIFIC_V = ("V1", "V2", "V3")
BASP_SOURCE = "Lee, JAAD 2007 [C]"

_BASP_RE = re.compile(r"^(L|M[0-3]|C[0-3]|U[1-3])(F[1-3])?(V[1-3])?$")


@dataclass(frozen=True)
class BaspType:
    basic: str
    f: str | None = None
    v: str | None = None

    @property
    def final(self) -> str:
        # Final type = basic + specific (e.g. "M2V1"); F is written before V when both occur.
        return self.basic + (self.f or "") + (self.v or "")


def basp(basic: str, f: str | None = None, v: str | None = None) -> BaspType:
    """Validate BASP components; ``.final`` gives the final type string (e.g. ``"M2F1V2"``)."""
    b = basic.strip().upper() if isinstance(basic, str) else ""
    if b not in BASP_BASIC:
        raise ScaleError("basp_basic", f"unknown basic type {basic!r}")
    fv = f.strip().upper() if isinstance(f, str) and f.strip() else None
    vv = v.strip().upper() if isinstance(v, str) and v.strip() else None
    if f is not None and not isinstance(f, str):
        raise ScaleError("basp_f", f"unknown specific F type {f!r}")
    if v is not None and not isinstance(v, str):
        raise ScaleError("basp_v", f"unknown specific V type {v!r}")
    if fv is not None and fv not in BASP_SPECIFIC_F:
        raise ScaleError("basp_f", f"unknown specific F type {f!r}; expected F1–F3")
    if vv is not None and vv not in BASP_SPECIFIC_V:
        raise ScaleError("basp_v", f"unknown specific V type {v!r}; expected V1–V3")
    return BaspType(b, fv, vv)


def parse_basp(final: str) -> BaspType:
    """Parse a final BASP type string such as ``"M2V1"`` or ``"LF2"``."""
    text = final.strip().upper() if isinstance(final, str) else ""
    m = _BASP_RE.match(text)
    if not m:
        raise ScaleError("basp", f"not a valid BASP type {final!r} (e.g. 'M2V1', 'C1F2V3', 'LF1')")
    return BaspType(m.group(1), m.group(2), m.group(3))


# --- 1.4 Alopecia areata: SALT, S bands, AA-IGA, AA Scale (REFERENCE.md A.1.4) ----------------

# Olsen 2004 JAAD 51:440 [C]: SALT = 0.18·R + 0.18·L + 0.40·top + 0.24·back
SALT_WEIGHTS: dict[str, float] = {"top": 0.40, "posterior": 0.24, "right": 0.18, "left": 0.18}
SALT_SOURCE = "Olsen 2004 JAAD 51:440 [C]"


class AASeverity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


@dataclass(frozen=True)
class SaltResult:
    score: float  # 0–100, percentage of scalp hair lost
    band: str  # S0–S5
    aa_iga: int  # 0–4


def _percent(field: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScaleError(field, f"must be a number, got {value!r}")
    if value != value:  # NaN
        raise ScaleError(field, "must be a number, got NaN")
    if value < 0 or value > 100:
        raise ScaleError(field, f"must be between 0 and 100 %, got {value:g}")
    return float(value)


def check_percent(field: str, value: float) -> float:
    """``value`` as a percentage 0–100, or ScaleError naming ``field``."""
    return _percent(field, value)


def salt_score(top: float, posterior: float, right: float, left: float) -> float:
    """SALT from the percentage of hair lost in each of the four regions (each 0–100)."""
    parts = {"top": top, "posterior": posterior, "right": right, "left": left}
    total = sum(SALT_WEIGHTS[k] * _percent(f"salt_{k}", v) for k, v in parts.items())
    # Floating-point sums such as 0.4·100 + 0.24·100 + … can land a hair above 100 or give
    # 24.999999; round to 0.01 so bands are stable (the regions are estimated to whole %).
    return min(100.0, round(total, 2))


def salt_band(score: float) -> str:
    """S band (REFERENCE.md A.1.4 [C]): S0=0, S1=1–24, S2=25–49, S3=50–74, S4=75–99, S5=100.

    SALT can be fractional; the integer ranges are read as half-open intervals
    (S1 = 0 < s < 25, …, S4 = 75 ≤ s < 100) so that every score has exactly one band.
    """
    s = _percent("salt_score", score)
    if s == 0:
        return "S0"
    if s < 25:
        return "S1"
    if s < 50:
        return "S2"
    if s < 75:
        return "S3"
    if s < 100:
        return "S4"
    return "S5"


def aa_iga(score: float) -> int:
    """AA-IGA (Wyrwich 2020 [C]): 0 = SALT 0; 1 = 1–20; 2 = 21–49; 3 = 50–94; 4 = 95–100.

    Fractional scores: 1 = 0 < s ≤ 20 (the trial success endpoint is SALT ≤ 20, so 20 itself
    is 1), 2 = 20 < s < 50, 3 = 50 ≤ s < 95, 4 = s ≥ 95.
    """
    s = _percent("salt_score", score)
    if s == 0:
        return 0
    if s <= 20:
        return 1
    if s < 50:
        return 2
    if s < 95:
        return 3
    return 4


def salt(top: float, posterior: float, right: float, left: float) -> SaltResult:
    """SALT score with its S band and AA-IGA category."""
    score = salt_score(top, posterior, right, left)
    return SaltResult(score=score, band=salt_band(score), aa_iga=aa_iga(score))


# King 2022 [C] upgrade trigger: QoL impact of at least 6 on a 0–10 scale.
AA_SCALE_QOL_UPGRADE = 6
# King 2022 [C] upgrade trigger: inadequate response after at least 6 months of treatment.
AA_SCALE_TREATMENT_FAILURE_MONTHS = 6


@dataclass(frozen=True)
class AAScaleResult:
    base: AASeverity  # from SALT alone
    severity: AASeverity  # after the one-level upgrade
    upgrade_reasons: tuple[str, ...]


def aa_scale(
    score: float,
    *,
    qol_impact: int | None = None,
    brow_or_lash_loss: bool = False,
    months_of_failed_treatment: float | None = None,
    diffuse_positive_pull_test: bool = False,
    rapid_loss: bool = False,
) -> AAScaleResult:
    """AA Scale (King 2022, REFERENCE.md A.1.4 [C]).

    Mild ≤20 %, moderate 21–49 %, severe ≥50 % scalp loss; moved up ONE level (never more,
    and severe stays severe) if any trigger holds.
    """
    s = _percent("salt_score", score)
    if s <= 20:
        base = AASeverity.MILD
    elif s < 50:
        base = AASeverity.MODERATE
    else:
        base = AASeverity.SEVERE
    reasons: list[str] = []
    if qol_impact is not None:
        if isinstance(qol_impact, bool) or not isinstance(qol_impact, int):
            raise ScaleError("qol_impact", "must be an integer 0–10")
        if not 0 <= qol_impact <= 10:
            raise ScaleError("qol_impact", f"must be 0–10, got {qol_impact}")
        if qol_impact >= AA_SCALE_QOL_UPGRADE:
            reasons.append(f"quality-of-life impact {qol_impact}/10 (≥{AA_SCALE_QOL_UPGRADE})")
    if brow_or_lash_loss:
        reasons.append("eyebrow or eyelash loss")
    if months_of_failed_treatment is not None:
        if months_of_failed_treatment < 0:
            raise ScaleError("months_of_failed_treatment", "must not be negative")
        if months_of_failed_treatment >= AA_SCALE_TREATMENT_FAILURE_MONTHS:
            reasons.append(
                f"inadequate response after {months_of_failed_treatment:g} months of treatment"
            )
    if diffuse_positive_pull_test:
        reasons.append("diffuse positive pull test")
    if rapid_loss:
        reasons.append("rapid hair loss")
    order = list(AASeverity)
    severity = order[min(order.index(base) + 1, len(order) - 1)] if reasons else base
    return AAScaleResult(base=base, severity=severity, upgrade_reasons=tuple(reasons))


# --- 1.5 Pull test (REFERENCE.md A.1.5, fpnotebook, secondary) --------------------------------

PULL_TEST_POSITIVE_FRACTION = 0.10  # positive if MORE than 10 % of grasped hairs come out
PULL_TEST_STANDARD_GRASP = (40, 60)  # grasp 40–60 hairs, no shampoo for 24 h
# fpnotebook is a secondary website; REFERENCE.md names no primary source for the rule.
PULL_TEST_SOURCE = "fpnotebook (secondary source) [M]"


@dataclass(frozen=True)
class PullTestResult:
    hairs_pulled: int
    hairs_out: int
    fraction_out: float
    positive: bool
    notes: tuple[str, ...]


def _count(field: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScaleError(field, f"must be a whole number, got {value!r}")
    if value < 0:
        raise ScaleError(field, f"must not be negative, got {value}")
    return value


def pull_test(hairs_pulled: int, hairs_out: int) -> PullTestResult:
    """Pull test: positive when hairs_out / hairs_pulled > 10 %."""
    pulled = _count("hairs_pulled", hairs_pulled)
    out = _count("hairs_out", hairs_out)
    if pulled == 0:
        raise ScaleError("hairs_pulled", "at least one hair must be grasped")
    if out > pulled:
        raise ScaleError("hairs_out", f"{out} hairs out but only {pulled} pulled")
    fraction = out / pulled
    notes: list[str] = []
    lo, hi = PULL_TEST_STANDARD_GRASP
    if not lo <= pulled <= hi:
        notes.append(f"standard technique grasps {lo}–{hi} hairs; {pulled} were grasped")
    return PullTestResult(
        pulled, out, fraction, fraction > PULL_TEST_POSITIVE_FRACTION, tuple(notes)
    )


def pull_test_outcome(hairs_out: int, hairs_grasped: int | None) -> bool | None:
    """Whether ``hairs_out`` is a positive pull test: from the share of ``hairs_grasped``, or,
    where the grasp was not counted, from the standard grasp of 40-60 hairs. None where the
    standard grasp leaves it open (5 or 6 hairs: more than 10 % of 40, not of 60)."""
    if hairs_grasped is not None:
        return pull_test(hairs_grasped, hairs_out).positive
    out = _count("hairs_out", hairs_out)
    lo, hi = PULL_TEST_STANDARD_GRASP
    if out > PULL_TEST_POSITIVE_FRACTION * hi:
        return True
    if out <= PULL_TEST_POSITIVE_FRACTION * lo:
        return False
    return None


# --- Trichoscopy sign checklist ----------------------------------------------------------------
# REFERENCE.md is silent on trichoscopy signs. This vocabulary is standard trichoscopy
# teaching [M]; the "suggests" hints are aids for the checklist, not diagnostic rules.


@dataclass(frozen=True)
class TrichoscopySign:
    code: str
    label: str
    suggests: tuple[str, ...]


TRICHOSCOPY_SIGNS: dict[str, TrichoscopySign] = {
    s.code: s
    for s in (
        TrichoscopySign("hair_diameter_diversity", "Hair shaft diameter diversity >20 %", ("aga",)),
        TrichoscopySign("vellus_hairs", "Increased vellus / miniaturised hairs", ("aga",)),
        TrichoscopySign(
            "single_hair_units", "Predominance of single-hair follicular units", ("aga",)
        ),
        TrichoscopySign("peripilar_sign", "Peripilar sign (perifollicular brown halo)", ("aga",)),
        TrichoscopySign("yellow_dots", "Yellow dots", ("aa", "aga")),
        TrichoscopySign("black_dots", "Black dots (cadaverized hairs)", ("aa",)),
        TrichoscopySign("exclamation_mark_hairs", "Exclamation-mark hairs", ("aa",)),
        TrichoscopySign("broken_hairs", "Broken hairs", ("aa",)),
        TrichoscopySign("tapered_hairs", "Tapered hairs", ("aa",)),
        TrichoscopySign("coudability_hairs", "Coudability hairs", ("aa",)),
        TrichoscopySign("upright_regrowing_hairs", "Upright regrowing hairs", ("te", "aa")),
        TrichoscopySign("empty_follicles", "Empty follicular openings", ("te",)),
        TrichoscopySign("white_dots", "White dots", ("normal", "scarring")),
        TrichoscopySign("honeycomb_pigmentation", "Honeycomb pigmentation", ("photo_exposure",)),
        TrichoscopySign("perifollicular_scaling", "Perifollicular scaling", ("scarring",)),
        TrichoscopySign("perifollicular_erythema", "Perifollicular erythema", ("scarring",)),
        TrichoscopySign("absent_follicular_openings", "Loss of follicular openings", ("scarring",)),
        TrichoscopySign("hair_tufting", "Hair tufting (polytrichia)", ("scarring",)),
        TrichoscopySign("pustules", "Follicular pustules", ("infection", "scarring")),
    )
}

# Signs of scarring or infection: the screening rule "patchy loss, scalp pain, pus, or
# scarring → REFER" (REFERENCE.md A.3.1) should be ticked when any of these is found.
TRICHOSCOPY_REFER_SIGNS = frozenset(
    code
    for code, sign in TRICHOSCOPY_SIGNS.items()
    if {"scarring", "infection"} & set(sign.suggests) and code != "white_dots"
)


def refer_scalp_conditions(signs: Iterable[str]) -> dict[str, list[str]]:
    """The questionnaire's scalp conditions (screening.SCALP_CONDITIONS) that exam signs of
    infection or scarring stand for, each with the signs: pustules are pus, the rest scarring."""
    out: dict[str, list[str]] = {}
    for code in sorted(set(signs) & TRICHOSCOPY_REFER_SIGNS):
        condition = "pus" if "infection" in TRICHOSCOPY_SIGNS[code].suggests else "scarring"
        out.setdefault(condition, []).append(code)
    return out


def trichoscopy_signs(codes: Iterable[str]) -> tuple[str, ...]:
    """Validate a checklist of sign codes; returns them sorted and de-duplicated."""
    result = set()
    for code in codes:
        if code not in TRICHOSCOPY_SIGNS:
            raise ScaleError("trichoscopy_signs", f"unknown trichoscopy sign {code!r}")
        result.add(code)
    return tuple(sorted(result))


# Shown under the scalp exam (scale, source), in the order the exam records them.
SCALE_SOURCES: tuple[tuple[str, str], ...] = (
    ("Norwood–Hamilton", NORWOOD_SOURCE),
    ("Ludwig", LUDWIG_SOURCE),
    ("Sinclair", SINCLAIR_SOURCE),
    ("BASP", BASP_SOURCE),
    ("SALT", SALT_SOURCE),
    ("Pull test", PULL_TEST_SOURCE),
)
