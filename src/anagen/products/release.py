"""Lot-release specification engine for EV / exosome products (pure; no Django).

A certificate of analysis (CoA) is a dict of field → value. A value is either a bare
number/string, read in the field's own unit (the unit is in the field name:
``size_mode_nm``, ``endotoxin_eu_per_ml``), or ``{"value": x, "unit": "…"}``, which is
converted explicitly. Per-vial amounts need the vial volume. An unknown unit is an error
naming the field, never a silent guess.

Typical use: ``errors = validate_coa(coa)``; if none, ``report = check_release(coa, spec)``;
release only if ``report.releasable``.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from anagen.products.numbers import readable_number


class ReleaseInputError(ValueError):
    """A CoA value that cannot be read (unknown unit, wrong type); ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SpecError(ValueError):
    """A malformed release specification."""


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    MISSING = "MISSING"


COMPARATORS = ("<", "<=", ">", ">=", "between", "equals", "within_pct_of")


# The CoA values a ``within_pct_of`` criterion is measured against, in words.
REFERENCE_LABELS = {"labelled_particles_per_ml": "labelled amount"}


@dataclass(frozen=True)
class Criterion:
    field: str
    label: str
    comparator: str
    limit: float | tuple[float, float] | str
    unit: str | None
    required: bool
    source: str
    reference_field: str | None = None  # for within_pct_of

    @property
    def bounds(self) -> tuple[float, float]:
        """The (low, high) limits of a ``between`` criterion (parse_spec checked the shape)."""
        if not isinstance(self.limit, tuple):
            raise SpecError(f"{self.field}: 'between' needs two limits, got {self.limit!r}")
        return self.limit

    @property
    def number(self) -> float:
        """The numeric limit of a one-sided or ``within_pct_of`` criterion."""
        if isinstance(self.limit, (tuple, str)):
            raise SpecError(
                f"{self.field}: {self.comparator!r} needs one number, got {self.limit!r}"
            )
        return float(self.limit)

    @property
    def limit_text(self) -> str:
        u = f" {self.unit}" if self.unit else ""
        if self.comparator == "between":
            lo, hi = self.bounds
            return f"{_fmt(lo)}–{_fmt(hi)}{u}"
        if self.comparator == "equals":
            return str(self.limit)
        if self.comparator == "within_pct_of":
            reference = REFERENCE_LABELS.get(self.reference_field or "", self.reference_field)
            return f"{reference} ± {_fmt(self.number)} %"
        return f"{self.comparator} {_fmt(self.number)}{u}"


@dataclass(frozen=True)
class ReleaseSpec:
    version: str
    name: str
    criteria: tuple[Criterion, ...]

    def criterion(self, field: str) -> Criterion:
        for c in self.criteria:
            if c.field == field:
                return c
        raise KeyError(field)


@dataclass(frozen=True)
class CriterionResult:
    field: str
    label: str
    status: Status
    measured: float | str | None  # in the criterion's unit after conversion
    limit: str  # human-readable limit, e.g. "80–150 nm"
    unit: str | None
    required: bool
    source: str
    note: str = ""


@dataclass(frozen=True)
class ReleaseReport:
    spec_version: str
    results: tuple[CriterionResult, ...]

    @property
    def failed(self) -> tuple[CriterionResult, ...]:
        return tuple(r for r in self.results if r.status is Status.FAIL)

    @property
    def missing_required(self) -> tuple[CriterionResult, ...]:
        return tuple(r for r in self.results if r.status is Status.MISSING and r.required)

    @property
    def releasable(self) -> bool:
        # Any FAIL blocks release, optional criteria included: a measured out-of-spec result
        # is a finding whether or not the spec demanded the test.
        return not self.failed and not self.missing_required


def _fmt(x: float) -> str:
    return f"{x:g}"


# --- units ---------------------------------------------------------------------------------


def same_unit(a: str, b: str) -> bool:
    """Whether two unit names are one unit as read here ("ug / ml" is "µg/mL", "pct" "%")."""
    return _norm_unit(a) == _norm_unit(b)


def _norm_unit(unit: str) -> str:
    text = unit.strip().lower().replace("μ", "u").replace("µ", "u")
    if text in ("percent", "pct"):
        return "%"
    return text.replace(" per ", "/").replace(" ", "")


