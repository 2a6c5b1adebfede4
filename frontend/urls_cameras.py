"""Portal pages: cameras (frontend/views_cameras.py). Included from frontend/urls.py."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
