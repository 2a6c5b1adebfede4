"""ASGI entry point: HTTP through Django, websockets through Channels routing."""

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