# (canonical unit) → {accepted unit: (factor, per_vial)}. value_canonical = value × factor,
# then ÷ vial volume when per_vial. Keys are normalised with _norm_unit.
_UNITS: dict[str, dict[str, tuple[float, bool]]] = {
    "particles/ml": {
        "particles/ml": (1.0, False),
        "p/ml": (1.0, False),
        "particles/ul": (1e3, False),
        "particles/l": (1e-3, False),
        "particles/vial": (1.0, True),
    },
    "eu/ml": {"eu/ml": (1.0, False), "eu/vial": (1.0, True)},
    "nm": {"nm": (1.0, False), "um": (1e3, False)},
    "%": {"%": (1.0, False)},
    "particles/ug": {"particles/ug": (1.0, False), "particles/mg": (1e-3, False)},
    "ng/dose": {"ng/dose": (1.0, False), "ug/dose": (1e3, False), "pg/dose": (1e-3, False)},
    # Protein by BCA or micro-BCA: CoAs print µg/mL or mg/mL (1 mg/mL = 1 g/L = 1 µg/µL).
    "ug/ml": {
        "ug/ml": (1.0, False),
        "mg/l": (1.0, False),
        "mg/ml": (1e3, False),
        "g/l": (1e3, False),
        "ug/ul": (1e3, False),
        "ng/ml": (1e-3, False),
    },
}

# The unit of CoA results that no criterion names (read and converted like the others).
RESULT_UNITS = {"protein_ug_per_ml": "µg/mL"}


def convert(
    field: str, value: float, unit: str, to_unit: str, *, vial_volume_ml: float | None = None
) -> float:
    """Convert ``value`` from ``unit`` to ``to_unit``; raises naming ``field`` if impossible."""
    table = _UNITS.get(_norm_unit(to_unit))
    if table is None:
        raise ReleaseInputError(field, f"specification unit {to_unit!r} is not supported")
    entry = table.get(_norm_unit(unit))
    if entry is None:
        raise ReleaseInputError(
            field, f"unknown unit {unit!r}; expected one of: {', '.join(sorted(table))}"
        )
    factor, per_vial = entry
    out = value * factor
    if per_vial:
        if vial_volume_ml is None:
            raise ReleaseInputError(field, f"{unit!r} needs the vial volume (vial_volume_ml)")
        if not vial_volume_ml > 0:
            raise ReleaseInputError("vial_volume_ml", "must be greater than 0")
        out /= vial_volume_ml
    return out


_CATEGORIES = {
    "positive": "positive",
    "pos": "positive",
    "+": "positive",
    "detected": "positive",
    "negative": "negative",
    "neg": "negative",
    "-": "negative",
    "−": "negative",
    "not detected": "negative",
    "none detected": "negative",
    "no growth": "negative",
    "absent": "negative",
    "conforms": "conforms",
    "conform": "conforms",
    "pass": "conforms",
    "does not conform": "does not conform",
    "does_not_conform": "does not conform",
    "fail": "does not conform",
}


def _is_missing(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, Mapping):
        return raw.get("value") is None
    return isinstance(raw, str) and not raw.strip()


def read_number(field: str, raw: Any, spec_unit: str | None, vial_volume_ml: float | None) -> float:
    """A CoA value (a number, or {"value": x, "unit": "..."}) in ``spec_unit``; per-vial
    values need ``vial_volume_ml``. ReleaseInputError when it cannot be read."""
    if isinstance(raw, Mapping):
        value, unit = raw.get("value"), raw.get("unit")
        if unit is None:
            raise ReleaseInputError(field, "a value given as a mapping needs a unit")
    else:
        value, unit = raw, None
    number = to_finite_float(field, value)
    if unit is None or spec_unit is None:
        return number
    return convert(field, number, str(unit), spec_unit, vial_volume_ml=vial_volume_ml)


