"""Audit log API (thin): search, one entry, the streamed signed export, the public keys.

``GET /api/v1/audit/?action=&actor=&from=&to=``  entries, newest first (cursor pages)
``GET /api/v1/audit/<id>/``                      one entry
``GET /api/v1/audit/export/?format=jsonl|csv&from=&to=``  streamed file with a signed manifest
``GET /api/v1/audit/public-keys/``                the Ed25519 keys that verify checkpoints/manifests
Owner, admin and compliance officer only (``Action.VIEW_AUDIT``, checked in the selector/service).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.audit_signing import audit_entries, audit_export, audit_public_keys
from compliance.models import AuditEntry
from tenants.api.base import ScopedApiMixin, ScopedReadOnlyViewSet
from tenants.api.pagination import BoundedCursorPagination
from tenants.roles import Action

_window_fields = {"from": serializers.DateTimeField(required=False),
                  "to": serializers.DateTimeField(required=False)}
AuditWindowSerializer = type("AuditWindowSerializer", (serializers.Serializer,), dict(_window_fields))
AuditFilterSerializer = type("AuditFilterSerializer", (serializers.Serializer,), {
    "action": serializers.CharField(required=False, max_length=100,
                                    help_text="exact action, or a prefix ending in '.' (e.g. 'auth.')"),
    "actor": serializers.CharField(required=False, max_length=200, help_text="username"),
    **{name: serializers.DateTimeField(required=False) for name in _window_fields},
})


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["id", "seq", "ts", "actor_id", "actor", "action", "target_type", "target_id", "before",
                  "after", "extra", "ip", "prev_hash", "hash"]
        read_only_fields = fields


class AuditCursorPagination(BoundedCursorPagination):
    ordering = ("-seq",)
    page_size = 50


@extend_schema_view(list=extend_schema(parameters=[AuditFilterSerializer]))
class AuditEntryViewSet(ScopedReadOnlyViewSet):
    serializer_class = AuditEntrySerializer
    pagination_class = AuditCursorPagination
    action_permissions = {"list": Action.VIEW_AUDIT, "retrieve": Action.VIEW_AUDIT}

    def scoped_queryset(self) -> QuerySet[AuditEntry]:
        filters: dict[str, Any] = {}
        if self.action == "list":
            data = AuditFilterSerializer(data=self.request.query_params)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            filters = {"action": values.get("action", ""), "actor": values.get("actor", ""),
                       "ts_from": values.get("from"), "ts_to": values.get("to")}
        return audit_entries(member=self.membership, **filters)

    def raise_if_object_missing(self) -> None:
        """A role refused here still learns nothing of another tenant's ids: 404 before 403."""
        lookup = self.kwargs.get("pk")
        if lookup is not None and not AuditEntry.objects.filter(pk=lookup).exists():  # scoped: own tenant only
            raise NotFound()


class _FirstRenderer(BaseContentNegotiation):
    """``?format=`` names the export's file format here, not a DRF renderer."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class AuditExportApi(ScopedApiMixin, APIView):
    content_negotiation_class = _FirstRenderer

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["jsonl", "csv"], description="file format (default jsonl)"),
                    AuditWindowSerializer],
        responses={(200, "application/x-ndjson"): OpenApiTypes.BINARY, (200, "text/csv"): OpenApiTypes.BINARY})
    def get(self, request: Request) -> StreamingHttpResponse:
        window = AuditWindowSerializer(data=request.query_params)
        window.is_valid(raise_exception=True)
        fmt = request.query_params.get("format", "jsonl")
        chunks = audit_export(member=self.membership, fmt=fmt, ts_from=window.validated_data.get("from"),
                              ts_to=window.validated_data.get("to"))
        if isinstance(request._request, ASGIRequest):
            chunks = _async_chunks(chunks)  # a sync iterator would be read whole into memory under ASGI
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8" if fmt == "csv"
                                         else "application/x-ndjson; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-{self.membership.tenant.slug}-{stamp}.{fmt}"'
        return response


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull the export's chunks one at a time on the sync thread (the ORM's connection)."""
    step = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    while (chunk := await step()) is not None:
        yield chunk


class AuditPublicKeysApi(APIView):
    """Public: anyone may verify an export (the keys are not secret)."""

    permission_classes: list = []
    authentication_classes: list = []

    @extend_schema(responses=inline_serializer("AuditPublicKeys", {
        "keys": serializers.DictField(child=serializers.CharField(), help_text="key id -> base64 raw Ed25519 public key")}))
    def get(self, request: Request) -> Response:
        return Response({"keys": audit_public_keys()})
