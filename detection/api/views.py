from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from detection import selectors, services
from detection.api.serializers import AlertCloseSerializer, AlertFilterSerializer, AlertSerializer
from detection.models import Alert, ReasonCode
from tenants.api.base import ScopedReadOnlyViewSet
from tenants.api.pagination import BoundedCursorPagination
from tenants.roles import Action


class AlertCursorPagination(BoundedCursorPagination):
    ordering = ("-started_at", "-id")
    page_size = 50


@extend_schema_serializer(component_name="Alert")
class AlertOutSchema(AlertSerializer):
    """OpenAPI only: what AlertSerializer really writes for an open alert.

    ``reason_code`` is "" until the alert is closed (``read_only_fields`` drops ``allow_blank``, so
    the generated enum lacked ""); ``zone_name`` and ``handled_by`` are null without a zone or
    handler (``default=None`` is not documented as nullable).
    """

    reason_code = serializers.ChoiceField(choices=ReasonCode.choices, allow_blank=True, read_only=True)
    zone_name = serializers.CharField(read_only=True, allow_null=True)
    handled_by = serializers.CharField(read_only=True, allow_null=True)


@extend_schema(parameters=[AlertFilterSerializer])
@extend_schema_view(list=extend_schema(responses=AlertOutSchema(many=True)), retrieve=extend_schema(responses=AlertOutSchema))
class AlertViewSet(ScopedReadOnlyViewSet):
    """Alerts of the active tenant, newest first; filter by site, camera, status, time range."""

    serializer_class = AlertSerializer
    pagination_class = AlertCursorPagination
    action_permissions = {"acknowledge": Action.HANDLE_ALERTS, "dismiss": Action.HANDLE_ALERTS}

    def scoped_queryset(self) -> QuerySet[Alert]:
        filters = {}
        if self.action == "list":
            data = AlertFilterSerializer(data=self.request.query_params)
            data.is_valid(raise_exception=True)
            filters = data.validated_data
        return selectors.alert_list(membership=self.membership, **filters)

    @extend_schema(request=AlertCloseSerializer, responses=AlertOutSchema)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        return self._close(request, services.alert_acknowledge)

    @extend_schema(request=AlertCloseSerializer, responses=AlertOutSchema)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str | None = None) -> Response:
        return self._close(request, services.alert_dismiss)

    def _close(self, request: Request, service) -> Response:  # noqa: ANN001
        alert = self.get_object()  # another tenant's or an invisible site's alert: 404 before any 400
        data = AlertCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # the service checks visibility (404) and role (403) again itself, as it does for the websocket
        alert = service(member=self.membership, alert_id=alert.id, **data.validated_data)
        return Response(AlertSerializer(alert).data)
