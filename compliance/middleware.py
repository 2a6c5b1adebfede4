"""``AuditIpMiddleware``: audit entries recorded while handling a request carry its client IP.

The IP is ``REMOTE_ADDR`` (behind a proxy: the proxy's, the same source django-axes uses).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from compliance.audit import audit_ip


class AuditIpMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit_ip(request.META.get("REMOTE_ADDR")):
            return self.get_response(request)
