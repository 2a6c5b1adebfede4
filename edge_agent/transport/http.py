"""POST JSON messages to the cloud (the websocket endpoint comes with the enrollment issue)."""

from __future__ import annotations

import urllib.error
import urllib.request

from edge_agent.transport.outbox import TransportError


class HttpSender:
    def __init__(self, url: str, timeout_s: float = 5.0, token: str | None = None) -> None:
        self.url, self.timeout_s, self.token = url, timeout_s, token

    def __call__(self, body: str) -> None:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read()
        except urllib.error.HTTPError as err:
            raise TransportError(f"{self.url} answered HTTP {err.code}") from err
        except (urllib.error.URLError, OSError) as err:
            raise TransportError(f"cannot reach {self.url}: {getattr(err, 'reason', err)}") from err
