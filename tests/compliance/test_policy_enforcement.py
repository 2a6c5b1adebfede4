"""Effective policy end to end: the API refuses what the rules, the context, the consents on file and
the tenant's settings do not allow, with the explanation; the signed device config carries the
policy and the agent's own registry refuses the model under it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

import tests.compliance.probe_models  # noqa: F401  (registers the probe model types)
from cameras.edgeconfig import config_public_keys, config_sign
from cameras.models import Camera, EdgeDevice
from edge_agent.config import CameraConfig
from edge_agent.errors import ForbiddenCapability
from edge_agent.models.registry import check_policy, get_model_class, load_model
from edge_agent.pipeline.build import build_pipeline
from edge_agent.signedconfig import ConfigStore, DeviceConfig
from tenants.scope import tenant_scope
from tests.conftest import client_for

FACE = {"type": "face_recognition_onnx", "name": "faces", "model_path": "/opt/vad/models/arcface.onnx"}
EMOTION = {"type": "test_emotion_probe", "name": "mood"}
SHA = "5f" * 32
NO_RELEASE = "740 ILCS 14/15(b) requires a written release; none on file"


def consent_body(site_id: int, capability: str = "biometric_identification", kind: str = "written_release") -> dict:
    return {"site": site_id, "purpose": "staff entrance access control", "capability": capability, "kind": kind,
            "document_sha256": SHA, "signer": "Dana Worker",
            "signed_at": (timezone.now() - timedelta(hours=1)).isoformat()}


def signed_config(world, tmp_path: Path) -> DeviceConfig:  # noqa: ANN001
    """Sign the device's config as the cloud pushes it and verify it as the agent does."""
    with tenant_scope(world.tenant.id):
        device = EdgeDevice.objects.get(id=world.device.id)
    push = config_sign(device=device)
    store = ConfigStore(tmp_path / f"agent-v{push.version}", config_public_keys(), device_id=device.id)
    return store.apply(push).config


def agent_camera(config: DeviceConfig, name: str) -> CameraConfig:
    """The agent's camera config from the pushed camera spec (models as pushed)."""
    spec = next(c for c in config.cameras if c.name == name)
    return CameraConfig(id=spec.id, source="webcam:0", models=spec.models)


def camera_policy(config: DeviceConfig, name: str):  # noqa: ANN201
    return next(c for c in config.cameras if c.name == name).policy.as_policy()


def decision(body: dict, capability: str) -> dict:
    return next(d for d in body["decisions"] if d["capability"] == capability)


def test_illinois_site_without_a_release_refuses_face_recognition_with_the_trace(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    response = alice.post("/api/v1/cameras/", {"site": acme.site.id, "name": "Lobby-2", "device": acme.device.id,
                                               "models": [FACE]}, format="json")
    assert response.status_code == 400, response.content
    message = response.json()["models"][0]
    assert "biometric_identification disabled on camera Lobby-2: site Acme Retail HQ is in US-IL; " + NO_RELEASE \
        in message
    with tenant_scope(acme.tenant.id):
        assert not Camera.objects.filter(name="Lobby-2").exists()
    patch = alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"models": [FACE]}, format="json")
    assert patch.status_code == 400 and NO_RELEASE in patch.json()["models"][0]
    # positive control: the same camera without the biometric model is created
    ok = alice.post("/api/v1/cameras/", {"site": acme.site.id, "name": "Lobby-2", "device": acme.device.id,
                                         "models": [{"type": "flow"}, {"type": "face_haar", "name": "blur"}]},
                    format="json")
    assert ok.status_code == 201, ok.content


def test_camera_policy_shows_each_decision_with_citation_and_source(acme):  # noqa: ANN001
    body = client_for(acme.users["carl"]).get(f"/api/v1/cameras/{acme.camera.id}/policy/").json()
    face = decision(body, "biometric_identification")
    assert face["status"] == "disabled" and NO_RELEASE in face["trace"]
    assert face["rules"][0]["citation"].startswith("Biometric Information Privacy Act, 740 ILCS 14/15(b)")
    assert face["rules"][0]["source_url"] == "http://ilga.gov/legislation/ilcs/fulltext.asp?DocName=074000140K15"
    assert decision(body, "face_detection")["status"] == "allowed"  # detection for blurring identifies no one
    gait = decision(body, "gait_analysis")  # BIPA does not address gait: the baseline keeps it off
    assert gait["status"] == "disabled" and "VADCloud baseline B1 requires explicit consent" in gait["trace"]
    assert [s["id"] for s in body["rule_sets"]] == ["default", "US-IL"]
    assert "biometric_identification" in body["forbidden_capabilities"]
    assert body["retention_ceilings"]["biometric_templates"]["max_days"] == 1095


