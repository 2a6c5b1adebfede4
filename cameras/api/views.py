from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cameras import scene_images, selectors, services
from cameras.api.serializers import (
    CameraSerializer,
    CameraStopSerializer,
    DeviceCommandInSerializer,
    DeviceCommandSerializer,
    DeviceSerializer,
    EnrollmentTokenOutSerializer,
    ShiftSerializer,
    ZoneSerializer,
)
from cameras.models import Camera, EdgeDevice, Shift, Zone
from tenants.api.base import ScopedModelViewSet
from tenants.models import Site
from tenants.selectors import visibility


class SiteLimitedViewSet(ScopedModelViewSet):
    """Related-field hooks so a restricted member cannot attach objects to sites they can't see."""

    def limit_sites(self, qs: QuerySet[Site]) -> QuerySet[Site]:
        return visibility(membership=self.membership).limit(qs, site_field="id")

    def limit_devices(self, qs: QuerySet[EdgeDevice]) -> QuerySet[EdgeDevice]:
        return visibility(membership=self.membership).limit(qs, site_field="site_id")

    def limit_cameras(self, qs: QuerySet[Camera]) -> QuerySet[Camera]:
        return visibility(membership=self.membership).limit(qs, site_field="site_id", camera_field="id")


class CameraViewSet(SiteLimitedViewSet):
    serializer_class = CameraSerializer

    def scoped_queryset(self) -> QuerySet[Camera]:
        return selectors.camera_list(membership=self.membership)

    def perform_create(self, serializer: CameraSerializer) -> None:
        serializer.instance = services.camera_create(member=self.membership, **serializer.validated_data)

    def perform_update(self, serializer: CameraSerializer) -> None:
        serializer.instance = services.camera_update(member=self.membership, camera_id=serializer.instance.id,
                                                     **serializer.validated_data)

    def perform_destroy(self, instance: Camera) -> None:
        services.camera_delete(member=self.membership, camera_id=instance.id)

    @extend_schema(request=None, responses={(200, "image/jpeg"): bytes})
    @action(detail=True, methods=["get"], url_path="scene-image", url_name="scene_image")
    def scene_image(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The camera's scene reference image (JPEG, faces blurred on the edge); 404 if none yet."""
        data = scene_images.camera_scene_image_read(member=self.membership, camera_id=self.get_object().id)
        return HttpResponse(data, content_type="image/jpeg", headers={"Cache-Control": "private, no-store"})

    @extend_schema(request=None, responses={202: CameraSerializer})
    @action(detail=True, methods=["post"], url_path="scene-image/request", url_name="scene_image_request")
    def scene_image_request(self, request: Request, pk: str | None = None) -> Response:
        """Ask the camera's edge device for a new scene image (409 unless the site allows them)."""
        camera = scene_images.camera_scene_image_request(member=self.membership, camera_id=self.get_object().id)
        return Response(CameraSerializer(camera, context=self.get_serializer_context()).data, status=202)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["get"])
    def policy(self, request: Request, pk: str | None = None) -> Response:
        """The camera's effective privacy policy: each capability's decision with its explanation,
        citation and source (compliance.policy)."""
        from compliance.policy import effective_policy

        return Response(effective_policy(self.get_object()).as_dict())

    @extend_schema(request=CameraStopSerializer, responses=CameraSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        """Human oversight (AI Act Art. 14): stop the camera, or with {"model": name} one model, at
        once; it leaves the signed device config."""
        camera = self.get_object()
        body = CameraStopSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        camera = services.camera_stop(member=self.membership, camera_id=camera.id, **body.validated_data)
        return Response(CameraSerializer(camera, context=self.get_serializer_context()).data)

    @extend_schema(request=CameraStopSerializer, responses=CameraSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        """Undo a stop of the camera (or of one model, {"model": name})."""
        camera = self.get_object()
        body = CameraStopSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        camera = services.camera_resume(member=self.membership, camera_id=camera.id, **body.validated_data)
        return Response(CameraSerializer(camera, context=self.get_serializer_context()).data)


class ZoneViewSet(SiteLimitedViewSet):
    serializer_class = ZoneSerializer

    def scoped_queryset(self) -> QuerySet[Zone]:
        return selectors.zone_list(membership=self.membership)

    def perform_create(self, serializer: ZoneSerializer) -> None:
        serializer.instance = services.zone_create(member=self.membership, **serializer.validated_data)

    def perform_update(self, serializer: ZoneSerializer) -> None:
        serializer.instance = services.zone_update(member=self.membership, zone_id=serializer.instance.id,
                                                   **serializer.validated_data)

    def perform_destroy(self, instance: Zone) -> None:
        services.zone_delete(member=self.membership, zone_id=instance.id)


class DeviceViewSet(SiteLimitedViewSet):
    serializer_class = DeviceSerializer

    def scoped_queryset(self) -> QuerySet[EdgeDevice]:
        return selectors.device_list(membership=self.membership)

    def perform_create(self, serializer: DeviceSerializer) -> None:
        serializer.instance = services.device_create(member=self.membership, **serializer.validated_data)

    def perform_update(self, serializer: DeviceSerializer) -> None:
        serializer.instance = services.device_update(member=self.membership, device_id=serializer.instance.id,
                                                     **serializer.validated_data)

    def perform_destroy(self, instance: EdgeDevice) -> None:
        services.device_delete(member=self.membership, device_id=instance.id)

    @extend_schema(request=None, responses={201: EnrollmentTokenOutSerializer})
    @action(detail=True, methods=["post"])
    def enrollment(self, request: Request, pk: str | None = None) -> Response:
        """A one-time enrollment token (shown once) and the install command for the box."""
        device = self.get_object()  # another tenant's device: 404
        token, secret = services.device_enrollment_token_create(member=self.membership, device_id=device.id)
        body = {"device": device.id, "token": secret, "expires_at": token.expires_at,
                "install_command": services.device_install_command(secret)}
        return Response(EnrollmentTokenOutSerializer(body).data, status=201)

    @extend_schema(request=None, responses=DeviceSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Revoke the device for good: its key no longer connects and its unused tokens end."""
        device = self.get_object()
        return Response(DeviceSerializer(services.device_revoke(member=self.membership, device_id=device.id)).data)

    @extend_schema(request=DeviceCommandInSerializer, responses={200: DeviceCommandSerializer(many=True),
                                                                 201: DeviceCommandSerializer})
    @action(detail=True, methods=["get", "post"])
    def commands(self, request: Request, pk: str | None = None) -> Response:
        """GET: the commands sent to the device, newest first. POST (admins): send one; it reaches a
        connected agent at once, an offline one when it next connects; the result lands here."""
        device = self.get_object()  # another tenant's device: 404
        if request.method == "GET":
            rows = selectors.device_command_list(membership=self.membership, device_id=device.id)[:100]
            return Response(DeviceCommandSerializer(rows, many=True).data)
        body = DeviceCommandInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        command = services.device_command_send(member=self.membership, device_id=device.id, **body.validated_data)
        return Response(DeviceCommandSerializer(command).data, status=201)


class ShiftViewSet(SiteLimitedViewSet):
    serializer_class = ShiftSerializer

    def scoped_queryset(self) -> QuerySet[Shift]:
        return selectors.shift_list(membership=self.membership)

    def perform_create(self, serializer: ShiftSerializer) -> None:
        serializer.instance = services.shift_create(member=self.membership, **serializer.validated_data)

    def perform_update(self, serializer: ShiftSerializer) -> None:
        serializer.instance = services.shift_update(member=self.membership, shift_id=serializer.instance.id,
                                                    **serializer.validated_data)

    def perform_destroy(self, instance: Shift) -> None:
        services.shift_delete(member=self.membership, shift_id=instance.id)
