"""Consultation pages: one flow page (history → screening → exam → diagnosis → plan →
consent) whose step forms post to their own URLs.

Without JavaScript a step form posts, the server redirects back to the flow page (or
re-renders it with field errors and status 400). With htmx the same forms post in the
background and the server answers with the flow partial only. Views are thin: services
validate and store, selectors read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.messages.storage.base import BaseStorage
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from anagen.accounts.permissions import View, can, require_permission
from anagen.assessment import forms as f
from anagen.assessment import scales, selectors, services
from anagen.assessment.labels import QUESTION_LABELS, describe_answer
from anagen.assessment.models import MODALITY_LABELS, ProtocolTemplate
from anagen.assessment.protocols import TEMPLATES as PROTOCOL_TEMPLATES
from anagen.assessment.screening_doc import describe_condition
from anagen.core.history import stored_values
from anagen.core.http import ClinicRequest
from anagen.monitoring import selectors as monitoring_selectors
from anagen.monitoring import services as monitoring_services
from anagen.patients.models import Patient
from anagen.patients.selectors import get_patient, log_request_access


def patient_first(view: View) -> View:
    """Resolve the patient in the active clinic BEFORE the permission check.

    Another clinic's patient is then a 404 for every role (a 403 would confirm that the
    id exists); within the clinic, a role without the permission still gets 403.
    """

    @wraps(view)
    def wrapped(
        request: HttpRequest, patient_id: int, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        clinic = getattr(request, "clinic", None)
        if request.user.is_authenticated and clinic is not None:
            get_patient(clinic, patient_id)
        return view(request, patient_id, *args, **kwargs)

    return wrapped


def _today():
    return timezone.localdate()


def _flow_url(patient: Patient, step: str = "") -> str:
    url = reverse("assessment:flow", args=[patient.pk])
    return f"{url}#step-{step}" if step else url


def _context(request: ClinicRequest, patient: Patient, bound: dict[str, Any]) -> dict[str, Any]:
    """The flow page context; ``bound`` holds the submitted form of the failing step."""
    c = selectors.consultation(patient)
    today = _today()
    blocked = c.blocked_modalities
    plan_forms = []
    for p in c.proposals:
        course = services.session_protocol(p.protocols)
        initial = {
            "proposal_key": p.key,
            "sessions_planned": course["sessions_max"] if course else None,
            "interval_weeks": course["interval_weeks_min"] if course else None,
        }
        form = bound.get(f"plan:{p.key}") or f.PlanForm(initial=initial, auto_id=f"id_{p.key}_%s")
        plan_forms.append((p, form))
    # One card per active plan: its edit and cancel forms and a consent row per treatment.
    # Form keys and ids carry the plan's id, so two plans' forms never share an id and a
    # refused form comes back on the plan it was for.
    # The follow-up course a plan's cancellation can end in the same step (that plan's).
    open_course = monitoring_selectors.open_course(patient) if can(request, "plan.edit") else None
    plan_cards = []
    for card in c.plans:
        plan = card.plan
        consent_rows = []
        for row in card.consent_rows:
            m = row["modality"]
            sign = bound.get(f"consent:{plan.pk}:{m}") or f.SignConsentForm(
                initial={"modality": m, "signed_on": today},
                auto_id=f"id_consent_{plan.pk}_{m}_%s",
            )
            withdraw = None
            if row["consent"] is not None:
                withdraw = bound.get(f"withdraw:{row['consent'].pk}") or f.WithdrawForm(
                    initial={"withdrawn_on": today},
                    auto_id=f"id_withdraw_{row['consent'].pk}_%s",
                )
            consent_rows.append({**row, "sign_form": sign, "withdraw_form": withdraw})
        plan_cards.append(
            {
                "card": card,
                "plan": plan,
                # A consented plan shows no edit form (the page says why).
                "edit_form": None
                if card.consented
                else bound.get(f"plan_edit:{plan.pk}")
                or f.PlanEditForm(plan=plan, auto_id=f"id_edit_{plan.pk}_%s"),
                "cancel_form": bound.get(f"cancel:{plan.pk}")
                or f.CancelForm(auto_id=f"id_cancel_{plan.pk}_%s"),
                "consent_rows": consent_rows,
                "course_follows": open_course is not None
                and monitoring_selectors.course_follows_plan(open_course.plan, plan),
            }
        )
    screening_rows = []
    if c.screening is not None:
        overrides = {o.modality: o for o in c.screening.overrides.all()}  # prefetched
        standing = services.standing_overrides(c.screening, overrides.values())
        for m, r in c.screening.modality_results():
            screening_rows.append(
                {
                    "modality": m,
                    "label": MODALITY_LABELS.get(m, m),
                    "outcome": r["outcome"],
                    "findings": r["findings"],
                    "override": overrides.get(m),
                    # Written before its rule was locked: shown, but it lifts nothing.
                    "override_lapsed": m in overrides and m not in standing,
                }
            )
    return {
        "patient": patient,
        "c": c,
        "today": today,
        "history_form": bound.get("history")
        or f.HistoryForm(
            initial=f.HistoryForm.initial_from(c.history, today),
            sex_at_birth=patient.sex_at_birth,
            latest=c.history,
        ),
        "screen_form": bound.get("screen") or f.ScreenAgainForm(),
        "override_form": bound.get("override")
        or f.OverrideForm(initial={"modality": blocked[0] if blocked else None}),
        "exam_form": bound.get("exam")
        or f.ExamForm(initial={"examined_on": today}, sex_at_birth=patient.sex_at_birth),
        "scale_sources": scales.SCALE_SOURCES,
        "diagnosis_form": bound.get("diagnosis")
        # Its own ids: the history form on the same page has a "notes" field too.
        or f.DiagnosisForm(
            initial={
                "diagnosed_on": today,
                "condition": "aga_female"
                if patient.sex_at_birth == "female"
                or (
                    c.exam is not None
                    and c.exam.female_pattern_confirmed
                    and bool(c.exam.ludwig or c.exam.sinclair)
                )
                else "aga_male",
            },
            auto_id="id_diagnosis_%s",
        ),
        "plan_forms": plan_forms,
        "plan_cards": plan_cards,
        "open_course": open_course,
        "screening_rows": screening_rows,
        "blocked": blocked,
        "can": {
            p.replace(".", "_"): can(request, p)
            for p in (
                "history.edit",
                "exam.edit",
                "diagnosis.edit",
                "plan.edit",
                "screening.override",
                "consent.record",
                "audit.view",
            )
        },
    }


class _BoundForms(dict):
    """The submitted forms by slot, noting which slots the page asked for: a form whose slot
    the page no longer shows (a plan consented in another tab since the edit form was
    opened, an unknown proposal) would fail with its errors nowhere on the page."""

    def __init__(self, forms: dict[str, Any]) -> None:
        super().__init__(forms)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def unshown_errors(self) -> list[str]:
        out = []
        for slot, form in self.items():
            if slot in self.asked:
                continue
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else None
                out += [
                    f"{label or field.replace('_', ' ').capitalize()}: {e}"
                    if field != "__all__"
                    else str(e)
                    for e in errors
                ]
        return out


def _render(
    request: ClinicRequest, patient: Patient, bound: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    forms = _BoundForms(bound or {})
    context = _context(request, patient, forms)
    context["unshown_errors"] = forms.unshown_errors()
    template = "assessment/_flow.html" if request.htmx else "assessment/consultation.html"
    return render(request, template, context, status=status)


def _step(
    request: ClinicRequest,
    patient: Patient,
    step: str,
    slot: str,
    form: Any,
    action: Callable[[Any], Any],
    aliases: Callable[[Any], dict] | None = None,
) -> HttpResponse:
    """Validate ``form``, call ``action``; success → flow (redirect or partial), else 400."""
    if patient.is_voided:
        form.is_valid()
        form.add_error(None, "This record is voided; nothing can be added.")
    elif form.is_valid():
        try:
            action(form)
        except services.AssessmentError as exc:
            f.apply_errors(form, exc, aliases(form) if aliases else None)
        else:
            # A warning is shown above the steps: the page opens there, not at the next step.
            warned = _has_warning(request)
            if request.htmx:
                response = _render(request, patient)
                if warned:
                    response["HX-Reswap"] = "outerHTML show:#consultation-flow:top"
                return response
            return redirect(_flow_url(patient, "" if warned else step))
    return _render(request, patient, {slot: form}, status=400)


def _has_warning(request: HttpRequest) -> bool:
    stored = messages.get_messages(request)
    warned = any(m.level == messages.WARNING for m in stored)
    if isinstance(stored, BaseStorage):
        stored.used = False  # looked at, not shown: kept for the page that shows them
    return warned


@patient_first
@require_permission("consultation.view")
def flow(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    if not request.htmx:
        log_request_access(request, patient)
    return _render(request, patient)


@patient_first
@require_permission("consultation.view")
def history_versions(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    versions = list(selectors.histories(patient).order_by("-version"))
    rows = []
    for h in versions:
        rows.append(
            {
                "h": h,
                "answers": [
                    (
                        QUESTION_LABELS.get(name, name),
                        describe_answer(name, getattr(h, name)),
                        h.answered_on.get(name, ""),
                    )
                    for name in services.ANSWER_FIELDS
                ],
            }
        )
    return render(
        request, "assessment/history_versions.html", {"patient": patient, "versions": rows}
    )


@patient_first
@require_permission("history.edit")
@require_http_methods(["POST"])
def record_history(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    form = f.HistoryForm(
        request.POST, sex_at_birth=patient.sex_at_birth, latest=selectors.latest_history(patient)
    )
    return _step(
        request,
        patient,
        "screening",
        "history",
        form,
        lambda fm: _said_if_platelets_unusual(
            request, services.record_history(patient, request.user, fm.to_service())
        ),
        lambda fm: f.history_error_aliases(fm.to_service()),
    )


# Counts above this (× 10⁹/L) are kept but questioned: possible only in extreme
# thrombocytosis, and far likelier a slip of the unit or a digit (2500 for 250).
PLATELETS_CHECK_ABOVE = 1000.0


def _said_if_platelets_unusual(request: ClinicRequest, history: Any) -> Any:
    count = history.platelet_count_10e9_per_l
    if count is not None and count > PLATELETS_CHECK_ABOVE:
        messages.warning(
            request,
            f"The platelet count {count:g} × 10⁹/L is recorded, but it is far above the usual "
            "adult range (about 150–450 × 10⁹/L): check the value and its unit (a count "
            "per µL, such as 250000, is 250 × 10⁹/L).",
        )
    return history


@patient_first
@require_permission("history.edit")
@require_http_methods(["POST"])
def screen_again(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    form = f.ScreenAgainForm(request.POST)
    return _step(
        request,
        patient,
        "screening",
        "screen",
        form,
        lambda fm: services.run_screening(
            patient, request.user, product_components=fm.to_components()
        ),
    )


@patient_first
@require_permission("screening.override")
@require_http_methods(["POST"])
def override_block(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    form = f.OverrideForm(request.POST)

    def act(fm: f.OverrideForm) -> None:
        scr = selectors.latest_screening(patient)
        if scr is None:
            raise services.AssessmentError({"__all__": ["Nothing has been screened yet."]})
        services.override_block(
            scr, request.user, fm.cleaned_data["modality"], fm.cleaned_data["reason"]
        )

    return _step(request, patient, "plan", "override", form, act)


def _said_if_not_current(
    request: ClinicRequest, saved: Any, current: Any, date_field: str, what: str
) -> Any:
    """An exam or diagnosis dated before the patient's latest one is kept, but the page goes
    on showing the latest (by date) as current: say so, or the entry seems lost."""
    if current is not None and current.pk != saved.pk:
        messages.warning(
            request,
            f"The {what} dated {getattr(saved, date_field):%Y-%m-%d} is recorded, but the "
            f"{what} of {getattr(current, date_field):%Y-%m-%d} stays the current one, being "
            f"later. If this {what} is the current one, check its date.",
        )
    return saved


@patient_first
@require_permission("exam.edit")
@require_http_methods(["POST"])
def record_exam(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    form = f.ExamForm(request.POST, sex_at_birth=patient.sex_at_birth)
    return _step(
        request,
        patient,
        "diagnosis",
        "exam",
        form,
        lambda fm: _said_if_not_current(
            request,
            services.record_exam(patient, request.user, fm.to_service()),
            selectors.latest_exam(patient),
            "examined_on",
            "exam",
        ),
    )


@patient_first
@require_permission("diagnosis.edit")
@require_http_methods(["POST"])
def record_diagnosis(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    form = f.DiagnosisForm(request.POST, auto_id="id_diagnosis_%s")
    return _step(
        request,
        patient,
        "plan",
        "diagnosis",
        form,
        lambda fm: _said_if_not_current(
            request,
            services.record_diagnosis(patient, request.user, fm.to_service()),
            selectors.latest_diagnosis(patient),
            "diagnosed_on",
            "diagnosis",
        ),
    )


@patient_first
@require_permission("plan.edit")
@require_http_methods(["POST"])
def accept_plan(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    key = request.POST.get("proposal_key", "")
    form = f.PlanForm(request.POST, auto_id=f"id_{key}_%s" if key.isidentifier() else "id_%s")
    return _step(
        request,
        patient,
        "consent",
        f"plan:{key}",
        form,
        lambda fm: services.accept_plan(patient, request.user, fm.to_service()),
    )


@patient_first
@require_permission("plan.edit")
@require_http_methods(["POST"])
def edit_plan(request: ClinicRequest, patient_id: int, plan_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    plan = selectors.get_plan(patient, plan_id)
    form = f.PlanEditForm(request.POST, plan=plan, auto_id=f"id_edit_{plan.pk}_%s")
    if form.is_valid():
        form.refuse_conflicts()  # an error on the field: _step then shows the form again
    return _step(
        request,
        patient,
        "plan",
        f"plan_edit:{plan.pk}",
        form,
        lambda fm: services.update_plan(plan, request.user, fm.changes()),
    )


@patient_first
@require_permission("plan.edit")
@require_http_methods(["POST"])
def cancel_plan(request: ClinicRequest, patient_id: int, plan_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    plan = selectors.get_plan(patient, plan_id)
    form = f.CancelForm(request.POST, auto_id=f"id_cancel_{plan.pk}_%s")

    def cancel(fm: f.CancelForm) -> None:
        reason = fm.cleaned_data["reason"]
        if not fm.cleaned_data["end_course"]:
            services.cancel_plan(plan, request.user, reason)
            messages.success(request, f"Plan “{plan.title}” cancelled.")
            return
        try:  # plan.edit, required here, also ends a course
            ended = monitoring_services.cancel_plan_and_end_course(plan, request.user, reason)[1]
        except monitoring_services.MonitoringError as exc:
            raise services.AssessmentError(exc.errors) from exc
        messages.success(
            request, f"Plan “{plan.title}” cancelled; follow-up course ended: {ended.summary()}."
        )

    return _step(request, patient, "plan", f"cancel:{plan.pk}", form, cancel)


@patient_first
@require_permission("consent.record")
@require_http_methods(["POST"])
def record_consent(request: ClinicRequest, patient_id: int, plan_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    plan = selectors.get_plan(patient, plan_id)
    modality = request.POST.get("modality", "")
    form = f.SignConsentForm(
        request.POST,
        auto_id=f"id_consent_{plan.pk}_{modality}_%s" if modality.isidentifier() else "id_%s",
    )
    return _step(
        request,
        patient,
        "consent",
        f"consent:{plan.pk}:{modality}",
        form,
        lambda fm: services.record_consent(plan, request.user, **fm.to_service()),
    )


@patient_first
@require_permission("consent.record")
@require_http_methods(["POST"])
def withdraw_consent(request: ClinicRequest, patient_id: int, consent_id: int) -> HttpResponse:
    patient = get_patient(request.clinic, patient_id)
    consent = selectors.get_consent(patient, consent_id)
    form = f.WithdrawForm(request.POST, auto_id=f"id_withdraw_{consent.pk}_%s")
    return _step(
        request,
        patient,
        "consent",
        f"withdraw:{consent.pk}",
        form,
        lambda fm: services.withdraw_consent(
            consent, request.user, fm.cleaned_data["reason"], fm.cleaned_data["withdrawn_on"]
        ),
    )


# --- clinic settings: screening rules, protocol templates, consent texts --------------------


def _rules_context(request: ClinicRequest, form: f.RuleOverrideForm | None) -> dict[str, Any]:
    rules = selectors.effective_rules(request.clinic)
    return {
        "rules": [(r, describe_condition(r.when)) for r in rules],
        "overrides": selectors.rule_overrides(request.clinic, include_retired=True),
        "form": form or f.RuleOverrideForm(),
        "ruleset_version": services.effective_ruleset(request.clinic).effective_version,
        "can_manage": can(request, "protocol.manage"),
    }


@require_permission("consultation.view")
def rules(request: ClinicRequest) -> HttpResponse:
    return render(request, "assessment/rules.html", _rules_context(request, None))


@require_permission("protocol.manage")
@require_http_methods(["POST"])
def add_rule_override(request: ClinicRequest) -> HttpResponse:
    form = f.RuleOverrideForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.add_rule_override(
                request.clinic, request.user, d["rule_id"], d["action"], d["outcome"], d["reason"]
            )
        except services.AssessmentError as exc:
            f.apply_errors(form, exc)
        else:
            messages.success(request, f"Override of {d['rule_id']} saved.")
            return redirect("assessment:rules")
    return render(request, "assessment/rules.html", _rules_context(request, form), status=400)


@require_permission("protocol.manage")
@require_http_methods(["POST"])
def retire_rule_override(request: ClinicRequest, override_id: int) -> HttpResponse:
    row = selectors.get_rule_override(request.clinic, override_id)
    try:
        services.retire_rule_override(row, request.user, request.POST.get("reason", ""))
    except services.AssessmentError as exc:
        messages.error(request, str(exc))
        return redirect("assessment:rules")
    messages.success(request, f"Override of {row.rule_id} retired.")
    return redirect("assessment:rules")


@require_permission("consultation.view")
def protocol_list(request: ClinicRequest) -> HttpResponse:
    return render(
        request,
        "assessment/protocols.html",
        {
            "templates": selectors.protocol_templates(request.clinic),
            "consent_forms": selectors.consent_forms(request.clinic),
            "can_manage": can(request, "protocol.manage"),
        },
    )


@require_permission("protocol.manage")
@require_http_methods(["GET", "POST"])
def protocol_edit(request: ClinicRequest) -> HttpResponse:
    key = request.GET.get("key", "")
    template = ProtocolTemplate.objects.filter(clinic=request.clinic, key=key).first()
    if template is None and key in PROTOCOL_TEMPLATES:
        services.ensure_protocol_templates(request.clinic, request.user)
        template = ProtocolTemplate.objects.filter(clinic=request.clinic, key=key).first()
    if template is None:
        raise Http404("No such protocol template.")
    form = f.ProtocolTemplateForm(
        request.POST or None,
        initial={n: getattr(template, n) for n in f.ProtocolTemplateForm.base_fields},
    )
    if request.method == "POST" and form.is_valid():
        before = stored_values(template)
        try:
            saved_template = services.update_protocol_template(
                template, request.user, form.cleaned_data
            )
        except services.AssessmentError as exc:
            f.apply_errors(form, exc)
        else:
            changed = stored_values(saved_template) != before
            saved = "saved" if changed else "unchanged: nothing to save"
            messages.success(request, f"Template {template.title} {saved}.")
            return redirect("assessment:protocols")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "assessment/protocol_edit.html",
        {"form": form, "template": template},
        status=status,
    )


@require_permission("protocol.manage")
@require_http_methods(["GET", "POST"])
def consent_text_edit(request: ClinicRequest) -> HttpResponse:
    modality = request.GET.get("modality", "")
    if modality not in MODALITY_LABELS:
        raise Http404("No such modality.")
    current = services.current_consent_form(request.clinic, modality)
    form = f.ConsentTextForm(
        request.POST or None, initial={"title": current.title, "body": current.body}
    )
    if request.method == "POST" and form.is_valid():
        try:
            row = services.add_consent_form_version(
                request.clinic,
                request.user,
                modality,
                form.cleaned_data["title"],
                form.cleaned_data["body"],
            )
        except services.AssessmentError as exc:
            f.apply_errors(form, exc)
        else:
            messages.success(request, f"Consent text for {modality} is now version {row.version}.")
            return redirect("assessment:protocols")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "assessment/consent_text_edit.html",
        {"form": form, "current": current, "modality": modality},
        status=status,
    )
