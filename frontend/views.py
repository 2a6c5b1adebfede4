"""Portal pages. Thin: they compose the apps' selectors; the scope comes from the middleware."""

from __future__ import annotations

from datetime import timedelta
from math import ceil

from axes.helpers import get_client_username
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from cameras.selectors import camera_list
from detection.models import AlertStatus
from detection.selectors import alert_list
from tenants import selectors, services
from tenants.errors import InvalidInput, NotFound, VadError
from tenants.middleware import SESSION_TENANT_KEY
from tenants.selectors import account_exists_for_email, membership_resolve, memberships_of_user, site_list
from tenants.services import invitation_accept, invitation_accept_as_new_user, invitation_for_token


@login_required
def home(request: HttpRequest) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    context: dict[str, object] = {"memberships": memberships_of_user(user=request.user), "membership": membership}
    if membership is not None:
        context.update(
            sites=site_list(membership=membership),
            cameras=camera_list(membership=membership),
            alerts=alert_list(membership=membership)[:20],
            open_alerts=alert_list(membership=membership, status=AlertStatus.OPEN).count(),
        )
    return render(request, "frontend/home.html", context)


@login_required
@require_POST
def switch_tenant(request: HttpRequest) -> HttpResponse:
    membership = membership_resolve(user=request.user, tenant_slug=request.POST.get("tenant", ""))
    if membership is None:
        raise Http404("tenant not found")
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    return redirect("home")


@sensitive_post_parameters("password", "password2")
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the invitation email: an existing user accepts, a new user sets a password.

    The services decide everything (open? right email?); the page only picks the form to show.
    """
    try:
        invitation = invitation_for_token(token=token)
    except NotFound as err:
        return render(request, "frontend/invitation.html", {"error": err.detail}, status=404)
    context: dict[str, object] = {"invitation": invitation, "mode": "join"}
    if request.user.is_authenticated:
        matches = (request.user.email or "").lower() == invitation.email.lower()
        context["mode"] = "accept" if matches else "wrong_user"
    elif account_exists_for_email(email=invitation.email):
        context["mode"] = "sign_in"
    if request.method != "POST":
        return render(request, "frontend/invitation.html", context, status=403 if context["mode"] == "wrong_user" else 200)
    action = request.POST.get("action")
    try:
        if action == "accept" and request.user.is_authenticated:
            membership = invitation_accept(token=token, user=request.user)
        elif action == "join" and not request.user.is_authenticated:
            if request.POST.get("password", "") != request.POST.get("password2", ""):
                raise InvalidInput.field("password2", "the two passwords differ")
            membership = invitation_accept_as_new_user(
                token=token, username=request.POST.get("username", ""), password=request.POST.get("password", ""))
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        else:
            raise InvalidInput.field("action", f"unexpected action {action!r} for this page")
    except VadError as err:
        context.update(form_errors=err.as_body(), username=request.POST.get("username", ""))
        return render(request, "frontend/invitation.html", context, status=err.http_status)
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    return redirect("home")


# --- accounts: personal API tokens, failed-login lockout --------------------------------------

TOKEN_EXPIRY_CHOICES = [("30", "in 30 days"), ("90", "in 90 days"), ("365", "in a year"), ("", "never")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="where the token is used, e.g. 'ci' or 'grafana'")
    expires = forms.ChoiceField(choices=TOKEN_EXPIRY_CHOICES, required=False, initial="90")


@login_required
@never_cache  # the answer to a creation carries the secret
@require_http_methods(["GET", "POST"])
def account_tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens: list, create (the secret is on this one answer only), revoke."""
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    context: dict[str, object] = {}
    if form.is_bound and form.is_valid():
        days = form.cleaned_data["expires"]
        try:
            token, secret = services.api_token_create(
                user=request.user, name=form.cleaned_data["name"],
                expires_at=timezone.now() + timedelta(days=int(days)) if days else None)
        except InvalidInput as err:
            for field, errors in err.as_body().items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            context.update(created=token, secret=secret)
            form = ApiTokenForm()
    status = 400 if form.is_bound and form.errors else 200
    context.update(
        form=form, tokens=selectors.api_token_list(user=request.user), now=timezone.now(),
        memberships=memberships_of_user(user=request.user), membership=request.membership,  # type: ignore[attr-defined]
    )
    return render(request, "frontend/tokens.html", context, status=status)


@login_required
@require_POST
def account_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = services.api_token_revoke(user=request.user, token_id=token_id)
    except NotFound as err:
        raise Http404(err.detail) from None
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked: API calls with it now get 401.")
    return redirect("account-tokens")


def login_locked_out(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict | None = None) -> HttpResponse:
    """django-axes' answer (AXES_LOCKOUT_CALLABLE) once a (username, IP) pair is locked out, on
    /login/ and /admin/login/ alike: HTTP 429 and a page that says when to try again."""
    username = get_client_username(request, credentials) or ""
    now = timezone.now()
    retry_at = selectors.login_lockout_ends_at(
        username=username, ip_address=getattr(request, "axes_ip_address", None)) or now + settings.AXES_COOLOFF_TIME
    context = {
        "username": username,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": round(settings.AXES_COOLOFF_TIME.total_seconds() / 60),
        "retry_at": retry_at,
        "minutes_left": max(1, ceil((retry_at - now).total_seconds() / 60)),
    }
    return render(request, "frontend/locked_out.html", context, status=429)
