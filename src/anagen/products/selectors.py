"""Reads of products, lots and their records. Every read is scoped to one clinic."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from anagen.accounts.models import Clinic
from anagen.core.http import ClinicRequest
from anagen.core.text import (
    MAX_DB_ID,
    database_id,
    phone_cell,
    printed_code,
    spreadsheet_safe,
)
from anagen.patients.models import Patient
from anagen.patients.selectors import log_listed_access
from anagen.products.models import (
    LIVE_STATUSES,
    DecisionKind,
    Excursion,
    Lot,
    LotDecision,
    LotStatus,
    Product,
    Recall,
    ReleaseOverride,
    ReleaseSpecVersion,
    StorageLocation,
    TemperatureReading,
    VialDraw,
    expiring_lots,
)
from anagen.products.numbers import split_in_proportion


def _get(qs: QuerySet, object_id: Any, label: str) -> Any:
    """One object of the clinic's queryset; another clinic's object is simply 'not found'."""
    if (
        isinstance(object_id, bool)
        or not isinstance(object_id, int)
        or not 0 < object_id <= MAX_DB_ID
    ):
        raise Http404(f"No such {label}.")
    obj = qs.filter(pk=object_id).first()
    if obj is None:
        raise Http404(f"No such {label}.")
    return obj


# --- products, locations, specs -------------------------------------------------------------


def products_of(clinic: Clinic, *, include_inactive: bool = True) -> QuerySet[Product]:
    qs = Product.objects.filter(clinic=clinic)
    return qs if include_inactive else qs.filter(is_active=True)


def get_product(clinic: Clinic, product_id: int) -> Product:
    return _get(products_of(clinic), product_id, "product")


def locations_of(clinic: Clinic) -> QuerySet[StorageLocation]:
    return StorageLocation.objects.filter(clinic=clinic)


def get_location(clinic: Clinic, location_id: int) -> StorageLocation:
    return _get(locations_of(clinic), location_id, "storage location")


def readings_of(location: StorageLocation, limit: int = 200) -> list[TemperatureReading]:
    """The latest readings, voided ones included (shown struck through, with the reason)."""
    return list(location.readings.select_related("entered_by", "voided_by")[:limit])


def get_reading(location: StorageLocation, reading_id: int) -> TemperatureReading:
    return _get(location.readings.select_related("location", "clinic"), reading_id, "reading")


def specs_of(clinic: Clinic) -> QuerySet[ReleaseSpecVersion]:
    return ReleaseSpecVersion.objects.filter(clinic=clinic)


def get_spec(clinic: Clinic, spec_id: int) -> ReleaseSpecVersion:
    return _get(specs_of(clinic), spec_id, "specification")


# --- lots --------------------------------------------------------------------------------------


def lots_of(clinic: Clinic) -> QuerySet[Lot]:
    return Lot.objects.filter(clinic=clinic).select_related("product", "storage_location")


def get_lot(clinic: Clinic, lot_id: int) -> Lot:
    return _get(lots_of(clinic), lot_id, "lot")


# Filter → label. "blocked" and "expired on hand" are the dashboard's counts, which link here:
# lots still in use (a recalled lot is blocked too, and listed under "recalled").
LOT_FILTERS = {
    "quarantined": "Quarantined",
    "released": "Released",
    "rejected": "Rejected",
    "recalled": "Recalled",
    "blocked": "Blocked (in use)",
    "expiring": "Expiring",
    "expired": "Expired (all)",
    "expired_on_hand": "Expired, vials on hand",
    "rejected_on_hand": "Rejected, vials on hand",
}


def filter_lots(
    clinic: Clinic,
    *,
    state: str = "",
    product_id: int | None = None,
    q: str = "",
    today: date,
    warning_days: int,
) -> QuerySet[Lot]:
    qs = lots_of(clinic)
    if state in (s.value for s in LotStatus):
        qs = qs.filter(status=state)
    elif state == "blocked":
        qs = qs.filter(status__in=LIVE_STATUSES, blocked=True)
    elif state == "expiring":
        qs = qs.filter(expiring_lots(today, warning_days))
    elif state == "expired":
        qs = qs.filter(expiry_date__lt=today)
    elif state == "expired_on_hand":
        qs = qs.filter(status__in=LIVE_STATUSES, expiry_date__lt=today, quantity_on_hand__gt=0)
    elif state == "rejected_on_hand":
        qs = qs.filter(status=LotStatus.REJECTED, quantity_on_hand__gt=0)
    if product_id:
        qs = qs.filter(product_id=product_id)
    for term in printed_code(q).split():
        qs = qs.filter(
            Q(lot_number__icontains=term)
            | Q(product__name__icontains=term)
            | Q(product__manufacturer__icontains=term)
        )
    return qs


def usable_lots(clinic: Clinic, on_date: date, product: Product | None = None) -> QuerySet[Lot]:
    """Lots a treatment session may draw from on ``on_date`` (same rule as draw_vials)."""
    in_date = lots_of(clinic).filter(
        expiry_date__gte=on_date, quantity_on_hand__gt=0, received_at__date__lte=on_date
    )
    # Not before it was released (dates in the clinic's zone).
    qs = in_date.filter(status=LotStatus.RELEASED, blocked=False).filter(
        Q(decided_at__isnull=True) | Q(decided_at__date__lte=on_date)
    )
    # A session entered afterwards, dated before its lot's recall (few lots: read one by one).
    recalled = in_date.filter(status=LotStatus.RECALLED, recall__initiated_at__date__gt=on_date)
    before_recall = [
        lot.pk
        for lot in recalled
        if recalled_after(lot, on_date) and blocked_on(lot, on_date) is None
    ]
    # A session entered afterwards, dated before the excursion that blocks its lot now.
    blocked = in_date.filter(status=LotStatus.RELEASED, blocked=True).filter(
        Q(decided_at__isnull=True) | Q(decided_at__date__lte=on_date)
    )
    before_recall += [lot.pk for lot in blocked if blocked_only_after(lot, on_date)]
    # ... or before its rejection.
    rejected = in_date.filter(status=LotStatus.REJECTED, decided_at__date__gt=on_date)
    before_recall += [
        lot.pk
        for lot in rejected
        if rejected_after(lot, on_date) and blocked_on(lot, on_date) is None
    ]
    if before_recall:
        qs = qs | lots_of(clinic).filter(pk__in=before_recall)
    return qs.filter(product=product) if product is not None else qs


@dataclass(frozen=True)
class Stock:
    received: int
    drawn: int  # drawn and given; draws returned unused are back in on_hand
    wasted: int
    on_hand: int
    returned: int = 0  # vials of voided sessions put back in stock (already in on_hand)

    @property
    def consistent(self) -> bool:
        return self.received - self.drawn - self.wasted == self.on_hand


def stock_of(lot: Lot) -> Stock:
    draws = lot.draws.aggregate(
        given=Sum("quantity", filter=Q(returned_at__isnull=True)),
        returned=Sum("quantity", filter=Q(returned_at__isnull=False)),
    )
    wasted = lot.waste.aggregate(n=Sum("quantity"))["n"] or 0
    return Stock(
        lot.quantity_received, draws["given"] or 0, wasted, lot.quantity_on_hand,
        draws["returned"] or 0,
    )  # fmt: skip


def pending_override(lot: Lot) -> ReleaseOverride | None:
    return lot.overrides.filter(status="pending").select_related("requested_by").first()


def excursions_of(lot: Lot) -> list[Excursion]:
    return list(lot.excursions.select_related("location", "decided_by"))


def decisions_of(lot: Lot) -> list:
    return list(lot.decisions.select_related("decided_by", "spec"))


def corrections_of(lot: Lot) -> list:
    """The corrections of the lot's receipt details (services.correct_lot), newest first:
    history rows whose reason names what changed, old → new, and why."""
    return list(
        lot.history.filter(history_change_reason__startswith="corrected (")
        .select_related("history_user")
        .order_by("-history_date", "-history_id")
    )


DASHBOARD_RECALLS_LISTED = 5


def awaiting_decision(clinic: Clinic) -> QuerySet[Excursion]:
    """Excursions that still need quality's decision: undecided, of a lot that could still be
    used (quarantined or released). A recalled or rejected lot is out of use for good, so its
    undecided excursions no longer await anything (they stay on the lot page as recorded)."""
    return Excursion.objects.filter(
        clinic=clinic, decided_at__isnull=True, voided_at__isnull=True,
        lot__status__in=LIVE_STATUSES,
    )  # fmt: skip


def open_recalls(clinic: Clinic) -> QuerySet[Recall]:
    """Recalls of the clinic, newest first. A recall has no closing step here, so every
    recall is open: its patients are to be contacted from the trace page."""
    return (
        Recall.objects.filter(clinic=clinic)
        .select_related("lot", "lot__product")
        .order_by("-initiated_at", "-id")
    )


def dashboard_counts(clinic: Clinic, today: date, warning_days: int) -> dict[str, Any]:
    lots = Lot.objects.filter(clinic=clinic)
    live = lots.filter(status__in=LIVE_STATUSES)
    expiring = lots.filter(expiring_lots(today, warning_days)).select_related("product")
    # Past expiry with vials still on the shelf: they are to be taken out of stock (a draw
    # refuses them), and the dashboard said nothing of them.
    expired = live.filter(expiry_date__lt=today, quantity_on_hand__gt=0)
    # Rejected with vials still on the shelf: to be destroyed or returned to the supplier
    # (recorded as waste), or a rejected lot's vials sit in the fridge beside usable ones.
    rejected = lots.filter(status=LotStatus.REJECTED, quantity_on_hand__gt=0)
    recalls = open_recalls(clinic)
    recall_patients = (
        VialDraw.objects.given()
        .filter(clinic=clinic, lot__recall__isnull=False)
        .values("patient_id")
        .distinct()
        .count()
    )
    return {
        "quarantined": lots.filter(status=LotStatus.QUARANTINED).count(),
        "blocked": live.filter(blocked=True).count(),
        "flagged": awaiting_decision(clinic).count(),
        "expiring": list(expiring.order_by("expiry_date")[:10]),
        "expiring_count": expiring.count(),
        "expired_on_hand": expired.count(),
        "rejected_on_hand": rejected.count(),
        "warning_days": warning_days,
        "recalls": list(recalls[:DASHBOARD_RECALLS_LISTED]),
        "recall_count": recalls.count(),
        "recall_patients": recall_patients,
    }


# --- traceability -------------------------------------------------------------------------------


def draws_of_lot(lot: Lot) -> QuerySet[VialDraw]:
    return lot.draws.select_related("patient", "drawn_by", "lot__product").order_by(
        "drawn_on", "drawn_at", "id"
    )


SESSION_REF_PREFIX = "session:"  # treatments.services draws with session_ref "session:<pk>"


def session_pk(ref: str) -> int | None:
    """The treatment session a draw was made for ("session:57" → 57), or None."""
    if not ref.startswith(SESSION_REF_PREFIX):
        return None
    return database_id(ref.removeprefix(SESSION_REF_PREFIX))


def draw_doses(draws: list[VialDraw]) -> dict[int, Decimal | None]:
    """Millilitres given from each draw (by draw id); None where nothing records it.

    A draw made at the point of care may carry its own dose. Treatment sessions draw
    vials without one and record the volume injected on the session instead; that volume
    is shared among the lots the session drew from in proportion to the volume drawn
    from each (vials × vial volume), so a session using one lot gives it all. The shares
    are rounded to 0.01 mL together (largest remainder), so that the shares of one session,
    on whichever lot's trace they are read, add up to its volume.
    """
    from anagen.treatments.models import TreatmentSession  # treatments builds on products

    doses: dict[int, Decimal | None] = {
        d.pk: None if d.returned_at else d.dose_volume_ml for d in draws
    }
    by_session: dict[int, list[VialDraw]] = {}
    for d in draws:
        pk = session_pk(d.session_ref)
        if d.dose_volume_ml is None and pk is not None and d.returned_at is None:
            by_session.setdefault(pk, []).append(d)
    if not by_session:
        return doses
    clinic_id = draws[0].clinic_id
    volumes = dict(
        TreatmentSession.objects.filter(clinic_id=clinic_id, pk__in=by_session).values_list(
            "pk", "total_volume_ml"
        )
    )
    # Every draw of these sessions, of any lot: each lot's share is worked out with the
    # others', so that the shares of one session add up to its volume on every lot's trace.
    drawn_ml: dict[str, list[tuple[int, Decimal]]] = {}
    for draw_pk, ref, quantity, vial_ml in (
        VialDraw.objects.given()
        .filter(
            clinic_id=clinic_id, session_ref__in=[f"{SESSION_REF_PREFIX}{pk}" for pk in by_session]
        )
        .order_by("drawn_at", "id")
        .values_list("pk", "session_ref", "quantity", "lot__product__volume_ml")
    ):
        drawn_ml.setdefault(ref, []).append((draw_pk, quantity * vial_ml))
    for pk, session_draws in by_session.items():
        drawn = drawn_ml.get(f"{SESSION_REF_PREFIX}{pk}", [])
        volume = volumes.get(pk)
        if volume is None or not sum(ml for _, ml in drawn):
            continue
        shares = dict(
            zip(
                [draw_pk for draw_pk, _ in drawn],
                split_in_proportion(volume, [ml for _, ml in drawn]),
                strict=True,
            )
        )
        for d in session_draws:
            doses[d.pk] = shares.get(d.pk)
    return doses


def sessions_by_ref(clinic_id: int, refs: list[str]) -> dict[str, Any]:
    """The treatment sessions behind draws' ``session:<pk>`` references, by reference (the
    clinic's own only; voided ones included: a recall still concerns them). References that
    are free text typed at the point of care ("S-7") have no session and are left out."""
    from anagen.treatments.models import TreatmentSession  # treatments builds on products

    pks = {pk for ref in refs if (pk := session_pk(ref)) is not None}
    if not pks:
        return {}
    sessions = TreatmentSession.objects.filter(clinic_id=clinic_id, pk__in=pks).only(
        "pk", "patient_id", "performed_on", "voided_at"
    )
    return {f"{SESSION_REF_PREFIX}{s.pk}": s for s in sessions}


@dataclass(frozen=True)
class TraceUse:
    """One draw of a lot on the trace page: the draw, the mL given from it (see draw_doses)
    and the treatment session it was drawn for, if it was drawn by one."""

    draw: VialDraw
    dose_ml: Decimal | None
    session: Any  # treatments.models.TreatmentSession | None


def trace_uses(
    lot: Lot, uses: list[tuple[VialDraw, Decimal | None]] | None = None
) -> list[TraceUse]:
    """Every use of the lot, oldest first, each with its session (for a date and a link)."""
    uses = uses if uses is not None else uses_of_lot(lot)
    sessions = sessions_by_ref(lot.clinic_id, [d.session_ref for d, _ in uses])
    return [TraceUse(d, dose, sessions.get(d.session_ref)) for d, dose in uses]


def uses_of_lot(lot: Lot) -> list[tuple[VialDraw, Decimal | None]]:
    """Every draw of the lot, oldest first, with the mL given from it (see draw_doses)."""
    draws = list(draws_of_lot(lot))
    doses = draw_doses(draws)
    return [(d, doses.get(d.pk)) for d in draws]


def log_trace_listing(
    request: ClinicRequest,
    lot: Lot,
    *,
    channel: str = "web",
    rows: list[dict[str, Any]] | None = None,
) -> None:
    """An access-log row for every patient a trace list of ``lot`` shows (page, CSV, PDF,
    API); ``rows``: affected_patients(lot), when the caller has read it already."""
    listed = affected_patients(lot) if rows is None else rows
    log_listed_access(request, [r["patient"] for r in listed], channel=channel)


def affected_patients(
    lot: Lot, uses: list[tuple[VialDraw, Decimal | None]] | None = None
) -> list[dict[str, Any]]:
    """One row per patient who received the lot: contact details, the dates treated (each
    once), vials, and the dose in mL (None when no draw of theirs records one). Draws
    returned to stock unused (their session voided as entered in error) are not received.
    ``uses``: uses_of_lot(lot), when the caller has read it already."""
    rows: dict[int, dict[str, Any]] = {}
    for d, dose in uses if uses is not None else uses_of_lot(lot):
        if d.returned_at is not None:
            continue
        p = d.patient
        row = rows.setdefault(
            p.pk,
            {"patient": p, "dates": [], "vials": 0, "dose_ml": None, "sessions": []},
        )
        if d.drawn_on not in row["dates"]:
            row["dates"].append(d.drawn_on)
        row["vials"] += d.quantity
        if dose is not None:
            row["dose_ml"] = (row["dose_ml"] or Decimal(0)) + dose
        if d.session_ref and d.session_ref not in row["sessions"]:
            row["sessions"].append(d.session_ref)
    for row in rows.values():
        if row["dose_ml"] is not None:
            # Sessions record mL to 0.01, draws to 0.001: show 1.50, not 1.500, but keep 0.125.
            two = row["dose_ml"].quantize(Decimal("0.01"))
            row["dose_ml"] = two if two == row["dose_ml"] else row["dose_ml"]
    return sorted(rows.values(), key=lambda r: (r["patient"].family_name, r["patient"].pk))


def adverse_events_after(lot: Lot) -> list:
    """Adverse events of the patients who received this lot, with onset on or after their
    first dose from it (any relatedness: the reader judges), oldest first."""
    from anagen.monitoring.models import AdverseEvent  # monitoring builds on products

    first_use: dict[int, date] = {}
    for patient_id, drawn_on in (
        VialDraw.objects.given()
        .filter(lot=lot)
        .order_by("drawn_on")
        .values_list("patient_id", "drawn_on")
    ):
        first_use.setdefault(patient_id, drawn_on)
    if not first_use:
        return []
    events = (
        AdverseEvent.objects.filter(clinic_id=lot.clinic_id, patient_id__in=first_use)
        .filter(voided_at__isnull=True)
        .select_related("patient")
        .order_by("onset_date", "id")
    )
    return [e for e in events if e.onset_date >= first_use[e.patient_id]]


def draws_of_patient(clinic: Clinic, patient: Patient) -> QuerySet[VialDraw]:
    """Reverse trace: every lot a patient received, newest first (not draws returned unused)."""
    return (
        VialDraw.objects.given()
        .filter(clinic=clinic, patient=patient)
        .select_related("lot", "lot__product")
        .order_by("-drawn_on", "-drawn_at")
    )


# --- recall outputs ------------------------------------------------------------------------------

RECALL_CSV_COLUMNS = (
    "lot_number",
    "product",
    "manufacturer",
    "medical_record_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "phone",
    "email",
    "address",
    "dates_treated",
    "vials",
    "dose_ml",
    "session_dates",  # the treatment sessions' dates (ISO), as on the trace page
    "treatment_session_ids",  # their ids in this system, to find them again when tracing
    "other_session_refs",  # references typed at the point of care for draws without a session
)


def recall_csv_download(lot: Lot) -> str:
    """The recall CSV as downloaded: after a UTF-8 byte-order mark, without which Excel
    reads the file in the computer's legacy code page and garbles accented names."""
    return "\ufeff" + recall_csv(lot)


