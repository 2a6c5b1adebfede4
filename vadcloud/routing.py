"""Websocket routes of every app, in one list (the BOLA test walks it)."""

from detection.routing import websocket_urlpatterns as detection_ws

websocket_urlpatterns = [*detection_ws]
