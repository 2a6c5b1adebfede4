"""The agent applies only configs the cloud signed, newer than the one in force, that parse; every
refusal says why and keeps the last good config (on disk too). Keys are generated here."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge_agent.errors import ConfigError
from edge_agent.protocol import ConfigPush, parse_from_cloud
from edge_agent.signedconfig import ConfigRefused, ConfigStore


def public_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def config(*, zone_name: str = "Door", device_id: int = 7, **extra: Any) -> dict[str, Any]:
    return {
        "schema": 1, "device_id": device_id,
        "site": {"id": "3", "name": "HQ", "timezone": "America/Chicago", "jurisdiction": "US-IL"},
        "cameras": [{
            "id": "11", "name": "Entrance", "stream_url": "rtsp://cam:s3cret@10.0.0.5/stream", "width": 1280,
            "height": 720, "fps": 10.0, "scene_class": "indoor", "enabled": True,
            "zones": [{"kind": "intrusion", "name": zone_name, "loiter_seconds": None,
                       "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]}],
        }],
        "shifts": [{"name": "Night", "weekdays": [1, 2, 3], "start": "22:00:00", "end": "06:00:00",
                    "sensitivity": 0.5}],
        "model_bundles": [],
        "privacy_policy": {"jurisdiction": "US-IL", "forbidden_capabilities": ["biometric_identification"]},
        **extra,
    }


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def sign(key: Ed25519PrivateKey, version: int, payload: str, key_id: str = "k1") -> ConfigPush:
    signature = base64.b64encode(key.sign(payload.encode())).decode()
    # through the wire parser, as the agent receives it
    return parse_from_cloud(ConfigPush(version=version, key_id=key_id, payload=payload,
                                       signature=signature).model_dump_json())


@pytest.fixture
def cloud_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def store(tmp_path: Path, cloud_key: Ed25519PrivateKey) -> ConfigStore:
    """A store that already holds a good version 2 (zone 'Door')."""
    store = ConfigStore(tmp_path, {"k1": public_b64(cloud_key)}, device_id=7)
    store.apply(sign(cloud_key, 2, canonical(config())))
    return store


def assert_last_good_kept(store: ConfigStore, tmp_path: Path, cloud_key: Ed25519PrivateKey) -> None:
    assert store.version == 2 and store.current is not None
    assert store.current.cameras[0].zones[0].name == "Door"
    reloaded = ConfigStore(tmp_path, {"k1": public_b64(cloud_key)}, device_id=7)
    assert reloaded.load_last_good() == store.current
    assert reloaded.version == 2


def test_valid_push_is_applied_persisted_and_loaded_on_start(tmp_path: Path, cloud_key: Ed25519PrivateKey) -> None:
    keys = {"k1": public_b64(cloud_key)}
    store = ConfigStore(tmp_path, keys, device_id=7)
    assert store.load_last_good() is None  # nothing kept yet

    applied = store.apply(sign(cloud_key, 1, canonical(config())))
    assert (applied.version, applied.changed) == (1, True)
    assert applied.config.cameras[0].stream_url == "rtsp://cam:s3cret@10.0.0.5/stream"
    assert [c.value for c in applied.config.privacy_policy.forbidden_capabilities] == ["biometric_identification"]

    applied = store.apply(sign(cloud_key, 5, canonical(config(zone_name="Gate"))))  # versions may skip
    assert (applied.version, applied.config.cameras[0].zones[0].name) == (5, "Gate")

    kept = tmp_path / "config.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # stream credentials inside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]  # no temp file left
    restarted = ConfigStore(tmp_path, keys, device_id=7)
    assert restarted.load_last_good() == applied.config
    assert restarted.version == 5


def test_redelivery_of_the_version_in_force_changes_nothing(store: ConfigStore, cloud_key: Ed25519PrivateKey) -> None:
    applied = store.apply(sign(cloud_key, 2, canonical(config())))  # e.g. pushed again on reconnect
    assert (applied.version, applied.changed) == (2, False)
    assert store.last_refusal is None


def refuse(store: ConfigStore, push: ConfigPush) -> ConfigRefused:
    with pytest.raises(ConfigRefused) as caught:
        store.apply(push)
    assert store.last_refusal is caught.value
    return caught.value


def test_tampered_payload_is_refused_as_bad_signature(store: ConfigStore, tmp_path: Path,
                                                     cloud_key: Ed25519PrivateKey) -> None:
    good = sign(cloud_key, 3, canonical(config(zone_name="Gate")))
    tampered = good.model_copy(update={"payload": good.payload.replace("10.0.0.5", "203.0.113.9")})
    refused = refuse(store, tampered)
    assert (refused.reason, refused.version) == ("bad_signature", 3)
    assert_last_good_kept(store, tmp_path, cloud_key)
    assert store.apply(good).version == 3  # positive control: the untampered push applies


def test_unknown_key_id_is_refused_and_names_the_known_ones(store: ConfigStore, tmp_path: Path,
                                                           cloud_key: Ed25519PrivateKey) -> None:
    refused = refuse(store, sign(cloud_key, 3, canonical(config()), key_id="k9"))
    assert refused.reason == "unknown_key_id"
    assert "'k9'" in refused.detail and "['k1']" in refused.detail
    assert_last_good_kept(store, tmp_path, cloud_key)


def test_signature_by_another_key_is_refused(store: ConfigStore, tmp_path: Path,
                                            cloud_key: Ed25519PrivateKey) -> None:
    attacker = Ed25519PrivateKey.generate()
    assert refuse(store, sign(attacker, 3, canonical(config(zone_name="Gate")))).reason == "bad_signature"
    not_base64 = sign(cloud_key, 3, canonical(config())).model_copy(update={"signature": "%%%"})
    assert refuse(store, not_base64).reason == "bad_signature"
    assert_last_good_kept(store, tmp_path, cloud_key)


def test_rolled_back_version_is_refused(store: ConfigStore, tmp_path: Path, cloud_key: Ed25519PrivateKey) -> None:
    refused = refuse(store, sign(cloud_key, 1, canonical(config(zone_name="Old"))))  # validly signed, older
    assert refused.reason == "rollback"
    assert "version 1 is older" in refused.detail and "version 2" in refused.detail
    assert_last_good_kept(store, tmp_path, cloud_key)


def test_replayed_version_with_another_payload_is_refused(store: ConfigStore, tmp_path: Path,
                                                         cloud_key: Ed25519PrivateKey) -> None:
    refused = refuse(store, sign(cloud_key, 2, canonical(config(zone_name="Gate"))))
    assert refused.reason == "replay"
    assert_last_good_kept(store, tmp_path, cloud_key)


def test_signed_payload_that_does_not_parse_is_refused(store: ConfigStore, tmp_path: Path,
                                                      cloud_key: Ed25519PrivateKey) -> None:
    extra_key = refuse(store, sign(cloud_key, 3, canonical(config(surprise=True))))
    assert extra_key.reason == "bad_payload" and extra_key.detail.startswith("surprise:")
    unknown_capability = config()
    unknown_capability["privacy_policy"]["forbidden_capabilities"] = ["mind_reading"]
    assert refuse(store, sign(cloud_key, 3, canonical(unknown_capability))).reason == "bad_payload"
    assert refuse(store, sign(cloud_key, 3, "not json")).reason == "bad_payload"
    assert_last_good_kept(store, tmp_path, cloud_key)


def test_config_for_another_device_is_refused(store: ConfigStore, tmp_path: Path,
                                             cloud_key: Ed25519PrivateKey) -> None:
    refused = refuse(store, sign(cloud_key, 3, canonical(config(device_id=8))))
    assert refused.reason == "wrong_device" and "device 8" in refused.detail
    assert_last_good_kept(store, tmp_path, cloud_key)


def test_kept_file_edited_on_disk_is_refused_on_load(store: ConfigStore, tmp_path: Path,
                                                    cloud_key: Ed25519PrivateKey) -> None:
    kept = tmp_path / "config.json"
    data = json.loads(kept.read_text())
    data["payload"] = data["payload"].replace("Door", "Hole")
    kept.write_text(json.dumps(data))
    with pytest.raises(ConfigRefused) as caught:
        ConfigStore(tmp_path, {"k1": public_b64(cloud_key)}, device_id=7).load_last_good()
    assert caught.value.reason == "stored_config_invalid"


def test_a_malformed_config_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'k1'"):
        ConfigStore(tmp_path, {"k1": "c2hvcnQ="})