def to_finite_float(field: str, value: Any) -> float:
    """``value`` as a finite float; raises naming ``field`` for text, bools, NaN, ±inf and
    integers too large for a float (JSON allows 10**400; ``float()`` overflows)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReleaseInputError(field, f"must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise ReleaseInputError(field, "is far too large to be a measurement") from None
    if not math.isfinite(number):
        raise ReleaseInputError(field, "must be a finite number")
    return number


def _read_category(field: str, raw: Any) -> str:
    value = raw.get("value") if isinstance(raw, Mapping) else raw
    if not isinstance(value, str) or value.strip().lower() not in _CATEGORIES:
        raise ReleaseInputError(
            field, f"unrecognised result {value!r}; expected positive/negative or conforms"
        )
    return _CATEGORIES[value.strip().lower()]


# The two kinds of categorical result: a test that detects something (a marker, growth, a
# virus) reads positive or negative; an inspection (TEM morphology) conforms or not.
DETECTION_RESULTS = frozenset({"positive", "negative"})
CONFORMANCE_RESULTS = frozenset({"conforms", "does not conform"})


def read_category_like(field: str, raw: Any, kind_of: str) -> str:
    """A categorical CoA value of the same kind as ``kind_of`` (a criterion's limit, or
    "negative" for a marker): "pass" for sterility read as "conforms", which is not
    "negative", and a sterile lot FAILed a safety criterion ("reject the lot")."""
    value = _read_category(field, raw)
    if (value in DETECTION_RESULTS) == (kind_of in DETECTION_RESULTS):
        return value
    given = raw.get("value") if isinstance(raw, Mapping) else raw
    if kind_of in DETECTION_RESULTS:
        raise ReleaseInputError(
            field,
            f"{given!r} does not say positive or negative; enter negative for no growth or "
            "not detected, positive for growth or detected",
        )
    raise ReleaseInputError(
        field, f"{given!r} does not say whether it conforms; enter conforms or does not conform"
    )


# --- spec loading --------------------------------------------------------------------------


SPEC_VERSION_MAX_CHARS = 40  # ReleaseSpecVersion.version


def _spec_version(raw: Any) -> str:
    """The version as text: a string, or a number YAML read as one (``version: 9``)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise SpecError(
            f"version must be text or a number, got {type(raw).__name__} {raw!r} "
            '(quote it: version: "2026-01-01")'
        )
    if isinstance(raw, float) and not math.isfinite(raw):
        raise SpecError("version must be text or a finite number")
    text = str(raw).strip()
    if not text or len(text) > SPEC_VERSION_MAX_CHARS:
        raise SpecError(f"version must be 1–{SPEC_VERSION_MAX_CHARS} characters")
    return text


