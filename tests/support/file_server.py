"""A local HTTP server that serves files from a dict `{path: bytes}`, optionally behind a token."""

import threading
from pathlib import Path

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


if __name__ == "__main__":  # serve one file: python -m tests.support.file_server PATH
    import sys

    source = Path(sys.argv[1])
    with FileServer({"/" + source.name: source}) as running:
        print(running.url("/" + source.name), flush=True)
        threading.Event().wait()
