"""Session authentication for the API, with the tenant 2FA rule.

An owner or admin of a tenant that requires a second factor may use the API with their session
only once the session was signed in with a TOTP code; otherwise the call is refused with a 403
that says so. Personal API tokens are not affected (``ApiTokenAuthentication`` answers first).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from tenants.twofactor import second_factor_required_anywhere


class TwoFactorSessionAuthentication(SessionAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        verified = getattr(request._request.user, "is_verified", lambda: False)()
        if not verified and second_factor_required_anywhere(user=user):
            raise exceptions.PermissionDenied(
                "your tenant requires a second factor for owners and admins: sign in with your TOTP code "
                "(set it up at /account/security/), or use a personal API token")
        return result


class TwoFactorSessionScheme(OpenApiAuthenticationExtension):
    """Documents the session cookie in the OpenAPI schema, as drf-spectacular does for Django's."""

    target_class = "tenants.api.session_auth.TwoFactorSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME,
                "description": "portal session; owners and admins of a tenant requiring 2FA need a TOTP sign-in"}
