"""Billing HTTP: the owners' API (/api/v1/billing/...) and Stripe's webhook (/billing/webhook/). Thin."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
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


class BillingApi(_OwnerApi):
    def get(self, request: Request) -> Response:
        return Response(services.billing_summary(member=self.membership))


class BillingCheckoutApi(_OwnerApi):
    class InputSerializer(serializers.Serializer):
        plan = serializers.CharField(max_length=32)

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        url = services.billing_checkout_start(member=self.membership, plan=data.validated_data["plan"])
        return Response({"url": url}, status=201)


class BillingPortalApi(_OwnerApi):
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
