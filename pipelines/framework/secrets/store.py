"""
Where secrets are read from: HashiCorp Vault, Prefect Secret blocks, or the environment.

The order is decided by the settings (`pipelines/framework/config/settings.py`):

1. `vault`: HashiCorp Vault KV v2 through `hvac`, when `VAULT_ADDR` is set; token from
   `VAULT_TOKEN`, or an AppRole login with `VAULT_ROLE_ID` / `VAULT_SECRET_ID`; mount point
   `PIPELINES_VAULT_MOUNT` (default `secret`). Path `riomidia` is read at
   `GET /v1/secret/data/riomidia`.
2. `prefect`: a Secret block on the Prefect server in use, named after the path
   (`db/sme` -> block `db-sme`), holding a JSON object. Skipped when no API URL is configured.
3. `env`: the variable `PIPELINES_SECRET_<PATH>` holding a JSON object, where `<PATH>` is the path
   upper-cased with every other character than a letter or digit turned into `_`
   (`db/sme-prod` -> `PIPELINES_SECRET_DB_SME_PROD`). Meant for CI.

`PIPELINES_SECRET_BACKENDS=env` (comma list) overrides the order. The first backend that holds
the path answers; one that refuses (403) or cannot be reached stops the search with an error.
Values are cached per flow run and registered for masking before they are returned.
"""

import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol
from uuid import UUID

import hvac
import hvac.exceptions
import requests
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL
from pydantic import SecretStr

from pipelines.framework.config import Settings, get_settings
from pipelines.framework.secrets.masking import register_secret

ENV_PREFIX = "PIPELINES_SECRET_"
SECRET_BLOCK_TYPE = "secret"
_CACHED_RUNS = 32


class SecretError(RuntimeError):
    """A secret could not be read; the message names the path, never a value."""


class SecretNotFoundError(SecretError, KeyError):
    """No backend holds the path."""

    def __str__(self) -> str:
        return str(self.args[0])


class SecretAccessError(SecretError):
    """A backend refused access or could not be reached."""


class SecretBackend(Protocol):
    """Reads one secret; returns None when the path is not there."""

    name: str

    def read(self, path: str) -> dict[str, str] | None:
        """The secret at `path`, or None when this backend does not hold it."""


def _as_secret_dict(path: str, value: object, where: str) -> dict[str, str]:
    """A secret is a flat key/value dict of strings; anything else is an error naming the path."""
    if not isinstance(value, dict):
        raise SecretError(f"secret {path!r} in {where} is not a JSON object of key/value pairs")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


class VaultBackend:
    """HashiCorp Vault KV v2 through the `hvac` client."""

    name = "vault"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._client: hvac.Client | None = None

    def _login(self) -> hvac.Client:
        settings = self.settings
        token = settings.vault_token.get_secret_value() if settings.vault_token else None
        client = hvac.Client(url=settings.vault_addr, token=token, timeout=settings.http_timeout)
        if settings.vault_role_id and not token:
            secret_id = settings.vault_secret_id or SecretStr("")
            try:
                client.auth.approle.login(
                    role_id=settings.vault_role_id, secret_id=secret_id.get_secret_value()
                )
            except hvac.exceptions.VaultError as exc:
                raise SecretAccessError(
                    f"Vault at {settings.vault_addr} refused the AppRole login "
                    f"({type(exc).__name__}); check VAULT_ROLE_ID / VAULT_SECRET_ID"
                ) from None
        register_secret(client.token or "")
        return client

    def read(self, path: str) -> dict[str, str] | None:
        """The `data` of the latest version at `path`, or None for a 404."""
        settings = self.settings
        try:
            self._client = self._client or self._login()
            response = self._client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=settings.vault_mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            return None
        except hvac.exceptions.Forbidden:
            raise SecretAccessError(
                f"Vault at {settings.vault_addr} denied reading {path!r} (403): the token or "
                f"AppRole lacks a policy for {settings.vault_mount}/data/{path}, or has expired"
            ) from None
        except (hvac.exceptions.VaultError, requests.RequestException) as exc:
            raise SecretAccessError(
                f"Vault at {settings.vault_addr} failed reading {path!r}: {type(exc).__name__}"
            ) from None
        return _as_secret_dict(path, response["data"]["data"], "Vault")


def block_name(path: str) -> str:
    """The Secret block that holds `path`: lower case, `/`, `_` and the like turned into `-`."""
    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
    if not name:
        raise SecretError(f"secret path {path!r} has no letter or digit")
    return name


class PrefectBlockBackend:
    """Secret blocks on the Prefect server this process talks to."""

    name = "prefect"

    def read(self, path: str) -> dict[str, str] | None:
        """The block's JSON value, or None when no block has the path's name."""
        name = block_name(path)
        try:
            with get_client(sync_client=True) as client:
                document = client.read_block_document_by_name(
                    name, block_type_slug=SECRET_BLOCK_TYPE, include_secrets=True
                )
        except ObjectNotFound:
            return None
        value = document.data.get("value")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        return _as_secret_dict(path, value, f"Prefect Secret block {name!r}")


