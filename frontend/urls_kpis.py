"""Portal pages: kpis (frontend/views_kpis.py). Included from frontend/urls.py."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
