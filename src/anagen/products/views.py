"""Pages for products, lots, cold chain and recall. Thin: selectors read, services write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.forms import BaseForm, Form
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST

from anagen.accounts.permissions import can, require_permission
from anagen.core.http import ClinicRequest, query_without_page
from anagen.core.voiding import VoidTarget, void_page
from anagen.patients import selectors as patient_selectors
from anagen.products import lotnumbers, selectors, services
from anagen.products.forms import (
    CoaForm,
    ExcursionDecisionForm,
    LocationForm,
    LoggerUploadForm,
    LotCorrectionForm,
    LotFilterForm,
    ProductEditForm,
    ReadingForm,
    ReasonForm,
    ReceiveLotForm,
    ReleaseForm,
    SettingsForm,
    SpecForm,
    UploadForm,
    WasteForm,
)
from anagen.products.models import CoaSource, Lot, LotStatus


def _apply_errors(form: BaseForm, error: services.ProductError) -> None:
    for field, msgs in error.errors.items():
        field = getattr(form, "SERVICE_FIELDS", {}).get(field, field)
        target = field if field in form.fields else None
        for msg in msgs:
            if target is None and field != "__all__":
                msg = f"{field}: {msg}"  # e.g. a CoA result the form has no field for
            form.add_error(target, msg)


def _dates(clinic: Any) -> dict[str, Any]:
    """Today, and the clinic's expiry warning days, for the lot status badges
    (``lot_expiry`` in products/_status.html)."""
    days = services.settings_for(clinic).expiry_warning_days
    return {"today": timezone.localdate(), "warning_days": days}


def _status(request: ClinicRequest) -> int:
    return 400 if request.method == "POST" else 200


# --- lots ----------------------------------------------------------------------------------------


@require_permission("product.view")
def lot_list(request: ClinicRequest) -> HttpResponse:
    clinic = request.clinic
    form = LotFilterForm(clinic, request.GET or None)
    state, product_id, q = "", None, ""
    if form.is_valid():
        state = form.cleaned_data["state"]
        product = form.cleaned_data["product"]
        product_id = product.pk if product else None
        q = form.cleaned_data["q"]
    prefs = services.settings_for(clinic)
    # A filter that could not be read lists nothing: all lots under the error would look
    # like its answer.
    refused = form.is_bound and not form.is_valid()
    lots = (
        Lot.objects.none()
        if refused
        else selectors.filter_lots(
            clinic,
            state=state,
            product_id=product_id,
            q=q,
            today=timezone.localdate(),
            warning_days=prefs.expiry_warning_days,
        )
    )
    page = Paginator(lots, settings.ANAGEN_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filters": form,
        "page": page,
        **_dates(request.clinic),
        "warning_days": prefs.expiry_warning_days,
        "filter_query": query_without_page(request),
    }
    if request.htmx and request.htmx.target == "lot-results":
        return render(request, "products/_lot_results.html", context)  # 200: htmx swaps it
    return render(request, "products/lot_list.html", context, status=400 if refused else 200)


@require_permission("product.view")
def lot_detail(request: ClinicRequest, lot_id: int) -> HttpResponse:
    return _lot_page(request, selectors.get_lot(request.clinic, lot_id))


def _lot_page(
    request: ClinicRequest, lot: Lot, bound: dict[str, Form] | None = None, status: int = 200
) -> HttpResponse:
    """The lot page; ``bound`` replaces the blank decision forms by ones sent with errors."""
    report, report_error = None, ""
    try:
        report = services.release_report(lot)
    except services.release.ReleaseInputError as exc:
        report_error = str(exc)
    coa = getattr(lot, "coa", None)
    excursions = selectors.excursions_of(lot)
    context: dict[str, Any] = {
        "lot": lot,
        "coa": coa,
        # A CoA stored before the certificate's lot number was asked for: not checked against
        # the lot, so the page says so and offers no release until it is entered.
        "certificate_lot_missing": (
            lotnumbers.NOT_RECORDED_MESSAGE
            if coa and not coa.certificate_lot_number and lot.status == LotStatus.QUARANTINED
            else ""
        ),
        "report": report,
        "report_error": report_error,
        "spec": lot.decision_spec or services.current_spec(lot.clinic),
        "stock": selectors.stock_of(lot),
        "block_reason": services.block_reason_now(lot) if lot.blocked else "",
        # Who wasted vials, when and why: the page showed the count only.
        "waste": list(lot.waste.select_related("recorded_by").order_by("recorded_at", "id")),
        "override": selectors.pending_override(lot),
        "excursions": excursions,
        "decisions": selectors.decisions_of(lot),
        "corrections": selectors.corrections_of(lot),
        "documents": list(lot.documents.all()),
        "usable_problems": services.usability_problems(lot, timezone.localdate()),
        # A failed safety test: no override is offered, since none could be approved.
        "unsafe_failures": services.failed_safety_criteria(report),
        # Several of these forms ask for a "reason": each gets its own ids on the page.
        "release_form": ReleaseForm(auto_id="id_release_%s"),
        "override_form": ReasonForm(auto_id="id_override_%s"),
        "reject_form": ReasonForm(auto_id="id_reject_%s"),
        "waste_form": WasteForm(auto_id="id_waste_%s"),
        "excursion_form": ExcursionDecisionForm(
            auto_id="id_excursion_%s",
            ongoing=any(
                e.ended_at is None and e.decided_at is None and not e.is_voided for e in excursions
            ),
        ),
        **_dates(lot.clinic),
    }
    context.update(bound or {})
    return render(request, "products/lot_detail.html", context, status=status)


@require_permission("lot.receive")
@require_http_methods(["GET", "POST"])
def lot_receive(request: ClinicRequest) -> HttpResponse:
    form = ReceiveLotForm(request.clinic, request.POST or None, request.FILES or None)
    if request.method == "POST" and not form.is_valid():
        # The service's own checks (an expired or already received lot, a storage location
        # out of the product's range) in the same answer as the form's, for the fields the
        # form could read.
        data = form.cleaned_data
        problems = services.lot_receipt_problems(
            request.clinic, product=data.get("product"), lot_number=data.get("lot_number", ""),
            expiry_date=data.get("expiry_date"), quantity_received=data.get("quantity_received"),
            storage_location=data.get("storage_location"),
        )  # fmt: skip
        for field, msgs in problems.items():
            if field in form.fields and field in data:
                for msg in msgs:
                    form.add_error(field, msg)
    elif request.method == "POST":
        try:
            lot = services.receive_lot(request.clinic, request.user, **form.cleaned_data)
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Lot {lot.lot_number} received and quarantined.")
            blocked = services.received_blocked_notice(lot)
            if blocked:
                messages.error(request, blocked)
            return redirect("products:coa", lot_id=lot.pk)
    return render(request, "products/lot_receive.html", {"form": form}, status=_status(request))


@require_permission("lot.receive")
@require_http_methods(["GET", "POST"])
def lot_correct(request: ClinicRequest, lot_id: int) -> HttpResponse:
    """Correct the lot's receipt details (a typo), with a reason kept in its history."""
    lot = selectors.get_lot(request.clinic, lot_id)
    initial = {name: getattr(lot, name) for name in services.CORRECTABLE_FIELDS}
    form = LotCorrectionForm(lot, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop("reason")
        try:
            done = services.correct_lot(lot, request.user, reason=reason, **data)
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            if done.warnings:
                messages.warning(request, done.message)
            else:
                messages.success(request, done.message)
            return redirect("products:lot", lot_id=lot.pk)
    context = {
        "form": form,
        "lot": lot,
        "corrections": selectors.corrections_of(lot),
        "given": selectors.stock_of(lot).drawn,
    }
    return render(request, "products/lot_correct.html", context, status=_status(request))


@require_permission("lot.receive")
@require_http_methods(["GET", "POST"])
def coa_edit(request: ClinicRequest, lot_id: int) -> HttpResponse:
    lot = selectors.get_lot(request.clinic, lot_id)
    closed = services.coa_closed_reason(lot)
    if closed is not None:
        messages.error(request, closed)
        return redirect("products:lot", lot_id=lot.pk)
    coa = getattr(lot, "coa", None)
    initial = CoaForm.initial_from(coa) if coa else {}
    form = CoaForm(request.POST or None, request.FILES or None, initial=initial)
    elsewhere = form.changed_elsewhere() if request.method == "POST" else []
    if elsewhere:
        # The certificate is saved whole: saving this form would put back what the other
        # person changed. Nothing is saved; the page must be opened again.
        form.add_error(
            None,
            "Someone else saved this certificate since you opened this page (changed: "
            f"{', '.join(elsewhere)}). Nothing was saved: open the certificate again to see "
            "the stored values, then enter your changes.",
        )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.record_coa(
                lot,
                request.user,
                testing_laboratory=data["testing_laboratory"],
                certificate_lot_number=data["certificate_lot_number"],
                third_party_laboratory=data["third_party_laboratory"],
                cgmp_statement=data["cgmp_statement"],
                nta_method=data["nta_method"],
                results=form.results(),
                pdf=data["pdf"],
                source=CoaSource.FORM,
            )
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Certificate of analysis saved and checked against the spec.")
            return redirect("products:lot", lot_id=lot.pk)
    # A browser never refills a file input: a refused save must say the PDF is not kept.
    pdf_dropped = request.method == "POST" and bool(request.FILES.get("pdf"))
    return render(
        request,
        "products/coa_form.html",
        {"form": form, "lot": lot, "pdf_dropped": pdf_dropped},
        status=_status(request),
    )


@require_permission("product.view")
def coa_pdf(request: ClinicRequest, lot_id: int) -> FileResponse:
    lot = selectors.get_lot(request.clinic, lot_id)
    coa = getattr(lot, "coa", None)
    if coa is None or not coa.pdf:
        raise Http404("No PDF stored for this lot.")
    return FileResponse(
        coa.pdf.open("rb"),
        content_type="application/pdf",
        filename=f"coa-{lot.lot_number}.pdf",
    )


@require_permission("product.view")
def supplier_document(request: ClinicRequest, lot_id: int, document_id: int) -> FileResponse:
    """A supplier document of the lot (a PDF, checked at upload), as stored."""
    lot = selectors.get_lot(request.clinic, lot_id)
    doc = lot.documents.filter(pk=document_id).first()
    if doc is None or not doc.file:
        raise Http404("No such document for this lot.")
    name = slugify(doc.title.removesuffix(".pdf")) or "document"
    return FileResponse(
        doc.file.open("rb"),
        content_type="application/pdf",
        filename=f"{lot.lot_number}-{name}.pdf",
    )


def _decision(
    request: ClinicRequest, lot_id: int, form_class: type[Form], act: Any,
    ok: str | Callable[[Any], str], name: str,
) -> HttpResponse:  # fmt: skip
    """Run a decision posted from the lot page; on an error the page comes back (400) with
    the form as sent, its field errors beside the fields and the rest as messages. ``ok``:
    the message after it, or a function of what ``act`` returned that words it."""
    lot = selectors.get_lot(request.clinic, lot_id)
    form = form_class(request.POST, auto_id=f"id_{name}_%s")
    if form.is_valid():
        try:
            done = act(lot, form.cleaned_data)
        except services.ProductError as exc:
            for field, msgs in exc.errors.items():
                for m in msgs:
                    if field in form.fields:
                        form.add_error(field, m)
                    else:
                        messages.error(request, m)
        else:
            messages.success(request, ok(done) if callable(ok) else ok)
            return redirect("products:lot", lot_id=lot.pk)
    for e in form.non_field_errors():
        messages.error(request, str(e))
    _focus_first_error(form)
    return _lot_page(request, lot, {f"{name}_form": form}, status=400)


def _focus_first_error(form: Form) -> None:
    """Put the cursor on the first field with an error: the browser opens the page there
    (its section is rendered open, see lot_detail.html), not at the top."""
    for name in form.fields:
        if name in form.errors:
            form.fields[name].widget.attrs["autofocus"] = True
            return


@require_permission("lot.release")
@require_POST
def lot_release(request: ClinicRequest, lot_id: int) -> HttpResponse:
    return _decision(
        request, lot_id, ReleaseForm,
        lambda lot, d: services.release_lot(lot, request.user, d["reason"]),
        "Lot released: every criterion passes.", "release",
    )  # fmt: skip


@require_permission("lot.release")
@require_POST
def lot_reject(request: ClinicRequest, lot_id: int) -> HttpResponse:
    return _decision(
        request, lot_id, ReasonForm,
        lambda lot, d: services.reject_lot(lot, request.user, d["reason"]),
        services.rejected_notice, "reject",
    )  # fmt: skip


@require_permission("lot.release")
@require_POST
def override_request(request: ClinicRequest, lot_id: int) -> HttpResponse:
    return _decision(
        request, lot_id, ReasonForm,
        lambda lot, d: services.request_override(lot, request.user, d["reason"]),
        "Override requested: a second quality user must approve it.", "override",
    )  # fmt: skip


@require_permission("lot.release")
@require_POST
def override_approve(request: ClinicRequest, lot_id: int) -> HttpResponse:
    return _decision(
        request, lot_id, Form,
        lambda lot, d: services.approve_override(lot, request.user),
        "Override approved: the lot is released.", "override_approve",
    )  # fmt: skip


@require_permission("lot.release")
@require_POST
def excursion_decide(request: ClinicRequest, lot_id: int) -> HttpResponse:
    return _decision(
        request, lot_id, ExcursionDecisionForm,
        lambda lot, d: services.decide_excursions(lot, request.user, d["decision"], d["reason"]),
        lambda lot: (
            services.rejected_notice(lot)
            if lot.status == LotStatus.REJECTED
            else "Cold-chain decision recorded."
        ),
        "excursion",
    )  # fmt: skip


@require_permission("coldchain.record")
@require_POST
def lot_waste(request: ClinicRequest, lot_id: int) -> HttpResponse:
    return _decision(
        request, lot_id, WasteForm,
        lambda lot, d: services.record_waste(lot, request.user, d["quantity"], d["reason"]),
        "Wasted vials recorded.", "waste",
    )  # fmt: skip


@require_permission("lot.receive")
@require_http_methods(["GET", "POST"])
def lot_import(request: ClinicRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            lots = services.import_lots(request.clinic, request.user, upload.name, upload.read())
        except services.ProductError as exc:
            problems = [f"{k}: {m}" for k, msgs in exc.errors.items() for m in msgs]
            form.add_error("file", "Nothing was imported; correct the file and upload it again.")
        else:
            messages.success(request, f"{len(lots)} lot(s) imported and quarantined.")
            return redirect("products:lots")
    return render(
        request,
        "products/lot_import.html",
        {"form": form, "problems": problems},
        status=_status(request),
    )


# --- trace and recall -------------------------------------------------------------------------


def _trace_page(
    request: ClinicRequest, lot: Lot, form: ReasonForm, status: int = 200
) -> HttpResponse:
    uses = selectors.uses_of_lot(lot)  # each draw with its dose: read once for both tables
    patients = selectors.affected_patients(lot, uses)
    selectors.log_trace_listing(request, lot, rows=patients)
    context = {
        "lot": lot,
        "uses": selectors.trace_uses(lot, uses),
        "patients": patients,
        "adverse_events": selectors.adverse_events_after(lot),
        "recall": getattr(lot, "recall", None),
        "form": form,
        # Quality staff trace and recall lots but do not open patient records or sessions.
        "can_open_patients": can(request, "patient.view"),
        "can_open_sessions": can(request, "session.view"),
    }
    return render(request, "products/lot_trace.html", context, status=status)


@require_permission("recall.manage")
def lot_trace(request: ClinicRequest, lot_id: int) -> HttpResponse:
    return _trace_page(request, selectors.get_lot(request.clinic, lot_id), ReasonForm())


@require_permission("recall.manage")
@require_POST
def lot_recall(request: ClinicRequest, lot_id: int) -> HttpResponse:
    lot = selectors.get_lot(request.clinic, lot_id)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.recall_lot(lot, request.user, form.cleaned_data["reason"])
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Lot recalled and blocked. Contact the patients listed.")
            return redirect("products:trace", lot_id=lot.pk)
    return _trace_page(request, lot, form, status=400)


@require_permission("recall.manage")
def recall_csv(request: ClinicRequest, lot_id: int) -> HttpResponse:
    lot = selectors.get_lot(request.clinic, lot_id)
    response = HttpResponse(
        selectors.recall_csv_download(lot), content_type="text/csv; charset=utf-8"
    )
    selectors.log_trace_listing(request, lot)
    name = selectors.recall_file_name(lot, "recall", "csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_permission("recall.manage")
def recall_pdf(request: ClinicRequest, lot_id: int) -> HttpResponse:
    lot = selectors.get_lot(request.clinic, lot_id)
    pdf = selectors.recall_notice_pdf(lot, generated_at=timezone.now())
    selectors.log_trace_listing(request, lot)
    response = HttpResponse(pdf, content_type="application/pdf")
    kind = "recall-notice" if hasattr(lot, "recall") else "trace-report"
    name = selectors.recall_file_name(lot, kind, "pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_permission("recall.manage")
def patient_lots(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = patient_selectors.get_patient(request.clinic, patient_id)
    draws = list(selectors.draws_of_patient(request.clinic, patient))
    # The dose as the lot trace gives it (from the session's injected volume), and the
    # session as a link, not its reference ("—" and "session:57" were shown: review).
    doses = selectors.draw_doses(draws)
    rows = [
        {"draw": d, "dose_ml": doses.get(d.pk), "session_id": selectors.session_pk(d.session_ref)}
        for d in draws
    ]
    return render(
        request,
        "products/patient_lots.html",
        {"patient": patient, "rows": rows, **_dates(request.clinic)},
    )


# --- products -----------------------------------------------------------------------------------


@require_permission("product.view")
def product_list(request: ClinicRequest) -> HttpResponse:
    return render(
        request,
        "products/product_list.html",
        {"products": list(selectors.products_of(request.clinic))},
    )


@require_permission("product.view")
def product_detail(request: ClinicRequest, product_id: int) -> HttpResponse:
    product = selectors.get_product(request.clinic, product_id)
    lots = selectors.lots_of(request.clinic).filter(product=product)
    context = {"product": product, "lots": list(lots), **_dates(request.clinic)}
    return render(request, "products/product_detail.html", context)


@require_permission("product.manage")
@require_http_methods(["GET", "POST"])
def product_create(request: ClinicRequest) -> HttpResponse:
    form = ProductEditForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.create_product(request.clinic, request.user, form.service_data())
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Product {product.name} added.")
            return redirect("products:product", product_id=product.pk)
    return render(request, "products/product_form.html", {"form": form}, status=_status(request))


@require_permission("product.manage")
@require_http_methods(["GET", "POST"])
def product_edit(request: ClinicRequest, product_id: int) -> HttpResponse:
    product = selectors.get_product(request.clinic, product_id)
    form = ProductEditForm(
        request.POST or None, instance=selectors.get_product(request.clinic, product_id)
    )
    form.track_opened_values()  # a save changes only what this person changed
    if request.method == "POST" and form.is_valid() and not form.refuse_conflicts():
        try:
            services.update_product(product, request.user, form.service_data(only_changed=True))
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Product saved.")
            return redirect("products:product", product_id=product.pk)
    return render(
        request,
        "products/product_form.html",
        {"form": form, "product": product},
        status=_status(request),
    )


# --- storage and cold chain ---------------------------------------------------------------------


@require_permission("product.view")
def location_list(request: ClinicRequest) -> HttpResponse:
    return render(
        request,
        "products/location_list.html",
        {"locations": list(selectors.locations_of(request.clinic))},
    )


@require_permission("product.manage")
@require_http_methods(["GET", "POST"])
def location_create(request: ClinicRequest) -> HttpResponse:
    form = LocationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            location = services.create_location(
                request.clinic,
                request.user,
                form.cleaned_data["name"],
                form.cleaned_data["description"],
                set_min_temperature_c=form.cleaned_data["set_min_temperature_c"],
                set_max_temperature_c=form.cleaned_data["set_max_temperature_c"],
            )
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Storage location added.")
            return redirect("products:location", location_id=location.pk)
    return render(request, "products/location_form.html", {"form": form}, status=_status(request))


@require_permission("product.view")
def location_detail(request: ClinicRequest, location_id: int) -> HttpResponse:
    location = selectors.get_location(request.clinic, location_id)
    return _location_page(request, location, ReadingForm(), LoggerUploadForm(), [])


def _location_page(
    request: ClinicRequest,
    location: Any,
    reading_form: Form,
    upload_form: Form,
    problems: list[str],
    status: int = 200,
) -> HttpResponse:
    lots = selectors.lots_of(request.clinic).filter(
        storage_location=location, status__in=(LotStatus.QUARANTINED, LotStatus.RELEASED)
    )
    return render(
        request,
        "products/location_detail.html",
        {
            "location": location,
            "readings": selectors.readings_of(location),
            "lots": list(lots),
            "reading_form": reading_form,
            "upload_form": upload_form,
            "problems": problems,
        },
        status=status,
    )


def _flag_message(request: ClinicRequest, flagged: list) -> None:
    text = services.describe_flagged(flagged)
    if text:
        messages.error(request, text)


@require_permission("coldchain.record")
@require_POST
def reading_add(request: ClinicRequest, location_id: int) -> HttpResponse:
    location = selectors.get_location(request.clinic, location_id)
    form = ReadingForm(request.POST)
    if form.is_valid():
        try:
            _, flagged = services.record_reading(
                location,
                request.user,
                recorded_at=form.cleaned_data["recorded_at"],
                temperature_c=form.cleaned_data["temperature_c"],
            )
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Reading recorded.")
            _flag_message(request, flagged)
            return redirect("products:location", location_id=location.pk)
    return _location_page(request, location, form, LoggerUploadForm(), [], status=400)


@require_permission("coldchain.record")
@require_POST
def reading_import(request: ClinicRequest, location_id: int) -> HttpResponse:
    location = selectors.get_location(request.clinic, location_id)
    form = LoggerUploadForm(request.POST, request.FILES)
    problems: list[str] = []
    if form.is_valid():
        try:
            count, flagged = services.import_readings(
                location, request.user, form.cleaned_data["file"].read()
            )
        except services.ProductError as exc:
            problems = [m for msgs in exc.errors.values() for m in msgs]
            form.add_error("file", "Nothing was imported; correct the file and upload it again.")
        else:
            messages.success(request, f"{count} reading(s) imported.")
            _flag_message(request, flagged)
            return redirect("products:location", location_id=location.pk)
    return _location_page(request, location, ReadingForm(), form, problems, status=400)


@require_permission("coldchain.void")
@require_http_methods(["GET", "POST"])
def reading_void(request: ClinicRequest, location_id: int, reading_id: int) -> HttpResponse:
    """Void a reading entered in error; the location's excursions are worked out again.

    The location page posts here from each reading's "Void…" control; a refused reason comes
    back on this page (400) with the error, and nothing changes."""
    location = selectors.get_location(request.clinic, location_id)
    reading = selectors.get_reading(location, reading_id)
    when = timezone.localtime(reading.recorded_at)
    target = VoidTarget(
        reading, "reading",
        description=f"{location.name}: {reading.temperature_c} °C at {when:%Y-%m-%d %H:%M %Z}",
        back=reverse("products:location", args=[location.pk]),
        note="The excursions of the lots stored here are worked out again without it.",
    )  # fmt: skip
    return void_page(
        request, target,
        lambda reason: services.void_reading(reading, request.user, reason).describe(),
    )  # fmt: skip


# --- specifications and settings ------------------------------------------------------------


@require_permission("product.view")
def spec_list(request: ClinicRequest) -> HttpResponse:
    current = services.current_spec(request.clinic)
    return render(
        request,
        "products/spec_list.html",
        {
            "current": current,
            "criteria": services.parsed_spec(current).criteria,
            "specs": list(selectors.specs_of(request.clinic)),
        },
    )


@require_permission("product.manage")
@require_http_methods(["GET", "POST"])
def spec_create(request: ClinicRequest) -> HttpResponse:
    import yaml

    current = services.current_spec(request.clinic)
    initial = {"spec": yaml.safe_dump(current.data, sort_keys=False, allow_unicode=True)}
    form = SpecForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            spec = services.create_spec_version(
                request.clinic, request.user, form.cleaned_data["spec"]
            )
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Specification version {spec.version} is now current.")
            return redirect("products:specs")
    return render(request, "products/spec_form.html", {"form": form}, status=_status(request))


@require_permission("product.manage")
@require_http_methods(["GET", "POST"])
def settings_edit(request: ClinicRequest) -> HttpResponse:
    prefs = services.settings_for(request.clinic)
    form = SettingsForm(
        request.POST or None, initial={"expiry_warning_days": prefs.expiry_warning_days}
    )
    form.track_opened_values()  # a page opened before someone else's change is refused
    if request.method == "POST" and form.is_valid() and not form.refuse_conflicts():
        try:
            if form.changed_data:
                services.update_settings(request.clinic, request.user, **form.cleaned_data)
        except services.ProductError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(
                request, "Settings saved." if form.changed_data else "Nothing changed."
            )
            return redirect("products:lots")
    return render(request, "products/settings.html", {"form": form}, status=_status(request))
