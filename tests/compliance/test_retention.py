"""Retention: the tenant's periods capped by its sites' ceilings; the beat purge deletes expired
alerts in batches, keeps what a legal hold covers, and audits each run with its counts."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from compliance.models import AuditEntry
from compliance.tasks import retention_purge_all_task
from detection.models import Alert
from tenants.scope import tenant_scope
from tests.conftest import client_for
from vadcloud.celery import app as celery_app


def alert(world, camera, days_ago: float) -> int:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return Alert.objects.create(camera=camera, started_at=timezone.now() - timedelta(days=days_ago),
                                    peak_score=2.0).id


def alive(world) -> set[int]:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return set(Alert.objects.values_list("id", flat=True))


def purges(world) -> list[AuditEntry]:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return list(AuditEntry.objects.filter(action="retention.purge").order_by("seq"))


def test_tenant_periods_are_capped_by_the_strictest_ceiling_of_its_sites(acme):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    response = carl.put("/api/v1/retention/", {"alert_metadata_days": 30, "scene_image_days": 30,
                                                "biometric_template_days": 5000}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["alert_metadata"] == {"tenant_days": 30, "effective_days": 30, "capped": False, "ceiling": None}
    scene = body["scene_images"]
    assert (scene["effective_days"], scene["capped"], scene["ceiling"]["jurisdiction"]) == (3, True, "DE")
    assert scene["ceiling"]["clause"] == "EDPB Guidelines 3/2019" and scene["ceiling"]["source_url"].startswith("https://")
    bio = body["biometric_templates"]
    assert (bio["effective_days"], bio["ceiling"]["jurisdiction"], bio["ceiling"]["clause"]) == (
        1095, "US-IL", "740 ILCS 14/15(a)")
    assert carl.get("/api/v1/retention/").json() == body
    with tenant_scope(acme.tenant.id):
        entry = AuditEntry.objects.get(action="retention.update")
        assert entry.before["alert_metadata_days"] == 90 and entry.after["alert_metadata_days"] == 30


def test_bad_retention_input_is_a_400_and_operators_get_403(acme):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    negative = carl.patch("/api/v1/retention/", {"alert_metadata_days": -1}, format="json")
    assert negative.status_code == 400 and "alert_metadata_days" in negative.json()
    assert carl.patch("/api/v1/retention/", {"alert_metadata_days": "soon"}, format="json").status_code == 400
    for user in ("olga", "vera"):
        client = client_for(acme.users[user])
        assert client.get("/api/v1/retention/").status_code == 403
        assert client.patch("/api/v1/retention/", {"alert_metadata_days": 1}, format="json").status_code == 403


def test_purge_deletes_expired_alerts_in_batches_keeps_held_ones_and_audits_the_run(acme, globex):  # noqa: ANN001
    client_for(acme.users["carl"]).patch("/api/v1/retention/", {"alert_metadata_days": 30}, format="json")
    recent = alert(acme, acme.camera, 10)
    old = [alert(acme, acme.camera, 40 + n) for n in range(3)]
    held = alert(acme, acme.other_camera, 40)
    held_too_old = alert(acme, acme.other_camera, 80)  # before the hold's window: not held
    hold = client_for(acme.users["carl"]).post("/api/v1/legal-holds/", {
        "camera": acme.other_camera.id, "reason": "subpoena 2026-114",
        "starts_at": (timezone.now() - timedelta(days=50)).isoformat(),
        "ends_at": (timezone.now() - timedelta(days=35)).isoformat()}, format="json")
    assert hold.status_code == 201, hold.content
    globex_old = alert(globex, globex.camera, 40)  # globex keeps the default 90 days

    result = retention_purge_all_task.delay(batch_size=2).get()

    assert alive(acme) == {recent, held, acme.alert.id, acme.other_alert.id}
    assert not set(old) & alive(acme) and held_too_old not in alive(acme)
    assert globex_old in alive(globex)
    assert result[str(acme.tenant.id)] == {"deleted": 4, "held_back": 1, "scene_images_deleted": 0}
    (run,) = purges(acme)
    assert run.extra["alerts_deleted"] == 4 and run.extra["alerts_held_back"] == 1
    assert run.extra["batches"] == 2 and run.extra["alert_metadata_days"] == 30
    assert run.extra["legal_holds"] == [hold.json()["id"]]
    assert purges(globex)[0].extra["alerts_deleted"] == 0  # one entry per tenant and run, even with nothing to do


def test_a_site_hold_covers_every_camera_of_the_site_until_it_is_released(acme):  # noqa: ANN001
    from tests.compliance.exports_factory import make_hold

    client_for(acme.users["carl"]).patch("/api/v1/retention/", {"alert_metadata_days": 30}, format="json")
    old = alert(acme, acme.camera, 60)
    hold = make_hold(acme, camera=None, site=acme.site)  # open-ended
    retention_purge_all_task.delay().get()
    assert old in alive(acme)
    released = client_for(acme.users["alice"]).post(f"/api/v1/legal-holds/{hold.id}/release/", {}, format="json")
    assert released.status_code == 200 and released.json()["active"] is False
    again = client_for(acme.users["alice"]).post(f"/api/v1/legal-holds/{hold.id}/release/", {}, format="json")
    assert again.status_code == 409 and "already released" in again.json()["detail"]
    retention_purge_all_task.delay().get()
    assert old not in alive(acme)


def test_legal_hold_input_and_roles(acme, globex):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    start = timezone.now().isoformat()
    both = carl.post("/api/v1/legal-holds/", {"camera": acme.camera.id, "site": acme.site.id, "reason": "x",
                                              "starts_at": start}, format="json")
    assert both.status_code == 400 and "either a camera or a site" in both.json()["camera"][0]
    backwards = carl.post("/api/v1/legal-holds/", {"camera": acme.camera.id, "reason": "x", "starts_at": start,
                                                   "ends_at": "2020-01-01T00:00:00Z"}, format="json")
    assert backwards.status_code == 400 and backwards.json() == {"ends_at": ["must be after starts_at"]}
    theirs = carl.post("/api/v1/legal-holds/", {"camera": globex.camera.id, "reason": "x", "starts_at": start},
                       format="json")
    assert theirs.status_code == 400 and "camera" in theirs.json()
    assert client_for(acme.users["olga"]).post("/api/v1/legal-holds/", {"camera": acme.camera.id, "reason": "x",
                                                                       "starts_at": start}, format="json").status_code == 403
    assert client_for(acme.users["olga"]).get("/api/v1/legal-holds/").status_code == 403


def test_the_purge_is_a_beat_job():
    assert settings.CELERY_BEAT_SCHEDULE["retention-purge"]["task"] == "compliance.retention_purge_all"
    assert "compliance.retention_purge_all" in celery_app.tasks


def test_scene_images_older_than_the_capped_period_are_deleted_unless_held(acme, settings, tmp_path):  # noqa: ANN001
    from django.core.files.base import ContentFile

    from cameras.models import Camera
    from tests.compliance.exports_factory import make_hold, use_tmp_export_storage

    use_tmp_export_storage(settings, tmp_path / "media")
    taken = timezone.now() - timedelta(days=5)  # the EU site caps scene images at 3 days (EDPB 3/2019)
    with tenant_scope(acme.tenant.id):
        for camera in (acme.camera, acme.other_camera):
            camera.scene_image.save(f"camera-{camera.id}.jpg", ContentFile(b"\xff\xd8jpeg"), save=False)
            camera.scene_image_at = taken
            camera.save()
    stored = tmp_path / "media" / Camera.unscoped_objects.get(pk=acme.camera.id).scene_image.name
    assert stored.exists()
    make_hold(acme, camera=acme.other_camera, starts_at=taken - timedelta(days=1))
    result = retention_purge_all_task.delay().get()
    assert result[str(acme.tenant.id)]["scene_images_deleted"] == 1
    with tenant_scope(acme.tenant.id):
        assert Camera.objects.get(pk=acme.camera.id).scene_image.name == ""
        assert Camera.objects.get(pk=acme.other_camera.id).scene_image.name != ""
    assert not stored.exists()
    (run,) = purges(acme)
    assert (run.extra["scene_images_deleted"], run.extra["scene_images_held_back"], run.extra["scene_image_days"]) == (1, 1, 3)
