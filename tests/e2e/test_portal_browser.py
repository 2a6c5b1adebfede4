"""The portal in a real browser (tests/e2e/conftest.py: browser_page) against a live server."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_operator_logs_in_and_sees_sites_cameras_and_alerts(live_server, browser_page):  # noqa: ANN001
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    page = browser_page
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "vadcloud-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=wall-table]")
    assert page.url == f"{live_server.url}/alerts/"  # an operator lands on the alert wall
    page.goto(f"{live_server.url}/")
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
