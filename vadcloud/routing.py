"""Websocket routes of every app, in two lists (the BOLA test walks them).

``websocket_urlpatterns``: browser sockets (session auth, Origin checked).
``edge_websocket_urlpatterns``: device sockets (signed challenge; no cookies, no Origin).
"""

from detection.routing import edge_websocket_urlpatterns as detection_edge_ws
from detection.routing import websocket_urlpatterns as detection_ws

websocket_urlpatterns = [*detection_ws]
edge_websocket_urlpatterns = [*detection_edge_ws]
EDGE_PREFIXES = tuple("/" + str(p.pattern) for p in edge_websocket_urlpatterns)
