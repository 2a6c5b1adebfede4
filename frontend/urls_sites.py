"""Portal pages: sites (frontend/views_sites.py). Included from frontend/urls.py."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
