"""Portal pages: alerts (frontend/views_alerts.py). Included from frontend/urls.py."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
