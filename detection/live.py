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


def alerts_push(*, tenant_id: int, payloads: list[dict[str, Any]]) -> None:
    """After commit, push many alert changes to the tenant's walls in ONE group message
    (``alerts.changed``): an edge batch of 200 events is one channel-layer send, not 200."""
    if payloads:
        group_send_on_commit(alert_group(tenant_id), {"type": "alerts.changed", "alerts": payloads})


def devices_push(*, tenant_id: int, payloads: list[dict[str, Any]]) -> None:
    """After commit, push device status changes (detection.health.device_payload dicts) to the
    tenant's walls in ONE group message (``devices.changed``), whatever their number."""
    if payloads:
        group_send_on_commit(alert_group(tenant_id), {"type": "devices.changed", "devices": payloads})


def edge_device_group(device_id: int) -> str:
    """Every open /ws/edge/ socket of one device (config pushes, commands, revocation)."""
    return f"edge.device.{device_id}"
