"""Billing test helpers: the local Stripe stub, billing switched on against it, signed deliveries."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from tests.billing.stripe_stub import StripeStub, configure, running_stub, sign


@pytest.fixture
def stub() -> Iterator[StripeStub]:
    with running_stub() as running:
        yield running


@pytest.fixture
def billing(settings, stub: StripeStub) -> SimpleNamespace:  # noqa: ANN001
    secret = "whsec_" + secrets.token_hex(16)  # generated per test; the real stripe code verifies it
    configure(settings, stub, webhook_secret=secret)
    return SimpleNamespace(stub=stub, secret=secret)


def stripe_event(event_id: str, etype: str, obj: dict[str, Any], *, created: int = 1_800_000_000) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": etype, "created": created, "livemode": False,
            "api_version": "2025-09-30.clover", "data": {"object": obj}}


def deliver(event: dict[str, Any] | bytes, secret: str, *, timestamp: int | None = None,
            signature: str | None = None) -> Any:
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    header = signature if signature is not None else sign(payload, secret, timestamp=timestamp)
    return Client().post("/billing/webhook/", data=payload, content_type="application/json",
                         HTTP_STRIPE_SIGNATURE=header)


def subscription(sub_id: str, *, tenant_id: int, status: str = "active", price: str = "price_starter",
                 customer: str = "cus_1", quantity: int = 1) -> dict[str, Any]:
    return {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
            "metadata": {"tenant_id": str(tenant_id)},
            "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item", "quantity": quantity,
                                                  "price": {"id": price, "object": "price"}}]}}


def invoice(*, sub_id: str = "sub_1", customer: str = "cus_1") -> dict[str, Any]:
    return {"id": "in_1", "object": "invoice", "customer": customer,
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub_id}}}


def account_of(world: Any) -> Any:
    from tenants.billing.models import BillingAccount
    from tenants.scope import tenant_scope

    with tenant_scope(world.tenant.id):
        return BillingAccount.objects.get()
