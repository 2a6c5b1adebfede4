"""Personal API tokens over HTTP: ``Authorization: Bearer <token>`` (RFC 6750).

``ApiTokenAuthentication`` is first in ``DEFAULT_AUTHENTICATION_CLASSES``: DRF takes the
``WWW-Authenticate`` challenge of the first class, so an anonymous call is answered
``401`` + ``WWW-Authenticate: Bearer realm="api"`` (SessionAuthentication has no challenge, which
made it a 403).

Only the ``Bearer`` scheme is accepted. The old ``Token <key>`` scheme (rest_framework.authtoken)
is refused with a message saying what to send instead, rather than silently ignored.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from tenants import services
from tenants.errors import NotAuthenticated
from tenants.models import ApiToken

SCHEME = "Bearer"
CHALLENGE = f'{SCHEME} realm="api"'


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        scheme = parts[0].lower()
        if scheme == b"token":
            raise exceptions.AuthenticationFailed(
                "the 'Token' scheme is no longer accepted; send 'Authorization: Bearer <token>' "
                "with a personal API token from /account/tokens/"
            )
        if scheme != SCHEME.lower().encode():
            return None  # another scheme: not ours to judge
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "invalid Authorization header: expected 'Bearer <token>' with one token and no spaces"
            )
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("invalid token: it contains non-ASCII characters") from None
        try:
            token = services.api_token_authenticate(secret=secret)
        except NotAuthenticated as err:
            raise exceptions.AuthenticationFailed(err.detail) from None
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return CHALLENGE


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents the scheme in the OpenAPI schema (the Swagger UI "Authorize" dialog)."""

    target_class = "tenants.api.auth.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "personal API token from /account/tokens/"}
