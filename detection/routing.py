from django.urls import path

from detection.consumers import AlertWallConsumer

websocket_urlpatterns = [
    path("ws/alerts/", AlertWallConsumer.as_asgi()),
]
