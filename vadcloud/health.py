"""/healthz: is the database reachable and does the channel layer round-trip a message?"""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse


def _check_db() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


async def _roundtrip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "healthz.ping":
        raise RuntimeError(f"unexpected message {message!r}")


def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    started = time.monotonic()
    for name, check in (("database", _check_db), ("channel_layer", lambda: async_to_sync(_roundtrip)() or "ok")):
        try:
            checks[name] = check()
        except Exception as err:  # noqa: BLE001 - a health check reports every failure
            checks[name] = f"error: {type(err).__name__}: {err}"
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "error", "checks": checks,
            "elapsed_ms": round((time.monotonic() - started) * 1000, 1)}
    return JsonResponse(body, status=200 if healthy else 503)


def wait_until_healthy(url: str, *, server: Any, timeout_s: float) -> bool:
    """Poll ``url``/healthz until it answers 200 (True); False if ``server`` (a Popen) exits or
    ``timeout_s`` passes first. For commands that start a server process and then use it."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False
