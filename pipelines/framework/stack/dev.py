"""
Stand-ins for the external APIs the example flows read, so they run offline: `pipelines dev
randomuser --port 8000` serves `GET /api/?results=N&format=csv` as randomuser.me does, and
`pipelines run "Users report" -p api_url=http://127.0.0.1:8000/api/` reads it. The tests use the
same server (on a free port, in a thread) and make it misbehave the ways a real API does.

Its rows are realistic CSV: accents, quoted commas and embedded newlines, as real addresses have
(the names are in `randomuser_people.json`).
"""

import csv
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlparse

HEADER = [
    "gender",
    "name.title",
    "name.first",
    "name.last",
    "location.street.number",
    "location.street.name",
    "location.city",
    "location.state",
    "location.country",
    "location.postcode",
    "email",
    "login.username",
    "dob.date",
    "dob.age",
    "phone",
    "nat",
]
MAX_RESULTS = 5000
"""randomuser.me's own limit on `results`."""
MODES = ("ok", "500", "html", "hang", "short")
"""How the stand-in answers: as the API does, HTTP 500, an HTML error page, not at all for a
while, or one user short."""
_PEOPLE = json.loads((Path(__file__).parent / "randomuser_people.json").read_text("utf-8"))


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers in one call."""

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
    """Serves `handler()` in a daemon thread while the `with` lasts, on 127.0.0.1 and a free
    port unless told otherwise."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadingHTTPServer((host, port), self.handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class, usually closing over `self`."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def user_row(index: int) -> list[str]:
    """The `index`-th made-up user, as the CSV's columns (`HEADER`)."""
    first = _PEOPLE["first"][index % len(_PEOPLE["first"])]
    last = _PEOPLE["last"][index % len(_PEOPLE["last"])]
    return [
        "female" if index % 2 else "male",
        "Sra" if index % 2 else "Sr",
        first,
        last,
        str(100 + index),
        _PEOPLE["streets"][index % len(_PEOPLE["streets"])],
        _PEOPLE["cities"][index % len(_PEOPLE["cities"])],
        "Rio de Janeiro",
        "Brazil",
        f"{20000 + index:05d}-{index % 1000:03d}",
        f"user{index}@example.com",
        f"user_{index}",
        f"19{50 + index % 50}-0{1 + index % 9}-1{index % 10}T10:20:30.000Z",
        str(20 + index % 50),
        f"(21) 9{index:04d}-{index % 10000:04d}",
        "BR",
    ]


def users_csv(n_users: int) -> str:
    """A randomuser CSV answer with `n_users` users."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for index in range(n_users):
        writer.writerow(user_row(index))
    return buffer.getvalue()


class RandomUserAPI(LoopbackServer):
    """The randomuser.me stand-in; use as a context manager. `requests` records each path asked."""

    def __init__(
        self,
        mode: str = "ok",
        hang_seconds: float = 60.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
        self.mode = mode
        self.hang_seconds = hang_seconds
        self.requests: list[str] = []
        super().__init__(host, port)

    @property
    def url(self) -> str:
        """What a flow's `api_url` is set to."""
        return f"{self.base_url}/api/"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(QuietHandler):
            """Answers GET /api/?results=N&format=csv as `api.mode` says."""

            def do_GET(self):  # http.server calls it by this name
                api.requests.append(self.path)
                status, body, content_type = api.answer(self.path)
                self.reply(status, body.encode("utf-8"), content_type)

        return Handler

    def answer(self, path: str) -> tuple[int, str, str]:
        """(status, body, content type) for a request of `path`."""
        query = parse_qs(urlparse(path).query)
        try:
            n_users = min(int(query.get("results", ["1"])[0]), MAX_RESULTS)
        except ValueError:
            return 400, "results must be a whole number", "text/plain"
        if self.mode == "500":
            return 500, "Internal Server Error", "text/plain"
        if self.mode == "html":
            page = "<!DOCTYPE html><html><body><h1>Uh oh, something bad happened</h1></body>"
            return 200, page, "text/html; charset=utf-8"
        if self.mode == "hang":
            time.sleep(self.hang_seconds)
        if self.mode == "short":
            n_users = max(n_users - 1, 0)
        return 200, users_csv(n_users), "text/csv; charset=utf-8"
