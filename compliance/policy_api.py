"""HTTP API for effective policies, consents and the tenant's privacy settings (thin views).

* ``GET  /api/v1/sites/<id>/policy/`` - the site's rule sets, rules, retention ceilings, duties and
  the effective policy of each camera of the site the member sees (every role may read);
* ``GET/POST /api/v1/consents/``, ``GET /api/v1/consents/<id>/``, ``POST /api/v1/consents/<id>/withdraw/``
  (writes: ``Action.MANAGE_COMPLIANCE``);
* ``GET/PUT /api/v1/compliance/privacy-settings/`` - the tenant's own ``forbidden_capabilities``.

The camera's own policy is ``GET /api/v1/cameras/<id>/policy/`` (cameras.api.views).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from cameras.selectors import camera_list
from compliance import consents
from compliance.models import Consent, ConsentKind
from compliance.policy import ALL_CAPABILITIES, SENSITIVE_CAPABILITIES, site_policy
from tenants.api.base import ScopedApiMixin
from tenants.api.fields import ScopedPrimaryKeyRelatedField
from tenants.models import Site
from tenants.roles import Action
from tenants.selectors import site_list, visibility


class SitePolicyApi(ScopedApiMixin, APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request, pk: str) -> Response:
        site = site_list(membership=self.membership).filter(id=int(pk)).first()
        if site is None:
            raise NotFound(f"site {pk} not found")
        cameras = list(camera_list(membership=self.membership).filter(site_id=site.id).order_by("name", "id"))
        return Response(site_policy(site, cameras))

    def scoped_queryset(self) -> QuerySet[Site]:
        return site_list(membership=self.membership)


class ConsentSerializer(serializers.ModelSerializer):
    site = ScopedPrimaryKeyRelatedField(model=Site, restrict="limit_sites")
    capability = serializers.ChoiceField(choices=sorted(SENSITIVE_CAPABILITIES))
    kind = serializers.ChoiceField(choices=ConsentKind.choices)
    active = serializers.SerializerMethodField()

    class Meta:
        model = Consent
        fields = ["id", "site", "purpose", "capability", "kind", "document_sha256", "signer", "signed_at",
                  "expires_at", "withdrawn_at", "withdrawal_reason", "created_at", "active"]
        read_only_fields = ["id", "withdrawn_at", "withdrawal_reason", "created_at", "active"]

    def get_active(self, consent: Consent) -> bool:
        from django.utils import timezone

        now = timezone.now()
        return (consent.withdrawn_at is None and consent.signed_at <= now
                and (consent.expires_at is None or consent.expires_at > now))


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ConsentViewSet(ScopedApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     viewsets.GenericViewSet):
    serializer_class = ConsentSerializer
    write_action = Action.MANAGE_COMPLIANCE

    def scoped_queryset(self) -> QuerySet[Consent]:
        return consents.consent_list(member=self.membership)

    def limit_sites(self, qs: QuerySet[Site]) -> QuerySet[Site]:
        return visibility(membership=self.membership).limit(qs, site_field="id")

    def perform_create(self, serializer: ConsentSerializer) -> None:
        serializer.instance = consents.consent_create(member=self.membership, **serializer.validated_data)

    @extend_schema(request=WithdrawSerializer, responses=ConsentSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        """Withdraw the consent: the capability is refused at once and the devices get a new config."""
        consent = self.get_object()
        body = WithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        consent = consents.consent_withdraw(member=self.membership, consent_id=consent.id, **body.validated_data)
        return Response(ConsentSerializer(consent, context=self.get_serializer_context()).data)


class PrivacySettingsSerializer(serializers.Serializer):
    forbidden_capabilities = serializers.ListField(
        child=serializers.ChoiceField(choices=list(ALL_CAPABILITIES)), allow_empty=True,
        help_text="capabilities the tenant forbids on top of the jurisdiction rules (it can never allow more)")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and (unknown := sorted(set(data) - {"forbidden_capabilities"})):
            raise serializers.ValidationError(
                {name: [f"unknown field {name!r}; the tenant's settings can only add forbidden_capabilities "
                        f"(a tenant can be stricter than the rules, never looser)"] for name in unknown})
        return super().to_internal_value(data)


class PrivacySettingsApi(ScopedApiMixin, APIView):
    write_action = Action.MANAGE_COMPLIANCE

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(consents.privacy_settings_get())

    @extend_schema(request=PrivacySettingsSerializer, responses={200: dict})
    def put(self, request: Request) -> Response:
        body = PrivacySettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(consents.privacy_settings_update(member=self.membership, **body.validated_data))

    def raise_if_object_missing(self) -> None:
        return None  # no object in the URL: the tenant's own settings


router = SimpleRouter()
router.register("consents", ConsentViewSet, basename="consent")

urlpatterns = [
    re_path(r"^sites/(?P<pk>[0-9]{1,19})/policy/$", SitePolicyApi.as_view(), name="site-policy"),
    path("compliance/privacy-settings/", PrivacySettingsApi.as_view(), name="privacy-settings"),
    *router.urls,
]
