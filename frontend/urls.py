from django.contrib.auth import views as auth_views
from django.urls import include, path

from frontend import views, views_kpis

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views_kpis.login_page, name="login"),  # password, then the TOTP code if the user has one
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tenant/switch/", views.switch_tenant, name="switch-tenant"),
    path("account/tokens/", views.account_tokens, name="account-tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.account_token_revoke, name="account-token-revoke"),
    path("invite/<str:token>/", views.invitation_page, name="invitation"),
    # one module per area of the portal, so each can grow on its own
    path("", include("frontend.urls_alerts")),    # /alerts/, /alerts/<id>/
    path("", include("frontend.urls_cameras")),   # /cameras/, /cameras/<id>/, zone editor, /devices/
    path("", include("frontend.urls_sites")),     # /sites/, /compliance/...
    path("", include("frontend.urls_kpis")),      # /kpis/, /members/, account security
    path("", include("frontend.urls_billing")),   # /billing/
]
