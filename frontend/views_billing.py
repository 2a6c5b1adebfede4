"""Portal page /billing/ (owners): plan, status, cameras against the limit, Checkout and Customer Portal.

Thin: ``tenants.billing.services`` decides (owners only, billing configured or not); the page
shows the summary and turns the two POSTs into redirects to Stripe.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants.billing import services
from tenants.errors import NotAllowed, VadError

# The page's forms end in a redirect to Stripe; browsers apply the page's form-action to it.
STRIPE_PAGES = {"form-action": ["https://checkout.stripe.com", "https://billing.stripe.com"]}


def _member(request: HttpRequest):  # noqa: ANN202
    membership = request.membership  # type: ignore[attr-defined]
    if membership is None:
        raise Http404("you are not a member of any tenant")
    return membership


@login_required
@csp_update(STRIPE_PAGES)
def billing_page(request: HttpRequest) -> HttpResponse:
    try:
        summary = services.billing_summary(member=_member(request))
    except NotAllowed as err:
        raise PermissionDenied(str(err.detail)) from None
    return render(request, "frontend/billing/billing.html",
                  {"billing": summary, "checkout": request.GET.get("checkout", "")})


@login_required
@require_POST
def billing_checkout(request: HttpRequest) -> HttpResponse:
    return _to_stripe(request, lambda member: services.billing_checkout_start(
        member=member, plan=request.POST.get("plan", "")))


@login_required
@require_POST
def billing_portal(request: HttpRequest) -> HttpResponse:
    return _to_stripe(request, lambda member: services.billing_portal_open(member=member))


def _to_stripe(request: HttpRequest, start) -> HttpResponse:  # noqa: ANN001
    try:
        return redirect(start(_member(request)))
    except NotAllowed as err:
        raise PermissionDenied(str(err.detail)) from None
    except VadError as err:
        detail = err.detail if isinstance(err.detail, str) else "; ".join(m for ms in err.detail.values() for m in ms)
        messages.error(request, detail)
        return redirect("billing")