def recall_csv(lot: Lot) -> str:
    """The affected patients with contact details, one row each, for the clinic's calls."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RECALL_CSV_COLUMNS)
    rows = affected_patients(lot)
    sessions = sessions_by_ref(lot.clinic_id, [ref for row in rows for ref in row["sessions"]])
    for row in rows:
        p = row["patient"]
        found = sorted(
            (sessions[ref] for ref in row["sessions"] if ref in sessions),
            key=lambda s: (s.performed_on, s.pk),
        )
        other_refs = [ref for ref in row["sessions"] if ref not in sessions]
        # Free text goes through spreadsheet_safe: the list is opened in a spreadsheet.
        writer.writerow(
            [
                spreadsheet_safe(lot.lot_number),
                spreadsheet_safe(lot.product.name),
                spreadsheet_safe(lot.product.manufacturer),
                spreadsheet_safe(p.medical_record_number),
                spreadsheet_safe(p.given_name),
                spreadsheet_safe(p.family_name),
                p.date_of_birth.isoformat(),
                phone_cell(p.phone),
                spreadsheet_safe(p.email),
                spreadsheet_safe(" ".join(p.address.split())),
                " ".join(d.isoformat() for d in row["dates"]),
                row["vials"],
                "" if row["dose_ml"] is None else row["dose_ml"],
                " ".join(dict.fromkeys(s.performed_on.isoformat() for s in found)),
                " ".join(str(s.pk) for s in found),
                spreadsheet_safe(" ".join(other_refs)),
            ]
        )
    return out.getvalue()


def recall_file_name(lot: Lot, kind: str, extension: str) -> str:
    """``recall-uc-2605-h.csv``: a download named by the lot number (slugified: safe in a
    Content-Disposition header and on any disk), or by the lot's id if nothing is left."""
    slug = slugify(lot.lot_number) or f"lot-{lot.pk}"
    return f"{kind}-{slug}.{extension}"


