"""A local stand-in for HashiCorp Vault: the KV v2 read and AppRole login APIs, as `hvac` uses them.

- `GET /v1/<mount>/data/<path>` with `X-Vault-Token`: 200 with `{"data": {"data": ..., "metadata":
  ...}}`, 404 `{"errors": []}` for a missing path, 403 `{"errors": ["permission denied"]}` for an
  unknown token.
- `POST /v1/auth/approle/login` with `{"role_id", "secret_id"}`: 200 with `auth.client_token`, 400
  for a wrong pair (Vault's answer).
"""

import json
import secrets
import uuid
from datetime import datetime, timezone

from tests.support.loopback import LoopbackServer, QuietHandler


class VaultAPI(LoopbackServer):
    """Serve the stand-in on a free loopback port; use as a context manager."""

    def __init__(self, mount: str = "secret", token: str | None = None):
        self.mount = mount
        self.token = token or "hvs." + secrets.token_urlsafe(24)
        self.role_id = str(uuid.uuid4())
        self.secret_id = str(uuid.uuid4())
        self.data: dict[str, dict[str, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self._tokens = {self.token}
        super().__init__()

    @property
    def url(self) -> str:
        return self.base_url

    def handler(self):
        vault = self

        class Handler(QuietHandler):
            def _send(self, status: int, body: dict) -> None:
                self.reply(status, json.dumps(body).encode("utf-8"), "application/json")

            def do_GET(self):  # noqa: N802  (http.server names)
                path = self.path.split("?", 1)[0]
                vault.requests.append(("GET", path))
                if self.headers.get("X-Vault-Token") not in vault._tokens:
                    return self._send(403, {"errors": ["permission denied"]})
                prefix = f"/v1/{vault.mount}/data/"
                if not path.startswith(prefix):
                    return self._send(404, {"errors": []})
                secret = vault.data.get(path[len(prefix) :])
                if secret is None:
                    return self._send(404, {"errors": []})
                created = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
                return self._send(
                    200,
                    {
                        "request_id": str(uuid.uuid4()),
                        "lease_id": "",
                        "renewable": False,
                        "lease_duration": 0,
                        "data": {
                            "data": secret,
                            "metadata": {
                                "created_time": created,
                                "custom_metadata": None,
                                "deletion_time": "",
                                "destroyed": False,
                                "version": 1,
                            },
                        },
                        "wrap_info": None,
                        "warnings": None,
                        "auth": None,
                    },
                )

            def do_POST(self):  # noqa: N802  (http.server names)
                vault.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/v1/auth/approle/login":
                    return self._send(404, {"errors": []})
                if (body.get("role_id"), body.get("secret_id")) != (
                    vault.role_id,
                    vault.secret_id,
                ):
                    return self._send(400, {"errors": ["invalid role or secret ID"]})
                token = "hvs." + secrets.token_urlsafe(24)
                vault._tokens.add(token)
                return self._send(
                    200,
                    {
                        "request_id": str(uuid.uuid4()),
                        "auth": {
                            "client_token": token,
                            "accessor": str(uuid.uuid4()),
                            "policies": ["default", "pipelines"],
                            "token_policies": ["default", "pipelines"],
                            "lease_duration": 3600,
                            "renewable": True,
                        },
                    },
                )

        return Handler
