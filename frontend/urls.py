from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tenant/switch/", views.switch_tenant, name="switch-tenant"),
    path("account/tokens/", views.account_tokens, name="account-tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.account_token_revoke, name="account-token-revoke"),
    path("invite/<str:token>/", views.invitation_page, name="invitation"),
]
