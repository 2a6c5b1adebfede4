"""Live push of alert changes to the tenant's alert walls (a leaf module: services and consumers
both import it; it imports neither).

One group per tenant; each consumer filters what it forwards by the member's current visibility
at send time, so a site restriction applies to pushes as well as to reads.
"""

from __future__ import annotations

from typing import Any

from tenants.live import group_send_on_commit


def alert_group(tenant_id: int) -> str:
    return f"alerts.tenant.{tenant_id}"


def alert_push(*, tenant_id: int, payload: dict[str, Any]) -> None:
    """After commit, push ``payload`` (an AlertSerializer dict) to the tenant's alert walls."""
    group_send_on_commit(alert_group(tenant_id), {"type": "alert.changed", "alert": payload})
