"""Portal pages: KPIs, members and roles, account security (frontend/views_kpis.py).
Included from frontend/urls.py."""

from django.urls import path

from frontend import views_kpis as views

urlpatterns: list = [
    path("kpis/", views.kpis_page, name="kpis"),
    path("members/", views.members_page, name="members"),
    path("members/invite/", views.member_invite, name="member-invite"),
    path("members/security/", views.tenant_security, name="tenant-security"),
    path("members/<int:membership_id>/update/", views.member_update, name="member-update"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path("members/invitations/<int:invitation_id>/withdraw/", views.invitation_withdraw, name="invitation-withdraw"),
    path("account/security/", views.account_security, name="account-security"),
]
