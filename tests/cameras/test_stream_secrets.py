from __future__ import annotations

from django.db import connection

from tests.conftest import client_for


def test_stream_credentials_are_encrypted_at_rest_and_redacted_in_the_api(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    response = alice.post("/api/v1/cameras/", {"site": acme.site.id, "name": "Vault",
                                               "stream_url": "rtsp://admin:hunter2@10.1.2.3:554/main"})
    assert response.status_code == 201, response.content
    assert "stream_url" not in response.json()
    assert response.json()["stream_url_redacted"] == "rtsp://admin:***@10.1.2.3:554/main"
    with connection.cursor() as cursor:
        cursor.execute("SELECT stream_url FROM cameras_camera WHERE id = %s", [response.json()["id"]])
        stored = cursor.fetchone()[0]
    assert "hunter2" not in stored and "10.1.2.3" not in stored
    assert stored.startswith("gAAAA")  # Fernet token


def test_unsupported_stream_scheme_is_a_field_error(acme):  # noqa: ANN001
    response = client_for(acme.users["alice"]).post(
        "/api/v1/cameras/", {"site": acme.site.id, "name": "X", "stream_url": "gopher://cam"})
    assert response.status_code == 400 and "stream_url" in response.json()
