"""``/api/v1/model-artifacts/``: the model bundle registry (``detection.artifacts`` does the work).

- ``POST`` multipart ``file`` (the bundle ``.tar.gz``), ``name``, optional ``version`` and
  ``cameras`` (ids, repeated): owner/admin; 201. A bad bundle is a 400 naming the problem; a
  body over ``MODEL_BUNDLE_MAX_BYTES`` is a 413 before it is read.
- ``GET`` list / detail: every member. ``cameras`` lists the assigned cameras the member sees.
- ``PATCH {"cameras": [ids]}``: the cameras that run the bundle; owner/admin.
- ``DELETE``: owner/admin; the file goes from storage, its cameras lose the bundle.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from detection import artifacts
from detection.models import ModelArtifact
from tenants.api.base import ScopedApiMixin

MULTIPART_OVERHEAD = 64 * 1024  # form fields and part headers around the file


class ModelArtifactSerializer(serializers.ModelSerializer):
    cameras = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    models = serializers.SerializerMethodField()

    class Meta:
        model = ModelArtifact
        fields = ["id", "name", "version", "sha256", "size", "capabilities", "models", "cameras", "created_by",
                  "created_at"]
        read_only_fields = fields

    def get_cameras(self, obj: ModelArtifact) -> list[int]:
        return [a.camera_id for a in getattr(obj, "visible_assignments", [])]

    def get_created_by(self, obj: ModelArtifact) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None

    def get_models(self, obj: ModelArtifact) -> list[dict[str, Any]]:
        return [{"name": m.get("name"), "type": m.get("type"), "version": m.get("version"),
                 "capabilities": m.get("capabilities", [])} for m in (obj.manifest or {}).get("models", [])]


class UploadSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]*$", max_length=100, error_messages={
        "invalid": "name may hold letters, digits and _ . : + - (starting with a letter or digit)"})
    version = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]*$", max_length=100, required=False,
                                     error_messages={"invalid": "version may hold letters, digits and _ . : + -"})
    file = serializers.FileField(allow_empty_file=False)
    cameras = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False,
                                    max_length=1000)


class AssignSerializer(serializers.Serializer):
    cameras = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
                                    max_length=1000)


class ModelArtifactViewSet(ScopedApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Model bundles of the active tenant (no PUT: the file of a version never changes)."""

    serializer_class = ModelArtifactSerializer

    def scoped_queryset(self) -> Any:
        return artifacts.artifact_list(membership=self.membership)

    def _payload_too_large(self, request: Request) -> Response | None:
        declared = str(request.META.get("CONTENT_LENGTH") or "0")
        cap = artifacts.max_bundle_bytes()
        if declared.isdigit() and int(declared) > cap + MULTIPART_OVERHEAD:
            return Response({"detail": f"upload larger than {cap} bytes (MODEL_BUNDLE_MAX_BYTES)"},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return None

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: ModelArtifactSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if (refused := self._payload_too_large(request)) is not None:
            return refused
        data = UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        artifact = artifacts.artifact_create(member=self.membership, name=values["name"], file=values["file"],
                                             version=values.get("version", ""), camera_ids=values.get("cameras", []))
        return Response(self._out(artifact.id), status=status.HTTP_201_CREATED)

    @extend_schema(request=AssignSerializer, responses=ModelArtifactSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        artifact = self.get_object()  # another tenant's: 404 before any 400
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        artifacts.artifact_set_cameras(member=self.membership, artifact_id=artifact.id,
                                       camera_ids=data.validated_data["cameras"])
        return Response(self._out(artifact.id))

    def perform_destroy(self, instance: ModelArtifact) -> None:
        artifacts.artifact_delete(member=self.membership, artifact_id=instance.id)

    def _out(self, artifact_id: int) -> dict[str, Any]:
        return ModelArtifactSerializer(self.scoped_queryset().get(id=artifact_id)).data
