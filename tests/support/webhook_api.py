"""A local chat webhook (Discord/Slack-compatible): records each JSON message it is sent.

`mode`: "ok" answers 204 like Discord, "500" answers an error, "hang" answers only after
`hang_seconds` (a webhook that times out).
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """Serve the receiver on a free loopback port; use as a context manager."""

    def __init__(self, mode: str = "ok", hang_seconds: float = 5.0):
        self.mode = mode
        self.hang_seconds = hang_seconds
        self.messages: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/webhooks/1234/abcd"

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                receiver.messages.append(json.loads(self.rfile.read(length) or b"{}"))
                if receiver.mode == "hang":
                    time.sleep(receiver.hang_seconds)
                status = 500 if receiver.mode == "500" else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
