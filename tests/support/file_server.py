"""A local HTTP server that serves files from a dict `{path: bytes}`, optionally behind a token."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FileServer:
    """Serve `files` on a free loopback port; use as a context manager."""

    def __init__(self, files: dict[str, bytes | Path] | None = None, token: str | None = None):
        self.files: dict[str, bytes | Path] = dict(files or {})
        self.token = token
        self.requests: list[tuple[str, str | None]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> "FileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                auth = self.headers.get("Authorization")
                server.requests.append((self.path, auth))
                if server.token and auth != f"Bearer {server.token}":
                    self.send_response(401)
                    self.end_headers()
                    return
                body = server.files.get(self.path.split("?")[0])
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                if isinstance(body, Path):
                    self.send_header("Content-Length", str(body.stat().st_size))
                    self.end_headers()
                    with open(body, "rb") as handle:
                        while chunk := handle.read(1 << 20):
                            self.wfile.write(chunk)
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


if __name__ == "__main__":  # serve one file: python -m tests.support.file_server PATH
    import sys

    source = Path(sys.argv[1])
    with FileServer({"/" + source.name: source}) as running:
        print(running.url("/" + source.name), flush=True)
        threading.Event().wait()