def test_agent_refuses_a_face_model_under_the_signed_illinois_policy(acme, tmp_path):  # noqa: ANN001
    config = signed_config(acme, tmp_path)
    policy = camera_policy(config, "Entrance")
    assert "biometric_identification" in {c.value for c in policy.forbidden_capabilities}
    camera = CameraConfig(id=str(acme.camera.id), source="webcam:0", models=[FACE])
    with pytest.raises(ForbiddenCapability, match=r"'faces' uses \['biometric_identification'\]"):
        build_pipeline(camera, policy, warmup=False)  # what the agent does with a camera config
    with pytest.raises(ForbiddenCapability):  # the device-wide policy refuses it too
        load_model("face_recognition_onnx", params={"model_path": "x.onnx"},
                   policy=config.privacy_policy.as_policy(), name="faces")
    # positive control: the same signed policy loads face detection (blurring identifies no one)
    assert build_pipeline(CameraConfig(id="c1", source="webcam:0", models=[{"type": "face_haar"}]), policy,
                          warmup=False)


def test_release_enables_face_recognition_and_withdrawal_disables_it_again(acme, tmp_path):  # noqa: ANN001
    alice, carl = client_for(acme.users["alice"]), client_for(acme.users["carl"])
    created = carl.post("/api/v1/consents/", consent_body(acme.site.id), format="json")
    assert created.status_code == 201, created.content
    consent_id = created.json()["id"]

    assert alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"models": [FACE]}, format="json").status_code == 200
    face = decision(carl.get(f"/api/v1/cameras/{acme.camera.id}/policy/").json(), "biometric_identification")
    assert face["status"] == "allowed_with_consent" and face["consent_id"] == consent_id
    assert f"on file: written release #{consent_id}" in face["trace"]
    config = signed_config(acme, tmp_path)
    assert [m.model_name for m in agent_camera(config, "Entrance").models] == ["faces"]
    policy = camera_policy(config, "Entrance")
    check_policy("faces", get_model_class("face_recognition_onnx").capabilities, policy)  # allowed: no raise

    withdrawn = carl.post(f"/api/v1/consents/{consent_id}/withdraw/", {"reason": "employee left"}, format="json")
    assert withdrawn.status_code == 200 and withdrawn.json()["active"] is False
    body = carl.get(f"/api/v1/cameras/{acme.camera.id}/policy/").json()
    face = decision(body, "biometric_identification")
    assert face["status"] == "disabled" and NO_RELEASE in face["trace"]
    # the model stays configured, shown as refused with the reason
    assert body["models"] == [{"name": "faces", "type": "face_recognition_onnx", "allowed": False, "stopped": False,
                               "capabilities": ["biometric_identification", "face_detection"],
                               "refused_by": [face["trace"]]}]
    after = signed_config(acme, tmp_path)
    assert after.privacy_policy.policy_id != config.privacy_policy.policy_id
    with pytest.raises(ForbiddenCapability, match="biometric_identification"):
        build_pipeline(agent_camera(after, "Entrance"), camera_policy(after, "Entrance"), warmup=False)
    again = alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"models": [FACE]}, format="json")
    assert again.status_code == 400 and NO_RELEASE in again.json()["models"][0]


def test_an_eu_workplace_camera_never_enables_emotion_recognition(acme):  # noqa: ANN001
    alice, carl = client_for(acme.users["alice"]), client_for(acme.users["carl"])
    berlin = acme.other_site.id  # jurisdiction DE
    consent = carl.post("/api/v1/consents/", consent_body(berlin, "emotion_recognition", "explicit_consent"),
                        format="json")
    assert consent.status_code == 201, consent.content
    for context in ("workplace", "education", "unspecified"):
        response = alice.post("/api/v1/cameras/", {"site": berlin, "name": f"Desk-{context}", "context": context,
                                                   "models": [EMOTION]}, format="json")
        assert response.status_code == 400, (context, response.content)
        assert "AI Act Art. 5(1)(f) prohibits emotion recognition in workplaces" in response.json()["models"][0]
    # positive control: the context decides, so a private camera with the consent on file may
    ok = alice.post("/api/v1/cameras/", {"site": berlin, "name": "Home", "context": "private", "models": [EMOTION]},
                    format="json")
    assert ok.status_code == 201, ok.content
    moved = alice.patch(f"/api/v1/cameras/{ok.json()['id']}/", {"context": "workplace"}, format="json")
    assert moved.status_code == 400 and "AI Act Art. 5(1)(f)" in moved.json()["models"][0]


def test_a_portland_storefront_never_enables_face_recognition_with_or_without_consent(acme):  # noqa: ANN001
    alice, carl = client_for(acme.users["alice"]), client_for(acme.users["carl"])
    site = alice.post("/api/v1/sites/", {"name": "Pearl Store", "jurisdiction": "US-OR", "locality": "Portland",
                                         "timezone": "America/Los_Angeles"}, format="json")
    assert site.status_code == 201, site.content
    site_id = site.json()["id"]
    storefront = {"site": site_id, "name": "Till", "context": "publicly_accessible", "models": [FACE]}
    without = alice.post("/api/v1/cameras/", storefront, format="json")
    assert without.status_code == 400 and "Portland City Code 34.10 prohibits" in without.json()["models"][0]
    assert carl.post("/api/v1/consents/", consent_body(site_id), format="json").status_code == 201
    with_consent = alice.post("/api/v1/cameras/", storefront, format="json")
    assert with_consent.status_code == 400, with_consent.content
    assert "biometric_identification forbidden on camera Till: site Pearl Store is in US-OR (Portland), camera " \
           "context publicly_accessible; Portland City Code 34.10" in with_consent.json()["models"][0]
    # positive control: the same consent allows it off the public accommodation
    office = alice.post("/api/v1/cameras/", {**storefront, "name": "Back office", "context": "private"}, format="json")
    assert office.status_code == 201, office.content


