"""/billing/webhook/: Stripe's events (signed, no session, no CSRF token). Included from vadcloud/urls.py."""

from django.urls import path

from tenants.billing import views

urlpatterns = [path("billing/webhook/", views.stripe_webhook, name="billing-webhook")]
