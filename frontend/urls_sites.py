"""Portal pages: sites and compliance (frontend/views_sites.py). Included from frontend/urls.py."""

from django.urls import path

from frontend import views_sites as v

urlpatterns: list = [
    path("sites/", v.sites, name="portal-sites"),
    path("sites/<int:site_id>/", v.site_detail, name="portal-site-detail"),
    path("compliance/", v.overview, name="portal-compliance"),
    path("compliance/consents/", v.consent_page, name="portal-consents"),
    path("compliance/consents/<int:consent_id>/withdraw/", v.consent_withdraw, name="portal-consent-withdraw"),
    path("compliance/retention/", v.retention_page, name="portal-retention"),
    path("compliance/legal-holds/<int:hold_id>/release/", v.hold_release, name="portal-hold-release"),
    path("compliance/dpia/", v.dpia_page, name="portal-dpia"),
    path("compliance/dpia/<int:dpia_id>/", v.dpia_detail, name="portal-dpia-detail"),
    path("compliance/dpia/<int:dpia_id>/pdf/", v.dpia_download, {"fmt": "pdf"}, name="portal-dpia-pdf"),
    path("compliance/dpia/<int:dpia_id>/json/", v.dpia_download, {"fmt": "json"}, name="portal-dpia-json"),
    path("compliance/records/", v.records_page, name="portal-records"),
    path("compliance/records/csv/", v.records_download, {"fmt": "csv"}, name="portal-records-csv"),
    path("compliance/records/pdf/", v.records_download, {"fmt": "pdf"}, name="portal-records-pdf"),
    path("compliance/audit/", v.audit_page, name="portal-audit"),
    path("compliance/audit/export/", v.audit_export_page, name="portal-audit-export"),
    path("compliance/erasure/", v.erasure_page, name="portal-erasure"),
    path("compliance/erasure/<int:request_id>/", v.erasure_detail, name="portal-erasure-detail"),
]
