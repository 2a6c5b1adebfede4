"""Billing tasks: keep the Stripe subscription quantity equal to the tenant's camera count."""

from __future__ import annotations

from typing import Any

from tenants.billing.stripe_api import TRANSIENT_ERRORS
from tenants.tasking import tenant_task


@tenant_task(bind=True, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, retry_backoff_max=600, max_retries=8)
def billing_quantity_sync(self: Any, *, tenant_id: int) -> str:
    """Idempotent (absolute quantity read at run time), retried with backoff on Stripe outages."""
    from tenants.billing.services import billing_quantity_sync_run

    return billing_quantity_sync_run(tenant_id=tenant_id)
