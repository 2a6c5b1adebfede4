"""The only module that talks to Stripe (stripe-python's ``StripeClient``).

The API base comes from ``STRIPE_API_BASE`` (tests point it at a local stub on 127.0.0.1). A
``StripeClient`` per call: it carries the key from settings, no module-global ``stripe.api_key``.
Answers come back as plain dicts (``to_dict()``). Network retries are left to the callers
(the quantity-sync task retries with backoff).
"""

from __future__ import annotations

from typing import Any

import stripe
from django.conf import settings

#: Stripe errors worth retrying later (network trouble, rate limits, Stripe's own 5xx).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


def client() -> stripe.StripeClient:
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": settings.STRIPE_API_BASE},
                               max_network_retries=0)


def checkout_session_create(*, price_id: str, quantity: int, tenant_id: int, customer_id: str,
                            success_url: str, cancel_url: str) -> Any:
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": price_id, "quantity": max(quantity, 1)}],
        "client_reference_id": str(tenant_id),
        "metadata": {"tenant_id": str(tenant_id)},
        "subscription_data": {"metadata": {"tenant_id": str(tenant_id)}},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer_id:
        params["customer"] = customer_id
    return client().v1.checkout.sessions.create(params).to_dict()


def portal_session_create(*, customer_id: str, return_url: str) -> Any:
    return client().v1.billing_portal.sessions.create({"customer": customer_id, "return_url": return_url}).to_dict()


def subscription_retrieve(subscription_id: str) -> Any:
    return client().v1.subscriptions.retrieve(subscription_id).to_dict()


def subscription_item_quantity_set(*, item_id: str, quantity: int) -> Any:
    # Absolute quantity: repeating the call (a retry, a duplicate task) changes nothing more.
    return client().v1.subscription_items.update(
        item_id, {"quantity": quantity, "proration_behavior": "create_prorations"}).to_dict()
