from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api import views

router = SimpleRouter()
router.register("tenants", views.TenantViewSet, basename="tenant")
router.register("sites", views.SiteViewSet, basename="site")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("me/tokens", views.ApiTokenViewSet, basename="api-token")  # the caller's own tokens

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="me"),
    path("me/tenant/", views.ActiveTenantApi.as_view(), name="me-tenant"),
    path("invitations/accept/", views.InvitationAcceptApi.as_view(), name="invitation-accept"),
    *router.urls,
]
