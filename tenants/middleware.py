"""Enters the tenant scope for portal (session) requests.

API views resolve the tenant again after DRF authentication (token users have no session); see
``tenants.api.base.ScopedApiMixin``. The scope is always reset in ``finally``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from tenants.scope import scope_enter, scope_exit
from tenants.selectors import membership_resolve

SESSION_TENANT_KEY = "active_tenant_id"


class TenantScopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        membership = membership_resolve(user=user, tenant_id=request.session.get(SESSION_TENANT_KEY))
        if membership is None:
            return self.get_response(request)
        request.membership = membership  # type: ignore[attr-defined]
        token = scope_enter(membership.tenant_id)
        try:
            return self.get_response(request)
        finally:
            scope_exit(token)
