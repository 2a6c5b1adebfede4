from django.urls import path

from detection.consumers import AlertWallConsumer
from detection.edge_consumer import EdgeConsumer

websocket_urlpatterns = [
    path("ws/alerts/", AlertWallConsumer.as_asgi()),
    path("ws/edge/", EdgeConsumer.as_asgi()),
]
