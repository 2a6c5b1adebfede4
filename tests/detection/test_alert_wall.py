"""The live alert wall websocket: tenant-scoped push and ack, another tenant's alert is 4404."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from detection.models import Alert
from tenants.models import Membership
from tenants.scope import tenant_scope
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


# --- rights are current: every message and every push re-checks them -----------------------

def limited_operator(acme, username: str = "lina"):  # noqa: ANN001, ANN201
    """An operator who may see acme's HQ site only (a django-guardian grant)."""
    from guardian.shortcuts import assign_perm

    user = acme.add(username, "operator", all_sites=False)
    with tenant_scope(acme.tenant.id):
        assign_perm("tenants.view_site", user, acme.site)
    return user


async def expect_close(communicator, code: int) -> None:  # noqa: ANN001
    """The server closes within a second, after saying why."""
    said = await communicator.receive_json_from(timeout=1)
    assert said["type"] == "closing" and said["code"] == code, said
    closed = await communicator.receive_output(timeout=1)
    assert closed == {"type": "websocket.close", "code": code}, closed


def alert_status(acme, alert_id: int) -> str:  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        return Alert.objects.get(id=alert_id).status


def test_site_limited_operator_cannot_ack_another_sites_alert_over_the_socket(acme):  # noqa: ANN001
    lina = limited_operator(acme)

    async def run() -> None:
        ws, connected, _ = await connect(lina)
        assert connected
        await ws.receive_json_from()
        await ws.send_json_to({"type": "acknowledge", "alert_id": acme.other_alert.id, "reason": "investigating"})
        reply = await ws.receive_json_from()
        assert (reply["type"], reply["code"]) == ("error", 4404)
        # positive control: the alert of her own site
        await ws.send_json_to({"type": "acknowledge", "alert_id": acme.alert.id, "reason": "investigating"})
        replies = [await ws.receive_json_from(timeout=5) for _ in range(2)]
        assert {m["type"] for m in replies} == {"acknowledge.ok", "alert"}
        await ws.disconnect()

    async_to_sync(run)()
    assert alert_status(acme, acme.other_alert.id) == "open"
    assert alert_status(acme, acme.alert.id) == "acknowledged"


def test_pushes_reach_only_members_who_can_see_the_alert_now(acme):  # noqa: ANN001
    lina = limited_operator(acme)
    alice = Client()
    alice.force_login(acme.users["alice"])

    async def run() -> None:
        ws, connected, _ = await connect(lina)
        assert connected
        await ws.receive_json_from()
        other = await sync_to_async(alice.post)(f"/api/v1/alerts/{acme.other_alert.id}/dismiss/", {"reason": "test"})
        assert other.status_code == 200
        assert await ws.receive_nothing(timeout=0.3)  # another site's alert: not pushed to lina
        own = await sync_to_async(alice.post)(f"/api/v1/alerts/{acme.alert.id}/dismiss/", {"reason": "test"})
        assert own.status_code == 200
        pushed = await ws.receive_json_from(timeout=2)  # positive control: her site's alert is
        assert (pushed["type"], pushed["alert"]["id"]) == ("alert", acme.alert.id)
        await ws.disconnect()

    async_to_sync(run)()


def admin_and_olgas_membership_url(acme) -> tuple[Client, str]:  # noqa: ANN001
    """Alice's portal session (she manages members) and the API URL of olga's membership."""
    alice = Client()
    alice.force_login(acme.users["alice"])
    with tenant_scope(acme.tenant.id):
        membership = Membership.objects.get(user=acme.users["olga"])
    return alice, f"/api/v1/memberships/{membership.id}/"


async def olgas_open_socket(acme):  # noqa: ANN001, ANN201
    ws, connected, _ = await connect(acme.users["olga"])
    assert connected
    await ws.receive_json_from()
    return ws


def test_removing_a_member_closes_their_socket_within_a_second(acme):  # noqa: ANN001
    alice, olga_url = admin_and_olgas_membership_url(acme)

    async def run() -> None:
        ws = await olgas_open_socket(acme)
        assert await ws.receive_nothing(timeout=0.2)  # positive control: an open socket stays open
        removed = await sync_to_async(alice.delete)(olga_url)
        assert removed.status_code == 204
        await expect_close(ws, 4408)
        again, connected, code = await connect(acme.users["olga"])
        assert (connected, code) == (False, 4403)  # and cannot come back

    async_to_sync(run)()
    assert alert_status(acme, acme.alert.id) == "open"


def test_demoting_a_member_closes_their_socket_and_the_new_role_applies(acme):  # noqa: ANN001
    alice, olga_url = admin_and_olgas_membership_url(acme)

    async def run() -> None:
        ws = await olgas_open_socket(acme)
        demoted = await sync_to_async(alice.patch)(olga_url, {"role": "viewer"}, content_type="application/json")
        assert demoted.status_code == 200, demoted.content
        await expect_close(ws, 4408)
        ws, connected, _ = await connect(acme.users["olga"])
        assert connected and (await ws.receive_json_from())["role"] == "viewer"
        await ws.send_json_to({"type": "acknowledge", "alert_id": acme.alert.id, "reason": "investigating"})
        reply = await ws.receive_json_from()
        assert (reply["type"], reply["code"]) == ("error", 4403)
        await ws.disconnect()

    async_to_sync(run)()
    assert alert_status(acme, acme.alert.id) == "open"


