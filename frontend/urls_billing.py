"""Portal pages: billing (frontend/views_billing.py). Included from frontend/urls.py."""

from django.urls import path

from frontend import views_billing

urlpatterns = [
    path("billing/", views_billing.billing_page, name="billing"),
    path("billing/checkout/", views_billing.billing_checkout, name="billing-checkout-page"),
    path("billing/portal/", views_billing.billing_portal, name="billing-portal-page"),
]
