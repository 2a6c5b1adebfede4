"""The one-command install, for real: ``curl <live server>/edge/install.sh | sh -s -- ...``.

The served script (edge_agent/install.sh) creates a venv, downloads the agent wheel built from
edge_agent/ at /edge/dist/, installs it, enrolls the box with the one-time token from the API
and (here) skips systemd. To stay offline and fast, pip runs with ``--no-index --no-deps`` and the
agent's dependencies come from this test venv through ``PYTHONPATH`` (a folder of links to this
venv's packages without pip and without the editable vad-edge, so the new venv's own pip
installs the downloaded wheel into the new venv).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

from cameras.models import EdgeDevice, EnrollmentToken
from tests.conftest import client_for

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 300
HIDDEN = ("pip", "vad_edge", "__editable__", "edge_agent", "_distutils_hack", "distutils-precedence.pth")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("sh") is None or shutil.which("curl") is None, reason="needs sh and curl"),
]


@pytest.fixture
def deps_path(tmp_path: Path) -> Path:
    """A PYTHONPATH folder: links to this venv's packages, minus pip and the editable agent."""
    shim = tmp_path / "deps"
    shim.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(HIDDEN):
            (shim / entry.name).symlink_to(entry)
    return shim


def install(base_url: str, token: str, prefix: Path, data_dir: Path, deps: Path, *, systemd: str = "--no-systemd",
            path: str | None = None) -> subprocess.CompletedProcess:
    """The documented command: ``curl -fsSL <url>/edge/install.sh | sh -s -- --url <url> --token <token> ...``."""
    script = ('curl -fsSL "$1/edge/install.sh" | sh -s -- --url "$1" --token "$2" --prefix "$3" --data-dir "$4" '
              '--python "$5" --pip-args "--no-index --no-deps" $6')
    env = {**os.environ, "PYTHONPATH": str(deps), "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VAD_EDGE_DATA_DIR", None)
    if path is not None:
        env["PATH"] = path
    started = time.monotonic()
    proc = subprocess.run(["sh", "-c", script, "install", base_url, token, str(prefix), str(data_dir), sys.executable,
                           systemd], capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False,
                          cwd=prefix.parent)
    TIMINGS.append(time.monotonic() - started)
    return proc


TIMINGS: list[float] = []


def fake_systemctl(tmp_path: Path) -> tuple[str, Path]:
    """A ``systemctl`` that records its arguments (this machine has no systemd): PATH and log file."""
    bin_dir, log = tmp_path / "fakebin", tmp_path / "systemctl.log"
    bin_dir.mkdir()
    tool = bin_dir / "systemctl"
    tool.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n')
    tool.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}", log