def test_a_demotion_is_enforced_on_the_next_message_even_if_the_close_is_missed(acme):  # noqa: ANN001
    async def run() -> None:
        ws = await olgas_open_socket(acme)

        def demote_behind_the_services_back() -> None:
            with tenant_scope(acme.tenant.id):
                Membership.objects.filter(user=acme.users["olga"]).update(role="viewer")

        await sync_to_async(demote_behind_the_services_back)()
        await ws.send_json_to({"type": "acknowledge", "alert_id": acme.alert.id, "reason": "investigating"})
        reply = await ws.receive_json_from()
        assert (reply["type"], reply["code"]) == ("error", 4403)
        await ws.disconnect()

    async_to_sync(run)()
    assert alert_status(acme, acme.alert.id) == "open"


def test_signing_out_closes_the_sockets_of_that_session_only(acme):  # noqa: ANN001
    portal = Client()
    portal.force_login(acme.users["olga"])
    cookie = portal.cookies["sessionid"].value

    async def run() -> None:
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", f"sessionid={cookie}".encode())]
        ws = WebsocketCommunicator(application, "/ws/alerts/", headers=headers)
        assert (await ws.connect())[0]
        await ws.receive_json_from()
        elsewhere, connected, _ = await connect(acme.users["olga"])  # the same user, another login session
        assert connected
        await elsewhere.receive_json_from()
        out = await sync_to_async(portal.post)("/logout/")
        assert out.status_code == 302
        await expect_close(ws, 4410)
        assert await elsewhere.receive_nothing(timeout=0.3)  # positive control: the other session stays
        await elsewhere.disconnect()
        ws = WebsocketCommunicator(application, "/ws/alerts/", headers=headers)
        assert await ws.connect() == (False, 4401)  # the old cookie no longer signs in

    async_to_sync(run)()


@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ("{not json", "invalid JSON"),
        ("[" * 5000 + "]" * 5000, "nesting deeper than 20"),
        ('{"type": "acknowledge", "alert_id": ' + "9" * 40 + ', "reason": "investigating"}', "alert_id"),
        ('{"type": "acknowledge", "alert_id": "1", "reason": "investigating"}', "alert_id"),
        ('{"type": "acknowledge", "alert_id": 1, "reason": "bored"}', "reason"),
        ('{"type": "acknowledge", "alert_id": 1, "reason": "investigating", "extra": 1}', "extra"),
        ('{"type": "acknowledge", "alert_id": 1, "reason": "investigating", "note": "' + "x" * 70000 + '"}',
         "larger than"),
    ],
)
def test_bad_frames_get_an_error_reply_and_the_socket_stays_usable(acme, frame, detail):  # noqa: ANN001
    async def run() -> None:
        ws = await olgas_open_socket(acme)
        await ws.send_to(text_data=frame)
        reply = await ws.receive_json_from(timeout=2)
        assert (reply["type"], reply["code"]) == ("error", 4400), reply
        assert detail in str(reply["detail"]), reply
        # positive control: the same socket still handles a valid message
        await ws.send_json_to({"type": "acknowledge", "alert_id": acme.alert.id, "reason": "investigating"})
        replies = [await ws.receive_json_from(timeout=5) for _ in range(2)]
        assert "acknowledge.ok" in {m["type"] for m in replies}
        await ws.disconnect()

    async_to_sync(run)()


def test_binary_frame_gets_an_error_reply(acme):  # noqa: ANN001
    async def run() -> None:
        ws = await olgas_open_socket(acme)
        await ws.send_to(bytes_data=b"\x00\x01")
        reply = await ws.receive_json_from(timeout=2)
        assert (reply["type"], reply["code"]) == ("error", 4400) and "text frames" in reply["detail"]
        await ws.disconnect()

    async_to_sync(run)()


def test_tenant_2fa_rule_applies_to_the_alert_socket_for_owners_and_admins(acme):  # noqa: ANN001
    """With the tenant's "second factor for owners and admins" rule on, an admin whose session was
    not signed in with TOTP is refused (4403), as on the portal and the session API; the same admin
    with a verified session, and an operator (the rule does not cover them), connect."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenants.models import Tenant

    Tenant.objects.filter(id=acme.tenant.id).update(require_2fa_for_managers=True)
    alice = acme.users["alice"]
    device = TOTPDevice.objects.create(user=alice, name="authenticator app", confirmed=True)

    def verified_cookie() -> str:
        client = Client()
        client.force_login(alice)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return session.session_key

    async def run() -> None:
        _, connected, code = await connect(alice)
        assert (connected, code) == (False, 4403)  # password only
        _, connected, _ = await connect(acme.users["olga"])  # positive control: an operator
        assert connected
        cookie = await sync_to_async(verified_cookie)()
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", f"sessionid={cookie}".encode())]
        ws = WebsocketCommunicator(application, "/ws/alerts/", headers=headers)
        connected, _ = await ws.connect()
        assert connected and (await ws.receive_json_from())["role"] == "admin"  # signed in with TOTP
        await ws.disconnect()

    async_to_sync(run)()
