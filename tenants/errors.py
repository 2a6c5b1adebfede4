"""The project's own errors, raised by services and selectors (never DRF's exceptions).

Services do not know whether an HTTP view, a websocket consumer, a portal view or a Celery task
called them. They raise one of these; ``tenants.api.errors.exception_handler`` maps them to HTTP
answers and ``ws_error_reply`` maps them to websocket error replies, so both entry points answer
the same failure the same way.

| error          | HTTP | websocket `code` |
|----------------|------|------------------|
| InvalidInput   | 400  | 4400             |
| NotAuthenticated | 401 | 4401            |
| PaymentRequired | 402 | 4402             |
| NotAllowed     | 403  | 4403             |
| NotFound       | 404  | 4404             |
| Conflict       | 409  | 4409             |
"""

from __future__ import annotations

from typing import Any


class VadError(Exception):
    """Base of every error a service raises on purpose. ``detail`` is what the caller is told."""

    http_status = 400
    ws_code = 4400

    def __init__(self, detail: str | dict[str, list[str]]) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail

    def as_body(self) -> dict[str, Any]:
        return self.detail if isinstance(self.detail, dict) else {"detail": self.detail}


class InvalidInput(VadError):
    """Bad input; ``detail`` is a field -> messages dict where the field is known."""

    @classmethod
    def field(cls, name: str, message: str) -> InvalidInput:
        return cls({name: [message]})


class NotAuthenticated(VadError):
    http_status = 401
    ws_code = 4401


class PaymentRequired(VadError):
    """The tenant's billing plan does not cover this (camera limit, read-only after the grace period)."""

    http_status = 402
    ws_code = 4402


class NotAllowed(VadError):
    """The member's role (or the ownership rules) do not allow this action."""

    http_status = 403
    ws_code = 4403


class NotFound(VadError):
    """Absent, another tenant's, or outside the member's visible sites/cameras: all look the same."""

    http_status = 404
    ws_code = 4404


class Conflict(VadError):
    """The object is not in a state that allows the action (e.g. an alert already handled)."""

    http_status = 409
    ws_code = 4409


def ws_error_reply(err: VadError) -> dict[str, Any]:
    """The websocket form of a service error: ``{"type": "error", "code": 44xx, "detail": ...}``."""
    return {"type": "error", "code": err.ws_code, "detail": err.detail}
