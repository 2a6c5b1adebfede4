from django.urls import path
from rest_framework.routers import SimpleRouter

from compliance import audit_views

router = SimpleRouter()
router.register("audit", audit_views.AuditEntryViewSet, basename="audit-entry")

urlpatterns = [
    path("audit/export/", audit_views.AuditExportApi.as_view(), name="audit-export"),
    path("audit/public-keys/", audit_views.AuditPublicKeysApi.as_view(), name="audit-public-keys"),
    *router.urls,
]
