"""
The source databases of `dump_db`, one `Dialect` object each, chosen once from the dump's
`db_type` by `dialect_for`: postgres, mysql (MariaDB too), sqlserver (also spelled sql_server)
and oracle. Everything that differs between them lives in their modules here; nothing outside
this package tests `db_type`.
"""

from pipelines.utils.dump_db.dialects.base import Dialect, Extract, SlicePlan, Stream
from pipelines.utils.dump_db.dialects.mysql import MySQL
from pipelines.utils.dump_db.dialects.oracle import Oracle
from pipelines.utils.dump_db.dialects.postgres import Postgres
from pipelines.utils.dump_db.dialects.sqlserver import SqlServer
from pipelines.utils.dump_db.utils import DumpConfigError

__all__ = ["DB_TYPES", "Dialect", "Extract", "SlicePlan", "Stream", "dialect_for"]

_DIALECTS: dict[str, Dialect] = {
    dialect.name: dialect for dialect in (Postgres(), MySQL(), SqlServer(), Oracle())
}
DB_TYPES = tuple(_DIALECTS)
_ALIASES = {"sql_server": "sqlserver"}  # the original system's spelling


def dialect_for(db_type: str) -> Dialect:
    """The dialect of a dump's declared `db_type`; a `DumpConfigError` for one not supported."""
    name = _ALIASES.get(db_type, db_type)
    if name not in _DIALECTS:
        raise DumpConfigError(f"db_type {name!r} não suportado; use um de {DB_TYPES}")
    return _DIALECTS[name]
