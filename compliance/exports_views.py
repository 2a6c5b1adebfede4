"""API of the compliance officer's exports, retention, legal holds and erasure (thin: parse ->
service -> reply). Owner, admin and compliance officer (``Action.MANAGE_COMPLIANCE``); the DPIA
sign-off needs ``Action.SIGN_DPIA`` (compliance officer, owner). Another tenant's object is a 404.

``GET|POST /api/v1/dpias/``                 versions, newest first / generate a new version
``GET /api/v1/dpias/<id>/``                 one version: content, sign-off, ``stale`` + ``changes``
``POST /api/v1/dpias/<id>/sign/``           ``{dpo_name, dpo_opinion, review_date}``
``GET /api/v1/dpias/<id>/pdf`` and ``/json`` the document as a file
``GET /api/v1/records-of-processing/?format=csv|pdf``  Art. 30(1) + 30(2)
``GET|POST /api/v1/compliance-exports/``    export jobs (Celery, progress) / start one
``GET /api/v1/compliance-exports/<id>/`` and ``/<id>/download``
``GET|PUT|PATCH /api/v1/retention/``        the tenant's periods and the ceilings that cap them
``GET|POST /api/v1/legal-holds/``, ``GET /<id>/``, ``POST /<id>/release/``
``GET|POST /api/v1/erasure-requests/``, ``GET /<id>/``  (POST executes; 409 names a legal hold)
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.models import Camera
from compliance import dpia as dpia_services
from compliance import erasure, exports, retention
from compliance.models import Dpia, ErasureBasis, ErasureRequest, ExportJob, ExportKind, LegalHold
from tenants.api.base import ScopedApiMixin
from tenants.api.fields import IdField, ScopedPrimaryKeyRelatedField
from tenants.models import Site
from tenants.roles import Action

COMPLIANCE_ACTIONS = ("list", "retrieve", "create", "release", "pdf", "json", "download")


class _JsonForErrors(BaseContentNegotiation):
    """``?format=`` names the file format of these exports, not a DRF renderer; errors are JSON."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


def _file(out: exports.ExportFile) -> HttpResponse:
    response = HttpResponse(out.data, content_type=out.content_type)
    response["Content-Disposition"] = f'attachment; filename="{out.filename}"'
    return response


class _ComplianceViewSet(ScopedApiMixin, viewsets.GenericViewSet):
    content_negotiation_class = _JsonForErrors
    action_permissions = {name: Action.MANAGE_COMPLIANCE for name in COMPLIANCE_ACTIONS}

    def limit_cameras(self, qs: QuerySet) -> QuerySet:
        from cameras.selectors import camera_list

        return qs & camera_list(membership=self.membership)

    def limit_sites(self, qs: QuerySet) -> QuerySet:
        from tenants.selectors import site_list

        return qs & site_list(membership=self.membership)


# --- DPIA ----------------------------------------------------------------------------------------
class DpiaSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    status = serializers.SerializerMethodField()
    stale = serializers.SerializerMethodField()

    class Meta:
        model = Dpia
        fields = ["id", "version", "status", "stale", "created_at", "created_by", "config_fingerprint",
                  "signed_by_name", "signed_at", "dpo_opinion", "review_date"]
        read_only_fields = fields

    def get_status(self, dpia: Dpia) -> str:
        return "signed" if dpia.signed_at else "draft"

    def get_stale(self, dpia: Dpia) -> bool:
        return self.context["live_fingerprint"] != dpia.config_fingerprint


class DpiaDetailSerializer(DpiaSerializer):
    changes = serializers.SerializerMethodField()
    content = serializers.SerializerMethodField()

    class Meta(DpiaSerializer.Meta):
        fields = [*DpiaSerializer.Meta.fields, "changes", "content"]
        read_only_fields = fields

    def get_changes(self, dpia: Dpia) -> list[dict[str, Any]]:
        live = self.context["live_snapshot"]
        return dpia_services.snapshot_diff(dpia.config_snapshot, live) if self.get_stale(dpia) else []

    def get_content(self, dpia: Dpia) -> dict[str, Any]:
        return dpia_services.dpia_document(dpia)


class DpiaSignSerializer(serializers.Serializer):
    dpo_name = serializers.CharField(max_length=200)
    dpo_opinion = serializers.CharField(max_length=10000)
    review_date = serializers.DateField()


class DpiaViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ComplianceViewSet):
    serializer_class = DpiaSerializer
    action_permissions = {**_ComplianceViewSet.action_permissions, "sign": Action.SIGN_DPIA}

    def scoped_queryset(self) -> QuerySet[Dpia]:
        return Dpia.objects.select_related("created_by").order_by("-version")

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return DpiaDetailSerializer if self.action in ("retrieve", "create", "sign") else DpiaSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if (self.membership is not None and not getattr(self, "swagger_fake_view", False)
                and self.action in ("list", "retrieve", "sign")):
            live = dpia_services.config_snapshot(tenant_id=self.membership.tenant_id)
            context.update(live_snapshot=live, live_fingerprint=dpia_services.fingerprint(live))
        return context

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        dpia_services.dpia_list(member=self.membership)  # the role check of the selector
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={201: DpiaDetailSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        dpia = dpia_services.dpia_create(member=self.membership)
        fresh = {"live_snapshot": dpia.config_snapshot, "live_fingerprint": dpia.config_fingerprint}  # just taken
        out = DpiaDetailSerializer(dpia, context={**self.get_serializer_context(), **fresh})
        return Response(out.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DpiaSignSerializer, responses=DpiaDetailSerializer)
    @action(detail=True, methods=["post"])
    def sign(self, request: Request, pk: str | None = None) -> Response:
        dpia = self.get_object()
        data = DpiaSignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dpia = dpia_services.dpia_sign(member=self.membership, dpia_id=dpia.pk, **data.validated_data)
        return Response(self.get_serializer(dpia).data)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def pdf(self, request: Request, pk: str | None = None) -> HttpResponse:
        return _file(exports.dpia_export(member=self.membership, dpia_id=self.get_object().pk, fmt="pdf"))

    @extend_schema(responses={(200, "application/json"): OpenApiTypes.OBJECT})
    def json(self, request: Request, pk: str | None = None) -> HttpResponse:
        return _file(exports.dpia_export(member=self.membership, dpia_id=self.get_object().pk, fmt="json"))


# --- record of processing ------------------------------------------------------------------------
class RecordsOfProcessingApi(ScopedApiMixin, APIView):
    content_negotiation_class = _JsonForErrors

    @extend_schema(parameters=[OpenApiParameter("format", str, enum=["csv", "pdf"], description="default csv")],
                   responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request: Request) -> HttpResponse:
        fmt = request.query_params.get("format", "csv")
        return _file(exports.records_export(member=self.membership, fmt=fmt))


# --- export jobs ---------------------------------------------------------------------------------
class ExportJobSerializer(serializers.ModelSerializer):
    dpia = ScopedPrimaryKeyRelatedField(model=Dpia, required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=ExportKind.choices)

    class Meta:
        model = ExportJob
        fields = ["id", "kind", "dpia", "status", "progress", "error", "sha256", "created_at", "finished_at"]
        read_only_fields = ["id", "status", "progress", "error", "sha256", "created_at", "finished_at"]


class ExportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ComplianceViewSet):
    serializer_class = ExportJobSerializer

    def scoped_queryset(self) -> QuerySet[ExportJob]:
        return ExportJob.objects.order_by("-created_at", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        exports.export_job_list(member=self.membership)
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={202: ExportJobSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        dpia = data.validated_data.get("dpia")
        job = exports.export_job_create(member=self.membership, kind=data.validated_data["kind"],
                                        dpia_id=dpia.pk if dpia else None)
        job.refresh_from_db()  # with eager Celery the task ran when the job's transaction committed
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/pdf"): OpenApiTypes.BINARY,
                              (200, "application/json"): OpenApiTypes.OBJECT})
    def download(self, request: Request, pk: str | None = None) -> HttpResponse:
        return _file(exports.export_job_file(member=self.membership, job_id=self.get_object().pk))


# --- retention -----------------------------------------------------------------------------------
class RetentionSerializer(serializers.Serializer):
    alert_metadata_days = serializers.IntegerField(min_value=0, max_value=36500, required=False)
    scene_image_days = serializers.IntegerField(min_value=0, max_value=36500, required=False)
    biometric_template_days = serializers.IntegerField(min_value=0, max_value=36500, required=False)


class RetentionApi(ScopedApiMixin, APIView):
    write_action = Action.MANAGE_COMPLIANCE

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        from tenants.roles import require

        require(self.membership, Action.MANAGE_COMPLIANCE)
        return Response(retention.retention_effective(tenant_id=self.membership.tenant_id))

    @extend_schema(request=RetentionSerializer, responses=OpenApiTypes.OBJECT)
    def put(self, request: Request) -> Response:
        data = RetentionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(retention.retention_update(member=self.membership, **data.validated_data))

    patch = put


# --- legal holds ---------------------------------------------------------------------------------
class LegalHoldSerializer(serializers.ModelSerializer):
    camera = ScopedPrimaryKeyRelatedField(model=Camera, restrict="limit_cameras", required=False, allow_null=True)
    site = ScopedPrimaryKeyRelatedField(model=Site, restrict="limit_sites", required=False, allow_null=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = LegalHold
        fields = ["id", "camera", "site", "reason", "starts_at", "ends_at", "active", "created_at", "released_at"]
        read_only_fields = ["id", "active", "created_at", "released_at"]

    def get_active(self, hold: LegalHold) -> bool:
        return hold.released_at is None


class LegalHoldViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ComplianceViewSet):
    serializer_class = LegalHoldSerializer

    def scoped_queryset(self) -> QuerySet[LegalHold]:
        return LegalHold.objects.order_by("-created_at", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        retention.legal_hold_list(member=self.membership)
        return super().list(request, *args, **kwargs)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        hold = retention.legal_hold_create(member=self.membership, **data.validated_data)
        return Response(self.get_serializer(hold).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str | None = None) -> Response:
        hold = retention.legal_hold_release(member=self.membership, hold_id=self.get_object().pk)
        return Response(self.get_serializer(hold).data)


# --- erasure -------------------------------------------------------------------------------------
class ErasureRequestSerializer(serializers.ModelSerializer):
    camera = IdField(source="camera_id", help_text="the camera whose alerts are erased")
    basis = serializers.ChoiceField(choices=ErasureBasis.choices)

    class Meta:
        model = ErasureRequest
        fields = ["id", "camera", "camera_name", "starts_at", "ends_at", "basis", "reason", "created_at",
                  "executed_at", "deleted_count", "deleted_ids_sha256"]
        read_only_fields = ["id", "camera_name", "created_at", "executed_at", "deleted_count", "deleted_ids_sha256"]


class ErasureRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ComplianceViewSet):
    serializer_class = ErasureRequestSerializer

    def scoped_queryset(self) -> QuerySet[ErasureRequest]:
        return ErasureRequest.objects.order_by("-created_at", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        erasure.erasure_list(member=self.membership)
        return super().list(request, *args, **kwargs)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        done = erasure.erasure_execute(member=self.membership, camera_id=fields.pop("camera_id"), **fields)
        return Response(self.get_serializer(done).data, status=status.HTTP_201_CREATED)
