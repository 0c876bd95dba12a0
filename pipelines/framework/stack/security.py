"""
What keeps the local Prefect server safe: who may call it, where its encryption key lives and how
long it keeps run history. `server.server_environment` applies it to the server process.

- Secret blocks are Fernet-encrypted with `PREFECT_SERVER_ENCRYPTION_KEY`; without it Prefect keeps
  the key in the same database as the secrets. We pass it from the environment, or from
  `<home>/encryption.key` (0600), generated before the server first starts. A database (SQLite
  or PostgreSQL) that already holds a key (created before this existed, or by a server started
  without one) has that key adopted into the file, so its secrets stay readable. Servers that
  share one PostgreSQL database (replicas, other machines) must all get the same key: give them
  `PREFECT_SERVER_ENCRYPTION_KEY` from one secret (docs/deploy-kubernetes.md).
- Basic auth: `PREFECT_API_AUTH_STRING=user:password` (what Prefect clients and workers read;
  `PIPELINES_AUTH_STRING` is accepted too) becomes the server's `PREFECT_SERVER_API_AUTH_STRING`;
  `ensure_server` exports it to this process's clients. `/api/health` and
  the UI's HTML stay public (Prefect's rule); every other API call without it gets 401. A server
  bound beyond loopback without a credential is refused.
- Retention: Prefect's DB vacuum deletes flow runs (with their task runs and logs) older than
  `PIPELINES_RUN_RETENTION_DAYS` (default 30; 0 keeps everything).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sqlite3
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic-settings (0.1 s): `pipelines status` reads the state folder without it
    from pipelines.framework.config import Settings


ENCRYPTION_KEY_VARIABLE = "PREFECT_SERVER_ENCRYPTION_KEY"
ENCRYPTION_KEY_FILE = "encryption.key"
SECONDS_PER_DAY = 86_400
_USER_WINS = (
    "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED",
    "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD",
)
"""Prefect variables that, when the user sets them, win over ours."""


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_refusal(settings: Settings, host: str) -> str | None:
    """Why the server must not listen on `host`, or None when it may."""
    if is_loopback(host) or settings.auth_string:
        return None
    return (
        f"refusing to serve the API on {host} without a credential; "
        "set PREFECT_API_AUTH_STRING=user:password (Prefect basic auth) or bind 127.0.0.1"
    )


def encryption_key_path(settings: Settings) -> Path:
    """Where the generated Secret-block key is kept."""
    return settings.home / ENCRYPTION_KEY_FILE


def _sqlite_database(settings: Settings) -> Path:
    return settings.home / "prefect" / "prefect.db"


def _fernet_key(value: object) -> str | None:
    """The key in the `configuration` row's value (JSON text or, from PostgreSQL, a dict)."""
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return value.get("fernet_key") if isinstance(value, dict) else None


def _key_in_postgres(database_url: str) -> str | None:
    """The key Prefect stored in a PostgreSQL database, if it has one (none on a new database)."""
    import psycopg  # 70 ms, for a PostgreSQL database alone: `pipelines status` reads this module

    url = re.sub(r"^postgresql\+\w+://", "postgresql://", database_url)
    try:
        with psycopg.connect(url, connect_timeout=10) as connection:
            row = connection.execute(
                "SELECT value FROM configuration WHERE key = 'ENCRYPTION_KEY'"
            ).fetchone()
    except psycopg.Error:  # no configuration table yet: a database the server will migrate
        return None
    return _fernet_key(row[0]) if row else None


def _key_already_in_database(settings: Settings) -> str | None:
    """The key Prefect stored in the existing database (SQLite or PostgreSQL), if any."""
    if settings.database_url:
        return _key_in_postgres(settings.database_url)
    database = _sqlite_database(settings)
    if not database.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            row = connection.execute(
                "SELECT value FROM configuration WHERE key = 'ENCRYPTION_KEY'"
            ).fetchone()
    except sqlite3.Error:
        return None
    return _fernet_key(row[0]) if row else None


def new_encryption_key() -> str:
    """A fresh key in the format Prefect's Secret blocks are encrypted with (Fernet)."""
    from cryptography.fernet import Fernet  # 11 ms, paid where a key is made, not by `status`

    return Fernet.generate_key().decode()


def encryption_key(settings: Settings) -> str:
    """`PREFECT_SERVER_ENCRYPTION_KEY` from the environment, else the key file (made once, 0600)."""
    from_environment = os.environ.get(ENCRYPTION_KEY_VARIABLE)
    if from_environment:
        return from_environment
    path = encryption_key_path(settings)
    if path.exists():
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()
    key = _key_already_in_database(settings) or new_encryption_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


def client_environment(settings: Settings) -> dict[str, str]:
    """What a client process needs to call the server: its basic-auth credential, if any."""
    if settings.auth_string is None:
        return {}
    return {"PREFECT_API_AUTH_STRING": settings.auth_string.get_secret_value()}


def security_environment(settings: Settings) -> dict[str, str]:
    """Variables for the server process: encryption key, basic auth and run retention."""
    env = {ENCRYPTION_KEY_VARIABLE: encryption_key(settings)}
    if settings.auth_string is not None:
        credential = settings.auth_string.get_secret_value()
        env["PREFECT_SERVER_API_AUTH_STRING"] = credential
        env["PREFECT_API_AUTH_STRING"] = credential
    if settings.run_retention_days > 0:
        env["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"] = "events,flow_runs"
        env["PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD"] = str(
            int(settings.run_retention_days * SECONDS_PER_DAY)
        )
    return {
        name: value
        for name, value in env.items()
        if not os.environ.get(name) or name not in _USER_WINS
    }
