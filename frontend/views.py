"""Portal pages. Thin: they compose the apps' selectors; the scope comes from the middleware."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cameras.selectors import camera_list
from detection.models import AlertStatus
from detection.selectors import alert_list
from tenants.middleware import SESSION_TENANT_KEY
from tenants.selectors import membership_resolve, memberships_of_user, site_list


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
