"""Recording treatment sessions: pre-session checklist, injection map, vials, post-care.

Everything about one session is stored in one transaction: if any vial cannot be drawn
(lot not usable, not enough stock) or the map is invalid, nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.core.history import save_with_history
from anagen.products import services as product_services
from anagen.products.models import Lot
from anagen.treatments import scalp_zones
from anagen.treatments.models import (
    INJECTED,
    GraftRecord,
    InjectionMapEntry,
    Modality,
    PostCareTemplate,
    PrpPreparation,
    TreatmentSession,
)
from anagen.treatments.postcare_defaults import DEFAULT_POSTCARE


@dataclass
class SessionError(Exception):
    """A session was refused; `errors` maps field name -> messages."""

    errors: dict[str, list[str]]

    def __str__(self) -> str:
        return "; ".join(f"{f}: {' '.join(m)}" for f, m in self.errors.items())


@dataclass
class ChecklistItem:
    key: str
    ok: bool
    blocking: bool
    message: str


@dataclass
class Checklist:
    items: list[ChecklistItem] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(i.blocking and not i.ok for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "blocked": self.blocked,
            "items": [
                {"key": i.key, "ok": i.ok, "blocking": i.blocking, "message": i.message}
                for i in self.items
            ],
        }


@dataclass
class VialRequest:
    lot: Lot
    quantity: int


@dataclass
class ScreeningStatus:
    ok: bool
    message: str


def screening_status(patient: Any, modality: str, on_date: date) -> ScreeningStatus:
    """Is the latest screening current, and does it allow this modality (or was it overridden)?

    "Current" means screened on the latest medical-history version: any new answer in the
    history (a new medication, a pregnancy) needs a new screening before the next session.
    """
    from anagen.assessment.models import MedicalHistory, Screening

    latest = (
        Screening.objects.filter(patient=patient, screened_on__lte=on_date)
        .select_related("medical_history")
        .order_by("-screened_on", "-id")
        .first()
    )
    if latest is None:
        return ScreeningStatus(False, "No contraindication screening on record: screen first.")
    newest_history = (
        MedicalHistory.objects.filter(patient=patient)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    if newest_history is not None and newest_history > latest.medical_history.version:
        return ScreeningStatus(
            False,
            f"The medical history changed (version {newest_history}) since the last "
            f"screening on {latest.screened_on}: screen again before this session.",
        )
    outcome = latest.result["modalities"].get(modality, {}).get("outcome", "OK")
    rules = [
        f["rule_id"]
        for f in latest.result["modalities"].get(modality, {}).get("findings", [])
        if f["outcome"] == "BLOCK"
    ]
    if outcome == "BLOCK":
        override = latest.overrides.filter(modality=modality).first()
        if override is None:
            return ScreeningStatus(
                False,
                f"Screening on {latest.screened_on} BLOCKS {modality} "
                f"({', '.join(rules)}); a clinician must override in writing first.",
            )
        return ScreeningStatus(
            True,
            f"BLOCK ({', '.join(rules)}) overridden by {override.overridden_by}: {override.reason}",
        )
    return ScreeningStatus(True, f"Screening on {latest.screened_on}: {outcome} for {modality}.")


def pre_session_checklist(plan: Any, modality: str, on_date: date) -> Checklist:
    """What must hold before a session starts: plan, screening, consent (not the lots).

    Lots are checked when vials are drawn, by the product module's single check.
    """
    from anagen.assessment import services as assessment

    checklist = Checklist()
    checklist.items.append(
        ChecklistItem(
            "plan",
            plan.status == "active" and modality in plan.modalities,
            True,
            "Plan is active and includes this modality."
            if plan.status == "active" and modality in plan.modalities
            else f"The plan does not include an active {modality} treatment.",
        )
    )
    status = screening_status(plan.patient, modality, on_date)
    checklist.items.append(ChecklistItem("screening", status.ok, True, status.message))
    consent_ok = assessment.has_valid_consent(plan, modality, on_date)
    checklist.items.append(
        ChecklistItem(
            "consent",
            consent_ok,
            True,
            "Valid signed consent for this modality."
            if consent_ok
            else f"No valid signed consent for {modality} on this plan: record consent first.",
        )
    )
    return checklist


def _decimal(
    value: Any,
    name: str,
    errors: dict[str, list[str]],
    *,
    minimum: float = 0,
    maximum: float | None = None,
) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        errors.setdefault(name, []).append("Enter a number.")
        return None
    if not number.is_finite() or number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"≥ {minimum}"
        errors.setdefault(name, []).append(f"Must be {bound}.")
        return None
    return number


@transaction.atomic
def record_session(
    clinic: Clinic,
    user: User,
    plan: Any,
    data: dict[str, Any],
    *,
    map_entries: list[dict[str, Any]] | None = None,
    vials: list[VialRequest] | None = None,
    prp: dict[str, Any] | None = None,
    grafts: list[dict[str, Any]] | None = None,
) -> TreatmentSession:
    """Record a session after the checklist passes; draws vials atomically through products."""
    errors: dict[str, list[str]] = {}
    modality = data.get("modality")
    if modality not in Modality.values:
        raise SessionError({"modality": [f"Choose one of: {', '.join(Modality.values)}."]})
    performed_on = data.get("performed_on")
    if not isinstance(performed_on, date):
        raise SessionError({"performed_on": ["Enter the session date."]})
    if performed_on > timezone.localdate():
        errors.setdefault("performed_on", []).append("A session cannot be in the future.")
    if plan.start_on and performed_on < plan.start_on:
        errors.setdefault("performed_on", []).append(
            f"The plan starts on {plan.start_on}; the session cannot be earlier."
        )
    if plan.clinic_id != clinic.id:
        raise SessionError({"plan": ["No such plan."]})

    gauge = data.get("needle_gauge")
    if gauge not in (None, "") and not (18 <= int(gauge) <= 34):
        errors.setdefault("needle_gauge", []).append("Needle gauge must be between 18G and 34G.")
    depth = _decimal(data.get("depth_mm"), "depth_mm", errors, minimum=0, maximum=10)

    entries = list(map_entries or [])
    if modality in INJECTED:
        if not entries:
            errors.setdefault("map", []).append(
                "Enter the injection map: at least one zone with points and volume."
            )
        for err in scalp_zones.validate_map(entries):
            errors.setdefault(err.field, []).append(err.message)
    vials = list(vials or [])
    if modality == Modality.EXOSOME and not vials:
        errors.setdefault("vials", []).append("Record the vials drawn (lot and number).")
    for i, v in enumerate(vials):
        if v.quantity < 1:
            errors.setdefault(f"vials[{i}].quantity", []).append("At least one vial.")
        if v.lot.clinic_id != clinic.id:
            errors.setdefault(f"vials[{i}].lot", []).append("No such lot.")
    if modality == Modality.PRP:
        prp = prp or {}
        blood = _decimal(
            prp.get("blood_volume_ml"), "prp.blood_volume_ml", errors, minimum=1, maximum=200
        )
        if blood is None and "prp.blood_volume_ml" not in errors:
            errors["prp.blood_volume_ml"] = ["Enter the blood volume drawn (mL)."]
        if not (prp.get("spin_protocol") or "").strip():
            errors["prp.spin_protocol"] = ["Describe the spin protocol."]
        _decimal(
            prp.get("platelet_concentration_10e9_per_l"),
            "prp.platelet_concentration_10e9_per_l",
            errors,
            minimum=0,
            maximum=10000,
        )
    grafts = list(grafts or [])
    if modality == Modality.TRANSPLANT:
        if not grafts:
            errors.setdefault("grafts", []).append("Record the grafts by zone.")
        for i, g in enumerate(grafts):
            if g.get("zone") not in scalp_zones.ALL_CODES:
                errors.setdefault(f"grafts[{i}].zone", []).append("Unknown zone.")
            if not isinstance(g.get("grafts"), int) or g["grafts"] < 1:
                errors.setdefault(f"grafts[{i}].grafts", []).append("At least one graft.")
            if g.get("technique") not in ("FUE", "FUT"):
                errors.setdefault(f"grafts[{i}].technique", []).append("FUE or FUT.")
    if errors:
        raise SessionError(errors)

    checklist = pre_session_checklist(plan, modality, performed_on)
    if checklist.blocked:
        raise SessionError(
            {"checklist": [i.message for i in checklist.items if i.blocking and not i.ok]}
        )

    totals = scalp_zones.map_totals(entries) if entries else None
    vial_volume = sum(float(v.lot.product.volume_ml) * v.quantity for v in vials) if vials else None
    protocol_max = (
        max(
            (
                p.get("max_volume_ml_per_session") or 0
                for p in plan.protocols
                if p.get("modality") == modality
            ),
            default=0,
        )
        or None
    )
    warnings = (
        scalp_zones.check_limits(totals, vial_volume, protocol_max) if totals is not None else []
    )

    session = TreatmentSession(
        clinic=clinic,
        patient=plan.patient,
        plan=plan,
        modality=modality,
        performed_on=performed_on,
        clinician=user,
        checklist=checklist.as_dict(),
        anaesthesia=(data.get("anaesthesia") or "").strip(),
        technique=(data.get("technique") or "").strip(),
        needle_gauge=int(gauge) if gauge not in (None, "") else None,
        depth_mm=depth,
        fine_grid=bool(data.get("fine_grid")),
        total_points=totals.points if totals else 0,
        total_volume_ml=Decimal(str(round(totals.volume_ml, 2))) if totals else Decimal(0),
        limit_warnings=[{"code": w.code, "message": w.message} for w in warnings],
        immediate_reactions=(data.get("immediate_reactions") or "").strip(),
        notes=(data.get("notes") or "").strip(),
    )
    save_with_history(session, user, "session recorded")
    for entry in entries:
        row = InjectionMapEntry(
            session=session,
            zone=entry["zone"],
            points=int(entry["points"]),
            volume_ml=Decimal(str(entry["volume_ml"])),
            spacing_mm=_decimal(entry.get("spacing_mm"), "spacing", {}),
        )
        save_with_history(row, user, "recorded with the session")
    for v in vials:
        try:
            product_services.draw_vials(
                v.lot,
                plan.patient,
                v.quantity,
                user,
                on_date=performed_on,
                session_ref=f"session:{session.pk}",
            )
        except product_services.ProductError as exc:
            # Roll back the whole session: nothing half-stored.
            transaction.set_rollback(True)
            messages = [m for msgs in exc.errors.values() for m in msgs]
            raise SessionError(
                {"vials": [f"Lot {v.lot.lot_number}: {m}" for m in messages]}
            ) from exc
    if modality == Modality.PRP and prp:
        p = PrpPreparation(
            session=session,
            blood_volume_ml=Decimal(str(prp["blood_volume_ml"])),
            spin_protocol=prp["spin_protocol"].strip(),
            platelet_concentration_10e9_per_l=_decimal(
                prp.get("platelet_concentration_10e9_per_l"), "x", {}
            ),
        )
        save_with_history(p, user, "recorded with the session")
    for g in grafts:
        graft = GraftRecord(
            session=session, zone=g["zone"], grafts=g["grafts"], technique=g["technique"]
        )
        save_with_history(graft, user, "recorded with the session")
    return session


VOID_REASON_MIN = 5


def void_session(session: TreatmentSession, user: User, reason: str) -> TreatmentSession:
    """Void a session entered in error: kept in the database and its history, with who,
    when and why, and left out of every count of sessions from then on.

    Its vial draws are not touched: the vials left the fridge and the lot trace keeps
    listing the patient, because a recall must reach anyone who may have been exposed.
    """
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if len(reason) < VOID_REASON_MIN or "\x00" in reason:
        raise SessionError({"reason": ["Give the reason for voiding (at least 5 characters)."]})
    with transaction.atomic():
        fresh = TreatmentSession.objects.select_for_update().get(pk=session.pk)
        if fresh.voided_at is not None:
            raise SessionError({"__all__": ["This session is already voided."]})
        fresh.voided_at = timezone.now()
        fresh.voided_by = user
        fresh.void_reason = reason
        save_with_history(fresh, user, f"voided: {reason}")
    return fresh


def postcare_template(clinic: Clinic, modality: str) -> PostCareTemplate | None:
    return (
        PostCareTemplate.objects.filter(clinic=clinic, modality=modality)
        .order_by("-version")
        .first()
    )


def postcare_text(clinic: Clinic, modality: str) -> tuple[str, str]:
    """The sheet text and a label saying which version it is."""
    template = postcare_template(clinic, modality)
    if template is None:
        return DEFAULT_POSTCARE[modality], "Anagen default text (not yet reviewed by the clinic)"
    return template.body, f"Clinic version {template.version}"


@transaction.atomic
def save_postcare_template(
    clinic: Clinic, user: User, modality: str, body: str
) -> PostCareTemplate:
    body = (body or "").strip()
    if modality not in Modality.values:
        raise SessionError({"modality": ["Unknown modality."]})
    if len(body) < 20:
        raise SessionError({"body": ["Write the instructions (at least 20 characters)."]})
    current = postcare_template(clinic, modality)
    if current is not None and current.body == body:
        # A new version with the same text would blur which text a patient was given.
        raise SessionError(
            {"body": [f"Nothing changed: this is the text of version {current.version}."]}
        )
    template = PostCareTemplate(
        clinic=clinic,
        modality=modality,
        body=body,
        created_by=user,
        version=(current.version + 1) if current else 1,
    )
    save_with_history(template, user, f"post-care text v{template.version}")
    return template
