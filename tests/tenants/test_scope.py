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


def test_every_model_with_a_tenant_uses_the_scoped_manager():
    checked = 0
    for model in apps.get_models():
        label = model._meta.label
        has_tenant_fk = any(f.name == "tenant" and f.is_relation for f in model._meta.get_fields())
        if not has_tenant_fk:
            continue
        assert issubclass(model, TenantOwned), f"{label} has a tenant FK but does not derive from TenantOwned"
        assert isinstance(model._default_manager, ScopedManager), f"{label}'s default manager is not scoped"
        assert type(model.objects) is ScopedManager or isinstance(model.objects, ScopedManager), label
        checked += 1
    assert checked >= 8  # Site, Membership, Invitation, EdgeDevice, Camera, Zone, Shift, Alert
    for label in NOT_TENANT_DATA:
        assert not issubclass(apps.get_model(label), TenantOwned)


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
