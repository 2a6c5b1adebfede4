"""The owners' billing API under /api/v1/billing/ (the active tenant's account; owners only)."""

from django.urls import path

from tenants.billing import views

urlpatterns = [
    path("billing/", views.BillingApi.as_view(), name="billing-status"),
    path("billing/checkout/", views.BillingCheckoutApi.as_view(), name="billing-checkout"),
    path("billing/portal/", views.BillingPortalApi.as_view(), name="billing-portal"),
]