def recall_notice_html(lot: Lot, *, generated_at: datetime) -> str:
    """A recalled lot's notice: what is recalled, why, whom to contact and what to do. A lot
    not recalled gets a trace report instead: where it went, with no call to action (a red
    "recall notice" for a released lot in use would be acted on)."""
    return render_to_string(
        "products/recall_notice.html",
        {
            "lot": lot,
            "recall": getattr(lot, "recall", None),
            "expired": lot.expiry_date < timezone.localdate(generated_at),
            "patients": affected_patients(lot),
            "adverse_events": adverse_events_after(lot),
            "generated_at": generated_at,
        },
    )


def recall_notice_pdf(lot: Lot, *, generated_at: datetime) -> bytes:
    from weasyprint import HTML  # imported here: heavy, and only this output needs it

    return HTML(string=recall_notice_html(lot, generated_at=generated_at)).write_pdf()


def recalled_after(lot: Lot, on_date: date) -> bool:
    """The lot was released by ``on_date`` and recalled only after it: a session of that day
    entered afterwards draws from it, so that the recall reaches that patient too (it was
    refused, and the exposure could not be recorded)."""
    return lot.status == LotStatus.RECALLED and _released_until(lot, on_date, DecisionKind.RECALL)


def rejected_after(lot: Lot, on_date: date) -> bool:
    """The lot was released by ``on_date`` and rejected only after it (``recalled_after``
    for a rejection): a session of that day entered afterwards draws from it, so that the
    lot's trace reaches that patient (the vials were given while it was released)."""
    return lot.status == LotStatus.REJECTED and _released_until(lot, on_date, DecisionKind.REJECT)


