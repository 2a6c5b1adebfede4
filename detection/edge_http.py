"""``GET /edge/bundles/<id>/``: a model bundle, streamed from storage to the device that runs it.

Device-signed (``cameras.edge_auth``: 401 without a valid signature). Only a bundle one of the
device's cameras runs is served; any other id, another tenant's included, is a 404. The file is
streamed through (filesystem or S3 alike), so the download needs the device's key and nothing
else; ``X-VAD-Bundle-SHA256`` repeats the sha256 the signed config already carries.
"""

from __future__ import annotations

import logging

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from cameras.edge_auth import device_view
from cameras.models import EdgeDevice
from detection import artifacts

log = logging.getLogger(__name__)


@require_GET
@device_view
def bundle_download(request: HttpRequest, device: EdgeDevice, artifact_id: int) -> HttpResponse:
    artifact = artifacts.artifact_for_device(device=device, artifact_id=artifact_id)
    try:
        fh = artifacts.artifact_open(artifact=artifact)
    except (FileNotFoundError, OSError):
        log.error("model_artifact.file_missing", extra={"artifact_id": artifact.id, "tenant_id": artifact.tenant_id,
                                                        "storage_name": artifact.storage_name}, exc_info=True)
        return JsonResponse({"detail": f"model bundle {artifact.id} is registered but its file is missing from "
                                       f"storage; upload it again"}, status=503)
    response = FileResponse(fh, as_attachment=True, filename=f"bundle-{artifact.id}.tar.gz",
                            content_type="application/gzip")
    response["X-VAD-Bundle-SHA256"] = artifact.sha256
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [
    path("bundles/<int:artifact_id>/", bundle_download, name="edge-bundle-download"),
]
