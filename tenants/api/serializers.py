from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from compliance.jurisdictions import jurisdiction_name
from tenants.api.fields import MAX_ID_LIST, IdField
from tenants.models import DataRegion, Invitation, Membership, Role, Site, Tenant


class TenantSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "data_region", "created_at", "role"]
        read_only_fields = ["id", "created_at", "role"]

    def get_role(self, tenant: Tenant) -> str | None:
        roles: dict[int, str] = self.context.get("roles", {})
        return roles.get(tenant.id)


class TenantCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=63)
    data_region = serializers.ChoiceField(choices=DataRegion.choices, default=DataRegion.EU)

    def validate_slug(self, value: str) -> str:
        if Tenant.objects.filter(slug=value).exists():
            raise serializers.ValidationError(f"slug {value!r} is already taken")
        return value


class SiteSerializer(serializers.ModelSerializer):
    jurisdiction_name = serializers.SerializerMethodField()

    class Meta:
        model = Site
        fields = ["id", "name", "address", "timezone", "jurisdiction", "jurisdiction_name", "scene_images_allowed",
                  "locality", "created_at"]
        read_only_fields = ["id", "created_at", "jurisdiction_name"]

    def get_jurisdiction_name(self, site: Site) -> str:
        return jurisdiction_name(site.jurisdiction)

    def validate_jurisdiction(self, value: str) -> str:
        return value.strip().upper()

    def validate_name(self, value: str) -> str:
        qs = Site.objects.filter(name=value)
        if self.instance is not None:
            qs = qs.exclude(id=self.instance.id)
        if qs.exists():
            raise serializers.ValidationError(f"a site named {value!r} already exists")
        return value


class UserSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email"]


class MembershipSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(read_only=True)
    site_ids = serializers.ListField(
        child=IdField(), max_length=MAX_ID_LIST, write_only=True, required=False,
        help_text="Sites this member may see when all_sites is false (guardian object permissions).",
    )
    camera_ids = serializers.ListField(
        child=IdField(), max_length=MAX_ID_LIST, write_only=True, required=False,
        help_text="Single cameras this member may see when all_sites is false, beyond the granted sites.",
    )

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "all_sites", "site_ids", "camera_ids", "created_at"]
        read_only_fields = ["id", "user", "created_at"]


class InvitationSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "expires_at", "accepted_at"]
        read_only_fields = ["id", "created_at", "expires_at", "accepted_at"]

    def validate_email(self, value: str) -> str:
        if Invitation.objects.filter(email=value.lower(), accepted_at=None).exists():
            raise serializers.ValidationError(f"{value!r} already has a pending invitation")
        return value.lower()


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64)


class ActiveTenantSerializer(serializers.Serializer):
    tenant = serializers.SlugField(help_text="slug of one of your tenants")


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    active_tenant = serializers.CharField(allow_null=True)
    memberships = serializers.ListField(child=serializers.DictField())
