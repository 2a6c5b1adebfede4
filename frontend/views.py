"""Portal pages. Thin: they compose the apps' selectors; the scope comes from the middleware."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from cameras.selectors import camera_list
from detection.models import AlertStatus
from detection.selectors import alert_list
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
