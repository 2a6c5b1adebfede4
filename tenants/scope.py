"""Tenant scoping that fails closed.

One ``ContextVar`` holds the active tenant id. It is set by ``TenantScopeMiddleware`` (portal
requests), by ``ScopedApiMixin.initial`` (API requests, after authentication), by websocket
consumers on connect and by ``@tenant_task`` (Celery). ``TenantOwned.objects`` refuses to query
without it, so a forgotten filter is an exception, never a leak. ``unscoped_objects`` is the
greppable escape hatch for migrations, platform jobs and scope resolution itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import models

_tenant_id: ContextVar[int | None] = ContextVar("vadcloud_tenant_id", default=None)


class TenantScopeError(RuntimeError):
    """A tenant-owned model was queried with no active tenant scope."""


def current_tenant_id() -> int | None:
    return _tenant_id.get()


def require_tenant_id() -> int:
    tenant_id = _tenant_id.get()
    if tenant_id is None:
        raise TenantScopeError("no active tenant scope; wrap the call in tenant_scope(tenant_id)")
    return tenant_id


@contextmanager
def tenant_scope(tenant_id: int) -> Iterator[None]:
    """Run the block with ``tenant_id`` as the active tenant; restores the previous scope."""
    if not isinstance(tenant_id, int):
        raise TypeError(f"tenant_scope() needs an int tenant id, got {tenant_id!r}")
    token = _tenant_id.set(tenant_id)
    try:
        yield
    finally:
        _tenant_id.reset(token)


class ScopedManager(models.Manager):
    """Default manager of every tenant-owned model: filters by the active tenant or raises."""

    def get_queryset(self) -> models.QuerySet:
        tenant_id = _tenant_id.get()
        if tenant_id is None:
            raise TenantScopeError(
                f"{self.model.__name__} queried outside tenant_scope(); enter a scope "
                f"(middleware, consumer connect, @tenant_task) or use "
                f"{self.model.__name__}.unscoped_objects in a platform job"
            )
        return super().get_queryset().filter(tenant_id=tenant_id)


class TenantOwned(models.Model):
    """Abstract base of every model that belongs to one tenant."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    objects = ScopedManager()
    unscoped_objects = models.Manager()  # migrations, platform_* jobs, scope resolution only

    class Meta:
        # Children that declare their own Meta keep these managers: ``objects`` is first, so it is
        # the default manager; Django's base manager (related access such as camera.site and
        # cascade deletes) stays a plain Manager.
        abstract = True

    def save(self, *args, **kwargs):  # noqa: ANN002, ANN003
        active = _tenant_id.get()
        if self.tenant_id is None and active is not None:
            self.tenant_id = active
        if active is not None and self.tenant_id != active:
            raise TenantScopeError(
                f"refusing to save {type(self).__name__} of tenant {self.tenant_id} "
                f"inside the scope of tenant {active}"
            )
        super().save(*args, **kwargs)


def scope_enter(tenant_id: int) -> object:
    """Low-level form of ``tenant_scope`` for frameworks with separate enter/exit hooks.

    Returns a token that must be passed to ``scope_exit`` in a ``finally`` block.
    """
    return _tenant_id.set(tenant_id)


def scope_exit(token: object) -> None:
    _tenant_id.reset(token)  # type: ignore[arg-type]
