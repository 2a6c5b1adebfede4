from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from vadcloud.health import healthz

api_v1 = [
    path("", include("tenants.api.urls")),
    path("", include("cameras.api.urls")),
    path("", include("detection.api.urls")),
    path("", include("compliance.audit_urls")),  # audit log: search, export, public keys
    path("", include("compliance.policy_api")),  # effective policies, consents, privacy settings
    path("", include("compliance.exports_urls")),  # DPIA, Art. 30 record, export jobs, retention, holds, erasure
    path("", include("tenants.billing.api_urls")),  # billing: status, Checkout, Customer Portal (owners)
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Split view: the init script is a separate request (?script=), so the page needs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="frontend/swagger_ui.html"),
         name="api-docs"),
    path("admin/", admin.site.urls),
    path("edge/", include("cameras.edge_http")),  # enrollment + installer for edge boxes (no session)
    path("edge/", include("detection.edge_http")),  # model bundle downloads (device-signed)
    path("", include("tenants.billing.urls")),  # /billing/webhook/ (Stripe-signed)
    path("", include("frontend.urls")),
]

handler400 = "vadcloud.errorviews.bad_request"
