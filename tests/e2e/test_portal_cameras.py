"""Cameras, zone/mask editor and devices in a real browser (tests/e2e/conftest.py: browser_page).

The issue's checks: as admin, draw a zone on the scene image with mouse clicks, save it, and see
it stored and in the device's signed config; create a device and copy its install command; no
serious/critical axe-core violations; a screenshot of every page (test-artifacts/screenshots/).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from channels.layers import get_channel_layer
from django.core.files.base import ContentFile
from django.core.management import call_command

from cameras.edgeconfig import config_public_keys, config_sign
from cameras.models import Camera, EdgeDevice, Zone
from tenants.models import Site, Tenant
from tenants.scope import tenant_scope

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = REPO / "test-artifacts" / "screenshots"


def scene_jpeg() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 360), (90, 110, 95))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 250, 640, 360), fill=(70, 70, 75))  # floor
    draw.rectangle((420, 60, 560, 250), fill=(150, 120, 90))  # a door
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def demo(settings, tmp_path):  # noqa: ANN001, ANN201
    """The demo tenant; its Entrance camera has a device and a scene image."""
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    tenant = Tenant.objects.get(slug="acme-retail")
    with tenant_scope(tenant.id):
        site = Site.objects.get(name="Chicago Flagship")
        Site.objects.filter(id=site.id).update(scene_images_allowed=True)
        device = EdgeDevice.objects.create(site=site, name="front-box")
        camera = Camera.objects.get(site=site, name="Entrance")
        camera.device = device
        camera.save()
        camera.scene_image.save("entrance.jpg", ContentFile(scene_jpeg()))
    return {"tenant": tenant, "camera": camera, "device": device, "site": site}


class DeviceSocket:
    """Listens on the device's channel-layer group as its open /ws/edge/ socket does (cameras.live);
    run in a worker thread, away from playwright's event loop."""

    def __init__(self, device_id: int) -> None:
        from cameras.live import device_group

        self.layer = get_channel_layer()
        self.channel = self._run(self.layer.new_channel())
        self._run(self.layer.group_add(device_group(device_id), self.channel))

    @staticmethod
    def _run(coro):  # noqa: ANN001, ANN205
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    def next_message(self, timeout: float = 5.0) -> dict:
        return self._run(asyncio.wait_for(self.layer.receive(self.channel), timeout))


def log_in(page, base: str, username: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "vadcloud-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=tenant-name]")


