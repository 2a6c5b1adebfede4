"""The portal in a real browser: Debian's chromium driven by Playwright against a live server.

Skipped (with the reason) where /usr/bin/chromium or playwright is missing; .ci/run installs both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import call_command

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_page(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright's loop shares the test thread
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        yield page
        page.screenshot(path=str(tmp_path / "last.png"))
        browser.close()


def test_demo_operator_logs_in_and_sees_sites_cameras_and_alerts(live_server, browser_page):  # noqa: ANN001
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    page = browser_page
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "vadcloud-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=tenant-name]")
    assert page.inner_text("[data-testid=tenant-name]") == "Acme Retail"
    body = page.inner_text("main")
    assert "Chicago Flagship" in body and "Berlin Mitte" in body
    assert "Parking lot" in body
    assert "open alert" in body


def test_wrong_password_stays_on_the_login_page(live_server, browser_page):  # noqa: ANN001
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "/login/" in page.url
    assert "correct username and password" in page.inner_text("main")
