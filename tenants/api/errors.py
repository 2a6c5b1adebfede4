"""One place that maps the services' errors (``tenants.errors``) to HTTP answers.

Services raise ``VadError`` subclasses; DRF views never translate them by hand. A missing object
(``ObjectDoesNotExist``, raised by a scoped ``.get()``) is a 404 like ``NotFound``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenants.errors import NotAuthenticated, VadError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, NotAuthenticated):
        exc = exceptions.NotAuthenticated(exc.detail)
    elif isinstance(exc, VadError):
        return Response(exc.as_body(), status=exc.http_status)
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound()
    return drf_exception_handler(exc, context)
