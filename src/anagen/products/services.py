"""Writes for products and lots: validation, transactions and audit in one place.

Views, the API and the CLI call these functions; none of them holds a business rule.
Errors are :class:`ProductError` with ``errors`` = field -> messages, so a form can put
each message next to its field and the API can name the field.
"""

from __future__ import annotations

import importlib.resources
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.utils import timezone

from anagen.accounts.models import Clinic, Membership, User
from anagen.accounts.roles import allowed
from anagen.core.checks import FieldErrors, Refusal, read_text
from anagen.core.dates import add_years
from anagen.core.history import save_with_history
from anagen.core.text import ascii_digits, hidden_characters, printed_code
from anagen.patients.models import Patient
from anagen.products import coldchain, importers, lotnumbers, release, selectors
from anagen.products.models import (
    COA_PDF_MAX_BYTES,
    CertificateOfAnalysis,
    CoaSource,
    DecisionKind,
    Excursion,
    Lot,
    LotDecision,
    LotStatus,
    OverrideStatus,
    Product,
    ProductSettings,
    ReadingSource,
    Recall,
    ReleaseOverride,
    ReleaseSpecVersion,
    StorageLocation,
    SupplierDocument,
    TemperatureReading,
    VialDraw,
    VialWaste,
)
from anagen.products.numbers import readable_number

MIN_REASON_CHARS = 10
# A generous bound on shelf life from receipt: it only catches a mistyped year (9999).
MAX_SHELF_LIFE_YEARS = 10
SQLITE_LOCK_WAIT_SECONDS = 20.0  # as long as the busy timeout of a file database


class ProductError(Refusal):
    """A write was refused; ``errors`` maps field name -> list of messages."""


class NotUsable(ProductError):
    """The lot may not be used at the point of care (not released, expired, blocked...)."""


class InsufficientStock(NotUsable):
    pass


def _fail(field: str, message: str) -> ProductError:
    return ProductError({field: [message]})


def _reason(reason: str | None, field: str = "reason") -> str:
    text = (reason or "").strip()
    if len(text) < MIN_REASON_CHARS:
        raise _fail(field, f"Give a reason of at least {MIN_REASON_CHARS} characters.")
    return text


def _full_clean(obj: models.Model, exclude: list[str] | None = None) -> None:
    try:
        obj.full_clean(exclude=exclude)
    except ValidationError as exc:
        raise ProductError(exc.message_dict) from exc


# --- settings and specifications -----------------------------------------------------------


def settings_for(clinic: Clinic) -> ProductSettings:
    obj, _ = ProductSettings.objects.get_or_create(clinic=clinic)
    return obj


def update_settings(clinic: Clinic, user: User, *, expiry_warning_days: int) -> ProductSettings:
    if not isinstance(expiry_warning_days, int) or not 1 <= expiry_warning_days <= 730:
        raise _fail("expiry_warning_days", "Must be a whole number of days from 1 to 730.")
    obj = settings_for(clinic)
    obj.expiry_warning_days = expiry_warning_days
    save_with_history(obj, user, "settings changed")  # nothing changed: not saved
    return obj


def current_spec(clinic: Clinic) -> ReleaseSpecVersion:
    """The clinic's newest active spec; the shipped default is copied in on first use."""
    spec = ReleaseSpecVersion.objects.filter(clinic=clinic, is_active=True).first()
    if spec is not None:
        return spec
    default = release.load_default_spec()
    text = importlib.resources.files("anagen.products").joinpath("default_release_spec.yaml")
    data = yaml.safe_load(text.read_text(encoding="utf-8"))
    spec, _ = ReleaseSpecVersion.objects.get_or_create(
        clinic=clinic,
        version=default.version,
        defaults={"name": default.name, "data": data},
    )
    return spec


def parsed_spec(spec: ReleaseSpecVersion) -> release.ReleaseSpec:
    return release.parse_spec(spec.data)


def _check_spec_is_safe(spec: ReleaseSpecVersion) -> None:
    """A spec stored before create_spec_version checked the safety criteria releases nothing."""
    problems = release.safety_problems(parsed_spec(spec))
    if problems:
        raise _fail(
            "__all__",
            f"Specification {spec.version} lacks mandatory safety criteria ({'; '.join(problems)})"
            ": create a new specification version before releasing lots.",
        )


# The categorical results that an inspection gives (conforms or not); the others are
# detections (positive or negative).
CONFORMANCE_FIELDS = frozenset({"tem_morphology"})


def spec_field_problems(spec: release.ReleaseSpec) -> list[str]:
    """Criteria naming a field a CoA cannot hold, or one of the wrong kind for the comparator
    ("equals" checks a positive/negative/conforms result; the others compare numbers)."""
    numeric = ", ".join(importers.NUMERIC_RESULTS)
    problems: list[str] = []
    for c in spec.criteria:
        if c.field not in importers.RESULT_FIELDS:
            problems.append(f"{c.field} is not a CoA result field")
        elif c.comparator == "equals" and c.field not in importers.CATEGORICAL_RESULTS:
            problems.append(
                f"{c.field}: 'equals' checks a positive/negative or conforms result, and "
                f"{c.field} is not one (use a number comparator)"
            )
        elif c.comparator == "equals" and (str(c.limit) in release.DETECTION_RESULTS) != (
            c.field not in CONFORMANCE_FIELDS
        ):
            # Every CoA would be refused for this field (a result of the other kind).
            problems.append(
                f"{c.field}: a CoA reports it as "
                + (
                    "conforms or does not conform"
                    if c.field in CONFORMANCE_FIELDS
                    else "positive or negative"
                )
                + f", not {c.limit}"
            )
        elif c.comparator != "equals" and c.field not in importers.NUMERIC_RESULTS:
            problems.append(
                f"{c.field}: {c.comparator!r} compares numbers, and a CoA gives {c.field} "
                "as a result such as negative (use 'equals')"
                if c.field in importers.CATEGORICAL_RESULTS
                else f"{c.field}: {c.comparator!r} compares numbers, and {c.field} is text"
            )
        if c.reference_field and c.reference_field not in importers.NUMERIC_RESULTS:
            problems.append(
                f"{c.field}: reference_field {c.reference_field} is not a numeric CoA result "
                f"field (one of {numeric})"
            )
    return problems


def create_spec_version(clinic: Clinic, user: User, yaml_text: str) -> ReleaseSpecVersion:
    """A new spec version from YAML in release.py's format; it becomes the current one."""
    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        raise _fail("spec", f"Not valid YAML: {exc}") from exc
    except (ValueError, OverflowError) as exc:  # a date such as 2026-13-45: a 500 it was
        raise _fail("spec", f"Not valid YAML: {exc}.") from exc
    try:
        parsed = release.parse_spec(data, new=True)
    except (release.SpecError, TypeError, AttributeError, ValueError, OverflowError) as exc:
        raise _fail("spec", f"Not a valid specification: {exc}") from exc
    try:
        # Stored as JSON: YAML-only values (dates, !!binary, NaN) have no JSON form.
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _fail(
            "spec", f"Not a valid specification: use only text, numbers and lists ({exc})."
        ) from exc
    unsafe = release.safety_problems(parsed)
    if unsafe:
        raise _fail(
            "spec", "The specification leaves out mandatory safety criteria: " + "; ".join(unsafe)
        )
    unreadable = spec_field_problems(parsed)
    if unreadable:
        raise _fail("spec", "Not a valid specification: " + "; ".join(unreadable) + ".")
    data = {**data, "version": parsed.version}  # version: 9 is stored as "9"
    if ReleaseSpecVersion.objects.filter(clinic=clinic, version=parsed.version).exists():
        raise _fail("spec", f"Version {parsed.version} already exists; give a new version.")
    spec = ReleaseSpecVersion(
        clinic=clinic, version=parsed.version, name=parsed.name or "Release specification",
        data=data, created_by=user,
    )  # fmt: skip
    with transaction.atomic():
        # Make sure the default exists first, so that "newest" means this one.
        current_spec(clinic)
        save_with_history(spec, user, "new specification version")
    return spec


# --- products and storage ------------------------------------------------------------------

PRODUCT_FIELDS = (
    "manufacturer",
    "name",
    "source_tissue",
    "donor_type",
    "form",
    "labelled_particles_per_vial",
    "volume_ml",
    "storage_min_temperature_c",
    "storage_max_temperature_c",
    "storage_requirement",
    "regulatory_status",
    "components",
    "is_active",
)


# Regulatory status per jurisdiction: a few dozen jurisdictions at most (REFERENCE.md A.6.3
# names five), a short code or name, and a statement of a paragraph or two.
REGULATORY_MAX_ENTRIES = 50
REGULATORY_KEY_MAX_CHARS = 60
REGULATORY_TEXT_MAX_CHARS = 1000


