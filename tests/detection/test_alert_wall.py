"""The live alert wall websocket: tenant-scoped push and ack, another tenant's alert is 4404."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from vadcloud.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> str:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def connect(user):  # noqa: ANN001, ANN201
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/alerts/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


def test_anonymous_is_rejected_with_4401(db):  # noqa: ANN001
    async def run() -> None:
        communicator, connected, code = await connect(None)
        assert (connected, code) == (False, 4401)

    async_to_sync(run)()


def test_operator_acks_own_alert_and_other_tenant_alert_is_4404(acme, globex):  # noqa: ANN001
    async def run() -> None:
        olga, connected, _ = await connect(acme.users["olga"])
        assert connected
        assert (await olga.receive_json_from())["tenant"] == "acme"
        mallory, connected, _ = await connect(globex.users["mallory"])
        assert connected
        assert (await mallory.receive_json_from())["tenant"] == "globex"

        await mallory.send_json_to({"type": "acknowledge", "alert_id": acme.alert.id, "reason": "investigating"})
        reply = await mallory.receive_json_from()
        assert (reply["type"], reply["code"]) == ("error", 4404)

        await olga.send_json_to({"type": "acknowledge", "alert_id": acme.alert.id, "reason": "investigating"})
        messages = [await olga.receive_json_from(timeout=5) for _ in range(2)]
        assert {m["type"] for m in messages} == {"acknowledge.ok", "alert"}
        assert all(m["alert"]["status"] == "acknowledged" for m in messages)
        assert await mallory.receive_nothing(timeout=0.3)  # globex's wall hears nothing of acme
        await olga.disconnect()
        await mallory.disconnect()

    async_to_sync(run)()


def test_viewer_cannot_handle_alerts_over_the_socket(acme):  # noqa: ANN001
    async def run() -> None:
        vera, connected, _ = await connect(acme.users["vera"])
        assert connected
        await vera.receive_json_from()
        await vera.send_json_to({"type": "dismiss", "alert_id": acme.alert.id, "reason": "false_alarm"})
        reply = await vera.receive_json_from()
        assert (reply["type"], reply["code"]) == ("error", 4403)
        await vera.disconnect()

    async_to_sync(run)()
