from django.urls import path

from detection.consumers import AlertWallConsumer
from detection.edge_consumer import EdgeConsumer

# Browser sockets: session cookie auth, behind the Origin check (vadcloud/asgi.py).
websocket_urlpatterns = [
    path("ws/alerts/", AlertWallConsumer.as_asgi()),
]

# Device sockets: authenticated by an Ed25519 challenge signature, no cookies, so no Origin check
# (an edge box is not a browser and sends no Origin header).
edge_websocket_urlpatterns = [
    path("ws/edge/", EdgeConsumer.as_asgi()),
]