@pytest.mark.django_db(transaction=True)
def test_install_script_installs_enrolls_and_is_safe_to_rerun(acme, live_server, settings, tmp_path, deps_path,
                                                              capsys):  # noqa: ANN001
    TIMINGS.clear()
    settings.PORTAL_BASE_URL = live_server.url
    settings.EDGE_DIST_DIR = str(tmp_path / "dist")
    served = subprocess.run(["curl", "-fsS", f"{live_server.url}/edge/install.sh"], capture_output=True,
                            timeout=60, check=True).stdout
    assert served == (REPO / "edge_agent" / "install.sh").read_bytes()  # the served script is the repo file

    answer = client_for(acme.users["alice"]).post(f"/api/v1/devices/{acme.device.id}/enrollment/")
    assert answer.status_code == 201, answer.content
    token = answer.json()["token"]
    assert f"--url {live_server.url} --token {token}" in answer.json()["install_command"]

    prefix, data_dir = tmp_path / "opt", tmp_path / "data"
    first = install(live_server.url, token, prefix, data_dir, deps_path)
    assert first.returncode == 0, first.stdout + first.stderr
    for step in ("checking the platform", "creating the virtualenv", "installing vad_edge-", "enrolling this box",
                 "skipping systemd"):
        assert step in first.stdout, (step, first.stdout)

    device_json = json.loads((data_dir / "device.json").read_text())
    assert device_json["device_id"] == acme.device.id
    assert (device_json["cloud_url"], device_json["ws_url"]) == (live_server.url,
                                                                 live_server.url.replace("http://", "ws://") + "/ws/edge/")
    key_file = data_dir / "device_key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    public = load_pem_private_key(key_file.read_bytes(), password=None).public_key()
    device = EdgeDevice.unscoped_objects.get(id=acme.device.id)
    assert device.public_key == base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    assert device.enrolled_at is not None and device.status == "offline"
    assert EnrollmentToken.unscoped_objects.get(device=device).used_at is not None

    # the token is spent: another box (a fresh data dir) using the same command is refused clearly
    other = install(live_server.url, token, prefix, tmp_path / "other-data", deps_path)
    assert other.returncode == 2, other.stdout + other.stderr
    assert "reusing the virtualenv" in other.stdout
    assert "already used" in other.stderr and "enrollment failed" in other.stderr
    assert not (tmp_path / "other-data" / "device.json").exists()

    # re-running on the enrolled box is safe: venv reused, wheel reinstalled, enrollment skipped;
    # this time with the service (root only; systemctl is a recorder: no systemd here)
    units = tmp_path / "units"
    as_root = os.geteuid() == 0
    path, log = fake_systemctl(tmp_path)
    again = install(live_server.url, token, prefix, data_dir, deps_path, path=path,
                    systemd=f"--unit-dir {units}" if as_root else "--no-systemd")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already enrolled" in again.stdout and "reusing the virtualenv" in again.stdout
    if as_root:
        unit = (units / "vadcloud-edge.service").read_text()
        assert f"ExecStart={prefix}/bin/vad-edge run --data-dir {data_dir}" in unit
        assert "Restart=always" in unit and "WantedBy=multi-user.target" in unit
        assert log.read_text().splitlines() == ["daemon-reload", "enable vadcloud-edge.service",
                                                "restart vadcloud-edge.service"]
    assert json.loads((data_dir / "device.json").read_text()) == device_json
    assert EdgeDevice.unscoped_objects.get(id=acme.device.id).public_key == device.public_key

    doctor = subprocess.run([str(prefix / "bin" / "vad-edge"), "doctor"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(deps_path)}, check=False, cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["vad_edge"]
    # the agent that ran is the one the script installed from the wheel, not this checkout
    where = subprocess.run([str(prefix / "bin" / "python"), "-c", "import edge_agent; print(edge_agent.__file__)"],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(deps_path)},
                           check=True, cwd=tmp_path).stdout
    assert where.startswith(str(prefix))
    with capsys.disabled():
        print(f"\ninstall.sh against the live server: first install {TIMINGS[0]:.1f} s, refused re-use of the token "
              f"{TIMINGS[1]:.1f} s, re-run on the enrolled box {TIMINGS[2]:.1f} s (offline pip, --no-deps)")


def test_install_script_refuses_bad_options_with_a_clear_message(tmp_path):  # noqa: ANN001
    script = str(REPO / "edge_agent" / "install.sh")
    cases = [
        ([], "--url is required"),
        (["--url", "ftp://portal"], "must start with http:// or https://"),
        (["--url", "http://127.0.0.1:9", "--bogus"], "unknown option '--bogus'"),
        (["--url", "http://127.0.0.1:9", "--prefix"], "--prefix needs a value"),
        (["--url", "http://127.0.0.1:9", "--no-systemd", "--data-dir", str(tmp_path), "--python", sys.executable],
         "--token is required"),
    ]
    for args, message in cases:
        proc = subprocess.run(["sh", script, *args], capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
    ok = subprocess.run(["sh", script, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0 and "--pip-args" in ok.stdout  # positive control


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_install_script_is_shellcheck_clean():
    proc = subprocess.run(["shellcheck", "-s", "sh", str(REPO / "edge_agent" / "install.sh")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout
