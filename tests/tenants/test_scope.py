from __future__ import annotations

import pytest
from django.apps import apps

from cameras.models import Camera
from tenants.models import Site
from tenants.scope import ScopedManager, TenantOwned, TenantScopeError, tenant_scope
from tenants.tasking import tenant_task

# Models that hold tenant data but are not TenantOwned, each with the reason.
NOT_TENANT_DATA = {
    "tenants.Tenant": "is the tenant itself; API access goes through the user's memberships",
}


def holds_tenant_data(model) -> bool:  # noqa: ANN001
    """A foreign key (whatever its name) to Tenant or to any tenant-owned model."""
    from tenants.models import Tenant

    for field in model._meta.get_fields():
        if not (field.is_relation and field.many_to_one and field.concrete):
            continue
        target = field.related_model
        if target is Tenant or (isinstance(target, type) and issubclass(target, TenantOwned)):
            return True
    return False


def test_every_model_with_tenant_data_uses_the_scoped_manager():
    checked = []
    for model in apps.get_models():
        label = model._meta.label
        if label in NOT_TENANT_DATA or not holds_tenant_data(model):
            continue
        assert issubclass(model, TenantOwned), f"{label} points at tenant data but does not derive from TenantOwned"
        assert isinstance(model._default_manager, ScopedManager), f"{label}'s default manager is not scoped"
        assert isinstance(model.objects, ScopedManager), f"{label}.objects is not scoped"
        checked.append(label)
    assert {"tenants.Site", "tenants.Membership", "tenants.Invitation", "cameras.EdgeDevice", "cameras.Camera",
            "cameras.Zone", "cameras.Shift", "detection.Alert"} <= set(checked)
    for label in NOT_TENANT_DATA:
        assert not issubclass(apps.get_model(label), TenantOwned)


def test_the_meta_test_catches_a_tenant_model_whatever_its_foreign_key_is_called():
    from django.db import models

    try:
        class Leak(models.Model):  # no TenantOwned, FK to Site under another name
            place = models.ForeignKey("tenants.Site", on_delete=models.CASCADE)

            class Meta:
                app_label = "tenants"
                managed = False

        class Fine(models.Model):
            owner = models.ForeignKey("auth.User", on_delete=models.CASCADE)

            class Meta:
                app_label = "tenants"
                managed = False

        assert holds_tenant_data(Leak) and not issubclass(Leak, TenantOwned)
        assert not holds_tenant_data(Fine)
    finally:  # leave the app registry as it was for the other tests
        for name in ("leak", "fine"):
            apps.all_models["tenants"].pop(name, None)
        apps.clear_cache()


def test_querying_outside_a_scope_raises_with_a_fix_it_message(db):  # noqa: ANN001
    with pytest.raises(TenantScopeError, match="Site queried outside tenant_scope"):
        list(Site.objects.all())


def test_scope_filters_to_the_active_tenant_and_is_restored(acme, globex):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        assert set(Camera.objects.values_list("tenant_id", flat=True)) == {acme.tenant.id}
        with tenant_scope(globex.tenant.id):
            assert set(Camera.objects.values_list("tenant_id", flat=True)) == {globex.tenant.id}
        assert set(Camera.objects.values_list("tenant_id", flat=True)) == {acme.tenant.id}
    with pytest.raises(TenantScopeError):
        Camera.objects.count()


def test_saving_another_tenants_object_inside_a_scope_is_refused(acme, globex):  # noqa: ANN001
    with tenant_scope(globex.tenant.id), pytest.raises(TenantScopeError, match="refusing to save"):
        Site(tenant=acme.tenant, name="sneaky", jurisdiction="DE").save()


@tenant_task()
def count_cameras(*, tenant_id: int) -> int:
    return Camera.objects.count()


def test_tenant_task_runs_in_the_tenants_scope_and_requires_tenant_id(acme, globex):  # noqa: ANN001
    assert count_cameras.delay(tenant_id=acme.tenant.id).get() == 2
    with pytest.raises(TypeError, match="tenant_id"):
        count_cameras.delay()


def test_api_view_may_not_override_get_queryset():
    from tenants.api.base import ScopedModelViewSet

    with pytest.raises(TypeError, match="scoped_queryset"):
        type("Leaky", (ScopedModelViewSet,), {"get_queryset": lambda self: Site.unscoped_objects.all()})