def _check_regulatory(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _fail("regulatory_status", 'Give {"JURISDICTION": "text", ...}.')
    if len(value) > REGULATORY_MAX_ENTRIES:
        raise _fail(
            "regulatory_status",
            f"At most {REGULATORY_MAX_ENTRIES} jurisdictions, not {len(value)}.",
        )
    out = {k.strip(): v.strip() for k, v in value.items() if k.strip() and v.strip()}
    for k, v in out.items():
        if len(k) > REGULATORY_KEY_MAX_CHARS:
            raise _fail(
                "regulatory_status",
                f"A jurisdiction is at most {REGULATORY_KEY_MAX_CHARS} characters ({k[:20]}…).",
            )
        if len(v) > REGULATORY_TEXT_MAX_CHARS:
            raise _fail(
                "regulatory_status",
                f"The text for {k} is longer than {REGULATORY_TEXT_MAX_CHARS} characters.",
            )
    return out


COMPONENTS_MAX = 30
COMPONENT_MAX_CHARS = 120


def _check_components(value: Any) -> list[str]:
    """Component names, stripped, each once (ignoring case), in the order given."""
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        raise _fail(
            "components", 'Give a list of names, e.g. ["trehalose", "human serum albumin"].'
        )
    out: list[str] = []
    for c in value:
        name = " ".join(c.split())
        if not name or name.casefold() in {o.casefold() for o in out}:
            continue
        if len(name) > COMPONENT_MAX_CHARS or hidden_characters(name, invisible=True):
            raise _fail(
                "components",
                f"A component is a name of at most {COMPONENT_MAX_CHARS} characters "
                "without control characters.",
            )
        out.append(name)
    if len(out) > COMPONENTS_MAX:
        raise _fail("components", f"At most {COMPONENTS_MAX} components, not {len(out)}.")
    return out


def _apply_product(product: Product, data: dict[str, Any]) -> None:
    unknown = set(data) - set(PRODUCT_FIELDS)
    if unknown:
        raise _fail("__all__", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    for name, value in data.items():
        if name == "regulatory_status":
            value = _check_regulatory(value)
        elif name == "components":
            value = _check_components(value)
        setattr(product, name, value)
    errors: dict[str, list[str]] = {}
    particles = product.labelled_particles_per_vial
    if particles is not None and (
        isinstance(particles, bool)
        or not isinstance(particles, int | float)
        or not math.isfinite(particles)
        or particles <= 0
    ):
        errors["labelled_particles_per_vial"] = ["Must be a number greater than 0."]
    if product.volume_ml is not None and Decimal(str(product.volume_ml)) <= 0:
        errors["volume_ml"] = ["Must be greater than 0 mL."]
    elif (
        "labelled_particles_per_vial" not in errors
        and particles is not None
        and product.volume_ml is not None
    ):
        # The label is read as particles per mL by every CoA: beyond what a liquid can hold,
        # each CoA of the product was refused as impossible for a value nobody typed there.
        per_ml = float(particles) / float(product.volume_ml)
        most = release.PLAUSIBLE_MAX["labelled_particles_per_ml"]
        if per_ml > most:
            errors["labelled_particles_per_vial"] = [
                f"{readable_number(per_ml)} particles per mL ({readable_number(float(particles))} "
                f"in {Decimal(str(product.volume_ml)).normalize():f} mL) is not a possible "
                f"concentration (at most "
                f"{readable_number(most)} per mL): check the label's exponent."
            ]
    lo, hi = product.storage_min_temperature_c, product.storage_max_temperature_c
    if lo is not None and hi is not None and Decimal(str(lo)) > Decimal(str(hi)):
        errors["storage_max_temperature_c"] = ["Must not be below the storage minimum."]
    for name in ("storage_min_temperature_c", "storage_max_temperature_c"):
        value = getattr(product, name)
        if value is not None and not -200 <= Decimal(str(value)) <= 100:
            errors.setdefault(name, []).append("Must be between −200 and 100 °C.")
    if errors:
        raise ProductError(errors)
    _full_clean(product, exclude=["clinic"])


def _unique_product(clinic: Clinic, product: Product) -> None:
    # Compared as the lot importer matches names (capitals and runs of spaces aside): "UC-MSC
    # EV 10B" and "uc-msc ev 10b" side by side in the receive list invited the wrong pick.
    # A clinic has a handful of products: compared here rather than in SQL.
    key = (_name_key(product.manufacturer or ""), _name_key(product.name or ""))
    others = Product.objects.filter(clinic=clinic).exclude(pk=product.pk)
    for other in others.only("manufacturer", "name"):
        if (_name_key(other.manufacturer), _name_key(other.name)) == key:
            same = other.manufacturer == product.manufacturer and other.name == product.name
            raise _fail(
                "name",
                "This manufacturer already has a product of this name here."
                if same
                else f"This manufacturer already has “{other.name}”, which differs only in "
                "capitals or spaces; use that product.",
            )


def create_product(clinic: Clinic, user: User, data: dict[str, Any]) -> Product:
    product = Product(clinic=clinic)
    _apply_product(product, data)
    _unique_product(clinic, product)
    with transaction.atomic():
        save_with_history(product, user, "created")
    return product


# What the label says a vial holds: the ±20 % concentration check, per-vial CoA values and
# doses are read against it.
PRESENTATION_FIELDS = ("labelled_particles_per_vial", "volume_ml")


def update_product(product: Product, user: User, data: dict[str, Any]) -> Product:
    """Edit a product. Its label (particles per vial, vial volume) may change only while
    every lot of it is quarantined, and then the quarantined lots' CoAs are derived again
    from the new label; a lot released or rejected was decided against the old one."""
    with transaction.atomic():
        # The product row first, then its lots (_check_label_change): a release locks the
        # lot and its product, so a release and a label change cannot pass each other.
        fresh = Product.objects.select_for_update().get(pk=product.pk)
        before = {name: getattr(fresh, name) for name in PRESENTATION_FIELDS}
        stored_range = {name: getattr(fresh, name) for name in STORAGE_RANGE_FIELDS}
        _apply_product(fresh, data)
        _unique_product(fresh.clinic, fresh)
        changed = [name for name in PRESENTATION_FIELDS if getattr(fresh, name) != before[name]]
        if changed:
            _check_label_change(fresh, changed[0])
        moved = [name for name in STORAGE_RANGE_FIELDS if _differs(fresh, name, stored_range)]
        if moved:
            _check_range_change(fresh, moved[0])
        save_with_history(fresh, user, "edited")
        if changed:
            _derive_coas_again(fresh, user)
    return fresh


# The temperatures the product must be kept at: every lot's cold chain is checked against
# them (excursions, and quality's decisions on them).
STORAGE_RANGE_FIELDS = ("storage_min_temperature_c", "storage_max_temperature_c")


def _differs(product: Product, name: str, stored: dict[str, Any]) -> bool:
    new, old = getattr(product, name), stored[name]
    if new is None or old is None:
        return new is not old
    return Decimal(str(new)) != Decimal(str(old))


def _first_five(numbers: list[str]) -> str:
    """ "A-1, A-2, A-3, A-4, A-5 and 3 more": lot numbers in a message."""
    more = f" and {len(numbers) - 5} more" if len(numbers) > 5 else ""
    return ", ".join(numbers[:5]) + more


def _check_range_change(product: Product, field: str) -> None:
    """The storage range is fixed once the product has a lot: the lots' readings were
    checked against it (a frozen product's range was set to 2-8 °C and a lot then received
    into a fridge without a word)."""
    numbers = list(
        Lot.objects.filter(product=product)
        .order_by("lot_number")
        .values_list("lot_number", flat=True)
    )
    if numbers:
        raise _fail(
            field,
            f"Lot{'s' if len(numbers) > 1 else ''} {_first_five(numbers)} of this product "
            f"{'are' if len(numbers) > 1 else 'is'} stored and checked against the current "
            "storage range; it cannot change. A product kept at other temperatures is a new "
            "product: add it to the catalogue.",
        )


def _check_label_change(product: Product, field: str) -> None:
    lots = list(
        Lot.objects.select_for_update()
        .filter(product=product)
        .order_by("lot_number")
        .values_list("lot_number", "status")
    )
    decided = [number for number, status in lots if status != LotStatus.QUARANTINED]
    if decided:
        raise _fail(
            field,
            f"Lot{'s' if len(decided) > 1 else ''} {_first_five(decided)} of this product "
            f"{'were' if len(decided) > 1 else 'was'} decided against the current label; "
            "it cannot change. A new label or vial size is a new product: add it to the "
            "catalogue.",
        )


def _derive_coas_again(product: Product, user: User) -> None:
    """Quarantined lots' CoAs with the derived results (labelled amount, purity from a
    per-vial concentration) computed from the new label; a CoA that no longer fits refuses
    the change, naming its lot."""
    spec_by_clinic: dict[int, release.ReleaseSpec] = {}
    for coa in CertificateOfAnalysis.objects.select_for_update().filter(
        lot__product=product, lot__status=LotStatus.QUARANTINED
    ).select_related("lot"):  # fmt: skip
        spec = spec_by_clinic.setdefault(coa.clinic_id, parsed_spec(current_spec(coa.lot.clinic)))
        if _derive_again(
            coa, product, spec, user, "CoA derived again: product label changed", "__all__",
            f"The CoA of lot {coa.lot.lot_number} does not fit the new label",
            "correct that CoA first, or leave the label as it is.",
        ):  # fmt: skip
            _withdraw_pending_override(coa.lot, user, "product label changed; request it again")


def _derive_again(
    coa: CertificateOfAnalysis,
    product: Product,
    spec: release.ReleaseSpec,
    user: User,
    note: str,
    field: str,
    misfit: str,
    fix: str,
) -> bool:
    """Work ``coa``'s derived results (labelled amount, purity from a per-vial concentration)
    out again from ``product``'s label, saved with ``note``; whether they changed. A CoA
    that does not fit the label is refused on ``field``: "<misfit> (<problems>): <fix>"."""
    entered = {k: v for k, v in coa.results.items() if k not in coa.derived_fields}
    try:
        done = validate_results(product, entered, spec)
    except ProductError as exc:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
        raise _fail(field, f"{misfit} ({problems}): {fix}") from exc
    if done == coa.results:
        return False
    coa.results = done
    coa.derived_fields = derived_fields(entered, done)
    save_with_history(coa, user, note)
    return True


def _set_range(err: FieldErrors, low: Any, high: Any) -> tuple[Decimal | None, Decimal | None]:
    """A location's set range: both ends or neither, one decimal, low ≤ high."""
    blank = [v is None or (isinstance(v, str) and not v.strip()) for v in (low, high)]
    if all(blank):
        return None, None
    if any(blank):
        field = "set_min_temperature_c" if blank[0] else "set_max_temperature_c"
        err.add(field, "Give both ends of the set range, or neither.")
        return None, None
    ends: list[Decimal | None] = []
    for field, value in (("set_min_temperature_c", low), ("set_max_temperature_c", high)):
        try:
            number = Decimal(str(value).strip())
            if not number.is_finite():
                raise InvalidOperation
            coldchain.check_temperature(float(number))
            if number != number.quantize(Decimal("0.1")):
                raise ValueError(f"give at most 1 decimal place, got {number}")
        except (InvalidOperation, ValueError) as exc:
            why = str(exc) if isinstance(exc, ValueError) and str(exc) else "expected a number"
            err.add(field, f"{why[:1].upper()}{why[1:]}.")
            ends.append(None)
        else:
            ends.append(number.quantize(Decimal("0.1")))
    lo, hi = ends
    if lo is not None and hi is not None and lo > hi:
        err.add("set_max_temperature_c", "The maximum must not be below the minimum.")
    return lo, hi


def create_location(
    clinic: Clinic,
    user: User,
    name: str,
    description: str = "",
    *,
    set_min_temperature_c: Any = None,
    set_max_temperature_c: Any = None,
) -> StorageLocation:
    """A new storage location. Its name is unique in the clinic whatever its capitals and
    spaces: "Fridge 1" and "fridge  1" would split one fridge's readings and lots in two.
    Its set range (e.g. 2.0 to 8.0 °C), when given, keeps out lots stored otherwise."""
    err = FieldErrors()
    set_min, set_max = _set_range(err, set_min_temperature_c, set_max_temperature_c)
    name = " ".join((name or "").split())  # runs of spaces inside a name are one space
    if hidden := hidden_characters(name):
        err.add("name", f"Remove the control or invisible character(s) {', '.join(hidden)}.")
    elif not name:
        err.add("name", "This field is required.")
    elif len(name) > 120:
        err.add("name", f"At most 120 characters (got {len(name)}).")
    description = read_text(err, "description", description, max_len=300)
    if name and "name" not in err:
        key = name.casefold()
        for existing in StorageLocation.objects.filter(clinic=clinic).values_list(
            "name", flat=True
        ):
            if " ".join(existing.split()).casefold() == key:
                same = "this name" if existing == name else f"the name “{existing}”"
                err.add("name", f"A storage location of {same} exists already.")
                break
    if err:
        raise ProductError(dict(err))
    location = StorageLocation(
        clinic=clinic, name=name, description=description,
        set_min_temperature_c=set_min, set_max_temperature_c=set_max,
    )  # fmt: skip
    save_with_history(location, user, "created")
    return location


# --- files ----------------------------------------------------------------------------------


# Readers look for the end-of-file marker in the last 1,024 bytes; some writers append a few
# bytes after it, so a little more is searched.
PDF_TAIL_BYTES = 2048


def check_pdf(upload: UploadedFile | None, field: str = "pdf") -> None:
    """A real, complete PDF (by its first and last bytes, not its name) within the size limit."""
    if upload is None:
        return
    if upload.size is None or upload.size > COA_PDF_MAX_BYTES:
        raise _fail(field, f"The file is larger than {COA_PDF_MAX_BYTES // (1024 * 1024)} MB.")
    upload.seek(0)
    head = upload.read(1024)
    upload.seek(max(0, upload.size - PDF_TAIL_BYTES))
    tail = upload.read(PDF_TAIL_BYTES)
    upload.seek(0)
    if b"%PDF-" not in head[:1024] or not head.lstrip().startswith(b"%PDF-"):
        raise _fail(field, "This is not a PDF file (it does not start with %PDF-).")
    if b"%%EOF" not in tail:
        # A certificate is evidence: a download cut short opens as a blank or half page.
        raise _fail(
            field,
            "This PDF is incomplete (it has no end-of-file marker %%EOF): it may have been "
            "cut off while downloading or copying. Download the document again.",
        )


# --- receiving lots and CoAs ----------------------------------------------------------------


def _check_lot_fields(
    clinic: Clinic,
    product: Product | None,
    lot_number: str,
    expiry_date: date | None,
    quantity: Any,
    location: StorageLocation | None,
    received_on: date,
    exclude_lot: Lot | None = None,
) -> str:
    errors: dict[str, list[str]] = {}
    if product is None or product.clinic_id != clinic.pk:
        errors["product"] = ["Choose a product of this clinic."]
    elif not product.is_active:
        errors["product"] = ["This product is no longer active."]
    lot_number = printed_code((lot_number or "").strip())
    if not lot_number:
        errors["lot_number"] = ["This field is required."]
    elif len(lot_number) > 60:
        errors["lot_number"] = ["At most 60 characters."]
    elif hidden := hidden_characters(lot_number, invisible=True):
        # Lot numbers go on recall notices and labels: what is shown must be what is stored.
        errors["lot_number"] = [
            f"Remove the control or invisible character(s) {', '.join(hidden)}."
        ]
    elif product is not None:
        # Case-insensitive: "uc-2605-h" and "UC-2605-H" are the same lot on the vial label.
        others = Lot.objects.filter(clinic=clinic, product=product, lot_number__iexact=lot_number)
        if exclude_lot is not None:  # a correction: the lot's own number is no clash
            others = others.exclude(pk=exclude_lot.pk)
        clash = others.first()
        if clash is not None:
            errors["lot_number"] = [
                f"Lot {clash.lot_number} of this product has already been received"
                + (" (lot numbers are compared ignoring case)." if clash.lot_number != lot_number
                   else ".")
            ]  # fmt: skip
    if not isinstance(expiry_date, date):
        errors["expiry_date"] = ["Enter the expiry date as YYYY-MM-DD."]
    elif expiry_date < received_on:
        # Refused, not warned: an expired lot can never be released or used (release_lot
        # and draw_vials refuse it), so receiving it would only put dead stock in quarantine.
        # The shipment goes back to the supplier, documented outside the stock.
        errors["expiry_date"] = [
            f"The lot expired on {expiry_date:%Y-%m-%d}, before it was received; "
            "return it to the supplier."
        ]
    elif expiry_date > add_years(received_on, MAX_SHELF_LIFE_YEARS):
        # A mistyped year (9999) would make a lot that never expires.
        errors["expiry_date"] = [
            f"An expiry more than {MAX_SHELF_LIFE_YEARS} years after receipt "
            f"({expiry_date:%Y-%m-%d}) is not plausible for a biological product; check the year."
        ]
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        errors["quantity_received"] = ["Enter the number of vials received (at least 1)."]
    elif quantity > 100_000:
        errors["quantity_received"] = ["More than 100,000 vials is not a plausible delivery."]
    if location is not None and location.clinic_id != clinic.pk:
        errors["storage_location"] = ["Choose a storage location of this clinic."]
    elif (
        location is not None
        and product is not None
        and "product" not in errors
        and (problem := storage_mismatch(product, location))
    ):
        errors["storage_location"] = [problem]
    if errors:
        raise ProductError(errors)
    return lot_number


def storage_mismatch(product: Product, location: StorageLocation) -> str | None:
    """Why ``product`` may not be stored at ``location`` (its set range is not within the
    product's storage range), naming both ranges; None when it may, or when the location
    has no set range."""
    lo, hi = location.set_min_temperature_c, location.set_max_temperature_c
    if lo is None or hi is None:
        return None
    p_lo, p_hi = product.storage_min_temperature_c, product.storage_max_temperature_c
    if p_lo <= lo and hi <= p_hi:
        return None
    return (
        f"{location.name} is set to {coldchain.range_text(lo, hi)}, not within "
        f"{product.name}'s storage range of {coldchain.range_text(p_lo, p_hi)}: "
        "choose a storage location that keeps it in range."
    )


def lot_receipt_problems(
    clinic: Clinic,
    *,
    product: Product | None,
    lot_number: str,
    expiry_date: date | None,
    quantity_received: Any,
    storage_location: StorageLocation | None,
) -> dict[str, list[str]]:
    """What ``receive_lot`` would refuse in these values, for a form that has errors of its
    own: it shows them in the same answer (a missing product needs no duplicate check)."""
    try:
        _check_lot_fields(
            clinic, product, lot_number, expiry_date, quantity_received, storage_location,
            timezone.localdate(),
        )  # fmt: skip
    except ProductError as exc:
        return exc.errors
    return {}


def receive_lot(
    clinic: Clinic,
    user: User,
    *,
    product: Product,
    lot_number: str,
    expiry_date: date,
    quantity_received: int,
    storage_location: StorageLocation | None = None,
    supplier_notes: str = "",
    supplier_document: UploadedFile | None = None,
    received_at: datetime | None = None,
) -> Lot:
    """A lot enters QUARANTINED; nothing can be drawn from it until it is released."""
    received_at = received_at or timezone.now()
    lot_number = _check_lot_fields(
        clinic, product, lot_number, expiry_date, quantity_received, storage_location,
        timezone.localdate(received_at),
    )  # fmt: skip
    check_pdf(supplier_document, "supplier_document")
    lot = Lot(
        clinic=clinic,
        product=product,
        lot_number=lot_number,
        expiry_date=expiry_date,
        quantity_received=quantity_received,
        quantity_on_hand=quantity_received,
        storage_location=storage_location,
        received_at=received_at,
        received_by=user,
        supplier_notes=(supplier_notes or "").strip(),
    )
    try:
        with transaction.atomic():
            save_with_history(lot, user, "received (quarantined)")
            if supplier_document is not None:
                doc = SupplierDocument(
                    clinic=clinic, lot=lot, title=(supplier_document.name or "document")[:200],
                    uploaded_at=timezone.now(), uploaded_by=user,
                )  # fmt: skip
                doc.file.save(f"lot-{lot.pk}.pdf", supplier_document, save=False)
                save_with_history(doc, user, "uploaded with the lot")
            if storage_location is not None:
                # Received into a location that reads out of range now: blocked at once,
                # in the same transaction (never seen unblocked).
                _lock_location(storage_location)
                scan_excursions(storage_location, user)
    except IntegrityError as exc:
        # Two receptions of the same lot at once: the unique constraint decides.
        raise _fail("lot_number", f"Lot {lot_number} has already been received.") from exc
    if storage_location is not None:
        lot.refresh_from_db()
    return lot


# What a correction may change, by field, as the lot page and the API name it.
CORRECTABLE_FIELDS = {
    "lot_number": "lot number",
    "expiry_date": "expiry date",
    "quantity_received": "vials received",
    "supplier_notes": "supplier notes",
    "product": "product",
    "storage_location": "storage location",
}


@dataclass(frozen=True)
class LotCorrection:
    """A correction of a lot's receipt details: what changed (old → new, in words) and what
    the user must know about it (vials already given after a corrected expiry)."""

    lot: Lot
    changes: list[str]
    warnings: list[str]

    @property
    def message(self) -> str:
        if not self.changes:
            return "Nothing was changed."
        return " ".join([f"Lot {self.lot.lot_number} corrected: {'; '.join(self.changes)}."]
                        + self.warnings)  # fmt: skip


def correct_lot(lot: Lot, user: User, *, reason: str, **values: Any) -> LotCorrection:
    """Correct what was entered at receipt (a typo in the lot number, the expiry date or the
    vial count, the supplier's notes), with a reason, in the lot's history.

    The receipt's checks apply again (the expiry date against the day of receipt). Limits:
    the vials received never fall below those already drawn for patients or wasted; the lot
    number stays the one the certificate of analysis states. The product and the storage
    location picked at receipt (a wrong product is a common clerical slip) are corrected only
    while no vial of the lot was given to a patient (their records name the lot's product);
    a released lot whose product is corrected goes back to quarantine, since its release was
    judged against the other product's label; the lot is checked against the new location's
    readings since receipt. Usability and the dashboard follow the new expiry at once (they
    are worked out from it); vials given after a corrected, earlier expiry are named, to be
    followed up."""
    if not allowed(_role(user, lot.clinic), "lot.receive"):
        raise _fail("__all__", "Only a quality user of this clinic may correct a lot.")
    unknown = sorted(set(values) - set(CORRECTABLE_FIELDS))
    if unknown:
        raise _fail(unknown[0], "This cannot be corrected here.")
    reason = _reason(reason)
    with transaction.atomic():
        locked = _lock(lot)
        lot_number = values.get("lot_number", locked.lot_number)
        expiry = values.get("expiry_date", locked.expiry_date)
        received = values.get("quantity_received", locked.quantity_received)
        product = values.get("product", locked.product)
        location = values.get("storage_location", locked.storage_location)
        new_product = product != locked.product
        new_place = new_product or location != locked.storage_location
        errors: dict[str, list[str]] = {}
        try:
            number = _check_lot_fields(
                locked.clinic, product, lot_number, expiry, received,
                location if new_place else None,
                timezone.localdate(locked.received_at), exclude_lot=locked,
            )  # fmt: skip
        except ProductError as exc:
            errors = {k: v for k, v in exc.errors.items() if k != "product" or new_product}
            number = printed_code((lot_number or "").strip())
        errors.update(_product_or_place_refusals(locked, new_product, new_place, errors))
        coa = CertificateOfAnalysis.objects.filter(lot=locked).first()
        if (
            "lot_number" not in errors
            and coa is not None
            and coa.certificate_lot_number
            and not lotnumbers.same_lot_number(coa.certificate_lot_number, number)
        ):
            errors["lot_number"] = [
                f"The certificate of analysis is for lot {coa.certificate_lot_number}: the lot "
                "number must stay the one the certificate states."
            ]
        used = locked.quantity_received - locked.quantity_on_hand
        if "quantity_received" not in errors and received < used:
            errors["quantity_received"] = [
                f"{used} vial(s) of this lot were already drawn for patients or wasted: "
                f"it cannot have received fewer than {used}."
            ]
        if errors:
            raise ProductError(errors)
        notes = values.get("supplier_notes", locked.supplier_notes)
        notes = (notes or "").strip()
        changes = []
        if number != locked.lot_number:
            changes.append(f"lot number {locked.lot_number} → {number}")
        if expiry != locked.expiry_date:
            changes.append(f"expiry date {locked.expiry_date:%Y-%m-%d} → {expiry:%Y-%m-%d}")
        if received != locked.quantity_received:
            changes.append(f"vials received {locked.quantity_received} → {received}")
        if notes != locked.supplier_notes:
            changes.append("supplier notes")
        if new_product:
            changes.append(f"product {locked.product.name} → {product.name}")
        if location != locked.storage_location:
            changes.append(f"storage location {locked.storage_location or 'none'} → "
                           f"{location or 'none'}")  # fmt: skip
        if not changes:
            return LotCorrection(locked, [], [])
        warnings = []
        if new_product and locked.status == LotStatus.RELEASED:
            warnings.append(
                f"Its release was judged against {locked.product.name}'s label: it is back in "
                "quarantine; check its certificate of analysis and release it again."
            )
        late = (
            VialDraw.objects.given()
            .filter(lot=locked, drawn_on__gt=expiry)
            .values("patient_id")
            .distinct()
            .count()
        )
        if late and expiry < locked.expiry_date:
            who = "1 patient" if late == 1 else f"{late} patients"
            warnings.append(
                f"{who} received vials of it after {expiry:%Y-%m-%d}, the corrected expiry: "
                "trace the lot and follow them up."
            )
        locked.lot_number = number
        locked.expiry_date = expiry
        locked.quantity_on_hand = received - used
        locked.quantity_received = received
        locked.supplier_notes = notes
        locked.product = product
        locked.storage_location = location
        released = locked.status == LotStatus.RELEASED
        if new_product:
            _derive_coa_for(locked, product, user)
            if released:
                locked.status = LotStatus.QUARANTINED
                locked.decided_at, locked.decided_by = None, None
                locked.decision_reason, locked.decision_spec = "", None
        try:
            with transaction.atomic():
                save_with_history(locked, user, f"corrected ({'; '.join(changes)}): {reason}")
        except IntegrityError as exc:
            raise _fail("lot_number", f"Lot {number} of this product exists already.") from exc
        if new_product:
            why = f"product corrected to {product.name}"
            _withdraw_pending_override(locked, user, f"{why}; request it again")
            if released:
                _decide(locked, user, DecisionKind.REQUARANTINE, f"{why}: {reason}")
        if new_place and location is not None:
            # The lot lived in this location since receipt: its readings judge it now.
            _lock_location(location)
            scan_excursions(location, user)
            locked.refresh_from_db()
    return LotCorrection(locked, changes, warnings)


def _product_or_place_refusals(
    lot: Lot, new_product: bool, new_place: bool, errors: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Why the product or storage location of ``lot`` may not be corrected any more: vials
    given to patients (their sessions name the lot's product and were stored there), or a
    lot out of use for good (rejected or recalled: nothing is decided on it again)."""
    if not new_place:
        return {}
    field = "product" if new_product else "storage_location"
    given = VialDraw.objects.given().filter(lot=lot).aggregate(n=models.Sum("quantity"))["n"]
    if given:
        what = "product" if new_product else "storage location"
        return {
            field: [
                f"{given} vial(s) of this lot were already given to patients: its {what} can "
                "no longer be corrected (their treatment records name it). Reject the lot "
                "and receive its remaining vials again under the right product."
                if new_product
                else f"{given} vial(s) of this lot were already given to patients: its "
                f"{what} can no longer be corrected (its cold-chain record is theirs)."
            ]
        }
    if new_product and lot.status in (LotStatus.REJECTED, LotStatus.RECALLED) and not errors:
        return {
            "product": [
                f"The lot is {lot.get_status_display().lower()}: it is out of use for good, "
                "and its product is no longer corrected."
            ]
        }
    return {}


def _derive_coa_for(lot: Lot, product: Product, user: User) -> None:
    """The lot's CoA with its derived results (labelled amount, purity) worked out from the
    corrected product's label; a CoA that does not fit it refuses the correction."""
    coa = CertificateOfAnalysis.objects.select_for_update().filter(lot=lot).first()
    if coa is None:
        return
    _derive_again(
        coa, product, parsed_spec(current_spec(lot.clinic)), user,
        f"CoA derived again: lot's product corrected to {product}", "product",
        f"The lot's certificate of analysis does not fit {product.name}",
        "correct the certificate first.",
    )  # fmt: skip


def _role(user: User, clinic: Clinic) -> str | None:
    m = Membership.objects.filter(user=user, clinic=clinic, is_active=True).first()
    return None if m is None else m.role


def add_supplier_document(
    lot: Lot, user: User, upload: UploadedFile, title: str = ""
) -> SupplierDocument:
    check_pdf(upload, "file")
    doc = SupplierDocument(
        clinic=lot.clinic, lot=lot, title=(title or upload.name or "document")[:200],
        uploaded_at=timezone.now(), uploaded_by=user,
    )  # fmt: skip
    with transaction.atomic():
        doc.file.save(f"lot-{lot.pk}.pdf", upload, save=False)
        save_with_history(doc, user, "uploaded")
    return doc


def _extra_result_checks(
    results: dict[str, Any], vial_ml: float | None = None
) -> list[release.FieldError]:
    """Checks release.py leaves to us: descriptive markers, sizes it does not know, order,
    purity against concentration ÷ protein (``vial_ml`` reads a per-vial concentration)."""
    errors: list[release.FieldError] = []
    for name, value in results.items():
        if name not in importers.RESULT_FIELDS:
            errors.append(release.FieldError(name, "unknown result field"))
        elif isinstance(value, str) and len(value) > importers.RESULT_TEXT_MAX_CHARS:
            errors.append(
                release.FieldError(
                    name, f"at most {importers.RESULT_TEXT_MAX_CHARS} characters, not {len(value)}"
                )
            )
        elif name in importers.TEXT_RESULTS and not isinstance(value, str):
            errors.append(release.FieldError(name, f"must be text, got {value!r}"))
        elif name in importers.CATEGORICAL_RESULTS and name in ("tsg101", "alix", "gm130", "apoa1"):
            try:
                release.read_category_like(name, value, "negative")  # markers: detections
            except release.ReleaseInputError as exc:
                errors.append(release.FieldError(name, exc.message))
    sizes = {}
    for name in ("size_mean_nm", "size_d10_nm", "size_d50_nm", "size_d90_nm"):
        raw = results.get(name)
        if raw is None:
            continue
        try:
            value = release.read_number(name, raw, "nm", None)
        except release.ReleaseInputError as exc:
            # validate_coa reads only the spec's fields: a size outside the spec with a unit
            # like "furlong" was stored. The caller drops a message it already has.
            errors.append(release.FieldError(name, exc.message))
            continue
        lo, hi = release.SIZE_MODE_PLAUSIBLE_NM
        if not lo <= value <= hi:
            errors.append(
                release.FieldError(
                    name, f"size {readable_number(value)} nm is outside the possible 10–1000 nm"
                )
            )
        sizes[name] = value
    d10, d50, d90 = (sizes.get(f"size_d{p}_nm") for p in (10, 50, 90))
    if d10 is not None and d50 is not None and d10 > d50:
        errors.append(release.FieldError("size_d10_nm", "D10 must not be above D50"))
    if d50 is not None and d90 is not None and d50 > d90:
        errors.append(release.FieldError("size_d90_nm", "D90 must not be below D50"))
    if d10 is not None and d90 is not None and d10 > d90:
        # Without D50 the two checks above never met: D10 200 nm, D90 100 nm was stored.
        errors.append(release.FieldError("size_d90_nm", "D90 must not be below D10"))
    protein = results.get("protein_ug_per_ml")
    if protein is not None:
        try:
            number = release.read_number("protein_ug_per_ml", protein, "µg/mL", None)
        except release.ReleaseInputError as exc:
            errors.append(release.FieldError("protein_ug_per_ml", exc.message))
        else:
            if number <= 0:
                errors.append(release.FieldError("protein_ug_per_ml", "must be greater than 0"))
    purity = _purity_from(results, vial_ml)
    entered = results.get("particles_per_ug_protein")
    if purity is not None and entered is not None:
        try:
            value = release.read_number("particles_per_ug_protein", entered, "particles/µg", None)
        except release.ReleaseInputError:
            value = None  # reported by validate_coa
        if value is not None and abs(value - purity) > PURITY_TOLERANCE * purity:
            errors.append(
                release.FieldError(
                    "particles_per_ug_protein",
                    f"{readable_number(value)} does not match particles_per_ml ÷ protein_ug_per_ml "
                    f"(= {readable_number(purity)}); leave it blank to have it derived",
                )
            )
    return errors


# Results the service fills in when the CoA leaves them blank (recomputed on every save).
DERIVED_RESULTS = ("labelled_particles_per_ml", "particles_per_ug_protein")
# A reported purity may differ from concentration ÷ protein by rounding on the CoA (two
# significant figures is 5 %), not more: a larger gap is a stale or mistyped value.
PURITY_TOLERANCE = 0.10


def _purity_from(results: dict[str, Any], vial_ml: float | None = None) -> float | None:
    """particles_per_ml ÷ protein_ug_per_ml, or None if either is missing or unreadable
    (a per-vial concentration needs ``vial_ml``)."""
    conc_raw, protein_raw = results.get("particles_per_ml"), results.get("protein_ug_per_ml")
    if conc_raw is None or protein_raw is None:
        return None
    try:
        conc = release.read_number("particles_per_ml", conc_raw, "particles/mL", vial_ml)
        protein = release.read_number("protein_ug_per_ml", protein_raw, "µg/mL", None)
    except (TypeError, KeyError, release.ReleaseInputError):
        return None
    # An impossible input (refused by validate_coa under its own name) derives nothing.
    return conc / protein if protein > 0 and conc >= 0 else None


# A labelled amount restated on the CoA may differ from the product's label by rounding
# (two significant figures is 5 %), not more: the check against label would otherwise run
# against whatever the CoA claims.
LABEL_TOLERANCE = 0.05


def _label_check(product: Product, results: dict[str, Any]) -> list[release.FieldError]:
    """The CoA's restated labelled amount must be the product's label (within rounding)."""
    entered = results.get("labelled_particles_per_ml")
    if entered is None or entered == "":
        return []
    try:
        value = release.read_number(
            "labelled_particles_per_ml", entered, "particles/mL", float(product.volume_ml)
        )
    except release.ReleaseInputError:
        return []  # reported by validate_coa
    label = product.labelled_particles_per_ml
    if label > 0 and abs(value - label) > LABEL_TOLERANCE * label:
        return [
            release.FieldError(
                "labelled_particles_per_ml",
                f"{readable_number(value)} particles/mL is not the product's label "
                f"({readable_number(label)} particles/mL = "
                f"{readable_number(product.labelled_particles_per_vial)} per "
                f"{float(product.volume_ml):g} mL vial): a CoA of another product or presentation? "
                "Check it, correct the product's label if that is wrong, or leave this blank "
                "to use the label",
            )
        ]
    return []


def complete_results(product: Product, results: dict[str, Any]) -> dict[str, Any]:
    """Fill what the CoA leaves to the label or to arithmetic.

    - labelled_particles_per_ml from the product label, whether or not the CoA restates it;
    - particles_per_ug_protein from concentration ÷ protein when both are reported.

    Derived values are computed from the entered ones every time, never carried over from
    an earlier CoA; :func:`derived_fields` says which ones they were.
    """
    out = {k: v for k, v in results.items() if v is not None and v != ""}
    # Always the product's label: a restated amount (checked against it within rounding by
    # _label_check) would otherwise shift the ±20 % window by up to 5 % and pass a lot
    # that fails against the label.
    out["labelled_particles_per_ml"] = product.labelled_particles_per_ml
    if "particles_per_ug_protein" not in out:
        purity = _purity_from(out, float(product.volume_ml))
        if purity is not None:
            out["particles_per_ug_protein"] = purity
    return out


def derived_fields(results: dict[str, Any], completed: dict[str, Any]) -> list[str]:
    """The results complete_results filled in (not entered)."""
    entered = {k for k, v in results.items() if v is not None and v != ""}
    return [k for k in DERIVED_RESULTS if k in completed and k not in entered]


def validate_results(
    product: Product, results: dict[str, Any], spec: release.ReleaseSpec
) -> dict[str, Any]:
    """Completed results, or ProductError naming every impossible or unreadable field."""
    if not isinstance(results, dict):
        raise _fail("results", "Must be an object of field: value.")
    done = complete_results(product, results)
    problems = release.validate_coa(done, spec, vial_volume_ml=float(product.volume_ml))
    problems += _extra_result_checks(done, float(product.volume_ml))
    problems += _label_check(product, results)
    if problems:
        errors: dict[str, list[str]] = {}
        for p in problems:
            if p.message not in errors.get(p.field, []):
                errors.setdefault(p.field, []).append(p.message)
        raise ProductError(errors)
    return done


def read_certificate_lot_number(
    errors: FieldErrors,
    certificate_lot_number: Any,
    *,
    lot_number: str,
    product: Product,
    lot_pk: int | None = None,
    field: str = "certificate_lot_number",
) -> str:
    """The certificate's lot number as stored (NFKC, surrounding spaces removed), or "" with
    an error under ``field``: missing, too long, hidden characters, or not
    this lot's (lotnumbers.same_lot_number: any case, spaces and hyphens ignored). A number
    that is exactly another lot of the product's is refused even where the comparison would
    match ("AB-12" on lot "A-B12" while lot "AB-12" exists): it is that lot's certificate."""
    raw = certificate_lot_number
    text = read_text(errors, field, printed_code(raw) if isinstance(raw, str) else raw, max_len=60)
    if field in errors:
        return ""
    if not text:
        errors.add(field, "Enter the lot number printed on the certificate.")
    elif hidden := hidden_characters(text, invisible=True):
        errors.add(field, f"Remove the control or invisible character(s) {', '.join(hidden)}.")
    elif not lotnumbers.same_lot_number(text, lot_number) or (
        text.casefold() != lot_number.casefold()
        and Lot.objects.filter(
            clinic_id=product.clinic_id, product=product, lot_number__iexact=text
        )
        .exclude(pk=lot_pk or 0)
        .exists()
    ):
        errors.add(field, lotnumbers.mismatch_message(text, lot_number))
    else:
        return text
    return ""


def coa_closed_reason(lot: Lot) -> str | None:
    """Why the lot's CoA can no longer be entered or replaced (None while quarantined)."""
    if lot.status != LotStatus.QUARANTINED:
        return f"The lot is {lot.get_status_display().lower()}; its CoA is final."
    return None


def _check_coa_open(lot: Lot) -> None:
    closed = coa_closed_reason(lot)
    if closed is not None:
        raise _fail("__all__", closed)


def record_coa(
    lot: Lot,
    user: User,
    *,
    testing_laboratory: str,
    certificate_lot_number: str,
    results: dict[str, Any],
    third_party_laboratory: bool = False,
    cgmp_statement: str = "",
    nta_method: str = "NTA",
    pdf: UploadedFile | None = None,
    source: str = CoaSource.FORM,
) -> CertificateOfAnalysis:
    """Store (or replace, while quarantined) the lot's CoA after checking every value,
    and that the lot number the certificate states is this lot's (a CoA of another lot of
    the product would release this one on that lot's results)."""
    _check_coa_open(Lot.objects.get(pk=lot.pk))
    # Refused when too long, never cut: the CoA's wording is the evidence.
    errors = FieldErrors()
    lab = read_text(errors, "testing_laboratory", testing_laboratory, max_len=200)
    if not lab and "testing_laboratory" not in errors:
        errors.add("testing_laboratory", "Name the laboratory that did the tests.")
    certificate_lot = read_certificate_lot_number(
        errors, certificate_lot_number, lot_number=lot.lot_number, product=lot.product,
        lot_pk=lot.pk,
    )  # fmt: skip
    cgmp = read_text(errors, "cgmp_statement", cgmp_statement, max_len=300)
    method = read_text(errors, "nta_method", nta_method, max_len=120)
    try:
        check_pdf(pdf)
    except ProductError as exc:
        errors.update(exc.errors)
    spec = parsed_spec(current_spec(lot.clinic))
    try:
        done = validate_results(lot.product, results, spec)
    except ProductError as exc:
        errors.update(exc.errors)
    if errors:
        raise ProductError(errors)
    with transaction.atomic():
        # Re-checked under the lock: a release decided meanwhile makes the CoA final.
        lot = _lock(lot)
        _check_coa_open(lot)
        coa = CertificateOfAnalysis.objects.filter(lot=lot).first() or CertificateOfAnalysis(
            clinic=lot.clinic, lot=lot
        )
        replaced = coa.pk is not None
        coa.testing_laboratory = lab
        coa.certificate_lot_number = certificate_lot
        coa.third_party_laboratory = bool(third_party_laboratory)
        coa.cgmp_statement = cgmp
        coa.nta_method = method
        coa.results = done
        coa.derived_fields = derived_fields(results, done)
        coa.source = source
        coa.entered_at = timezone.now()
        coa.entered_by = user
        if pdf is not None:
            coa.pdf_original_name = (pdf.name or "")[:200]
            coa.pdf.save(f"lot-{lot.pk}.pdf", pdf, save=False)
        saved = save_with_history(coa, user, "CoA replaced" if replaced else "CoA entered")
        if replaced and saved:
            # An override was asked for the results it saw; new results need a new request.
            _withdraw_pending_override(lot, user, "CoA replaced; request it again if needed")
    return coa


def attach_coa_pdf(lot: Lot, user: User, upload: UploadedFile) -> CertificateOfAnalysis:
    """Attach (or replace) the original CoA PDF of a quarantined lot's entered CoA."""
    check_pdf(upload)
    with transaction.atomic():
        lot = _lock(lot)
        _check_coa_open(lot)
        coa = CertificateOfAnalysis.objects.filter(lot=lot).first()
        if coa is None:
            raise _fail("coa", "Enter the CoA results first.")
        coa.pdf_original_name = (upload.name or "")[:200]
        coa.pdf.save(f"lot-{lot.pk}.pdf", upload, save=False)
        save_with_history(coa, user, "CoA PDF attached")
    return coa


# --- release, rejection, four-eyes override -------------------------------------------------


def release_report(
    lot: Lot, spec: ReleaseSpecVersion | None = None
) -> release.ReleaseReport | None:
    coa = CertificateOfAnalysis.objects.filter(lot=lot).first()
    if coa is None:
        return None
    s = spec or lot.decision_spec or current_spec(lot.clinic)
    return release.check_release(
        coa.results, parsed_spec(s), vial_volume_ml=float(lot.product.volume_ml)
    )


def checked_report(lot: Lot, spec: ReleaseSpecVersion) -> release.ReleaseReport | None:
    """The release report, or a refusal naming the CoA field that the spec cannot check
    (a spec changed after the CoA was entered: a number limit on a result given as text)."""
    try:
        return release_report(lot, spec)
    except release.ReleaseInputError as exc:
        raise _fail(
            exc.field,
            f"The CoA's {exc.field} cannot be checked against spec {spec.version}: "
            f"{exc.message}. Correct the CoA or the specification.",
        ) from exc


def report_as_rows(report: release.ReleaseReport) -> list[dict[str, Any]]:
    return [
        {
            "field": r.field,
            "label": r.label,
            "status": r.status.value,
            "measured": r.measured,
            "limit": r.limit,
            "unit": r.unit,
            "required": r.required,
            "note": r.note,
        }
        for r in report.results
    ]


def _is_quality(user: User, clinic: Clinic) -> bool:
    m = Membership.objects.filter(user=user, clinic=clinic, is_active=True).first()
    return m is not None and allowed(m.role, "lot.release")


def _lock(lot: Lot) -> Lot:
    """The lot's row, locked until the transaction ends, with its product and clinic read
    (not locked: ``of=self``; locking the clinic's row too held up every registration in
    the clinic, and the product's could deadlock against a label change, which locks the
    product and then its lots)."""
    return (
        Lot.objects.select_for_update(of=("self",))
        .select_related("product", "clinic")
        .get(pk=lot.pk)
    )


def _decide(
    lot: Lot, user: User, kind: str, reason: str, spec: ReleaseSpecVersion | None = None,
    report: release.ReleaseReport | None = None,
) -> LotDecision:  # fmt: skip
    decision = LotDecision(
        clinic=lot.clinic, lot=lot, kind=kind, reason=reason, spec=spec,
        report=report_as_rows(report) if report else [], decided_at=timezone.now(),
        decided_by=user,
    )  # fmt: skip
    save_with_history(decision, user, kind)
    return decision


def _needs_quality(lot: Lot, user: User) -> None:
    if not _is_quality(user, lot.clinic):
        raise _fail("__all__", "Only a quality user of this clinic may decide on lots.")


def release_lot(lot: Lot, user: User, reason: str = "", *, today: date | None = None) -> Lot:
    """Release a quarantined lot whose CoA passes every criterion of the current spec."""
    _needs_quality(lot, user)
    today = today or timezone.localdate()
    with transaction.atomic():
        locked = _lock(lot)
        if locked.status != LotStatus.QUARANTINED:
            raise _fail(
                "__all__", f"Only a quarantined lot can be released (it is {locked.status})."
            )
        if locked.expiry_date < today:
            raise _fail("__all__", "The lot has expired; it cannot be released.")
        _no_undecided_excursion(locked)
        spec = current_spec(locked.clinic)
        _check_spec_is_safe(spec)
        report = checked_report(locked, spec)
        if report is None:
            raise _fail("__all__", "Enter the certificate of analysis first.")
        _certificate_lot_recorded(locked)
        if not report.releasable:
            unsafe = failed_safety_criteria(report)
            # An override is offered only where one could be approved.
            what_next = (
                # The summary names the failed criteria: said once ("Endotoxin (LAL): Endotoxin
                # (LAL) failed and ..." read them twice).
                f"{_safety_subject(unsafe, report)} and cannot be overridden, so reject the lot"
                if unsafe
                else "reject the lot, or request an override (needs a reason and a second "
                "quality user)"
            )
            raise _fail("__all__", f"{not_releasable_summary(report)}: {what_next}.")
        _refuse_own_loosened_spec(locked, spec, user)
        locked.status = LotStatus.RELEASED
        locked.decided_at, locked.decided_by = timezone.now(), user
        locked.decision_reason = (reason or "").strip()
        locked.decision_spec = spec
        save_with_history(locked, user, f"released under spec {spec.version}")
        # An override asked for under an earlier spec or CoA is needed no more: it stayed
        # "pending" on the released lot (lot page and API), never to be approved.
        _withdraw_pending_override(
            locked, user, f"lot released under specification {spec.version} (every criterion "
            "passes)",
        )  # fmt: skip
        _decide(locked, user, DecisionKind.RELEASE, locked.decision_reason, spec, report)
    return locked


def certificate_lot_missing(lot: Lot) -> bool:
    """Whether the lot's CoA was stored before the certificate's lot number was recorded."""
    coa = CertificateOfAnalysis.objects.filter(lot=lot).first()
    return coa is not None and not coa.certificate_lot_number


def _certificate_lot_recorded(lot: Lot) -> None:
    """A CoA stored before its lot number was asked for was never checked against the lot:
    it releases nothing (by spec or by override) until the number is entered and matches."""
    if certificate_lot_missing(lot):
        raise _fail("certificate_lot_number", lotnumbers.NOT_RECORDED_MESSAGE)


def _safety_subject(unsafe: list[str], report: release.ReleaseReport) -> str:
    """ "it is a safety criterion", or those failed criteria named where others failed too."""
    one = len(unsafe) == 1
    if len(unsafe) == len(report.failed):
        return "it is a safety criterion" if one else "they are safety criteria"
    return f"{', '.join(unsafe)} {'is a safety criterion' if one else 'are safety criteria'}"


def not_releasable_summary(report: release.ReleaseReport) -> str:
    """Why a report does not release, naming failed and missing criteria apart: an optional
    criterion that fails blocks release too, and was called "required" ("Not every required
    criterion passes — Residual DNA", an optional one)."""
    parts = []
    if report.failed:
        parts.append("failed: " + ", ".join(r.label for r in report.failed))
    if report.missing_required:
        parts.append(
            "required but not reported: " + ", ".join(r.label for r in report.missing_required)
        )
    return f"The lot does not meet specification {report.spec_version} — " + "; ".join(parts)


def _refuse_own_loosened_spec(lot: Lot, spec: ReleaseSpecVersion, user: User) -> None:
    """Four eyes on the specification as on an override: a lot that fails the version before
    the current one is not released by the person who wrote the current one after the lot
    arrived (one quality user could otherwise drop the failed criterion and release)."""
    if spec.created_by_id != user.pk or spec.created_at < lot.received_at:
        return
    previous = (
        ReleaseSpecVersion.objects.filter(
            clinic=lot.clinic, is_active=True, created_at__lt=spec.created_at
        )
        .exclude(pk=spec.pk)
        .first()
    )
    if previous is None:
        return
    try:
        before = release_report(lot, previous)
    except release.ReleaseInputError:
        before = None  # cannot be checked against it: not shown to pass either
    if before is not None and before.releasable:
        return
    failed = [r.label for r in (*before.failed, *before.missing_required)] if before else []
    raise _fail(
        "__all__",
        f"This lot passes specification {spec.version}, which you wrote after it arrived, but "
        f"not {previous.version}, the one before"
        + (f" ({', '.join(failed)})" if failed else "")
        + ": another quality user must release it, or request an override.",
    )


def _no_undecided_excursion(lot: Lot) -> None:
    """A lot is released fit for use only once quality has decided on each of its cold-chain
    excursions: it was released with "every criterion passes" while one awaited a decision."""
    first = _pending_excursions(lot).order_by("started_at").first()
    if first is not None:
        raise _fail(
            "__all__",
            f"A cold-chain excursion of this lot awaits quality's decision ({first.summary}): "
            "accept or reject it first, then release the lot.",
        )


def reject_lot(lot: Lot, user: User, reason: str) -> Lot:
    _needs_quality(lot, user)
    reason = _reason(reason)
    with transaction.atomic():
        locked = _lock(lot)
        if locked.status not in (LotStatus.QUARANTINED, LotStatus.RELEASED):
            raise _fail("__all__", f"The lot is already {locked.status}.")
        spec = current_spec(locked.clinic)
        try:
            report = release_report(locked, spec)
        except release.ReleaseInputError:
            report = None  # rejecting never waits for a CoA the spec cannot read
        locked.status = LotStatus.REJECTED
        locked.decided_at, locked.decided_by = timezone.now(), user
        locked.decision_reason = reason
        locked.decision_spec = spec
        save_with_history(locked, user, f"rejected: {reason}")
        _withdraw_pending_override(locked, user, "lot rejected")
        _decide(locked, user, DecisionKind.REJECT, reason, spec, report)
    return locked


SAFETY_FIELDS = frozenset({*release.MANDATORY_NEGATIVE, release.ENDOTOXIN_FIELD})


def failed_safety_criteria(report: release.ReleaseReport | None) -> list[str]:
    """Labels of the infection-safety criteria (sterility, mycoplasma, virus, donor,
    endotoxin) that the lot fails: no override can release such a lot."""
    return [r.label for r in (report.failed if report else ()) if r.field in SAFETY_FIELDS]


def unsafe_override_message(unsafe: list[str]) -> str:
    return f"{', '.join(unsafe)} failed: a safety criterion cannot be overridden; reject the lot."


def _refuse_unsafe_override(report: release.ReleaseReport | None) -> None:
    """Four eyes may accept a lot outside the clinic's identity, size or purity limits, never
    one that fails an infection-safety test (sterility, mycoplasma, virus, donor, endotoxin)."""
    unsafe = failed_safety_criteria(report)
    if unsafe:
        raise _fail("__all__", unsafe_override_message(unsafe))


def _withdraw_pending_override(lot: Lot, user: User, why: str) -> None:
    """A lot decided otherwise leaves no override waiting; row by row, so each is audited."""
    for override in ReleaseOverride.objects.select_for_update().filter(
        lot=lot, status=OverrideStatus.PENDING
    ):
        override.status = OverrideStatus.WITHDRAWN
        save_with_history(override, user, f"withdrawn: {why}")


def request_override(lot: Lot, user: User, reason: str) -> ReleaseOverride:
    """First of two quality users asks to release a lot that does not meet its spec."""
    _needs_quality(lot, user)
    reason = _reason(reason)
    with transaction.atomic():
        locked = _lock(lot)
        if locked.status != LotStatus.QUARANTINED:
            raise _fail("__all__", "Only a quarantined lot can be released by override.")
        if ReleaseOverride.objects.filter(lot=locked, status=OverrideStatus.PENDING).exists():
            raise _fail("__all__", "An override is already waiting for a second quality user.")
        spec = current_spec(locked.clinic)
        report = checked_report(locked, spec)
        if report is None:
            raise _fail("__all__", "Enter the certificate of analysis first.")
        _certificate_lot_recorded(locked)
        if report.releasable:
            raise _fail(
                "__all__",
                "Every required criterion passes: release the lot; no override is needed.",
            )
        _refuse_unsafe_override(report)
        override = ReleaseOverride(
            clinic=locked.clinic, lot=locked, reason=reason, requested_at=timezone.now(),
            requested_by=user,
        )  # fmt: skip
        save_with_history(override, user, "override requested")
        _decide(locked, user, DecisionKind.OVERRIDE_REQUEST, reason, spec, report)
    return override


def approve_override(lot: Lot, user: User, *, today: date | None = None) -> Lot:
    """The second quality user — never the requester — approves; the lot is released."""
    _needs_quality(lot, user)
    today = today or timezone.localdate()
    with transaction.atomic():
        locked = _lock(lot)
        override = (
            ReleaseOverride.objects.select_for_update()
            .filter(lot=locked, status=OverrideStatus.PENDING)
            .first()
        )
        if override is None:
            raise _fail("__all__", "No override is waiting for approval.")
        if override.requested_by_id == user.pk:
            raise _fail(
                "__all__", "Four-eyes rule: a different quality user must approve the override."
            )
        if locked.status != LotStatus.QUARANTINED:
            raise _fail("__all__", "Only a quarantined lot can be released by override.")
        if locked.expiry_date < today:
            raise _fail("__all__", "The lot has expired; it cannot be released.")
        _no_undecided_excursion(locked)
        spec = current_spec(locked.clinic)
        _check_spec_is_safe(spec)
        report = checked_report(locked, spec)
        _certificate_lot_recorded(locked)
        _refuse_unsafe_override(report)
        override.status = OverrideStatus.APPROVED
        override.approved_at, override.approved_by = timezone.now(), user
        save_with_history(override, user, "override approved")
        locked.status = LotStatus.RELEASED
        locked.decided_at, locked.decided_by = timezone.now(), user
        locked.decision_reason = (
            f"Override requested by {override.requested_by} and approved by {user}: "
            f"{override.reason}"
        )
        locked.decision_spec = spec
        save_with_history(locked, user, "released by four-eyes override")
        _decide(locked, user, DecisionKind.OVERRIDE_APPROVE, override.reason, spec, report)
    return locked


# --- cold chain -----------------------------------------------------------------------------


# Temperatures are stored exactly as read (two decimals at most, see coldchain), so that a
# reading of 8.05 °C in a 2–8 °C fridge is an excursion, not a rounded 8.0.
TEMPERATURE_STEP = Decimal(1).scaleb(-coldchain.TEMPERATURE_DECIMALS)


def _to_decimal(value: Any, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise _fail(field, f"Expected a number, got {value!r}.") from exc
    if not number.is_finite():
        raise _fail(field, f"Expected a number, got {value!r}.")
    try:
        coldchain.check_temperature(float(number))
        coldchain.check_temperature_decimals(number)
    except ValueError as exc:
        raise _fail(field, str(exc)) from exc
    return number.quantize(TEMPERATURE_STEP)


def _lots_at(location: StorageLocation) -> list[Lot]:
    return list(
        Lot.objects.filter(location_filter(location))
        .exclude(status__in=(LotStatus.REJECTED, LotStatus.RECALLED))
        .select_related("product")
    )


def location_filter(location: StorageLocation) -> models.Q:
    return models.Q(clinic=location.clinic_id, storage_location=location)


# The last reading before receipt stands for the location then only if this recent (hand
# readings come twice a day, loggers every few minutes); an older one says nothing of it.
RECEIPT_STATE_WITHIN = timedelta(hours=24)


def _readings_since_receipt(lot: Lot, location: StorageLocation) -> list[coldchain.Reading]:
    """The live readings the lot lived through: those since it was received, and the state
    it was received into. The last reading before receipt stands for the location at that
    moment (dated at receipt): a lot put into a freezer whose latest reading was out of range
    was released with "no excursions recorded" beside that reading."""
    live = TemperatureReading.objects.filter(location=location, voided_at__isnull=True)
    since = [
        coldchain.Reading(r.recorded_at, float(r.temperature_c))
        for r in live.filter(recorded_at__gte=lot.received_at).only("recorded_at", "temperature_c")
    ]
    before = (
        live.filter(
            recorded_at__lt=lot.received_at,
            recorded_at__gte=lot.received_at - RECEIPT_STATE_WITHIN,
        )
        .order_by("-recorded_at")
        .first()
    )
    if before is not None and all(r.at != lot.received_at for r in since):
        since.append(coldchain.Reading(lot.received_at, float(before.temperature_c)))
    return since


def scan_excursions(location: StorageLocation, user: User | None) -> list[Excursion]:
    """Re-check the location's readings against each stored lot's product range.

    New excursions are recorded and block their lot until a quality user decides;
    an open excursion that has since closed gets its end time and duration. Returned: the
    new excursions, and the decided ones that grew and so block their lot again (those
    have ``reopened`` set), so that whoever added the readings is told of both.
    """
    found: list[Excursion] = []
    for listed in _lots_at(location):
        # Locked before its excursions are read: a quality decision on them (which locks the
        # lot) is then either seen here or made after this scan, never overwritten by it.
        lot = _lock(listed)
        if lot.status in (LotStatus.REJECTED, LotStatus.RECALLED):
            continue
        result = _reconcile_excursions(
            lot, location, user,
            updated="new readings",
            withdrawn="a reading entered since shows the location was in range then",
        )  # fmt: skip
        found += result.created + result.reopened
    return found


@dataclass
class _Reconciled:
    """What setting one lot's recorded excursions to the live readings changed."""

    created: list[Excursion] = field(default_factory=list)
    reopened: list[Excursion] = field(default_factory=list)
    withdrawn: list[Excursion] = field(default_factory=list)
    unblocked: bool = False


def _overlaps(exc: Excursion, span: coldchain.ExcursionSpan) -> bool:
    far = datetime.max.replace(tzinfo=UTC)
    return span.started_at <= (exc.ended_at or far) and exc.started_at <= (span.ended_at or far)


def _reconcile_excursions(
    lot: Lot, location: StorageLocation, user: User | None, *, updated: str, withdrawn: str
) -> _Reconciled:
    """The one way a lot's recorded excursions at ``location`` follow its live readings,
    whether readings were added or voided (``lot`` is locked by the caller).

    Each recorded excursion is matched, in order of start, to the first span of out-of-range
    readings that overlaps it and no earlier excursion took: a late reading before its start
    moves the start back, one inside it can split it, a voided one can shrink or join spans.
    A matched excursion takes its span's times and extreme (a decided one that grew is
    reopened); one that no span overlaps any more is withdrawn (kept, marked, with
    ``withdrawn`` as the reason), and its lot unblocked when nothing else awaits a decision;
    a span no excursion overlaps is a new excursion and blocks its lot.
    """
    readings = _readings_since_receipt(lot, location)
    lo = float(lot.product.storage_min_temperature_c)
    hi = float(lot.product.storage_max_temperature_c)
    spans = coldchain.find_excursions(readings, lo, hi)
    result = _Reconciled()
    taken: set[int] = set()
    recorded = Excursion.objects.filter(lot=lot, location=location, voided_at__isnull=True)
    for exc in recorded.order_by("started_at", "id"):
        free = [i for i, span in enumerate(spans) if i not in taken and _overlaps(exc, span)]
        if not free:
            _withdraw_excursion(exc, lot, user, withdrawn)
            result.withdrawn.append(exc)
            continue
        taken.add(free[0])
        span = spans[free[0]]
        extreme = Decimal(str(span.extreme_c))
        if (exc.started_at, exc.ended_at, exc.duration_minutes, exc.extreme_temperature_c) == (
            span.started_at, span.ended_at, span.duration_minutes, extreme,
        ):  # fmt: skip
            continue
        grew = _excursion_grew(exc, span, lo, hi)
        old_reason = excursion_block_reason(exc)
        exc.started_at, exc.ended_at = span.started_at, span.ended_at
        exc.duration_minutes, exc.extreme_temperature_c = span.duration_minutes, extreme
        if grew and exc.decided_at is not None:
            _reopen(exc, lot, user)
            exc.reopened = True
            result.reopened.append(exc)
        else:
            save_with_history(exc, user, f"excursion updated: {updated}")
            _update_block_reason(lot, user, old_reason, excursion_block_reason(exc))
        lot.refresh_from_db()
    for i, span in enumerate(spans):
        if i in taken:
            continue
        exc = Excursion(
            clinic=lot.clinic, lot=lot, location=location, started_at=span.started_at,
            ended_at=span.ended_at, duration_minutes=span.duration_minutes,
            extreme_temperature_c=Decimal(str(span.extreme_c)),
            allowed_min_c=lot.product.storage_min_temperature_c,
            allowed_max_c=lot.product.storage_max_temperature_c, detected_at=timezone.now(),
        )  # fmt: skip
        save_with_history(exc, user, "excursion detected")
        result.created.append(exc)
        lot.refresh_from_db()  # as it stands now (a span before may have blocked it)
        if not lot.blocked:
            lot.blocked = True
            lot.block_reason = excursion_block_reason(exc)
            save_with_history(lot, user, "blocked: cold-chain excursion")
    if result.withdrawn:
        result.unblocked = _unblock_if_clear(lot, user, withdrawn)
    return result


def _beyond(temperature_c: float, lo: float, hi: float) -> float:
    """How far a temperature lies outside ``lo``..``hi`` (0 inside)."""
    return max(temperature_c - hi, lo - temperature_c, 0.0)


def _excursion_grew(
    existing: Excursion, span: coldchain.ExcursionSpan, lo: float, hi: float
) -> bool:
    """New readings made a recorded excursion longer, more extreme, or ongoing again."""
    return (
        span.duration_minutes > existing.duration_minutes
        or (existing.ended_at is not None and span.ended_at is None)
        or _beyond(span.extreme_c, lo, hi) > _beyond(float(existing.extreme_temperature_c), lo, hi)
    )


def _reopen(excursion: Excursion, lot: Lot, user: User | None) -> None:
    """A decided excursion that grew is no longer what quality decided on: its decision is
    cleared and the lot is blocked again until quality decides anew."""
    was = f"{excursion.decision}ed by {excursion.decided_by}: {excursion.decision_reason}"
    decided_by = excursion.decided_by
    excursion.decided_at, excursion.decided_by = None, None
    excursion.decision, excursion.decision_reason = "", ""
    save_with_history(excursion, user, f"decision cleared: excursion grew after it was {was}")
    locked = _lock(lot)
    locked.blocked = True
    locked.block_reason = excursion_block_reason(excursion)
    save_with_history(locked, user, "blocked again: a decided cold-chain excursion grew")
    # The lot's decision log must not end with "assessed: lot usable" once that no longer
    # holds. Readings always have an author; the quality user who decided is the fallback.
    by = user or decided_by
    if by is not None:
        _decide(
            locked, by, DecisionKind.EXCURSION_REOPEN,
            f"Excursion grew after it was accepted: blocked again ({excursion.summary}).",
        )  # fmt: skip


def _pending_excursions(lot: Lot) -> models.QuerySet[Excursion]:
    """The lot's excursions awaiting quality's decision (a withdrawn one awaits nothing)."""
    return Excursion.objects.filter(lot=lot, decided_at__isnull=True, voided_at__isnull=True)


def excursion_block_reason(excursion: Excursion) -> str:
    """What a lot blocked by ``excursion`` says: "Cold-chain excursion ongoing since …"."""
    return f"Cold-chain excursion {excursion.summary}"[:300]


def block_reason_now(lot: Lot) -> str:
    """The lot's block reason as it reads now: an excursion's is worded again from the
    excursion, in the clinic's time zone of today (the stored text keeps the zone it was
    written in, and said "UTC" beside a table in NZDT after the clinic set its zone)."""
    if lot.block_reason.startswith("Cold-chain excursion "):
        latest = _pending_excursions(lot).order_by("-started_at", "-id").first()
        if latest is not None:
            return excursion_block_reason(latest)
    return lot.block_reason


def received_blocked_notice(lot: Lot) -> str:
    """What the person receiving ``lot`` is told when it arrived blocked: the location's
    latest reading was out of range ("" when it is not blocked)."""
    if not lot.blocked:
        return ""
    return (
        f"{block_reason_now(lot)} at {lot.storage_location}: the lot is blocked until quality "
        "decides (it was received into a location whose latest reading is out of its range)."
    )


FLAGGED_LOTS_NAMED = 8


def describe_flagged(excursions: list[Excursion]) -> str | None:
    """One line for the excursions a reading or a logger file flagged, naming the lots:
    "Excursion flagged for 6 lots: A, B, C, D, E, F — ongoing since …"; accepted ones that
    grew are named as blocked again. None if none."""
    new = [e for e in excursions if not e.reopened]
    parts = [p for p in (_describe_new(new), _describe_reopened(excursions)) if p]
    return " ".join(parts) or None


def describe_excursion(excursion: Excursion) -> str:
    """One excursion a reading flagged, as the API lists it: "lot UC-1: from … (…)", or
    "lot UC-1: excursion reopened (from …): it grew after it was accepted; blocked again"."""
    if excursion.reopened:
        return (
            f"lot {excursion.lot.lot_number}: excursion reopened ({excursion.summary}): "
            "it grew after it was accepted; blocked again until quality decides"
        )
    return f"lot {excursion.lot.lot_number}: {excursion.summary}"


def _describe_reopened(excursions: list[Excursion]) -> str | None:
    reopened = [e for e in excursions if e.reopened]
    if not reopened:
        return None
    numbers = list(dict.fromkeys(e.lot.lot_number for e in reopened))
    lots = f"lot{'s' if len(numbers) != 1 else ''} {', '.join(numbers)}"
    summaries = "; ".join(dict.fromkeys(e.summary for e in reopened))
    return (
        f"Excursion reopened for {lots} — {summaries}: it grew after it was accepted, so "
        f"{'they are' if len(numbers) != 1 else 'it is'} blocked again until quality decides."
    )


def _describe_new(excursions: list[Excursion]) -> str | None:
    if not excursions:
        return None
    groups: dict[str, list[str]] = {}
    for exc in excursions:
        numbers = groups.setdefault(exc.summary, [])
        if exc.lot.lot_number not in numbers:
            numbers.append(exc.lot.lot_number)
    count = len({exc.lot_id for exc in excursions})

    def named(numbers: list[str]) -> str:
        shown = ", ".join(numbers[:FLAGGED_LOTS_NAMED])
        more = len(numbers) - FLAGGED_LOTS_NAMED
        return f"{shown} and {more} more" if more > 0 else shown

    lots = f"{count} lot{'s' if count != 1 else ''}"
    blocked = "They are" if count != 1 else "It is"
    if len(groups) == 1:
        [(summary, numbers)] = groups.items()
        head = f"Excursion flagged for {lots}: {named(numbers)} — {summary}."
    else:
        parts = "; ".join(f"{named(numbers)} ({summary})" for summary, numbers in groups.items())
        head = f"Excursions flagged for {lots}: {parts}."
    return f"{head} {blocked} blocked until quality decides."


def _update_block_reason(lot: Lot, user: User | None, old: str, new: str) -> None:
    """An excursion that closed (or grew) rewrites the block reason it gave its lot, so the
    lot no longer says "ongoing"; a reason given for anything else is left alone."""
    locked = _lock(lot)
    if locked.blocked and locked.block_reason == old and old != new:
        locked.block_reason = new
        save_with_history(locked, user, "block reason updated: excursion updated")


def _lock_location(location: StorageLocation) -> None:
    """One write of a location's readings at a time (PostgreSQL; SQLite serialises writers):
    the same reading sent twice at once passed the duplicate check twice (a 500 on the
    unique constraint), and two out-of-range readings at once each opened an excursion."""
    StorageLocation.objects.select_for_update().filter(pk=location.pk).first()


def record_reading(
    location: StorageLocation, user: User, *, recorded_at: datetime, temperature_c: Any
) -> tuple[TemperatureReading, list[Excursion]]:
    if recorded_at is None or timezone.is_naive(recorded_at):
        raise _fail("recorded_at", "Give the time of the reading with its time zone.")
    try:
        recorded_at = coldchain.check_reading_time(recorded_at, timezone.now())
    except ValueError as exc:
        raise _fail("recorded_at", f"Not a possible reading time: {exc}.") from exc
    value = _to_decimal(temperature_c, "temperature_c")
    with transaction.atomic():
        _lock_location(location)
        live = TemperatureReading.objects.filter(voided_at__isnull=True)
        if live.filter(location=location, recorded_at=recorded_at).exists():
            raise _fail("recorded_at", "There is already a reading at this time for this location.")
        reading = TemperatureReading(
            clinic=location.clinic, location=location, recorded_at=recorded_at,
            temperature_c=value, source=ReadingSource.MANUAL, entered_by=user,
        )  # fmt: skip
        save_with_history(reading, user, "entered")
        flagged = scan_excursions(location, user)
    return reading, flagged


def import_readings(
    location: StorageLocation, user: User, content: bytes
) -> tuple[int, list[Excursion]]:
    """A logger's CSV: every row is stored, or none (an error names row and field)."""
    if len(content) > coldchain.MAX_LOGGER_BYTES:
        raise _fail(
            "file",
            f"The file is larger than {coldchain.MAX_LOGGER_BYTES // (1024 * 1024)} MB; "
            "export a shorter period.",
        )
    not_csv = coldchain.not_csv_reason(content)
    if not_csv is not None:
        raise _fail("file", f"This is not a CSV file ({not_csv}).")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(
            "file", "This is not a CSV file (it is not UTF-8 text; export it as CSV UTF-8)."
        ) from exc
    try:
        readings = coldchain.parse_logger_csv(text)
    except coldchain.LoggerFileError as exc:
        raise _fail("file", str(exc)) from exc
    now = timezone.now()
    future = [r for r in readings if r.at > now + coldchain.CLOCK_SKEW]
    if future:
        raise _fail(
            "file",
            f"{len(future)} reading(s) are in the future, the first at "
            f"{coldchain.written_time(timezone.localtime(future[0].at))}: "
            "check the logger's clock.",
        )
    with transaction.atomic():
        _lock_location(location)
        existing = dict(
            TemperatureReading.objects.filter(
                location=location, recorded_at__in=[r.at for r in readings], voided_at__isnull=True
            ).values_list("recorded_at", "temperature_c")
        )
        # Re-importing an overlapping logger file adds only the new rows; a row that differs
        # from the reading stored at that time (a hand entry) was dropped unseen, and with
        # it an out-of-range value. A stored reading is not overwritten: the file is refused.
        conflicts = [
            (r, existing[r.at])
            for r in readings
            if r.at in existing
            and existing[r.at] != Decimal(str(r.temperature_c)).quantize(TEMPERATURE_STEP)
        ]
        if conflicts:
            first, stored = conflicts[0]
            raise _fail(
                "file",
                f"{len(conflicts)} reading(s) in the file differ from the readings already "
                f"stored at the same time, the first at "
                f"{coldchain.written_time(timezone.localtime(first.at))}: stored "
                f"{coldchain.temperature_text(stored)} °C, in the file "
                f"{coldchain.temperature_text(first.temperature_c)} °C. Nothing was imported: a "
                "stored "
                "reading is not overwritten. Check the logger against the hand-entered "
                "readings: remove the wrong rows from the file, or have quality void a "
                "stored reading entered in error.",
            )
        rows = [
            TemperatureReading(
                clinic=location.clinic,
                location=location,
                recorded_at=r.at,
                temperature_c=Decimal(str(r.temperature_c)).quantize(TEMPERATURE_STEP),
                source=ReadingSource.LOGGER,
                entered_by=user,
            )  # fmt: skip
            for r in readings
            if r.at not in existing  # re-importing an overlapping logger file adds only new rows
        ]
        for row in rows:
            save_with_history(row, user, "imported from logger")
        flagged = scan_excursions(location, user)
    return len(rows), flagged


@dataclass
class VoidedReading:
    """What voiding a reading changed: excursions withdrawn, lots no longer blocked, and
    decided excursions that grew (a voided in-range reading joins two spans)."""

    reading: TemperatureReading
    withdrawn: list[Excursion]
    unblocked: list[Lot]
    reopened: list[Excursion]
    # Found by the scan after it: voiding an in-range reading can leave an older out-of-range
    # one standing for a lot's receipt.
    flagged: list[Excursion]

    def describe(self) -> str:
        """One line for the message after voiding, naming the lots."""
        parts = ["Reading voided; the excursions of the lots stored here were worked out again."]
        if self.withdrawn:
            numbers = ", ".join(dict.fromkeys(e.lot.lot_number for e in self.withdrawn))
            parts.append(f"Excursion withdrawn for lot(s) {numbers}.")
        if self.unblocked:
            numbers = ", ".join(lot.lot_number for lot in self.unblocked)
            parts.append(f"No longer blocked: {numbers}.")
        if self.reopened:
            numbers = ", ".join(dict.fromkeys(e.lot.lot_number for e in self.reopened))
            parts.append(
                f"Excursion longer without the reading, blocked again until quality decides: "
                f"{numbers}."
            )
        flagged = describe_flagged(self.flagged)
        if flagged:
            parts.append(flagged)
        if len(parts) == 1:
            parts = ["Reading voided; no excursion changed."]
        return " ".join(parts)


def void_reading(reading: TemperatureReading, user: User, reason: str) -> VoidedReading:
    """Void a reading entered in error and work the location's excursions out again without it.

    An excursion the reading alone showed is withdrawn (kept, marked, with the reason) and
    its lot unblocked if nothing else blocks it; one it was part of shrinks; a decided one
    that grew (a voided in-range reading joined two spans) is reopened. A rejected or
    recalled lot stays so: its decision was made and stands.
    """
    if not _is_quality(user, reading.clinic):
        raise _fail("__all__", "Only a quality user of this clinic may void a reading.")
    reason = _reason(reason)
    with transaction.atomic():
        _lock_location(reading.location)
        fresh = TemperatureReading.objects.select_for_update().get(pk=reading.pk)
        if fresh.voided_at is not None:
            raise _fail("__all__", "This reading is already voided.")
        fresh.voided_at, fresh.voided_by, fresh.void_reason = timezone.now(), user, reason
        save_with_history(fresh, user, f"voided: {reason}")
        why = f"the reading of {coldchain.written_time(timezone.localtime(fresh.recorded_at))} "
        why += f"({coldchain.temperature_text(fresh.temperature_c)} °C) was voided: {reason}"
        outcome = VoidedReading(fresh, [], [], [], [])
        for listed in _lots_at(fresh.location):
            lot = _lock(listed)
            if lot.status in (LotStatus.REJECTED, LotStatus.RECALLED):
                continue
            result = _reconcile_excursions(lot, fresh.location, user, updated=why, withdrawn=why)
            outcome.withdrawn += result.withdrawn
            outcome.reopened += result.reopened
            # Voiding an in-range reading can leave an older out-of-range one standing for
            # the lot's receipt: a span no recorded excursion covers, recorded and said.
            outcome.flagged += result.created
            if result.unblocked:
                outcome.unblocked.append(lot)
    return outcome


def _withdraw_excursion(exc: Excursion, lot: Lot, user: User | None, why: str) -> None:
    """The live readings no longer show ``exc``: it is kept, marked withdrawn with ``why``."""
    old_reason = excursion_block_reason(exc)
    exc.voided_at, exc.void_reason = timezone.now(), why[:1].upper() + why[1:]
    save_with_history(exc, user, f"withdrawn: {why}")
    if lot.blocked and lot.block_reason == old_reason:
        latest = _pending_excursions(lot).order_by("-started_at", "-id").first()
        if latest is not None:
            lot.block_reason = excursion_block_reason(latest)
            save_with_history(lot, user, "block reason updated: excursion withdrawn")


def _unblock_if_clear(lot: Lot, user: User | None, why: str) -> bool:
    """Lift an excursion's block once no excursion of the lot awaits a decision."""
    if not (
        lot.blocked
        and lot.block_reason.startswith("Cold-chain excursion ")
        and not _pending_excursions(lot).exists()
    ):
        return False
    lot.blocked, lot.block_reason = False, ""
    save_with_history(lot, user, f"unblocked: its excursion was withdrawn ({why})")
    if user is not None:
        _decide(lot, user, DecisionKind.EXCURSION_WITHDRAWN, f"Excursion withdrawn: {why}.")
    return True


def decide_excursions(lot: Lot, user: User, decision: str, reason: str) -> Lot:
    """Quality decides on a blocked lot's open excursions: accept (usable) or reject."""
    _needs_quality(lot, user)
    reason = _reason(reason)
    if decision not in ("accept", "reject"):
        raise _fail("decision", "Choose accept or reject.")
    with transaction.atomic():
        locked = _lock(lot)
        if locked.status in (LotStatus.RECALLED, LotStatus.REJECTED):
            raise _fail(
                "__all__",
                f"The lot is already {locked.get_status_display().lower()}; a cold-chain "
                "decision cannot change that.",
            )
        pending = list(_pending_excursions(locked))
        if not pending:
            raise _fail("__all__", "There is no undecided excursion for this lot.")
        if decision == "accept" and any(exc.ended_at is None for exc in pending):
            raise _fail(
                "decision",
                "The excursion is still ongoing: wait for a reading back in range before "
                "accepting it, or reject the lot.",
            )
        for exc in pending:
            exc.decided_at, exc.decided_by = timezone.now(), user
            exc.decision, exc.decision_reason = decision, reason
            save_with_history(exc, user, f"excursion {decision}ed")
        if decision == "accept":
            if locked.status != LotStatus.RECALLED:
                locked.blocked, locked.block_reason = False, ""
            save_with_history(locked, user, f"excursion accepted: {reason}")
            _decide(locked, user, DecisionKind.EXCURSION_ACCEPT, reason)
        else:
            locked.status = LotStatus.REJECTED
            locked.decided_at, locked.decided_by, locked.decision_reason = (
                timezone.now(),
                user,
                reason,
            )
            save_with_history(locked, user, f"rejected after excursion: {reason}")
            _withdraw_pending_override(locked, user, "lot rejected after a cold-chain excursion")
            _decide(locked, user, DecisionKind.REJECT, f"Cold-chain excursion: {reason}")
    return locked


# --- stock and the point of care -------------------------------------------------------------


@dataclass(frozen=True)
class Unusable:
    """One reason vials may not be drawn from a lot, worded for each place it is shown."""

    sentence: str  # on its own: "The lot expired on 2026-01-31."
    short: str  # in a list of lots: "expired on 2026-01-31"
    predicate: str  # after the lot's number: "expired on 2026-01-31"


def _unusable(lot: Lot, on_date: date) -> list[Unusable]:
    """The one check of whether a lot may be used at the point of care on ``on_date``."""
    found = []
    before_recall = selectors.out_of_use_after(lot, on_date)
    if lot.status != LotStatus.RELEASED and not before_recall:
        status = lot.get_status_display().lower()
        short = f"{status} (not released)" if lot.status == LotStatus.QUARANTINED else status
        found.append(Unusable(f"The lot is {status}, not released.", short, f"is {short}"))
    if lot.expiry_date < on_date:
        expired = f"expired on {lot.expiry_date:%Y-%m-%d}"
        found.append(Unusable(f"The lot {expired}.", expired, expired))
    received = timezone.localdate(lot.received_at)
    if on_date < received:
        when = f"received on {received:%Y-%m-%d}"
        found.append(
            Unusable(
                f"Lot {lot.lot_number} was {when}, after the session date ({on_date:%Y-%m-%d}).",
                f"{when} (after {on_date:%Y-%m-%d})",
                f"was {when}, after {on_date:%Y-%m-%d}",
            )
        )
    elif lot.status == LotStatus.RELEASED and lot.decided_at is not None:
        released = timezone.localdate(lot.decided_at)
        if on_date < released:
            when = f"released on {released:%Y-%m-%d}"
            found.append(
                Unusable(
                    f"Lot {lot.lot_number} was {when}, after the session date "
                    f"({on_date:%Y-%m-%d}).",
                    f"{when} (after {on_date:%Y-%m-%d})",
                    f"was {when}, after {on_date:%Y-%m-%d}",
                )
            )
    if selectors.blocked_only_after(lot, on_date):
        pass  # blocked by an excursion found after that day: the lot was usable then
    elif lot.blocked and not before_recall:
        why = block_reason_now(lot) or "awaiting a quality decision"
        found.append(
            Unusable(f"The lot is blocked: {why}.", f"blocked ({why})", f"is blocked ({why})")
        )
    elif before_recall and (excursion := selectors.blocked_on(lot, on_date)) is not None:
        # Recalled since, but blocked by the cold chain that day: the point of care refused it
        # then, so a session entered afterwards may not draw from it either.
        found.append(_blocked_then(lot, on_date, excursion))
    if lot.quantity_on_hand <= 0:
        found.append(Unusable("No vials left in this lot.", "no vials left", "has no vials left"))
    return found


def _blocked_then(lot: Lot, on_date: date, excursion: Excursion) -> Unusable:
    detected = timezone.localdate(excursion.detected_at)
    if excursion.decision == "accept" and excursion.decided_at is not None:
        decided = f"accepted by quality only on {timezone.localdate(excursion.decided_at):%Y-%m-%d}"
    else:
        decided = "not accepted by quality by then"
    day = f"{on_date:%Y-%m-%d}"
    since = "recall" if lot.status == LotStatus.RECALLED else "rejection"
    return Unusable(
        f"Lot {lot.lot_number} was blocked on {day} by a cold-chain excursion (detected "
        f"{detected:%Y-%m-%d}, {excursion.summary}, {decided}): a session of that day could "
        f"not draw from it, and its {since} since does not change that.",
        f"blocked on {day} (cold-chain excursion)",
        f"was blocked on {day} by a cold-chain excursion",
    )


def usability_problems(lot: Lot, on_date: date) -> list[str]:
    """Why vials may not be drawn from this lot on this date (empty list: they may)."""
    return [u.sentence for u in _unusable(lot, on_date)]


def unusable_reasons(lot: Lot, on_date: date) -> list[str]:
    """The same reasons in short, for a list of lots: ["quarantined (not released)"]."""
    return [u.short for u in _unusable(lot, on_date)]


def not_usable_message(lot: Lot, on_date: date) -> str | None:
    """One sentence for someone about to use the lot: "Lot UC-1 is quarantined (not
    released): do not use it."; None when the lot may be used."""
    parts = [u.predicate for u in _unusable(lot, on_date)]
    if not parts:
        return None
    said = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return f"Lot {lot.lot_number} {said}: do not use it."


def draw_problems(lot: Lot, quantity: int, on_date: date) -> dict[str, list[str]]:
    """Why ``quantity`` vials may not be drawn from ``lot`` on ``on_date``: ``lot`` (not
    usable) or, for a usable lot, ``quantity`` (too few left); empty when they may. A form
    asks before it writes, so that every refusal is shown at once; the draw asks again with
    the lot row locked."""
    problems = [p for p in usability_problems(lot, on_date) if not p.startswith("No vials")]
    if problems:
        return {"lot": problems}
    if lot.quantity_on_hand < quantity:
        return {"quantity": [f"Only {lot.quantity_on_hand} vial(s) left in this lot."]}
    return {}


def draw_vials(
    lot: Lot,
    patient: Patient,
    quantity: int,
    user: User,
    *,
    on_date: date,
    dose_volume_ml: Decimal | float | None = None,
    session_ref: str = "",
) -> VialDraw:
    """Take vials from a lot for a patient: the one point-of-care check (UI, API, sessions).

    Refuses (NotUsable / InsufficientStock) unless the lot is released, unexpired on
    ``on_date``, received (and released) by ``on_date``, not blocked, and enough vials
    remain. The lot row is locked for the
    check and the decrement (SELECT ... FOR UPDATE on PostgreSQL; on SQLite every write
    transaction starts with BEGIN IMMEDIATE, so writers are serialised), so concurrent
    draws can never take more vials than there are.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise _fail("quantity", "Draw at least one whole vial.")
    if patient.clinic_id != lot.clinic_id:
        raise _fail("patient", "The patient is not a patient of this clinic.")
    if patient.is_voided:
        raise _fail("patient", "This patient record is voided.")
    dose: Decimal | None = None
    if dose_volume_ml is not None:
        try:
            dose = Decimal(str(dose_volume_ml))
        except InvalidOperation as exc:
            raise _fail("dose_volume_ml", "Expected a number of mL.") from exc
        if not dose.is_finite() or dose <= 0:
            raise _fail("dose_volume_ml", "Must be greater than 0 mL.")
    return _retry_if_sqlite_locked(
        lambda: _draw(lot, patient, quantity, user, on_date, dose, session_ref)
    )


def _retry_if_sqlite_locked[T](work: Callable[[], T]) -> T:
    """Run a write transaction, retrying while SQLite reports a locked table.

    A file database waits at BEGIN IMMEDIATE (busy timeout) and never gets here; a
    shared-cache database (SQLite in-memory, as in the tests) answers "table is locked"
    at once instead of waiting, so we wait and retry the whole transaction — nothing
    was written by the failed attempt. PostgreSQL waits on the row lock itself.
    """
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_SECONDS
    delay = 0.005
    while True:
        try:
            return work()
        except OperationalError as exc:
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            if time.monotonic() > deadline or connection.in_atomic_block:
                raise
            time.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 0.1)


def _draw(
    lot: Lot,
    patient: Patient,
    quantity: int,
    user: User,
    on_date: date,
    dose: Decimal | None,
    session_ref: str,
) -> VialDraw:
    with transaction.atomic():
        locked = _lock(lot)
        if dose is not None and dose > locked.product.volume_ml * quantity:
            raise _fail(
                "dose_volume_ml",
                f"{dose} mL is more than {quantity} vial(s) of {locked.product.volume_ml} mL hold.",
            )
        problems = draw_problems(locked, quantity, on_date)
        if "lot" in problems:
            raise NotUsable(problems)
        if problems:
            raise InsufficientStock(problems)
        locked.quantity_on_hand -= quantity
        save_with_history(locked, user, f"{quantity} vial(s) drawn for patient {patient.pk}")
        draw = VialDraw(
            clinic=locked.clinic, lot=locked, patient=patient, quantity=quantity,
            dose_volume_ml=dose, drawn_on=on_date, drawn_at=timezone.now(), drawn_by=user,
            session_ref=(session_ref or "")[:60],
        )  # fmt: skip
        save_with_history(draw, user, "drawn")
    return draw


def return_drawn_vials(session_ref: str, patient: Patient, user: User, reason: str) -> int:
    """Put the vials of a voided session's draws back in stock (they were not used: the
    session was entered in error); returns how many. Each draw stays, marked returned, on the
    lot trace and in its history; it no longer counts as the patient's exposure. Run inside
    the caller's transaction (the void), each lot locked for its change."""
    if not session_ref:
        return 0
    returned = 0
    draws = VialDraw.objects.select_for_update().filter(
        clinic_id=patient.clinic_id, patient=patient, session_ref=session_ref
    )
    for draw in draws.given().order_by("id"):
        locked = _lock(draw.lot)
        refused = _why_not_back_in_stock(locked)
        if refused:
            raise _fail(
                "vials_returned",
                f"Lot {locked.lot_number} {refused}: its vials cannot go back in stock, and "
                "the draw stays the patient's exposure on the lot trace. Void the session "
                "without returning the vials (record any unopened ones as waste).",
            )
        locked.quantity_on_hand += draw.quantity
        save_with_history(
            locked, user, f"{draw.quantity} vial(s) returned unused ({session_ref} voided)"
        )
        draw.returned_at = timezone.now()
        draw.returned_by = user
        draw.return_reason = reason[:300]
        save_with_history(draw, user, f"returned to stock: {reason}")
        returned += draw.quantity
    return returned


def _why_not_back_in_stock(lot: Lot) -> str | None:
    """Why a lot takes no vials back, or None: a recall must still reach whoever received
    them (a void with returned vials took the patient off a recalled lot's list), and a lot
    out of use has no stock to return to."""
    if lot.status == LotStatus.RECALLED:
        return "is recalled"
    if lot.status == LotStatus.REJECTED:
        return "is rejected"
    if lot.expiry_date < timezone.localdate():
        return f"expired on {lot.expiry_date.isoformat()}"
    return None


def patients_given(lot: Lot) -> int:
    """How many patients received vials of ``lot`` (draws not returned unused)."""
    return VialDraw.objects.given().filter(lot=lot).values("patient_id").distinct().count()


def rejected_notice(lot: Lot) -> str:
    """What the quality user is told on rejecting ``lot``: "Lot rejected." and, where vials
    of it were already given, to whom, so that a recall is decided (rejecting blocks further
    use; it contacts nobody, and the dashboard's recalls do not list the lot)."""
    patients = patients_given(lot)
    if not patients:
        return "Lot rejected."
    who = "1 patient has" if patients == 1 else f"{patients} patients have"
    return (
        f"Lot rejected. {who} already received vials of it: trace the lot and recall it if "
        "they must be contacted."
    )


def record_waste(lot: Lot, user: User, quantity: int | None, reason: str) -> VialWaste:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise _fail("quantity", "Record at least one whole vial.")
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise _fail("reason", "Say why the vials were wasted.")
    with transaction.atomic():
        locked = _lock(lot)
        if locked.quantity_on_hand < quantity:
            raise _fail("quantity", f"Only {locked.quantity_on_hand} vial(s) are on hand.")
        locked.quantity_on_hand -= quantity
        save_with_history(locked, user, f"{quantity} vial(s) wasted: {reason}")
        waste = VialWaste(
            clinic=locked.clinic, lot=locked, quantity=quantity, reason=reason[:300],
            recorded_at=timezone.now(), recorded_by=user,
        )  # fmt: skip
        save_with_history(waste, user, "wasted")
    return waste


# --- recall ----------------------------------------------------------------------------------


def recall_lot(lot: Lot, user: User, reason: str) -> Recall:
    """Block the lot for good and record the recall; tracing lists whom to contact."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = _lock(lot)
        if locked.status == LotStatus.RECALLED:
            raise _fail("__all__", "This lot has already been recalled.")
        locked.status = LotStatus.RECALLED
        locked.blocked = True
        locked.block_reason = f"Recalled: {reason}"[:300]
        save_with_history(locked, user, f"recalled: {reason}")
        recall = Recall(
            clinic=locked.clinic, lot=locked, reason=reason, initiated_at=timezone.now(),
            initiated_by=user,
        )  # fmt: skip
        save_with_history(recall, user, "recall started")
        _withdraw_pending_override(locked, user, "lot recalled")
        _decide(locked, user, DecisionKind.RECALL, reason)
    return recall


# --- import ----------------------------------------------------------------------------------


def _name_key(name: str) -> str:
    """A name as compared: capitals and runs of spaces do not matter."""
    return " ".join(name.split()).casefold()


def _row_order(item: tuple[str, list[str]]) -> tuple[int, str]:
    """ "row 3, expiry_date" after "row 2, …" (the file's own problems first)."""
    where = item[0]
    if where.startswith("row "):
        number = where[4:].split(",", 1)[0]
        return (int(number) if ascii_digits(number) else 0, where)
    return (0, where)


def import_lots(
    clinic: Clinic, user: User, filename: str, content: bytes, *, source: str = CoaSource.IMPORT
) -> list[Lot]:
    """Lots (with their CoAs) from a JSON or CSV file: all rows are stored, or none.

    Errors are ``ProductError({"row N, field": [message]})``, one entry per problem.
    """
    # Problems in single rows (a unit, a date) do not stop the other checks: every problem
    # of the file is reported at once, not the next ones only after the first are fixed.
    errors: dict[str, list[str]] = {}
    try:
        rows = importers.parse_lot_file(filename, content)
    except importers.ImportFileError as exc:
        for i in exc.issues:
            errors.setdefault(i.where, []).append(i.message)
        if not exc.rows:
            raise ProductError(errors) from exc
        rows = exc.rows
    # Names as people type them: capitals and spaces do not matter (as for locations).
    products: dict[tuple[str, str], list[Product]] = {}
    for p in Product.objects.filter(clinic=clinic):
        products.setdefault((_name_key(p.manufacturer), _name_key(p.name)), []).append(p)
    locations = {_name_key(loc.name): loc for loc in StorageLocation.objects.filter(clinic=clinic)}
    spec = parsed_spec(current_spec(clinic))
    seen: dict[tuple[int, str], int] = {}
    resolved = []

    def add(row: int, field: str, message: str) -> None:
        errors.setdefault(f"row {row}, {field}", []).append(message)

    for r in rows:
        candidates = products.get((_name_key(r.manufacturer), _name_key(r.product_name)), [])
        exact = [
            p for p in candidates if (p.manufacturer, p.name) == (r.manufacturer, r.product_name)
        ]
        if not candidates:
            add(r.row, "product_name", f"no product {r.product_name!r} of {r.manufacturer!r} here")
            continue
        if len(candidates) > 1 and len(exact) != 1:
            add(
                r.row,
                "product_name",
                f"several products match {r.product_name!r} of {r.manufacturer!r}; "
                "write the name exactly as the product page shows it",
            )
            continue
        product = exact[0] if exact else candidates[0]
        key = (product.pk, r.lot_number.casefold())
        if key in seen:
            add(r.row, "lot_number", f"{r.lot_number} appears twice (also row {seen[key]})")
        seen[key] = r.row
        if Lot.objects.filter(
            clinic=clinic, product=product, lot_number__iexact=r.lot_number
        ).exists():
            add(r.row, "lot_number", f"lot {r.lot_number} has already been received")
        location = None
        if r.storage_location:
            location = locations.get(_name_key(r.storage_location))
            if location is None:
                add(r.row, "storage_location", f"no storage location {r.storage_location!r}")
        try:
            # Every receipt rule now, so that a second bad row is reported with the first
            # (expiry before today, 100,000+ vials were found only while saving, one at a time).
            _check_lot_fields(
                clinic, product, r.lot_number, r.expiry_date, r.quantity_received, location,
                timezone.localdate(),
            )  # fmt: skip
        except ProductError as exc:
            for field, msgs in exc.errors.items():
                if field != "lot_number":  # a clash is reported above, with its row
                    for m in msgs:
                        add(r.row, field, m)
        if r.coa is not None:
            problems = FieldErrors()
            read_certificate_lot_number(
                problems, r.coa.get("certificate_lot_number"), lot_number=r.lot_number,
                product=product, field="coa.certificate_lot_number",
            )  # fmt: skip
            for m in problems.get("coa.certificate_lot_number", []):
                add(r.row, "coa.certificate_lot_number", m)
            try:
                validate_results(product, r.results, spec)
            except ProductError as exc:
                for field, msgs in exc.errors.items():
                    for m in msgs:
                        add(r.row, f"coa.results.{field}", m)
        resolved.append((r, product, location))
    if errors:
        raise ProductError(dict(sorted(errors.items(), key=_row_order)))
    lots = []
    with transaction.atomic():
        for r, product, location in resolved:
            try:
                lot = receive_lot(
                    clinic, user, product=product, lot_number=r.lot_number,
                    expiry_date=r.expiry_date, quantity_received=r.quantity_received,
                    storage_location=location, supplier_notes=r.supplier_notes,
                )  # fmt: skip
                if r.coa is not None:
                    record_coa(lot, user, results=r.results, source=source, **r.coa)
            except ProductError as exc:
                # Anything found only now (a clash with a concurrent import) aborts the file.
                raise ProductError(
                    {
                        f"row {r.row}, {'coa.' if f == 'certificate_lot_number' else ''}{f}": m
                        for f, m in exc.errors.items()
                    }
                ) from exc
            lots.append(lot)
    return lots
