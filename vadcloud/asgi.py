"""ASGI entry point: HTTP through Django, websockets through Channels routing.

Garbage collection is tuned for a long-running server process (``_tune_gc``): everything loaded
at startup (Django, the apps, their modules: ~140k objects) is moved out of the collector's sight
with ``gc.freeze()``, and the generations are collected less often (``ASGI_GC_THRESHOLDS``,
default 10000,20,100 instead of Python's 700,10,10). Measured in the server with the edge ingest
at 1,200 single-event frames/s: a full collection every 2 s that stopped the event loop for
100-270 ms each time (the ack latency's tail).
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vadcloud.settings")
django_asgi_app = get_asgi_application()  # before importing consumers (app registry ready)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from vadcloud.routing import EDGE_PREFIXES, edge_websocket_urlpatterns, websocket_urlpatterns  # noqa: E402

browser_websockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
device_websockets = URLRouter(edge_websocket_urlpatterns)


async def websockets(scope, receive, send):  # noqa: ANN001, ANN201
    """Device sockets skip the browser stack (no session, no Origin check); they sign a challenge."""
    app = device_websockets if scope["path"].startswith(EDGE_PREFIXES) else browser_websockets
    return await app(scope, receive, send)


application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websockets})


def _tune_gc() -> None:
    """``ASGI_GC_THRESHOLDS`` (default "10000,20,100"; "" keeps Python's 700,10,10)."""
    spec = os.environ.get("ASGI_GC_THRESHOLDS", "10000,20,100").strip()
    if not spec:
        return
    try:
        thresholds = [int(part) for part in spec.split(",")]
    except ValueError:
        raise ValueError(f"ASGI_GC_THRESHOLDS={spec!r}: use three integers such as 10000,20,100") from None
    if len(thresholds) != 3 or min(thresholds) < 1:
        raise ValueError(f"ASGI_GC_THRESHOLDS={spec!r}: use three integers >= 1 such as 10000,20,100")
    gc.collect()
    gc.freeze()  # the startup objects live as long as the process: never scan them again
    gc.set_threshold(*thresholds)


_tune_gc()
