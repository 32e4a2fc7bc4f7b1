from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from anagen.accounts import selectors, services
from anagen.accounts.audit_access import AuditChangeRefused, open_audit_change
from anagen.accounts.clinic_time import zone_of
from anagen.accounts.forms import (
    AccountForm,
    ApiTokenForm,
    ClinicContactForm,
    ClinicTimeZoneForm,
    MemberForm,
    SignInForm,
    SwitchClinicForm,
    audit_query,
)
from anagen.accounts.middleware import SESSION_CLINIC_KEY
from anagen.accounts.models import ApiToken, Clinic, Membership, User
from anagen.accounts.permissions import require_permission
from anagen.accounts.roles import Role, allowed
from anagen.accounts.token_lifetime import expiry_state
from anagen.core.http import ClinicRequest
from anagen.core.text import database_id, spreadsheet_safe
from anagen.patients.selectors import log_request_access


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = SignInForm
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:password_change_done")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        user = form.user
        if (
            user.password_must_change
            and form.cleaned_data["old_password"] == (form.cleaned_data["new_password1"])
        ):
            # The administrator who handed it over knows it: it is not the person's own.
            form.add_error("new_password1", "Choose a password other than the temporary one.")
            return self.form_invalid(form)
        user.password_must_change = False  # their own password now
        return super().form_valid(form)

    def form_invalid(self, form: PasswordChangeForm) -> HttpResponse:
        # Sent back with errors: 400, as every other form of the app answers.
        response = super().form_invalid(form)
        response.status_code = 400
        return response


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # A changed password does not end the API tokens made with the old one (an
        # administrator's reset does): one changed after a theft leaves the thief's working,
        # so the person is shown which still work.
        context = super().get_context_data(**kwargs)
        context["live_tokens"] = list(
            ApiToken.objects.filter(
                user=cast(User, self.request.user),  # the view needs a sign-in
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .select_related("clinic")
            .order_by("clinic__name", "-created_at")
        )
        return context


@login_required
@require_POST
def switch_clinic(request: ClinicRequest) -> HttpResponse:
    form = SwitchClinicForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a clinic.")
        return redirect("core:dashboard")
    clinic_id = form.cleaned_data["clinic_id"]
    if not any(m.clinic_id == clinic_id for m in request.memberships):
        raise Http404("No such clinic.")
    request.session[SESSION_CLINIC_KEY] = clinic_id
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    # Stay on list-type pages only: an object page of the old clinic would now be 404.
    return redirect(target or "core:dashboard")


def _add_errors(form: forms.Form, exc: services.AccountFormError) -> None:
    """A service's refusal on the form's fields."""
    for field, problems in exc.errors.items():
        for problem in problems:
            form.add_error(field, problem)


@require_permission("clinic.manage")
@require_http_methods(["GET", "POST"])
def clinic_time_zone(request: ClinicRequest) -> HttpResponse:
    clinic = request.clinic
    form = ClinicTimeZoneForm(request.POST or None, current=clinic.time_zone)
    form.track_opened_values()  # a page opened before someone else's change is refused
    if request.method == "POST" and form.is_valid() and not form.refuse_conflicts():
        try:
            services.set_time_zone(request.user, clinic, form.cleaned_data["time_zone"])
        except services.AccountFormError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Time zone saved: {zone_of(clinic).key}.")
            return redirect("accounts:clinic_time_zone")
    now = timezone.localtime(timezone.now(), zone_of(clinic))
    return render(
        request,
        "accounts/clinic_time_zone.html",
        {"form": form, "clinic_now": now, "zone": zone_of(clinic).key},
        status=400 if request.method == "POST" else 200,
    )


@require_permission("clinic.manage")
@require_http_methods(["GET", "POST"])
def clinic_contact(request: ClinicRequest) -> HttpResponse:
    clinic = request.clinic
    form = ClinicContactForm(request.POST or None, initial={"contact_phone": clinic.contact_phone})
    form.track_opened_values()  # a page opened before someone else's change is refused
    if request.method == "POST" and form.is_valid() and not form.refuse_conflicts():
        try:
            services.set_contact_phone(request.user, clinic, form.cleaned_data["contact_phone"])
        except services.AccountFormError as exc:
            _add_errors(form, exc)
        else:
            messages.success(
                request,
                f"Phone number saved: {clinic.contact_phone}."
                if clinic.contact_phone
                else "Phone number removed: the post-care sheets now say to ask the clinic.",
            )
            return redirect("accounts:clinic_contact")
    return render(
        request,
        "accounts/clinic_contact.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_permission("audit.view")
@require_http_methods(["GET"])
def audit_change(request: ClinicRequest, record_label: str, history_id: int) -> HttpResponse:
    """One change of the trail: each field's value before and after it."""
    try:
        opened = open_audit_change(request, record_label, history_id, channel="web")
    except AuditChangeRefused as exc:
        if exc.status == 403:
            raise PermissionDenied(str(exc)) from exc
        raise Http404(str(exc)) from exc
    return render(
        request,
        "accounts/audit_change.html",
        {"change": opened.change, "patient": opened.patient},
    )


@require_permission("api_token.manage")
def api_tokens(request: ClinicRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    raw_token = None
    if request.method == "POST" and form.is_valid():
        try:
            _, raw_token = services.create_api_token(
                request.user,
                request.clinic,
                form.cleaned_data["name"],
                form.cleaned_data["lifetime_days"],
            )
        except services.AccountError as exc:
            form.add_error(None, str(exc))
        else:
            form = ApiTokenForm()  # made: an empty form, not one to press again by mistake
    tokens = list(
        ApiToken.objects.filter(user=request.user, clinic=request.clinic).order_by("-created_at")
    )
    now = timezone.now()
    for token in tokens:  # expired, expiring (within 7 days) or valid, for the status column
        token.expiry_state = expiry_state(token.expires_at, now)  # type: ignore[attr-defined]
    return render(
        request,
        "accounts/api_tokens.html",
        {"form": form, "tokens": tokens, "raw_token": raw_token},
        status=400 if request.method == "POST" and raw_token is None else 200,
    )


@require_permission("api_token.manage")
@require_POST
def api_token_revoke(request: ClinicRequest, token_id: int) -> HttpResponse:
    try:
        services.revoke_api_token(request.user, token_id)
    except services.AccountError as exc:
        raise Http404(str(exc)) from exc
    messages.success(request, "Token revoked.")
    return redirect("accounts:api_tokens")


def _after_member_change(request: ClinicRequest) -> HttpResponse:
    """Back to the members page, unless the change took that page from the acting admin."""
    if can_manage_members(request.user, request.clinic):
        return redirect("accounts:members")
    return redirect("core:dashboard")


def can_manage_members(user: User, clinic: Clinic) -> bool:
    membership = user.membership_for(clinic)
    return membership is not None and allowed(membership.role, "clinic.manage")


@require_permission("clinic.manage")
def members(request: ClinicRequest) -> HttpResponse:
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        username, role = form.cleaned_data["username"], form.cleaned_data["role"]
        try:
            membership = services.add_member(request.user, request.clinic, username, role)
        except services.LastAdminError as exc:
            form.add_error("role", str(exc))
        except services.AccountError as exc:
            form.add_error("username", str(exc))
        else:
            name = services.display_name(membership.user)
            messages.success(request, f"{name} is now {Role(membership.role).label}.")
            return _after_member_change(request)
    status = 400 if request.method == "POST" else 200  # a valid POST redirected above
    return _members_page(request, form=form, status=status)


def _members_page(
    request: ClinicRequest,
    *,
    form: MemberForm | None = None,
    account_form: AccountForm | None = None,
    status: int = 200,
) -> HttpResponse:
    rows = list(
        Membership.objects.filter(clinic=request.clinic)
        .select_related("user")
        .order_by("user__username")
    )
    context = {
        "form": form or MemberForm(),
        "account_form": account_form or AccountForm(),
        "members": rows,
        # The reset button was shown for them and then refused (a review).
        "not_resettable": services.shared_beyond(
            request.user, request.clinic, [m.user_id for m in rows]
        ),
    }
    return render(request, "accounts/members.html", context, status=status)


def _temporary_password_page(
    request: ClinicRequest, user: User, password: str, created: bool
) -> HttpResponse:
    """The temporary password, shown once: not kept in a message (a cookie) or a cache."""
    response = render(
        request,
        "accounts/temporary_password.html",
        {"person": user, "password": password, "created": created},
    )
    response["Cache-Control"] = "no-store"
    return response


@require_permission("clinic.manage")
@require_POST
def member_create(request: ClinicRequest) -> HttpResponse:
    form = AccountForm(request.POST)
    if form.is_valid():
        cd = form.cleaned_data
        try:
            membership, password = services.create_account(
                request.user, request.clinic, username=cd["new_username"],
                first_name=cd["first_name"], last_name=cd["last_name"], email=cd["email"],
                role=cd["new_role"],
            )  # fmt: skip
        except services.AccountFormError as exc:
            names = {"username": "new_username", "role": "new_role"}
            for field, msgs in exc.errors.items():
                for msg in msgs:
                    form.add_error(names.get(field, field), msg)
        else:
            return _temporary_password_page(request, membership.user, password, created=True)
    return _members_page(request, account_form=form, status=400)


@require_permission("clinic.manage")
@require_POST
def member_reset_password(request: ClinicRequest, membership_id: int) -> HttpResponse:
    try:
        user, password = services.reset_password(request.user, request.clinic, membership_id)
    except services.MembershipNotFound as exc:
        raise Http404(str(exc)) from exc
    except services.AccountError as exc:
        messages.error(request, str(exc))
        return redirect("accounts:members")
    return _temporary_password_page(request, user, password, created=False)


@require_permission("clinic.manage")
@require_POST
def member_set_active(request: ClinicRequest, membership_id: int, active: bool) -> HttpResponse:
    try:
        membership = services.set_member_active(request.user, request.clinic, membership_id, active)
    except services.MembershipNotFound as exc:
        raise Http404(str(exc)) from exc
    except services.AccountError as exc:
        messages.error(request, str(exc))
        return redirect("accounts:members")
    name = services.display_name(membership.user)
    messages.success(request, f"{name} is {'active again' if active else 'deactivated'}.")
    return _after_member_change(request)


AUDIT_PAGE = 50
AUDIT_EXPORT_CHUNK = 500


@require_permission("audit.view")
@require_http_methods(["GET"])
def audit_trail(request: ClinicRequest) -> HttpResponse:
    """Every change to the clinic's records, newest first, 50 to a page."""
    query = audit_query(request.clinic, request.GET)
    entries = query.entries(AUDIT_PAGE) if query.valid else []
    if query.patient is not None:
        # One patient's changes, with their reasons, are a reading of that patient's record.
        log_request_access(request, query.patient)
    older = None
    if len(entries) == AUDIT_PAGE:
        params = request.GET.copy()
        params["before"] = selectors.format_cursor(entries[-1].cursor)
        older = params.urlencode()
    export = request.GET.copy()
    export.pop("before", None)  # the file holds every matching change, from the newest
    context = {
        "form": query.form,
        "entries": entries,
        "older": older,
        "patient": query.patient,
        "numbers": selectors.record_numbers(request.clinic, entries),
        "export_query": export.urlencode(),
    }
    return render(request, "accounts/audit.html", context, status=200 if query.valid else 400)


def _id_param(request: ClinicRequest, name: str) -> int | None:
    """A positive database id from the query string, None if absent or unreadable."""
    return database_id(request.GET.get(name, ""))


@require_permission("audit.view")
@require_http_methods(["GET"])
def access_log(request: ClinicRequest) -> HttpResponse:
    """Every read of the clinic's patient records, newest first, 50 to a page, one person's
    only if asked: what a privacy officer asks ("which records did this person open?"),
    which each record's own list could not answer."""
    user_id = _id_param(request, "user")
    reads = selectors.clinic_access_log(
        request.clinic, user_id=user_id, before=_id_param(request, "before"), limit=AUDIT_PAGE + 1
    )
    older = None
    if len(reads) > AUDIT_PAGE:
        reads = reads[:AUDIT_PAGE]
        params = request.GET.copy()
        params["before"] = str(reads[-1].pk)
        older = params.urlencode()
    context = {
        "reads": reads,
        "people": selectors.access_log_people(request.clinic),
        "user_id": user_id,
        "older": older,
        "paged": "before" in request.GET,
    }
    return render(request, "accounts/access_log.html", context)


AUDIT_CSV_COLUMNS = ["when", "made_by", "record", "record_id", "change", "reason",
                     "patient_record_number", "about_user"]  # fmt: skip


@require_permission("audit.view")
@require_http_methods(["GET"])
def audit_csv(request: ClinicRequest) -> HttpResponseBase:
    """Every change that matches the filters (not one page), newest first, as CSV: for an
    inspection or a review outside Anagen."""
    query = audit_query(request.clinic, request.GET)
    if not query.valid:
        # A file download cannot carry a form error: a plain 400 that says what is wrong.
        said = {
            name: " ".join(m for e in errors for m in e.messages)
            for name, errors in query.form.errors.as_data().items()
        }
        problems = "; ".join(t if n == "__all__" else f"{n}: {t}" for n, t in said.items())
        return HttpResponse(problems, status=400, content_type="text/plain; charset=utf-8")
    if query.patient is not None:
        log_request_access(request, query.patient)

    # In the clinic's time, as the page shows: the response streams after the middleware
    # has let go of the clinic's zone.
    zone = zone_of(request.clinic)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def flush() -> str:
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return text

        # A byte-order mark, as the other CSVs have: Excel then reads names as UTF-8.
        writer.writerow(AUDIT_CSV_COLUMNS)
        yield "\ufeff" + flush()
        while True:
            chunk = query.entries(AUDIT_EXPORT_CHUNK)
            numbers = selectors.record_numbers(request.clinic, chunk)
            for e in chunk:
                writer.writerow(
                    [
                        timezone.localtime(e.when, zone).isoformat(),
                        spreadsheet_safe(e.user),
                        e.record,
                        e.record_id,
                        e.kind,
                        spreadsheet_safe(e.reason),
                        spreadsheet_safe(numbers.get(e.patient_id or 0, "")),
                        spreadsheet_safe(e.subject),
                    ]
                )
            yield flush()
            if len(chunk) < AUDIT_EXPORT_CHUNK:
                return
            query.before = chunk[-1].cursor

    today = timezone.localdate().isoformat()
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{today}.csv"'
    return response
