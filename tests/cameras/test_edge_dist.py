"""GET /edge/dist/ lists the agent wheel built from edge_agent/ (sha256sum format); GET
/edge/dist/<wheel> serves it; GET /edge/install.sh is the repo's script."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from django.test import Client

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_index_names_a_wheel_of_this_source_and_its_checksum(settings, tmp_path, db):  # noqa: ANN001
    settings.EDGE_DIST_DIR = str(tmp_path)
    index = Client().get("/edge/dist/")
    assert index.status_code == 200 and index["Content-Type"].startswith("text/plain")
    sha, name = index.content.decode().split()
    assert name.startswith("vad_edge-") and name.endswith("-py3-none-any.whl")
    wheel = Client().get(f"/edge/dist/{name}")
    assert wheel.status_code == 200
    body = b"".join(wheel.streaming_content)
    assert hashlib.sha256(body).hexdigest() == sha
    files = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert "edge_agent/enroll.py" in files and "edge_agent/cli.py" in files
    assert any(f.endswith("entry_points.txt") for f in files)
    assert Client().get("/edge/dist/").content == index.content  # cached: the same build again

    missing = Client().get("/edge/dist/vad_edge-9.9.9-py3-none-any.whl")
    assert missing.status_code == 404 and name in missing.json()["detail"]


def test_a_source_that_does_not_build_is_a_503_with_a_message(settings, tmp_path, db):  # noqa: ANN001
    broken = tmp_path / "src"
    broken.mkdir()
    (broken / "pyproject.toml").write_text("[project\nname = ")
    settings.EDGE_AGENT_SOURCE_DIR = str(broken)
    settings.EDGE_DIST_DIR = str(tmp_path / "dist")
    response = Client().get("/edge/dist/")
    assert response.status_code == 503 and "make edge-dist" in response.json()["detail"]


def test_install_script_is_served_verbatim(db):  # noqa: ANN001
    response = Client().get("/edge/install.sh")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/x-shellscript")
    assert response.content == (REPO / "edge_agent" / "install.sh").read_bytes()
    assert Client().post("/edge/install.sh").status_code == 405
