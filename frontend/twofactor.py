"""Portal side of the tenant 2FA rule: an owner or admin of a tenant that requires a second
factor, signed in without one, is sent to /account/security/ before any other portal page."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from tenants.twofactor import second_factor_required

# Pages that stay reachable: the set-up page itself, signing out, the API (it answers 403 on its
# own), static files and the invitation link.
OPEN_PREFIXES = ("/account/security/", "/logout/", "/login/", "/api/", "/static/", "/invite/")


class RequireSecondFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = getattr(request, "membership", None)
        if (membership is not None and not request.path.startswith(OPEN_PREFIXES)
                and second_factor_required(membership=membership)
                and not getattr(request.user, "is_verified", lambda: False)()):
            return redirect(f"/account/security/?required=1&next={request.path}")
        return self.get_response(request)
