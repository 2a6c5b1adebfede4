"""Portal pages: billing (frontend/views_billing.py). Included from frontend/urls.py."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
