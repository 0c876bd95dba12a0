"""
Helpers of the dump_db flow: connection details and the query to run.
"""

from dataclasses import dataclass, field

DB_TYPES = ("postgres", "mysql", "sqlserver", "oracle")
_ALIASES = {"sql_server": "sqlserver"}  # the original system's spelling


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
    db_type: str, host: str, port: int, database: str, vault_secret_path: str | None
) -> Connection:
    """A `Connection` with its credentials read from the secret store."""
    db_type = _ALIASES.get(db_type, db_type)
    if db_type not in DB_TYPES:
        raise DumpConfigError(f"db_type {db_type!r} não suportado; use um de {DB_TYPES}")
    user, password = credentials(vault_secret_path)
    return Connection(db_type, host, int(port), database, user, password)


def quote_identifier(db_type: str, name: str) -> str:
    """A possibly schema-qualified name, quoted for the source's SQL dialect."""
    mark = "`" if db_type == "mysql" else '"'
    return ".".join(mark + part.replace(mark, mark * 2) + mark for part in name.split("."))


def base_query(
    db_type: str, execute_query: str | None, table: str | None, where: str | None = None
) -> str:
    """The query that reads the data: `execute_query` as given, or every row of `table` (those
    matching `where`, for one slice of a parallel read)."""
    if bool(execute_query) == bool(table):
        raise DumpConfigError("informe exatamente um de execute_query ou table")
    if execute_query:
        return execute_query.strip().rstrip(";")
    query = f"SELECT * FROM {quote_identifier(db_type, table or '')}"
    return f"{query} WHERE {where}" if where else query
