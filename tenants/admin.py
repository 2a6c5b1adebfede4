"""Platform-operator admin. Superusers see every tenant: this is a platform surface, so it reads
through ``unscoped_objects`` explicitly."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from tenants.models import Invitation, Membership, Site, Tenant


class PlatformAdmin(admin.ModelAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.model.unscoped_objects.all()  # type: ignore[attr-defined]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)


admin.site.register(Tenant, admin.ModelAdmin)
for model in (Site, Membership, Invitation):
    admin.site.register(model, PlatformAdmin)
