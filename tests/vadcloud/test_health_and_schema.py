from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_checks_database_and_channel_layer(db):  # noqa: ANN001
    response = Client().get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok"}


def test_openapi_schema_lists_the_api(db):  # noqa: ANN001
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/sites/", "/api/v1/cameras/{id}/", "/api/v1/alerts/{id}/acknowledge/", "/api/v1/zones/"):
        assert path in paths, sorted(paths)


def test_api_requires_authentication(db):  # noqa: ANN001
    response = Client().get("/api/v1/sites/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if k not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_debug_off():
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     DEBUG="0", SECRET_KEY="x" * 30 + "-long-random-secret-for-the-deploy-check-0123456789",
                     FIELD_ENCRYPTION_KEY="q2VQn0r1mB2Ww4eZQ4Jr3Vn8b6o6jWqfC3kqv5Kx1bQ=", ALLOWED_HOSTS="vad.example.com",
                     EDGE_CONFIG_SIGNING_KEY=base64.b64encode(os.urandom(32)).decode())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
def test_production_settings_refuse_to_start_without_secrets(missing):  # noqa: ANN001
    env = {"DEBUG": "False", "SECRET_KEY": "s" * 60, "FIELD_ENCRYPTION_KEY": "q2VQn0r1mB2Ww4eZQ4Jr3Vn8b6o6jWqfC3kqv5Kx1bQ="}
    env.pop(missing)
    result = _manage("check", **env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_unexpected_boolean_is_named():
    result = _manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "Unexpected value DEBUG='maybe'" in result.stderr
