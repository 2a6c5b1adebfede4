"""Portal pages: alerts (frontend/views_alerts.py). Included from frontend/urls.py."""

from django.urls import path

from frontend import views_alerts

urlpatterns: list = [
    path("alerts/", views_alerts.alert_wall, name="alert-wall"),
    path("alerts/<int:alert_id>/", views_alerts.alert_detail, name="alert-detail"),
    path("alerts/<int:alert_id>/acknowledge/", views_alerts.alert_close, {"verb": "acknowledge"},
         name="alert-acknowledge-page"),
    path("alerts/<int:alert_id>/dismiss/", views_alerts.alert_close, {"verb": "dismiss"}, name="alert-dismiss-page"),
]
