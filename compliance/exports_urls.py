from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from compliance import exports_views as views

router = SimpleRouter()
router.register("dpias", views.DpiaViewSet, basename="dpia")
router.register("compliance-exports", views.ExportJobViewSet, basename="export-job")
router.register("legal-holds", views.LegalHoldViewSet, basename="legal-hold")
router.register("erasure-requests", views.ErasureRequestViewSet, basename="erasure-request")

PK = r"(?P<pk>[0-9]{1,19})"

urlpatterns = [
    re_path(rf"^dpias/{PK}/pdf$", views.DpiaViewSet.as_view({"get": "pdf"}), name="dpia-pdf"),
    re_path(rf"^dpias/{PK}/json$", views.DpiaViewSet.as_view({"get": "json"}), name="dpia-json"),
    re_path(rf"^compliance-exports/{PK}/download$", views.ExportJobViewSet.as_view({"get": "download"}),
            name="export-job-download"),
    path("records-of-processing/", views.RecordsOfProcessingApi.as_view(), name="records-of-processing"),
    path("retention/", views.RetentionApi.as_view(), name="retention"),
    *router.urls,
]
