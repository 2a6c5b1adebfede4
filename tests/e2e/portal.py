"""The portal as the browser tests drive it: a signed-in page (tests/e2e/conftest.py: browser_page)
against a live server with the demo data, checked page by page.

``Portal.check(name)`` runs axe-core (no serious or critical violation), asserts the console shows
no CSP report, optionally asserts no horizontal scrolling, and screenshots the page at 1280 and
820 px to test-artifacts/screenshots/<prefix>-<name>-<width>.png. ``demo_portal`` seeds the demo
data (seed_demo) and sets the 1280x900 viewport first.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = (1280, 820)
DEMO_PASSWORD = "vadcloud-demo"  # seed_demo's password for every demo user


class Portal:
    def __init__(self, page, origin: str, prefix: str, check_overflow: bool = False) -> None:  # noqa: ANN001, FBT001, FBT002
        self.page, self.origin = page, origin
        self.prefix = prefix  # screenshots: test-artifacts/screenshots/<prefix>-<name>-<width>.png
        self.check_overflow = check_overflow  # check() also asserts no horizontal scrolling at each width
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(msg.text))

    def sign_in(self, username: str) -> None:
        self.page.goto(f"{self.origin}/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", DEMO_PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("header .who")  # signed in (an operator lands on /alerts/, others on home)

    def check(self, name: str) -> None:
        """axe-core on the current page, no CSP report, (no sideways scrolling,) a screenshot at each width."""
        if not AXE.exists():
            pytest.fail(f"axe-core missing at {AXE}: run `npm ci` (make installs it)")
        page = self.page
        page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated over the devtools protocol: the CSP stays on
        violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]}))
            .violations.filter(v => ["serious", "critical"].includes(v.impact))
            .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(" ")).slice(0, 3).join(", ")}`)""")
        assert violations == [], f"{name}: {violations}"
        csp = [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]
        assert csp == [], f"{name}: {csp}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            if self.check_overflow:
                overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 0, f"{name}: {overflow}px of horizontal scrolling at {width}px"
            page.screenshot(path=str(SHOTS / f"{self.prefix}-{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def demo_portal(live_server, browser_page, cls: type[Portal] = Portal, **options: object) -> Portal:  # noqa: ANN001
    """For a module's fixture: seed the demo data, set the 1280x900 viewport, wrap the page."""
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    browser_page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    return cls(browser_page, live_server.url, **options)