def env_variable(path: str) -> str:
    """The environment variable that holds `path` for the `env` backend."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]+", "_", path.upper()).strip("_")


class EnvBackend:
    """`PIPELINES_SECRET_<PATH>` variables holding JSON objects (CI)."""

    name = "env"

    def read(self, path: str) -> dict[str, str] | None:
        """The variable's JSON object, or None when the variable is unset."""
        variable = env_variable(path)
        raw = os.environ.get(variable)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise SecretError(f"{variable} (secret {path!r}) is not valid JSON") from None
        return _as_secret_dict(path, value, variable)


def backend_names(settings: Settings) -> list[str]:
    """The backends to try, in order: the setting, or Vault/Prefect when configured, then env."""
    if settings.secret_backends.strip():
        return [n.strip() for n in settings.secret_backends.split(",") if n.strip()]
    names = ["vault"] if settings.vault_addr else []
    if PREFECT_API_URL.value():
        names.append("prefect")
    return [*names, "env"]


_BACKENDS: dict[str, Callable[[Settings], SecretBackend]] = {
    "vault": VaultBackend,
    "prefect": lambda _settings: PrefectBlockBackend(),
    "env": lambda _settings: EnvBackend(),
}


def backends(settings: Settings | None = None) -> list[SecretBackend]:
    """The configured backends, in the order they are tried."""
    settings = settings or get_settings()
    try:
        return [_BACKENDS[name](settings) for name in backend_names(settings)]
    except KeyError as exc:
        raise SecretError(f"unknown secret backend {exc}; use {sorted(_BACKENDS)}") from None


class _RunCache:
    """Secrets read during a flow run, kept for that run only (the last few runs)."""

    def __init__(self) -> None:
        self._runs: OrderedDict[UUID, dict[str, dict[str, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: UUID | None, path: str) -> dict[str, str] | None:
        """The cached copy of `path` for this run, if any."""
        if run_id is None:
            return None
        with self._lock:
            found = self._runs.get(run_id, {}).get(path)
        return dict(found) if found is not None else None

    def put(self, run_id: UUID | None, path: str, value: dict[str, str]) -> None:
        """Remember `value` for this run; the oldest run is forgotten past a few."""
        if run_id is None:
            return
        with self._lock:
            self._runs.setdefault(run_id, {})[path] = dict(value)
            self._runs.move_to_end(run_id)
            while len(self._runs) > _CACHED_RUNS:
                self._runs.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._runs.clear()


run_cache = _RunCache()


def current_flow_run_id() -> UUID | None:
    """The flow run this code runs in (from a flow or one of its tasks), or None."""
    flow_context = FlowRunContext.get()
    if flow_context is not None and flow_context.flow_run is not None:
        return flow_context.flow_run.id
    task_context = TaskRunContext.get()
    if task_context is not None:
        return task_context.task_run.flow_run_id
    return None


def read_secret(path: str, settings: Settings | None = None) -> dict[str, str]:
    """The key/value dict at `path` from the first backend that holds it, masked from now on."""
    if not path or not path.strip("/"):
        raise SecretError("a secret path is required, e.g. get_secret('riomidia')")
    run_id = current_flow_run_id()
    cached = run_cache.get(run_id, path)
    if cached is not None:
        return cached
    tried = []
    for backend in backends(settings):
        tried.append(backend.name)
        value = backend.read(path)
        if value is not None:
            register_secret(value)
            run_cache.put(run_id, path, value)
            return value
    raise SecretNotFoundError(
        f"secret {path!r} not found; backends tried: {', '.join(tried) or 'none'}"
        f" (env variable {env_variable(path)})"
    )


def write_block_secret(path: str, value: dict[str, str]) -> str:
    """Store `value` in the Secret block for `path` on the current server; returns its name."""
    name = block_name(path)
    # `_sync`: Prefect's async_dispatch flag, so this stays sync even under an event loop
    Secret(value=value).save(name, overwrite=True, _sync=True)  # pylint: disable=unexpected-keyword-arg
    return name


def list_block_secrets(prefix: str = "") -> list[str]:
    """Names of the Secret blocks on the current server; with `prefix`, those of the paths that
    start with it (`db/` lists `db/sme` and `db/exemplo`, as blocks `db-sme` and `db-exemplo`)."""
    with get_client(sync_client=True) as client:
        documents = client.read_block_documents_by_type(SECRET_BLOCK_TYPE, include_secrets=False)
    start = block_name(prefix) + ("-" if prefix.endswith("/") else "") if prefix else ""
    return sorted(d.name for d in documents if d.name and d.name.startswith(start))
