"""The base every tenant API view derives from: scope after authentication, fail closed.

- ``initial()`` resolves the caller's membership (``X-Tenant: <slug>`` header, else the session's
  active tenant, else the first one) and enters its scope; ``dispatch()`` resets it in ``finally``.
- Subclasses may not override ``get_queryset``/``get_object``; they implement
  ``scoped_queryset()``, which only ever sees the scoped managers. Another tenant's object is
  therefore simply absent: 404.
- Writes are allowed by role (``write_action``) and per action (``action_permissions``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import permissions, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from tenants.middleware import SESSION_TENANT_KEY
from tenants.models import Membership
from tenants.roles import Action, role_allows
from tenants.scope import require_tenant_id, scope_enter, scope_exit
from tenants.selectors import membership_resolve

TENANT_HEADER = "HTTP_X_TENANT"


class IsTenantMember(permissions.BasePermission):
    message = "you are not a member of any tenant; accept an invitation or create a tenant first"

    def has_permission(self, request: Request, view: Any) -> bool:
        return getattr(view, "membership", None) is not None


class RoleAllows(permissions.BasePermission):
    message = "your role does not allow this action"

    def has_permission(self, request: Request, view: Any) -> bool:
        membership: Membership = view.membership
        if role_allows(membership.role, view.required_action(request)):
            return True
        view.raise_if_object_missing()  # another tenant's object stays a 404, never a 403
        return False


class ScopedApiMixin:
    membership: Membership | None = None
    write_action: ClassVar[Action] = Action.MANAGE_SITES
    action_permissions: ClassVar[dict[str, Action]] = {}
    permission_classes = [permissions.IsAuthenticated, IsTenantMember, RoleAllows]

    # Object ids in URLs are ASCII digits only: int() would also take '١' or '0_1' (the same row
    # under another spelling); anything else does not match the route (404).
    lookup_value_regex = "[0-9]{1,19}"
    _forbidden_overrides = ("get_queryset", "get_object")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls._forbidden_overrides:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {name}(); implement scoped_queryset() instead so the "
                    f"tenant filter cannot be forgotten"
                )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.perform_authentication(request)  # type: ignore[attr-defined]
        slug = request.META.get(TENANT_HEADER)
        self.membership = membership_resolve(
            user=request.user, tenant_slug=slug, tenant_id=request.session.get(SESSION_TENANT_KEY)
        )
        if slug and self.membership is None and request.user.is_authenticated:
            raise NotFound(f"tenant {slug!r} not found")
        if self.membership is not None:
            self._scope_token = scope_enter(self.membership.tenant_id)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self._scope_token = None
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        finally:
            if self._scope_token is not None:
                scope_exit(self._scope_token)
                self._scope_token = None

    def required_action(self, request: Request) -> Action:
        action = getattr(self, "action", None)
        if action in self.action_permissions:
            return self.action_permissions[action]
        if request.method in permissions.SAFE_METHODS:
            return Action.READ
        return self.write_action

    def raise_if_object_missing(self) -> None:
        lookup = self.kwargs.get(getattr(self, "lookup_url_kwarg", None) or "pk")  # type: ignore[attr-defined]
        if lookup is None:
            return
        try:
            exists = self.get_queryset().filter(pk=lookup).exists()
        except (TypeError, ValueError):
            exists = False
        if not exists:
            raise NotFound()

    def scoped_queryset(self) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no request, no tenant
            return self.get_serializer_class().Meta.model.unscoped_objects.none()
        require_tenant_id()
        return self.scoped_queryset()

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()  # type: ignore[misc]
        context["membership"] = self.membership
        return context

    # Writes go through a service that takes the acting membership and checks role and
    # visibility itself (the websocket, portal and tasks call the same functions). A writable
    # view that forgets to call one fails loudly instead of saving unchecked.
    def perform_create(self, serializer: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__}.perform_create must call a service")

    def perform_update(self, serializer: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__}.perform_update must call a service")

    def perform_destroy(self, instance: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__}.perform_destroy must call a service")


class ScopedModelViewSet(ScopedApiMixin, viewsets.ModelViewSet):
    """CRUD over one tenant-owned model."""


class ScopedReadOnlyViewSet(ScopedApiMixin, viewsets.ReadOnlyModelViewSet):
    pass
