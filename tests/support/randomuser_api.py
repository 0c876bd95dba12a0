"""A local stand-in for the randomuser.me API: `GET /api/?results=N&format=csv`, realistic CSV.

Rows carry accents, quoted commas and embedded newlines, as real addresses do. `mode` makes it
misbehave the ways a real API does: HTTP 500, an HTML error page, a hang, a short answer.
"""

import csv
import io
import threading
import time
from urllib.parse import parse_qs, urlparse

from tests.support.loopback import LoopbackServer, QuietHandler

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
FIRST = ["João", "Maria", "Conceição", "André", "Lúcia", "Sebastião", "Íris", "Zoë", "François"]
LAST = ["Conceição", "Araújo", "D'Ávila", "Müller", "Gonçalves", "O'Brien", "Nuñez", "Ølstad"]
STREETS = [
    "Rua São João",
    "Avenida Atlântica, bloco 2",
    'Travessa "Boa Vista"',
    "Rua das Flores\nFundos",
]
CITIES = ["Rio de Janeiro", "São Paulo", "Niterói", "Petrópolis"]


def user_row(index: int) -> list[str]:
    first, last = FIRST[index % len(FIRST)], LAST[index % len(LAST)]
    return [
        "female" if index % 2 else "male",
        "Sra" if index % 2 else "Sr",
        first,
        last,
        str(100 + index),
        STREETS[index % len(STREETS)],
        CITIES[index % len(CITIES)],
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
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for index in range(n_users):
        writer.writerow(user_row(index))
    return buffer.getvalue()


class RandomUserAPI(LoopbackServer):
    """Serve the stand-in on a free loopback port; use as a context manager."""

    def __init__(self, mode: str = "ok", hang_seconds: float = 60.0):
        self.mode = mode
        self.hang_seconds = hang_seconds
        self.requests: list[str] = []
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/"

    def handler(self):
        api = self

        class Handler(QuietHandler):
            def _send(self, status: int, body: str, content_type: str) -> None:
                self.reply(status, body.encode("utf-8"), content_type)

            def do_GET(self):  # noqa: N802  (http.server names)
                api.requests.append(self.path)
                query = parse_qs(urlparse(self.path).query)
                n_users = min(int(query.get("results", ["1"])[0]), 5000)
                if api.mode == "500":
                    return self._send(500, "Internal Server Error", "text/plain")
                if api.mode == "html":
                    page = (
                        "<!DOCTYPE html><html><body><h1>Uh oh, something bad happened</h1></body>"
                    )
                    return self._send(200, page, "text/html; charset=utf-8")
                if api.mode == "hang":
                    time.sleep(api.hang_seconds)
                if api.mode == "short":
                    n_users = max(n_users - 1, 0)
                return self._send(200, users_csv(n_users), "text/csv; charset=utf-8")

        return Handler


if __name__ == "__main__":
    with RandomUserAPI() as server:
        print(server.url, flush=True)
        threading.Event().wait()
