"""``vad-edge enroll`` as a subprocess against the live server: files written, refusals exit 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cameras.models import EdgeDevice
from tests.conftest import client_for


def vad_edge(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VAD_EDGE_DATA_DIR"}
    extra = ["--data-dir", str(data_dir)] if data_dir is not None else []
    return subprocess.run([sys.executable, "-m", "edge_agent", *args, *extra], capture_output=True, text=True,
                          timeout=120, env=env, check=False)


def new_token(world) -> str:  # noqa: ANN001
    response = client_for(world.users["alice"]).post(f"/api/v1/devices/{world.device.id}/enrollment/")
    assert response.status_code == 201, response.content
    return response.json()["token"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_enroll_writes_the_identity_and_refuses_to_overwrite_it_without_force(acme, live_server, settings, tmp_path):  # noqa: ANN001
    settings.PORTAL_BASE_URL = live_server.url
    data = tmp_path / "data"
    done = vad_edge("enroll", "--url", live_server.url + "/", "--token", new_token(acme), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert f"enrolled as device {acme.device.id}" in done.stdout and "device_key.pem" in done.stdout
    info = json.loads((data / "device.json").read_text())
    assert set(info) == {"device_id", "cloud_url", "ws_url", "config_keys"}
    assert (data / "device_key.pem").stat().st_mode & 0o777 == 0o600
    first_key = EdgeDevice.unscoped_objects.get(id=acme.device.id).public_key

    refused = vad_edge("enroll", "--url", live_server.url, "--token", new_token(acme), data_dir=data)
    assert refused.returncode == 2 and "already enrolled" in refused.stderr and "--force" in refused.stderr
    assert EdgeDevice.unscoped_objects.get(id=acme.device.id).public_key == first_key

    forced = vad_edge("enroll", "--url", live_server.url, "--token", new_token(acme), "--force", data_dir=data)
    assert forced.returncode == 0, forced.stderr
    assert EdgeDevice.unscoped_objects.get(id=acme.device.id).public_key != first_key


@pytest.mark.django_db(transaction=True)
def test_enroll_shows_the_servers_refusal_and_exits_2(acme, live_server, tmp_path):  # noqa: ANN001
    proc = vad_edge("enroll", "--url", live_server.url, "--token", "not-a-real-token-0123456789", data_dir=tmp_path)
    assert proc.returncode == 2
    assert "HTTP 404" in proc.stderr and "unknown enrollment token" in proc.stderr
    assert not (tmp_path / "device.json").exists() and not (tmp_path / "device_key.pem").exists()


def test_enroll_with_an_unreachable_or_malformed_url_exits_2(tmp_path):  # noqa: ANN001
    down = vad_edge("enroll", "--url", f"http://127.0.0.1:{closed_port()}", "--token", "t" * 43, data_dir=tmp_path)
    assert down.returncode == 2 and "cannot reach" in down.stderr, down.stderr
    bad = vad_edge("enroll", "--url", "portal.example.com", "--token", "t" * 43, data_dir=tmp_path)
    assert bad.returncode == 2 and "'portal.example.com'" in bad.stderr
    assert not (tmp_path / "device.json").exists()


@pytest.mark.django_db(transaction=True)
def test_enroll_against_something_that_is_not_the_portal_says_so_in_one_line(live_server, tmp_path):  # noqa: ANN001
    proc = vad_edge("enroll", "--url", f"{live_server.url}/not-the-portal", "--token", "t" * 43, data_dir=tmp_path)
    assert proc.returncode == 2 and "HTTP 404" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "device.json").exists()