def test_the_tenant_can_be_stricter_than_the_rules_never_looser(acme):  # noqa: ANN001
    alice, carl = client_for(acme.users["alice"]), client_for(acme.users["carl"])
    assert carl.post("/api/v1/consents/", consent_body(acme.site.id), format="json").status_code == 201
    url = "/api/v1/compliance/privacy-settings/"
    stricter = carl.put(url, {"forbidden_capabilities": ["biometric_identification", "person_detection"]},
                        format="json")
    assert stricter.status_code == 200, stricter.content
    refused = alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"models": [FACE]}, format="json")
    assert refused.status_code == 400
    assert "tenant Acme Retail forbids it in its own privacy settings" in refused.json()["models"][0]
    person = alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"models": [{"type": "hog_person"}]}, format="json")
    assert person.status_code == 400 and "person_detection forbidden" in person.json()["models"][0]

    looser = carl.put(url, {"forbidden_capabilities": [], "allowed_capabilities": ["biometric_identification"]},
                      format="json")
    assert looser.status_code == 400 and "never looser" in looser.json()["allowed_capabilities"][0]
    assert carl.put(url, {"forbidden_capabilities": ["mind_reading"]}, format="json").status_code == 400
    for who in ("vera", "olga"):  # viewer, operator
        assert client_for(acme.users[who]).put(url, {"forbidden_capabilities": []}, format="json").status_code == 403
    assert carl.put(url, {"forbidden_capabilities": []}, format="json").status_code == 200
    # positive control: with the tenant's prohibition lifted, the release on file allows it again
    assert alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"models": [FACE]}, format="json").status_code == 200
    assert carl.get(url).json()["forbidden_capabilities"] == []


def test_site_policy_lists_rule_sets_and_each_visible_cameras_policy(acme):  # noqa: ANN001
    body = client_for(acme.users["vera"]).get(f"/api/v1/sites/{acme.site.id}/policy/").json()
    assert [s["id"] for s in body["rule_sets"]] == ["default", "US-IL"]
    assert {r["clause"] for r in body["rules"]} >= {"740 ILCS 14/15(b)", "VADCloud baseline B1"}
    assert [c["camera"]["name"] for c in body["cameras"]] == ["Entrance"]
    assert client_for(acme.users["vera"]).get("/api/v1/sites/999999/policy/").status_code == 404


def test_a_jurisdiction_change_re_resolves_the_policy(acme, tmp_path):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    before = signed_config(acme, tmp_path)
    assert alice.patch(f"/api/v1/sites/{acme.site.id}/", {"jurisdiction": "FR"}, format="json").status_code == 200
    body = client_for(acme.users["carl"]).get(f"/api/v1/cameras/{acme.camera.id}/policy/").json()
    assert [s["id"] for s in body["rule_sets"]] == ["default", "EU-EEA"]
    assert "GDPR Art. 9(1) requires explicit consent; none on file" in decision(body, "gait_analysis")["trace"]
    # the camera's context is not set, so AI Act Art. 5(1)(h) (public spaces) applies too
    assert "AI Act Art. 5(1)(h)" in decision(body, "biometric_identification")["trace"]
    after = signed_config(acme, tmp_path)
    assert after.site.jurisdiction == "FR" and after.privacy_policy.policy_id != before.privacy_policy.policy_id


@pytest.mark.parametrize(("models", "message"), [
    ("flow", "models must be a list"),
    ([{"name": "x"}], "every model needs a 'type'"),
    ([{"type": "no_such_model"}], "unknown model type"),
    ([{"type": "face_recognition_onnx"}], "model_path"),
    ([{"type": "flow"}, {"type": "flow"}], "duplicated: ['flow']"),
    ([{"type": "flow", "colour": "red"}], "colour"),
])
def test_bad_model_configs_are_a_400_naming_the_problem(acme, models, message):  # noqa: ANN001
    response = client_for(acme.users["alice"]).patch(f"/api/v1/cameras/{acme.camera.id}/", {"models": models},
                                                     format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["models"][0], response.json()


def test_an_unknown_context_is_a_400(acme):  # noqa: ANN001
    response = client_for(acme.users["alice"]).patch(f"/api/v1/cameras/{acme.camera.id}/", {"context": "moon"},
                                                     format="json")
    assert response.status_code == 400 and "context" in response.json()
