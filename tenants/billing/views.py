"""Billing HTTP: the owners' API (/api/v1/billing/...) and Stripe's webhook (/billing/webhook/). Thin."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.base import ScopedApiMixin
from tenants.billing import services
from tenants.errors import VadError
from tenants.roles import Action


class _OwnerApi(ScopedApiMixin, APIView):
    write_action = Action.READ  # the billing services allow owners only, with a message that says so


class PlanSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    max_cameras = serializers.IntegerField(allow_null=True, help_text="null: no limit")
    current = serializers.BooleanField()


class BillingStatusSerializer(serializers.Serializer):
    configured = serializers.BooleanField(help_text="false: STRIPE_SECRET_KEY unset, nothing billed or limited")
    detail = serializers.CharField(allow_blank=True)
    plan = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    cameras = serializers.IntegerField()
    camera_limit = serializers.IntegerField(allow_null=True, help_text="null: no limit")
    read_only = serializers.BooleanField(help_text="the grace period after a failed payment is over")
    payment_failed_at = serializers.DateTimeField(allow_null=True, required=False)
    grace_ends_at = serializers.DateTimeField(allow_null=True)
    plans = PlanSerializer(many=True)
    can_manage = serializers.BooleanField(help_text="a Stripe customer exists: the Customer Portal can open")


class RedirectUrlSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="send the owner's browser here (Stripe Checkout or Customer Portal)")


class BillingApi(_OwnerApi):
    @extend_schema(responses=BillingStatusSerializer)
    def get(self, request: Request) -> Response:
        return Response(services.billing_summary(member=self.membership))


class BillingCheckoutApi(_OwnerApi):
    class InputSerializer(serializers.Serializer):
        plan = serializers.CharField(max_length=32, help_text="starter, pro or enterprise")

        class Meta:
            ref_name = "BillingCheckoutInput"

    @extend_schema(request=InputSerializer, responses={201: RedirectUrlSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        url = services.billing_checkout_start(member=self.membership, plan=data.validated_data["plan"])
        return Response({"url": url}, status=201)


class BillingPortalApi(_OwnerApi):
    @extend_schema(request=None, responses={201: RedirectUrlSerializer})
    def post(self, request: Request) -> Response:
        return Response({"url": services.billing_portal_open(member=self.membership)}, status=201)


@csrf_exempt  # Stripe signs the body instead (verified in services.webhook_receive)
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        outcome = services.webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except VadError as err:
        return JsonResponse(err.as_body(), status=err.http_status)
    return JsonResponse({"received": True, "outcome": outcome})