def axe_violations(page) -> list[dict]:  # noqa: ANN001
    """serious/critical axe-core findings (evaluated through the DevTools protocol: the CSP allows no inline script)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))")
    return [v for v in found if v["impact"] in ("serious", "critical")]


def check_page(page, name: str) -> None:  # noqa: ANN001
    """No serious/critical axe violation; screenshots at 1280 and 820 px wide."""
    assert axe_violations(page) == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")  # the zone editor's stage is sticky
    for width in (1280, 820):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_admin_draws_a_zone_on_the_scene_image_and_it_reaches_the_signed_device_config(
        live_server, browser_page, demo):  # noqa: ANN001
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, live_server.url, "alice")
    camera, device = demo["camera"], demo["device"]

    page.goto(f"{live_server.url}/cameras/")
    assert "Entrance" in page.inner_text("[data-testid=camera-list]")
    check_page(page, "cameras-list")
    page.click("text=Entrance")
    page.wait_for_selector("[data-testid=camera-settings]")
    assert "demo-secret" not in page.content()
    check_page(page, "camera-detail")

    page.goto(f"{live_server.url}/cameras/{camera.id}/zones/")
    page.wait_for_selector("#zone-list li")
    assert page.locator("#zone-stage image").count() == 1  # the scene image is the background
    assert page.locator("#zone-list li").count() == 3  # the demo's zones
    page.select_option("#new-kind", "intrusion")
    page.click("#zone-new")
    box = page.locator("#zone-stage").bounding_box()
    corners = [(0.30, 0.40), (0.55, 0.40), (0.55, 0.80), (0.30, 0.80)]
    for x, y in corners:
        page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])
    page.click("#zone-finish")
    new_item = page.locator("#zone-list li").last
    new_item.locator("[data-field=name]").fill("Till area")
    socket = DeviceSocket(device.id)
    new_item.locator("[data-act=save]").click()
    page.wait_for_function("() => document.getElementById('zone-status').textContent.includes('saved')")
    # the save told the device's socket to send the new signed config (the edge consumer does the rest)
    assert socket.next_message() == {"type": "edge.config", "device_id": device.id}

    with tenant_scope(demo["tenant"].id):
        zone = Zone.objects.get(camera=camera, name="Till area")
    assert zone.kind == "intrusion"
    for (x, y), (zx, zy) in zip(corners, zone.points, strict=True):
        assert abs(x - zx) < 0.01 and abs(y - zy) < 0.01, zone.points

    # drag the first corner: the moved zone is saved too
    page.locator("#zone-stage").scroll_into_view_if_needed()
    box = page.locator("#zone-stage").bounding_box()  # saving scrolled the page
    page.mouse.move(box["x"] + 0.30 * box["width"], box["y"] + 0.40 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.20 * box["width"], box["y"] + 0.30 * box["height"], steps=5)
    page.mouse.up()
    new_item.locator("[data-act=save]").click()
    page.wait_for_function("() => document.getElementById('zone-status').textContent.includes('saved')")
    with tenant_scope(demo["tenant"].id):
        zone.refresh_from_db()
    assert abs(zone.points[0][0] - 0.20) < 0.01 and abs(zone.points[0][1] - 0.30) < 0.01, zone.points

    # a bad points text: the API's message shows next to the zone, nothing is stored
    new_item.locator("[data-field=points]").fill("0.1,0.1 0.2,0.2")
    new_item.locator("[data-act=save]").click()
    page.wait_for_function("() => document.getElementById('zone-status').textContent.includes('not saved')")
    assert new_item.locator(".zone-errors").inner_text().startswith("points:")
    check_page(page, "zone-editor")

    # delete a demo zone (after the confirm dialog): it leaves the database and the config
    page.once("dialog", lambda dialog: dialog.accept())
    window_item = page.locator("#zone-list li", has_text="Neighbour window")
    window_item.locator("[data-act=delete]").click()
    page.wait_for_function("() => document.getElementById('zone-status').textContent.includes('deleted')")
    with tenant_scope(demo["tenant"].id):
        assert not Zone.objects.filter(camera=camera, name="Neighbour window").exists()

    # the device's signed config carries the zone (what the push sends to the agent)
    push = config_sign(device=EdgeDevice.unscoped_objects.get(id=device.id))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(base64.b64decode(config_public_keys()[push.key_id])).verify(
        base64.b64decode(push.signature), push.payload.encode())
    cameras = {c["id"]: c for c in json.loads(push.payload)["cameras"]}
    pushed = {z["name"]: z for z in cameras[str(camera.id)]["zones"]}
    assert pushed["Till area"]["kind"] == "intrusion"
    assert pushed["Till area"]["points"] == [[float(x), float(y)] for x, y in zone.points]
    assert "Neighbour window" not in pushed
    assert csp_errors == []


def test_admin_creates_a_device_and_copies_its_install_command(live_server, browser_page, demo):  # noqa: ANN001
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/devices/")
    assert "front-box" in page.inner_text("[data-testid=device-list]")
    check_page(page, "devices-list")
    page.select_option("#dev-site", label="Berlin Mitte (DE)")
    page.fill("#dev-name", "berlin-box")
    page.click("[data-testid=device-create] button[type=submit]")
    page.wait_for_selector("text=Get enrollment token")
    page.click("text=Get enrollment token")
    command = page.input_value("[data-testid=install-command]")
    assert command.startswith("curl -fsSL ") and "--token " in command
    page.click("[data-copy=install-command]")
    page.wait_for_function("() => document.querySelector('.copy-status').textContent !== ''")
    status = page.inner_text(".copy-status")
    if status.startswith("Copied"):
        assert page.evaluate("() => navigator.clipboard.readText()") == command
    else:  # the fallback selected the whole command
        assert page.evaluate("() => { const f = document.getElementById('install-command');"
                             " return f.value.slice(f.selectionStart, f.selectionEnd); }") == command
    check_page(page, "device-enrollment")
    with tenant_scope(demo["tenant"].id):
        device = EdgeDevice.objects.get(name="berlin-box")
    assert device.site.name == "Berlin Mitte"


def test_zone_editor_without_scene_image_shows_a_grid_and_the_request_answer(live_server, browser_page, demo):  # noqa: ANN001
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server.url, "alice")
    with tenant_scope(demo["tenant"].id):
        parking = Camera.objects.get(name="Parking lot")  # no device, no scene image
    page.goto(f"{live_server.url}/cameras/{parking.id}/zones/")
    page.wait_for_selector("#zone-list li")
    assert "No scene image yet" in page.inner_text("[data-testid=no-scene-image]")
    assert page.locator("#zone-stage.zone-grid image").count() == 0
    page.click("#scene-request")
    page.wait_for_function("() => document.getElementById('scene-request-status').textContent !== ''")
    assert "has no edge device" in page.inner_text("#scene-request-status")  # the API's 409, said on the page

    # keyboard only: add a line, type its two points, Tab to Save, Enter
    page.select_option("#new-kind", "line")
    page.focus("#zone-add-default")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.dataset.field") == "points"
    page.keyboard.press("Control+A")
    page.keyboard.type("0.1,0.9 0.9,0.85")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.act") == "save"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('zone-status').textContent.includes('saved')")
    with tenant_scope(demo["tenant"].id):
        line = Zone.objects.get(camera=parking, kind="line")
    assert line.points == [[0.1, 0.9], [0.9, 0.85]] and line.name == "Line crossing 1"
    check_page(page, "zone-editor-no-image")


def test_zone_editor_keyboard_moves_and_deletes_corners_and_zones(live_server, browser_page, demo):  # noqa: ANN001
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, live_server.url, "alice")
    camera = demo["camera"]
    page.goto(f"{live_server.url}/cameras/{camera.id}/zones/")
    page.wait_for_selector("#zone-list li")
    door = page.locator("#zone-list li", has_text="Staff door")
    points = lambda item: item.locator("[data-field=points]").input_value()  # noqa: E731
    assert points(door) == "0.7000,0.2000 0.9500,0.2000 0.9500,0.6000 0.7000,0.6000"

    # Tab from the zone's shape to its first corner; arrows move it, Shift makes the step bigger
    page.focus(".zone-shape[aria-label^='Staff door']")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("Corner 1 of Staff door")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    assert points(door) == "0.7100,0.2500 0.9500,0.2000 0.9500,0.6000 0.7000,0.6000"
    assert page.locator("circle.zone-vertex.selected").count() == 1  # drawn as the selected corner
    assert "corner 1 at 0.710, 0.250 moved" in page.inner_text("#zone-status")
    check_page(page, "zone-editor-keyboard")

    # Delete removes the selected corner while the zone keeps 3; then it says why it does not
    page.keyboard.press("Delete")
    assert points(door) == "0.9500,0.2000 0.9500,0.6000 0.7000,0.6000"
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("Corner 1 of Staff door")
    page.keyboard.press("Delete")
    assert points(door) == "0.9500,0.2000 0.9500,0.6000 0.7000,0.6000"
    assert "needs at least 3 corners" in page.inner_text("#zone-status")
    door.locator("[data-act=save]").click()
    page.wait_for_function("() => document.getElementById('zone-status').textContent.includes('saved')")
    with tenant_scope(demo["tenant"].id):
        assert Zone.objects.get(camera=camera, name="Staff door").points == [[0.95, 0.2], [0.95, 0.6], [0.7, 0.6]]

    # the whole zone: its shape takes the arrows too, kept inside the frame
    window = page.locator("#zone-list li", has_text="Neighbour window")
    page.focus(".zone-shape[aria-label^='Neighbour window']")
    page.keyboard.press("ArrowLeft")  # already at the left edge: stays
    assert points(window) == "0.0000,0.0000 0.2000,0.0000 0.2000,0.2500 0.0000,0.2500"
    page.keyboard.press("Shift+ArrowRight")
    assert points(window) == "0.0500,0.0000 0.2500,0.0000 0.2500,0.2500 0.0500,0.2500"
    # Delete on the shape deletes the zone (after the confirm dialog, as its Delete button does)
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("Delete")
    page.wait_for_function("() => document.getElementById('zone-status').textContent.includes('deleted')")
    assert page.locator("#zone-list li", has_text="Neighbour window").count() == 0
    with tenant_scope(demo["tenant"].id):
        assert not Zone.objects.filter(camera=camera, name="Neighbour window").exists()
        assert Zone.objects.filter(camera=camera, name="Whole frame").exists()  # only that one went
    assert page.evaluate("document.activeElement.classList.contains('zone-shape')")  # focus moved on to a zone
    assert csp_errors == []
