"""The loopback HTTP server under every stand-in of `tests/support` (APIs, Vault, webhooks)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps test output clean and answers in one call."""

    def log_message(self, *args) -> None:  # pylint: disable=arguments-differ
        pass

    def reply(self, status: int, body: bytes = b"", content_type: str | None = None) -> None:
        """Send a whole response: status, content type and length, body."""
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LoopbackServer:
    """Serves `handler()` on a free 127.0.0.1 port in a daemon thread while the `with` lasts."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class, usually closing over `self`."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
