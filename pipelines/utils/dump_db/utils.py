"""
Helpers of the dump_db flow: its errors and where to read from.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the dialects import this module
    from pipelines.utils.dump_db.dialects import Dialect


class DumpConfigError(ValueError):
    """Parameters that cannot describe a dump."""


class SourceError(RuntimeError):
    """The source database failed while we read it (down, dropped connection, bad query)."""


@dataclass(frozen=True)
class Connection:
    """Where to read from; `user`/`password` None means the client's defaults (trust auth)."""

    db_type: str
    host: str
    port: int
    database: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)


def credentials(vault_secret_path: str | None) -> tuple[str | None, str | None]:
    """The single place where a dump reads its login: `(None, None)` without a secret path."""
    if not vault_secret_path:
        return None, None
    from pipelines.utils.secrets import get_credentials

    return get_credentials(vault_secret_path)


def connection_for(
    dialect: "Dialect", host: str, port: int, database: str, vault_secret_path: str | None
) -> Connection:
    """A `Connection` to a `dialect` database with its credentials read from the secret store."""
    user, password = credentials(vault_secret_path)
    return Connection(dialect.name, host, int(port), database, user, password)