def _spec_limit(f: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{f}: limits must be numbers, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise SpecError(f"{f}: limit {value} is too large") from None
    if not math.isfinite(number):
        raise SpecError(f"{f}: limits must be finite numbers")
    return number


def parse_spec(data: Mapping[str, Any], *, new: bool = False) -> ReleaseSpec:
    """Build and validate a :class:`ReleaseSpec` from its YAML/JSON structure; ``new``: a
    version being created, held to the rules added since others were stored."""
    if not isinstance(data, Mapping) or not {"version", "criteria"} <= set(data):
        raise SpecError("spec needs 'version' and 'criteria'")
    version = _spec_version(data["version"])
    if not isinstance(data["criteria"], list | tuple):
        raise SpecError("criteria must be a list of criteria")
    criteria = []
    seen = set()
    for raw in data["criteria"]:
        if not isinstance(raw, Mapping):
            raise SpecError(f"each criterion must be a mapping, got {raw!r}")
        f = raw.get("field")
        if not f or not isinstance(f, str) or f in seen:
            raise SpecError(f"missing or duplicate field {f!r}")
        seen.add(f)
        comp = raw.get("comparator")
        if comp not in COMPARATORS:
            raise SpecError(f"{f}: unknown comparator {comp!r}")
        limit = raw.get("limit")
        unit = raw.get("unit")
        if comp == "between":
            if not (isinstance(limit, list | tuple) and len(limit) == 2):
                raise SpecError(f"{f}: between needs [low, high]")
            low, high = _spec_limit(f, limit[0]), _spec_limit(f, limit[1])
            if low > high:
                raise SpecError(f"{f}: between needs [low, high]")
            limit = (low, high)
        elif comp == "equals":
            if not isinstance(limit, str) or limit.lower() not in _CATEGORIES:
                raise SpecError(f"{f}: equals needs a category such as positive/negative")
            limit = _CATEGORIES[limit.lower()]
        else:
            if isinstance(limit, bool) or not isinstance(limit, int | float):
                raise SpecError(f"{f}: {comp} needs a numeric limit")
            limit = _spec_limit(f, limit)
        if comp == "within_pct_of" and not raw.get("reference_field"):
            raise SpecError(f"{f}: within_pct_of needs reference_field")
        if unit is not None and (not isinstance(unit, str) or _norm_unit(unit) not in _UNITS):
            raise SpecError(f"{f}: unsupported unit {unit!r}")
        if not raw.get("source"):
            raise SpecError(f"{f}: every criterion needs a source")
        required = raw.get("required", True)
        if new and not isinstance(required, bool):
            # bool("false") is True: a quoted "false" made an optional criterion required.
            raise SpecError(f"{f}: required must be true or false, got {required!r}")
        criteria.append(
            Criterion(
                field=f,
                label=str(raw.get("label", f)),
                comparator=comp,
                limit=limit,
                unit=unit,
                required=bool(required),
                source=str(raw["source"]),
                reference_field=raw.get("reference_field"),
            )
        )
    return ReleaseSpec(version, str(data.get("name", "")), tuple(criteria))


# Safety criteria no clinic specification may drop or loosen. Sterility and endotoxin are
# the two tests every injectable is released on (USP <71> / 21 CFR 610.12, USP <85>;
# REFERENCE.md A.6.2); mycoplasma, adventitious virus and donor screening are the other
# infection-safety tests the default spec requires (A.6.2, 21 CFR 1271). Identity, size and
# purity stay a clinic's choice: a wrong limit there gives a poor product, not an infection.
# Endotoxin may be no looser than 0.5 EU/mL, the more lenient of the two published limits
# (WJSC <0.5; STTT <0.25 EU/mL).
MANDATORY_NEGATIVE = ("sterility", "mycoplasma", "adventitious_virus", "donor_screening")
ENDOTOXIN_FIELD = "endotoxin_eu_per_ml"
ENDOTOXIN_LOOSEST_EU_PER_ML = 0.5


def safety_problems(spec: ReleaseSpec) -> list[str]:
    """Why a spec may not be used to release lots (empty list: it may)."""
    problems: list[str] = []
    if not spec.criteria:
        return ["the specification has no criteria"]
    by_field = {c.field: c for c in spec.criteria}
    for field in MANDATORY_NEGATIVE:
        c = by_field.get(field)
        if c is None or not c.required or c.comparator != "equals" or c.limit != "negative":
            problems.append(f"{field} must be a required criterion 'equals negative'")
    c = by_field.get(ENDOTOXIN_FIELD)
    if (
        c is None
        or not c.required
        or c.comparator not in ("<", "<=")
        or (c.unit is not None and _norm_unit(c.unit) != "eu/ml")
        or c.number > ENDOTOXIN_LOOSEST_EU_PER_ML
    ):
        problems.append(
            f"{ENDOTOXIN_FIELD} must be a required criterion '<' or '<=' at most "
            f"{ENDOTOXIN_LOOSEST_EU_PER_ML:g} EU/mL"
        )
    return problems


@functools.cache
def load_default_spec() -> ReleaseSpec:
    """The shipped default specification (``default_release_spec.yaml``)."""
    text = (
        importlib.resources.files("anagen.products")
        .joinpath("default_release_spec.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_spec(yaml.safe_load(text))


# --- checking ------------------------------------------------------------------------------


# A value this close to a limit (relatively) is at the limit. Converted and derived values
# carry binary rounding that the certificate's numbers do not: a purity of 9.8e9 particles/mL
# ÷ 4.9 µg/mL is 1999999999.9999998 and failed "≥ 2 × 10⁹", and 0.02 EU per 0.1 mL vial is
# 0.19999999999999998 EU/mL and passed "< 0.2". Far below any certificate's precision.
LIMIT_RELATIVE_TOLERANCE = 1e-12


def at_limit(measured: float, limit: float) -> bool:
    """Whether ``measured`` is the limit itself, but for floating-point rounding."""
    return math.isclose(measured, limit, rel_tol=LIMIT_RELATIVE_TOLERANCE)


def _compare(c: Criterion, measured: float, reference: float | None = None) -> bool:
    match c.comparator:
        case "<":
            return measured < c.number and not at_limit(measured, c.number)
        case "<=":
            return measured <= c.number or at_limit(measured, c.number)
        case ">":
            return measured > c.number and not at_limit(measured, c.number)
        case ">=":
            return measured >= c.number or at_limit(measured, c.number)
        case "between":
            lo, hi = c.bounds
            return (lo <= measured or at_limit(measured, lo)) and (
                measured <= hi or at_limit(measured, hi)
            )
        case "within_pct_of":
            assert reference is not None
            # Small relative tolerance so that exactly ±20 % is not failed by rounding.
            return abs(measured - reference) <= abs(reference) * c.number / 100 * (1 + 1e-12)
    raise SpecError(f"{c.field}: unknown comparator {c.comparator!r}")


def _check_one(
    c: Criterion, coa: Mapping[str, Any], vial_volume_ml: float | None
) -> CriterionResult:
    def result(status: Status, measured: float | str | None, note: str = "") -> CriterionResult:
        return CriterionResult(
            c.field, c.label, status, measured, c.limit_text, c.unit, c.required, c.source, note
        )

    raw = coa.get(c.field)
    if _is_missing(raw):
        return result(Status.MISSING, None, "not reported on the CoA")
    if c.comparator == "equals":
        value = read_category_like(c.field, raw, str(c.limit))
        return result(Status.PASS if value == c.limit else Status.FAIL, value)
    measured = read_number(c.field, raw, c.unit, vial_volume_ml)
    reference = None
    if c.comparator == "within_pct_of":
        ref_field = c.reference_field or ""
        ref_raw = coa.get(ref_field)
        if _is_missing(ref_raw):
            return result(
                Status.MISSING,
                measured,
                f"{REFERENCE_LABELS.get(ref_field, ref_field)} not reported",
            )
        reference = read_number(ref_field, ref_raw, c.unit, vial_volume_ml)
        if reference <= 0:
            raise ReleaseInputError(ref_field, "labelled amount must be greater than 0")
        dev = (measured - reference) / reference * 100
        ok = _compare(c, measured, reference)
        return result(Status.PASS if ok else Status.FAIL, measured, f"{dev:+.1f} % from label")
    return result(Status.PASS if _compare(c, measured) else Status.FAIL, measured)


def check_release(
    coa: Mapping[str, Any], spec: ReleaseSpec | None = None, *, vial_volume_ml: float | None = None
) -> ReleaseReport:
    """Check a CoA against a specification: PASS / FAIL / MISSING for every criterion.

    Raises :class:`ReleaseInputError` (naming the field) for unreadable values or units;
    run :func:`validate_coa` first to collect all such problems for a form.
    """
    s = spec if spec is not None else load_default_spec()
    return ReleaseReport(s.version, tuple(_check_one(c, coa, vial_volume_ml) for c in s.criteria))


# Physical plausibility limits for validate_coa (impossible, not merely out of spec).
SIZE_MODE_PLAUSIBLE_NM = (10.0, 1000.0)
# Upper limits of possible values, in the field's own unit (lower limit 0, see _NON_NEGATIVE).
# - particles/mL: 1e14 — 100-nm vesicles would fill ~5 % of the liquid; published EV
#   preparations are 1e9–1e13/mL (REFERENCE.md A.3.3 doses 1e12 particles per session).
# - particles/µg protein: 1e13 — 300× Webber & Clayton's "high purity" 3e10 (A.6.2).
# - protein: 1e5 µg/mL (100 mg/mL), the most concentrated protein solutions made.
# - endotoxin: 1e6 EU/mL — 4 million × the 0.25 EU/mL limit; beyond any LAL result.
# - residual DNA: 1e6 ng (1 mg) per dose.
# A value above these is a typing or unit error (1e99), not an out-of-spec lot.
PLAUSIBLE_MAX = {
    "particles_per_ml": 1e14,
    "labelled_particles_per_ml": 1e14,
    "particles_per_ug_protein": 1e13,
    "protein_ug_per_ml": 1e5,
    "endotoxin_eu_per_ml": 1e6,
    "residual_dna_ng_per_dose": 1e6,
}
_NON_NEGATIVE = {
    "particles_per_ml",
    "labelled_particles_per_ml",
    "particles_per_ug_protein",
    "endotoxin_eu_per_ml",
    "residual_dna_ng_per_dose",
}


def validate_coa(
    coa: Mapping[str, Any],
    spec: ReleaseSpec | None = None,
    *,
    vial_volume_ml: float | None = None,
) -> list[FieldError]:
    """Impossible or unreadable CoA values and missing required fields, each naming its field.

    This is input validation, not release: an out-of-spec but possible value (endotoxin
    0.4 EU/mL) is not an error here; it FAILs in :func:`check_release`.
    """
    s = spec if spec is not None else load_default_spec()
    errors: list[FieldError] = []
    units = {c.field: c.unit for c in s.criteria}
    for field, unit in RESULT_UNITS.items():
        units.setdefault(field, unit)
    for c in s.criteria:
        if c.reference_field:
            units.setdefault(c.reference_field, c.unit)
    categorical = {c.field: str(c.limit) for c in s.criteria if c.comparator == "equals"}
    for c in s.criteria:
        if c.required and _is_missing(coa.get(c.field)):
            errors.append(FieldError(c.field, f"{c.label} is required by spec {s.version}"))
        if c.required and c.reference_field and _is_missing(coa.get(c.reference_field)):
            errors.append(FieldError(c.reference_field, f"needed to check {c.label}"))
    for field, raw in coa.items():
        if _is_missing(raw):
            continue
        try:
            if field in categorical:
                read_category_like(field, raw, categorical[field])
                continue
            if (
                field not in units
                and field not in PLAUSIBLE_MAX
                and not field.endswith(("_pct", "_nm"))
            ):
                continue  # extra CoA fields are kept but not checked
            value = read_number(field, raw, units.get(field), vial_volume_ml)
        except ReleaseInputError as exc:
            errors.append(FieldError(exc.field, exc.message))
            continue
        if field.endswith("_pct") and not 0 <= value <= 100:
            errors.append(
                FieldError(field, f"percentage must be 0–100, got {readable_number(value)}")
            )
        elif field == "size_mode_nm" and not (
            SIZE_MODE_PLAUSIBLE_NM[0] <= value <= SIZE_MODE_PLAUSIBLE_NM[1]
        ):
            errors.append(
                FieldError(
                    field,
                    f"size mode {readable_number(value)} nm is outside the possible 10–1000 nm",
                )
            )
        elif field in _NON_NEGATIVE and value < 0:
            errors.append(FieldError(field, f"must not be negative, got {readable_number(value)}"))
        elif field in PLAUSIBLE_MAX and value > PLAUSIBLE_MAX[field]:
            errors.append(
                FieldError(
                    field,
                    f"{readable_number(value)} is not a possible result "
                    f"(at most {readable_number(PLAUSIBLE_MAX[field])}); "
                    "check the number and its unit",
                )
            )
        elif field == "labelled_particles_per_ml" and value == 0:
            errors.append(FieldError(field, "labelled amount must be greater than 0"))
    if vial_volume_ml is not None and not vial_volume_ml > 0:
        errors.append(FieldError("vial_volume_ml", "must be greater than 0"))
    return errors


# --- docs ----------------------------------------------------------------------------------


def render_spec_markdown(spec: ReleaseSpec | None = None) -> str:
    """docs/release-spec.md, generated so that the docs cannot drift from the YAML."""
    s = spec if spec is not None else load_default_spec()
    lines = [
        "# Release specification",
        "",
        "<!-- Generated by `python -m anagen.products.release`; do not edit by hand. -->",
        "",
        f"{s.name}, version `{s.version}`.",
        "",
        "A lot is releasable only when no criterion FAILs (optional ones included) and no "
        "required criterion is MISSING. Bare CoA numbers are read in the unit shown; values "
        "given as `{value, unit}` are converted (per-vial amounts need the vial volume). A "
        "converted or derived value equal to a limit but for binary rounding is taken as at the "
        "limit (9.8e9 ÷ 4.9 passes `>= 2e+09`; 0.02 EU in a 0.1 mL vial fails `< 0.2`).",
        "",
        "A clinic may add versions of its own, but every version must keep the safety "
        "criteria as required: "
        + ", ".join(f"`{f}`" for f in MANDATORY_NEGATIVE)
        + f" equal to negative, and `{ENDOTOXIN_FIELD}` below at most "
        f"{ENDOTOXIN_LOOSEST_EU_PER_ML:g} EU/mL (the more lenient published limit). A version "
        "without them is refused, and a stored one releases no lot. Each criterion must name "
        "a CoA result field of the kind its comparator checks (`equals`: a positive/negative "
        "or conforms result; the others, and `reference_field`: a number); a version naming "
        "any other field is refused.",
        "",
        "CoA numbers beyond what is physically possible are refused as typing or unit errors: "
        + "; ".join(f"`{f}` above {v:g}" for f, v in PLAUSIBLE_MAX.items())
        + f"; sizes outside {SIZE_MODE_PLAUSIBLE_NM[0]:g}–{SIZE_MODE_PLAUSIBLE_NM[1]:g} nm.",
        "",
        "| field | criterion | limit | required | source |",
        "|---|---|---|---|---|",
    ]
    for c in s.criteria:
        cells = (c.field, c.label, c.limit_text, "yes" if c.required else "no", c.source)
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_spec_markdown(), end="")
