"""docker-compose.yml stays consistent with the settings (no Docker engine here: parse it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_services_with_healthchecks():
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert "vadcloud.asgi:application" in " ".join(services["web"]["command"])
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_app_variable_is_read_by_the_settings():
    settings_source = (ROOT / "vadcloud" / "settings.py").read_text()
    services = compose()["services"]
    for name in ("web", "worker", "beat", "migrate"):
        for variable in services[name]["environment"]:
            assert re.search(rf'"{variable}"', settings_source), f"{name}: {variable} is not read by settings.py"
    env = services["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")


def test_dockerfile_installs_the_lock_and_serves_asgi():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    assert "vadcloud.asgi:application" in dockerfile


def test_docker_compose_config_when_the_client_can():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine; the parse tests above cover the file")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker client has no compose plugin; the parse tests above cover the file")
    result = subprocess.run([docker, "compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                            env={"SECRET_KEY": "x", "FIELD_ENCRYPTION_KEY": "y", "EDGE_CONFIG_SIGNING_KEY": "z",
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
