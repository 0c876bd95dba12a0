"""A local chat webhook (Discord/Slack-compatible): records each JSON message it is sent.

`mode`: "ok" answers 204 like Discord, "500" answers an error, "hang" answers only after
`hang_seconds` (a webhook that times out).
"""

import json
import time

from tests.support.loopback import LoopbackServer, QuietHandler


class WebhookReceiver(LoopbackServer):
    """Serve the receiver on a free loopback port; use as a context manager."""

    def __init__(self, mode: str = "ok", hang_seconds: float = 5.0):
        self.mode = mode
        self.hang_seconds = hang_seconds
        self.messages: list[dict] = []
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/webhooks/1234/abcd"

    def handler(self):
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802  (http.server names)
                length = int(self.headers.get("Content-Length") or 0)
                receiver.messages.append(json.loads(self.rfile.read(length) or b"{}"))
                if receiver.mode == "hang":
                    time.sleep(receiver.hang_seconds)
                self.reply(500 if receiver.mode == "500" else 204)

        return Handler
