"""Scene reference images: services (writes and the one read) for a camera's background image.

The image is the only one that ever leaves a site, and only where the site's
``scene_images_allowed`` is on (default off; the compliance officer sees it in the site API):

- :func:`camera_scene_image_request` (admin, ``MANAGE_SITES``): stamps the camera's
  ``scene_image_requested_at``; the signed device config carries it and the agent
  (``edge_agent.scene``) takes a face-blurred temporal median over a few minutes and uploads it.
  409 when the site does not allow it or the camera has no device.
- :func:`camera_scene_image_store` (the device, ``POST /edge/cameras/<id>/scene-image``): checks the
  camera is this device's (404 otherwise), the site allows it (403 with the reason), the size
  (at most ``MAX_SCENE_IMAGE_BYTES``) and that the bytes decode as a JPEG (400); stores it with
  Django's default storage, replacing the previous one, and clears the request.
- :func:`camera_scene_image_read` (any member who sees the camera): the JPEG bytes, 404 if none,
  409 once the site has turned the setting off again.

Requests and uploads go to the audit log (``compliance.audit``).
"""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from cameras.live import edge_config_changed
from cameras.models import Camera, EdgeDevice
from cameras.selectors import camera_list
from tenants.errors import Conflict, InvalidInput, NotAllowed, NotFound
from tenants.models import Membership
from tenants.roles import Action, require

MAX_SCENE_IMAGE_BYTES = 1024 * 1024


def _audit(**fields: object) -> None:
    from compliance.audit import audit_record

    audit_record(**fields)  # type: ignore[arg-type]


def camera_scene_image_request(*, member: Membership, camera_id: int) -> Camera:
    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        camera = camera_list(membership=member).select_for_update(of=("self",)).filter(id=camera_id).first()
        if camera is None:
            raise NotFound(f"camera {camera_id} not found")
        if not camera.site.scene_images_allowed:
            raise Conflict(f"site {camera.site.name!r} does not allow scene images; an admin can turn on "
                           f"scene_images_allowed for the site first (the compliance officer sees the setting)")
        if camera.device_id is None:
            raise Conflict(f"camera {camera.name!r} has no edge device to take the image; assign a device first")
        camera.scene_image_requested_at = timezone.now()
        camera.save(update_fields=["scene_image_requested_at"])
        _audit(tenant_id=camera.tenant_id, action="camera.scene_image_request", actor=member, target=camera)
        edge_config_changed(device_ids=[camera.device_id])  # the signed config carries the request
    return camera


def is_jpeg(data: bytes) -> bool:
    """True if ``data`` starts and ends like a JPEG and OpenCV decodes it."""
    if len(data) < 4 or data[:3] != b"\xff\xd8\xff":
        return False
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return image is not None and image.size > 0


def camera_scene_image_store(*, device: EdgeDevice, camera_id: int, data: bytes) -> Camera:
    """Store the image ``device`` uploaded for its camera ``camera_id`` (inside the device's scope)."""
    with transaction.atomic():
        camera = (Camera.objects.select_related("site").select_for_update(of=("self",))
                  .filter(id=camera_id, device_id=device.id).first())
        if camera is None:
            raise NotFound(f"camera {camera_id} is not one of this device's cameras")
        if not camera.site.scene_images_allowed:
            raise NotAllowed(f"site {camera.site.name!r} does not allow scene images (scene_images_allowed is "
                             f"off); nothing was stored")
        if not data:
            raise InvalidInput("the body is empty; send the JPEG bytes (Content-Type: image/jpeg)")
        if len(data) > MAX_SCENE_IMAGE_BYTES:
            raise InvalidInput(f"scene image of {len(data)} bytes is larger than {MAX_SCENE_IMAGE_BYTES} bytes")
        if not is_jpeg(data):
            raise InvalidInput("the body is not a JPEG image (it must start with FF D8 FF and decode)")
        old = camera.scene_image.name if camera.scene_image else None
        now = timezone.now()
        camera.scene_image.save(f"camera-{camera.id}-{int(now.timestamp())}.jpg", ContentFile(data), save=False)
        camera.scene_image_at = now
        asked = camera.scene_image_requested_at is not None
        camera.scene_image_requested_at = None  # done: the next config no longer asks for one
        camera.save(update_fields=["scene_image", "scene_image_at", "scene_image_requested_at"])
        _audit(tenant_id=camera.tenant_id, action="camera.scene_image_store", actor=None, target=camera,
               device_id=device.id, bytes=len(data))
        if old and old != camera.scene_image.name:
            storage, name = camera.scene_image.storage, old
            transaction.on_commit(lambda: storage.delete(name))
        if asked:
            edge_config_changed(device_ids=[device.id])
    return camera


def camera_scene_image_read(*, member: Membership, camera_id: int) -> bytes:
    require(member, Action.READ)
    camera = camera_list(membership=member).filter(id=camera_id).first()
    if camera is None:
        raise NotFound(f"camera {camera_id} not found")
    if not camera.scene_image:
        raise NotFound(f"camera {camera.name!r} has no scene image yet; an admin can request one "
                       f"(POST /api/v1/cameras/{camera.id}/scene-image/request/)")
    if not camera.site.scene_images_allowed:  # turned off since: what is kept is no longer shown
        raise Conflict(f"site {camera.site.name!r} no longer allows scene images (scene_images_allowed is off)")
    with camera.scene_image.open("rb") as f:
        return f.read()


__all__ = ["MAX_SCENE_IMAGE_BYTES", "camera_scene_image_read", "camera_scene_image_request",
           "camera_scene_image_store", "is_jpeg"]
