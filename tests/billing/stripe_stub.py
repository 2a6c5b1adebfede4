"""A local stand-in for the Stripe endpoints the billing code calls, on 127.0.0.1 (nothing leaves the host).

Answers POST /v1/checkout/sessions, POST /v1/billing_portal/sessions, GET /v1/subscriptions/<id>
and POST /v1/subscription_items/<id> with the JSON shapes stripe-python parses, keeps the
subscriptions it knows in ``subscriptions``, records every request in ``requests``, and can fail
the next N requests with a 500 (``fail_next``) to exercise retries. Also signs webhook payloads
the way Stripe does (``sign``), so tests run the real ``stripe.Webhook`` verification.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


class StripeStub:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.fail_next = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_subscription(self, sub_id: str, *, customer: str, price: str, status: str = "active",
                         quantity: int = 1, item_id: str = "si_1", tenant_id: int | None = None) -> dict[str, Any]:
        sub = {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
               "metadata": {"tenant_id": str(tenant_id)} if tenant_id else {},
               "items": {"object": "list", "data": [
                   {"id": item_id, "object": "subscription_item", "quantity": quantity,
                    "price": {"id": price, "object": "price"}}]}}
        self.subscriptions[sub_id] = sub
        return sub

    def calls(self, method: str, prefix: str) -> list[dict[str, str]]:
        return [params for m, path, params in self.requests if m == method and path.startswith(prefix)]

    # --- HTTP -------------------------------------------------------------------------------
    def _answer(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((method, path, params))
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500, {"error": {"type": "api_error", "message": "stub: temporary failure"}}
            if method == "POST" and path == "/v1/checkout/sessions":
                n = len(self.calls("POST", "/v1/checkout/sessions"))
                return 200, {"id": f"cs_test_{n}", "object": "checkout.session", "mode": params.get("mode"),
                             "url": f"https://checkout.stripe.test/c/cs_test_{n}"}
            if method == "POST" and path == "/v1/billing_portal/sessions":
                return 200, {"id": "bps_test_1", "object": "billing_portal.session", "customer": params.get("customer"),
                             "url": "https://billing.stripe.test/p/session_1"}
            if method == "GET" and path.startswith("/v1/subscriptions/"):
                sub = self.subscriptions.get(path.rsplit("/", 1)[1])
                if sub is None:
                    return 404, {"error": {"type": "invalid_request_error", "message": "No such subscription"}}
                return 200, sub
            if method == "POST" and path.startswith("/v1/subscription_items/"):
                item_id = path.rsplit("/", 1)[1]
                for sub in self.subscriptions.values():
                    for item in sub["items"]["data"]:
                        if item["id"] == item_id:
                            item["quantity"] = int(params["quantity"])
                            return 200, item
                return 404, {"error": {"type": "invalid_request_error", "message": "No such subscription item"}}
            return 404, {"error": {"type": "invalid_request_error", "message": f"stub: no route {method} {path}"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path, _, query = self.path.partition("?")
                params = dict(parse_qsl(body or query, keep_blank_values=True))
                if self.headers.get("Authorization") != "Bearer sk_test_local":
                    status, answer = 401, {"error": {"type": "invalid_request_error", "message": "bad key"}}
                else:
                    status, answer = stub._answer(method, path, params)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_stub() -> Iterator[StripeStub]:
    stub = StripeStub()
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


def configure(settings: Any, stub: StripeStub, *, webhook_secret: str) -> None:
    """Billing on, against the stub: a test key, the stub as API base, three price ids."""
    settings.STRIPE_SECRET_KEY = "sk_test_local"
    settings.STRIPE_WEBHOOK_SECRET = webhook_secret
    settings.STRIPE_API_BASE = stub.url
    settings.STRIPE_PRICE_STARTER, settings.STRIPE_PRICE_PRO = "price_starter", "price_pro"
    settings.STRIPE_PRICE_ENTERPRISE = "price_enterprise"
    settings.BILLING_GRACE_DAYS, settings.BILLING_FREE_CAMERAS = 7, 0


def sign(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value as Stripe computes it (HMAC-SHA256 of ``t.payload``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"
