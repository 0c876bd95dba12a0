"""A local HTTP server that serves files from a dict `{path: bytes}`, optionally behind a token."""

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.support.loopback import LoopbackServer, QuietHandler


class FileServer(LoopbackServer):
    """Serve `files` on a free loopback port; use as a context manager."""

    def __init__(self, files: dict[str, bytes | Path] | None = None, token: str | None = None):
        self.files: dict[str, bytes | Path] = dict(files or {})
        self.token = token
        self.requests: list[tuple[str, str | None]] = []
        super().__init__()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def handler(self):
        server = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802  (http.server names)
                auth = self.headers.get("Authorization")
                server.requests.append((self.path, auth))
                if server.token and auth != f"Bearer {server.token}":
                    return self.reply(401)
                body = server.files.get(self.path.split("?")[0])
                if body is None:
                    return self.reply(404)
                if isinstance(body, bytes):
                    return self.reply(200, body)
                self.send_response(200)
                self.send_header("Content-Length", str(body.stat().st_size))
                self.end_headers()
                with open(body, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        self.wfile.write(chunk)
                return None

        return Handler


@dataclass(frozen=True)
class Fault:
    """How a `FaultServer` answers one path: a 200 with `headers` (None: no answer at all), then
    `body`, then `then`: "close" the connection (however much was promised), "hang" (send
    nothing more) or "trickle" (one byte every 0.1 s, forever)."""

    body: bytes = b""
    headers: dict[str, str] | None = field(default_factory=dict)
    then: Literal["close", "hang", "trickle"] = "close"


class FaultServer(LoopbackServer):
    """A source that cuts, hangs or trickles its answers, written byte by byte on the socket
    (http.server would add a length or refuse a short body)."""

    def __init__(self, faults: dict[str, Fault]):
        self.faults = faults
        self.requests: list[str] = []
        self.closing = threading.Event()
        super().__init__()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def __exit__(self, *exc) -> None:
        self.closing.set()
        super().__exit__(*exc)

    def handler(self):
        server = self

        class Handler(QuietHandler):
            """Writes each path's fault."""

            def do_GET(self):  # noqa: N802  (http.server names)
                """Status line, headers and body as the fault says, then its ending."""
                server.requests.append(self.path)
                fault = server.faults.get(self.path.split("?")[0])
                if fault is None:
                    return self.reply(404)
                self.close_connection = True
                try:
                    if fault.headers is not None:
                        head = "".join(
                            f"{name}: {value}\r\n" for name, value in fault.headers.items()
                        )
                        self.wfile.write(f"HTTP/1.1 200 OK\r\n{head}\r\n".encode() + fault.body)
                    if fault.then == "hang" or fault.headers is None:
                        server.closing.wait(60)
                    while fault.then == "trickle" and not server.closing.wait(0.1):
                        self.wfile.write(b"x")
                except OSError:  # the client gave up
                    pass
                return None

        return Handler


if __name__ == "__main__":  # serve one file: python -m tests.support.file_server PATH
    import sys

    source = Path(sys.argv[1])
    with FileServer({"/" + source.name: source}) as running:
        print(running.url("/" + source.name), flush=True)
        threading.Event().wait()
