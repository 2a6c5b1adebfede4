from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants import selectors, services
from tenants.api.base import ScopedApiMixin, ScopedModelViewSet
from tenants.api.serializers import (
    ActiveTenantSerializer,
    InvitationAcceptSerializer,
    InvitationSerializer,
    MembershipSerializer,
    MeSerializer,
    SiteSerializer,
    TenantCreateSerializer,
    TenantSerializer,
)
from tenants.middleware import SESSION_TENANT_KEY
from tenants.models import ApiToken, Invitation, Membership, Site, Tenant
from tenants.roles import Action


class TenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """The caller's tenants. Anyone signed in may create a tenant and becomes its owner."""

    serializer_class = TenantSerializer
    permission_classes = [permissions.IsAuthenticated]
    lookup_value_regex = ScopedApiMixin.lookup_value_regex

    def get_queryset(self) -> QuerySet[Tenant]:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation
            return Tenant.objects.none()
        return selectors.tenants_of_user(user=self.request.user).order_by("name")

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if self.request.user.is_authenticated:
            context["roles"] = {
                m.tenant_id: m.role for m in selectors.memberships_of_user(user=self.request.user)
            }
        return context

    @extend_schema(request=TenantCreateSerializer, responses={201: TenantSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = TenantCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_create(owner=request.user, **data.validated_data)
        out = TenantSerializer(tenant, context=self.get_serializer_context())
        return Response(out.data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: TenantSerializer) -> None:
        member = selectors.membership_resolve(user=self.request.user, tenant_slug=serializer.instance.slug)
        serializer.instance = services.tenant_update(member=member, **serializer.validated_data)


class SiteViewSet(ScopedModelViewSet):
    serializer_class = SiteSerializer

    def scoped_queryset(self) -> QuerySet[Site]:
        return selectors.site_list(membership=self.membership)

    def perform_create(self, serializer: SiteSerializer) -> None:
        serializer.instance = services.site_create(member=self.membership, **serializer.validated_data)

    def perform_update(self, serializer: SiteSerializer) -> None:
        serializer.instance = services.site_update(member=self.membership, site_id=serializer.instance.id,
                                                   **serializer.validated_data)

    def perform_destroy(self, instance: Site) -> None:
        services.site_delete(member=self.membership, site_id=instance.id)


class MembershipViewSet(ScopedApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Members of the active tenant. New members join through invitations."""

    serializer_class = MembershipSerializer
    write_action = Action.MANAGE_MEMBERS

    def scoped_queryset(self) -> QuerySet[Membership]:
        return Membership.objects.select_related("user")

    def perform_update(self, serializer: MembershipSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.membership_update(
            actor=self.membership,
            membership_id=serializer.instance.id,
            role=data.get("role"),
            all_sites=data.get("all_sites"),
            site_ids=data.get("site_ids"),
            camera_ids=data.get("camera_ids"),
        )

    def perform_destroy(self, instance: Membership) -> None:
        services.membership_delete(actor=self.membership, membership_id=instance.id)


class InvitationViewSet(ScopedApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Invite people by email (console email backend by default)."""

    serializer_class = InvitationSerializer
    write_action = Action.MANAGE_MEMBERS
    action_permissions = {"list": Action.MANAGE_MEMBERS, "retrieve": Action.MANAGE_MEMBERS}

    def scoped_queryset(self) -> QuerySet[Invitation]:
        return Invitation.objects.all()

    def perform_create(self, serializer: InvitationSerializer) -> None:
        serializer.instance = services.invitation_create(actor=self.membership, **serializer.validated_data)

    def perform_destroy(self, instance: Invitation) -> None:
        services.invitation_delete(actor=self.membership, invitation_id=instance.id)


class InvitationAcceptApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=InvitationAcceptSerializer, responses={201: MembershipSerializer})
    def post(self, request: Request) -> Response:
        data = InvitationAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.invitation_accept(token=data.validated_data["token"], user=request.user)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


def _me_payload(request: Request, active: Membership | None) -> dict[str, Any]:
    return {
        "id": request.user.id,
        "username": request.user.get_username(),
        "active_tenant": active.tenant.slug if active else None,
        "memberships": [
            {"tenant": m.tenant.slug, "tenant_name": m.tenant.name, "role": m.role}
            for m in selectors.memberships_of_user(user=request.user)
        ],
    }


class MeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        active = selectors.membership_resolve(
            user=request.user, tenant_id=request.session.get(SESSION_TENANT_KEY)
        )
        return Response(_me_payload(request, active))


class ActiveTenantApi(APIView):
    """Switch the session's active tenant (token clients send ``X-Tenant: <slug>`` instead)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=ActiveTenantSerializer, responses=MeSerializer)
    def post(self, request: Request) -> Response:
        data = ActiveTenantSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = selectors.membership_resolve(user=request.user, tenant_slug=data.validated_data["tenant"])
        if membership is None:
            raise NotFound(f"tenant {data.validated_data['tenant']!r} not found")
        request.session[SESSION_TENANT_KEY] = membership.tenant_id
        return Response(_me_payload(request, membership))


# --- personal API tokens: /api/v1/me/tokens/ (the caller's own, whatever the tenant) -----------


class NotViaApiToken(permissions.BasePermission):
    """A token cannot mint tokens, so a leaked token cannot outlive its own expiry or revocation."""

    message = "an API token cannot create API tokens; sign in and create one at /account/tokens/ or with a session"

    def has_permission(self, request: Request, view: Any) -> bool:
        return not isinstance(request.auth, ApiToken)


class ApiTokenViewSet(viewsets.GenericViewSet):
    """The caller's personal API tokens. The secret is in the creation answer only; revoking is
    ``DELETE``. Another user's token id is a 404."""

    permission_classes = [permissions.IsAuthenticated]
    lookup_value_regex = ScopedApiMixin.lookup_value_regex

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                               help_text="omit or null: the token never expires")

    class OutputSerializer(serializers.ModelSerializer):
        expired = serializers.SerializerMethodField()

        class Meta:
            model = ApiToken
            fields = ["id", "name", "prefix", "created_at", "expires_at", "expired", "last_used_at"]

        def get_expired(self, token: ApiToken) -> bool:
            return token.expires_at is not None and token.expires_at <= self.context["now"]

    class CreatedSerializer(OutputSerializer):
        token = serializers.CharField(help_text="the secret: shown this once, send it as 'Authorization: Bearer <token>'")

        class Meta:
            model = ApiToken
            fields = ["id", "name", "prefix", "created_at", "expires_at", "expired", "last_used_at", "token"]

    def get_permissions(self) -> list[permissions.BasePermission]:
        if self.action == "create":
            return [permissions.IsAuthenticated(), NotViaApiToken()]
        return super().get_permissions()

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation
            return ApiToken.objects.none()
        return selectors.api_token_list(user=self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(responses=OutputSerializer(many=True))
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        out = self.OutputSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(out.data)

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer})
    def create(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, secret = services.api_token_create(user=request.user, **data.validated_data)
        out = self.OutputSerializer(token, context=self.get_serializer_context()).data
        return Response({**out, "token": secret}, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        if not pk.isdigit():
            raise NotFound(f"token {pk!r} is not one of your active tokens")
        services.api_token_revoke(user=request.user, token_id=int(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