def _released_until(lot: Lot, on_date: date, ending: str) -> bool:
    """The lot's last release-or-rejection decision by ``on_date`` released it, and its
    last ``ending`` decision (recall, rejection) came on a later day."""
    states = (
        DecisionKind.RELEASE, DecisionKind.OVERRIDE_APPROVE, DecisionKind.REJECT,
        DecisionKind.REQUARANTINE,
    )  # fmt: skip
    state_then, ended_on = None, None
    decisions = LotDecision.objects.filter(lot=lot, kind__in=(*states, ending))
    for kind, at in decisions.order_by("decided_at", "id").values_list("kind", "decided_at"):
        day = timezone.localdate(at)
        if kind == ending:
            ended_on = day
        if kind in states and day <= on_date:
            state_then = kind
    released = (DecisionKind.RELEASE, DecisionKind.OVERRIDE_APPROVE)
    return state_then in released and ended_on is not None and on_date < ended_on


def out_of_use_after(lot: Lot, on_date: date) -> bool:
    """Released on ``on_date`` and recalled or rejected only after it."""
    return recalled_after(lot, on_date) or rejected_after(lot, on_date)


def blocked_on(lot: Lot, on_date: date) -> Excursion | None:
    """The cold-chain excursion that blocked ``lot`` at some time on ``on_date``, or None:
    found by then (the lot is blocked when it is detected) and not accepted by quality
    before that day (accepted that day: blocked part of it; rejected: the lot stayed
    blocked). An excursion withdrawn as shown by readings entered in error never was one.
    For a session entered afterwards on a lot recalled since (``recalled_after``): its
    state on that day counts, and the point of care refused a blocked lot that day."""
    excursions = lot.excursions.filter(voided_at__isnull=True).order_by("detected_at", "id")
    for excursion in excursions:
        if timezone.localdate(excursion.detected_at) > on_date:
            continue
        accepted = excursion.decision == "accept" and excursion.decided_at is not None
        if accepted and timezone.localdate(excursion.decided_at) < on_date:
            continue
        return excursion
    return None


def blocked_only_after(lot: Lot, on_date: date) -> bool:
    """``lot`` is blocked now by a cold-chain excursion (not recalled) that did not block it
    yet on ``on_date``: a session of that day, entered afterwards, judges the lot as it was
    then (the vials were given while it was usable; its exposure must be recorded so that
    a later decision on the excursion reaches that patient)."""
    if not lot.blocked or lot.status == LotStatus.RECALLED:
        return False
    if not lot.block_reason.startswith("Cold-chain excursion "):
        return False
    live = lot.excursions.filter(voided_at__isnull=True)
    return live.exists() and blocked_on(lot, on_date) is None
