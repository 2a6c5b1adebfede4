"""A ``config_notice`` makes the agent fetch its signed config over device-signed HTTP (a config
too large for one websocket frame), verify it like a pushed one and keep it; a failed fetch is
retried unless the cloud refused it, then reported (``fetch_failed``) with the last good config
kept. The cloud here is a real HTTP server on 127.0.0.1 (the Django side is tested live in
tests/detection/test_edge_config_fetch_live.py and tests/test_bola.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent import control as control_module
from edge_agent.config import AgentConfig
from edge_agent.control import EdgeControl
from edge_agent.protocol import ConfigNotice, config_fetch_path, parse_from_cloud
from edge_agent.signedconfig import CONFIG_FILE, ConfigStore
from edge_agent.transport.device import Device
from edge_agent.transport.http import HEADER_DEVICE, HEADER_SIGNATURE
from tests.edge_agent.test_signed_config import canonical, config, public_b64, sign
from tests.servers import free_port


class _Cloud:
    """``GET /edge/devices/7/config`` answers ``status`` with ``body``; requests are recorded."""

    def __init__(self) -> None:
        self.status, self.body = 200, b""
        self.requests: list[dict[str, Any]] = []
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                cloud.requests.append({"path": self.path, "device": self.headers.get(HEADER_DEVICE, ""),
                                       "signature": self.headers.get(HEADER_SIGNATURE, "")})
                self.send_response(cloud.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(cloud.body)))
                self.end_headers()
                self.wfile.write(cloud.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def cloud() -> Iterator[_Cloud]:
    c = _Cloud()
    yield c
    c.server.shutdown()


@pytest.fixture
def cloud_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _control(tmp_path: Path, cloud_url: str, cloud_key: Ed25519PrivateKey) -> EdgeControl:
    store = ConfigStore(tmp_path, {"k1": public_b64(cloud_key)}, device_id=7)
    device = Device(device_id=7, cloud_url=cloud_url, ws_url="ws://127.0.0.1:1/ws/edge/",
                    key=Ed25519PrivateKey.generate(), data_dir=tmp_path)
    return EdgeControl(store=store, local=AgentConfig(), data_dir=tmp_path, emit=lambda m: None, device=device)


def _settled(control: EdgeControl, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while control._fetcher is not None:  # noqa: SLF001 - the fetch thread ends when nothing is wanted
        assert time.monotonic() < deadline, "the config fetch did not finish"
        time.sleep(0.01)


def _notice(version: int, size: int = 300_000) -> ConfigNotice:
    return parse_from_cloud(ConfigNotice(version=version, size=size).model_dump_json())  # as received


def test_a_notice_fetches_the_signed_config_with_device_auth_and_keeps_it(tmp_path, cloud, cloud_key) -> None:  # noqa: ANN001
    big = config(zone_name="Z" * 200)
    cloud.body = sign(cloud_key, 3, canonical(big)).model_dump_json().encode()
    control = _control(tmp_path, cloud.url, cloud_key)
    control.on_config_notice(_notice(3))
    _settled(control)
    assert control.store.version == 3 and control.store.last_refusal is None
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["version"] == 3
    [request] = cloud.requests
    assert request["path"] == config_fetch_path(7) == "/edge/devices/7/config"
    assert request["device"] == "7" and request["signature"]

    control.on_config_notice(_notice(3))  # the version in force: nothing fetched
    _settled(control)
    assert len(cloud.requests) == 1


def test_a_fetched_config_is_verified_like_a_pushed_one(tmp_path, cloud, cloud_key) -> None:  # noqa: ANN001
    control = _control(tmp_path, cloud.url, cloud_key)
    cloud.body = sign(Ed25519PrivateKey.generate(), 3, canonical(config())).model_dump_json().encode()
    control.on_config_notice(_notice(3))
    _settled(control)
    assert control.store.version == 0 and not (tmp_path / CONFIG_FILE).exists()
    assert control.heartbeat_extra()["config_refusal"].reason == "bad_signature"
    cloud.body = sign(cloud_key, 3, canonical(config())).model_dump_json().encode()  # positive control
    control.on_config_notice(_notice(3))
    _settled(control)
    assert control.store.version == 3 and control.heartbeat_extra() == {}


@pytest.mark.parametrize(("status", "body", "detail"), [
    (404, b'{"detail": "device 7 not found"}', "HTTP 404: device 7 not found"),
    (200, b'{"type": "command"}', "not a config message"),
])
def test_a_refused_or_unreadable_fetch_is_not_retried_and_is_reported(tmp_path, cloud, cloud_key, status, body,
                                                                       detail) -> None:  # noqa: ANN001
    control = _control(tmp_path, cloud.url, cloud_key)
    control.on_config(sign(cloud_key, 2, canonical(config())))  # a good config in force
    cloud.status, cloud.body = status, body
    control.on_config_notice(_notice(3))
    _settled(control)
    assert len(cloud.requests) == 1
    refusal = control.heartbeat_extra()["config_refusal"]
    assert refusal.reason == "fetch_failed" and refusal.version == 3 and detail in refusal.detail
    assert control.store.version == 2  # the last good config stays


def test_an_unreachable_cloud_is_retried_then_reported(tmp_path, cloud_key, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(control_module, "FETCH_RETRY_DELAYS_S", (0.01, 0.01, 0.01))
    control = _control(tmp_path, f"http://127.0.0.1:{free_port()}", cloud_key)  # nothing listens there
    control.on_config_notice(_notice(3))
    _settled(control)
    refusal = control.heartbeat_extra()["config_refusal"]
    assert refusal.reason == "fetch_failed" and "unreachable" in refusal.detail
