"""Error views for what Django refuses before any view runs.

Django turns an oversized body (``RequestDataTooBig``, raised when the CSRF middleware or a
form reads ``request.POST``) and other ``SuspiciousOperation``s into its ``handler400``. Its
default is an HTML page; the API answers JSON with the specific reason, and an oversized body
is a 413 on every path, as the API's own parser answers it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        status = 413
        detail = f"request body larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)"
    elif isinstance(exception, TooManyFieldsSent):
        status, detail = 400, f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} form fields"
    elif isinstance(exception, TooManyFilesSent):
        status, detail = 400, f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files"
    else:
        status, detail = 400, "bad request"
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": detail}, status=status)
    if status == 413:
        return HttpResponse(f"{detail}\n", status=413, content_type="text/plain; charset=utf-8")
    return defaults.bad_request(request, exception)
