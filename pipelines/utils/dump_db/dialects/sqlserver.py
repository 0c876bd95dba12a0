"""
SQL Server source: pymssql (FreeTDS bundled in its wheels) streaming rows with `fetchmany`.

Tested without a live server (types, conversion, quoting and connection errors only).

pymssql's `cursor.description` only carries five DB-API codes (an `int` and a `float` are both
NUMBER, a `date` or a `datetimeoffset` is BINARY, and there is no precision or scale), so the
exact types come from the server: `sys.dm_exec_describe_first_result_set` (SQL Server 2012+)
names each result column's system type, e.g. `decimal(18,2)` or `datetimeoffset(7)`.
TDS 7.4 is asked for so date, time, datetime2 and datetimeoffset arrive as such, not as text.
"""

# pymssql re-exports its compiled `_pymssql` module, out of pylint's sight.
# pylint: disable=no-member,c-extension-no-member

import re
from collections.abc import Iterator, Sequence
from contextlib import closing

import pyarrow as pa
import pymssql
from pymssql import _mssql

from pipelines.utils.dump_db.dialects import fetch
from pipelines.utils.dump_db.utils import Connection, SourceError

_TYPES = {
    "bit": pa.bool_(),
    "tinyint": pa.int16(),  # 0..255: unsigned, as MySQL's unsigned TINYINT
    "smallint": pa.int16(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "float": pa.float64(),
    "money": pa.decimal128(19, 4),
    "smallmoney": pa.decimal128(10, 4),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "smalldatetime": pa.timestamp("us"),
    "datetime": pa.timestamp("us"),
    "datetime2": pa.timestamp("us"),
    "datetimeoffset": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
    "varbinary": pa.binary(),
    "image": pa.binary(),
    "timestamp": pa.binary(),  # rowversion, an 8-byte counter
    "geography": pa.binary(),  # CLR types: their binary serialization
    "geometry": pa.binary(),
    "hierarchyid": pa.binary(),
    "json": pa.json_(pa.string()),
}
# Types FreeTDS hands over as undecoded bytes: the server converts them first.
_CASTS = {
    "xml": "nvarchar(max)",
    "sql_variant": "nvarchar(max)",
    "geography": "varbinary(max)",
    "geometry": "varbinary(max)",
    "hierarchyid": "varbinary(max)",
}
_DESCRIBE = (
    "SELECT name, system_type_name, precision, scale, error_message "
    "FROM sys.dm_exec_describe_first_result_set(%s, NULL, 0) ORDER BY column_ordinal"
)
_PRIMARY_KEY = (
    "SELECT c.name FROM sys.indexes i "
    "JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id "
    "JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id "
    "WHERE i.object_id = OBJECT_ID(%s) AND i.is_primary_key = 1 ORDER BY ic.key_ordinal"
)
# The shape `incremental.watermark_text` gives a timestamp.
_TIMESTAMP_TEXT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,7})?")


def arrow_type(system_type_name: str, precision: int, scale: int) -> pa.DataType:
    """Arrow type of a result column from its `system_type_name` (e.g. `decimal(18,2)`) and
    the describe's precision and scale; text for char, nchar, xml, uniqueidentifier and the rest."""
    base = _base(system_type_name)
    if base in ("decimal", "numeric"):
        return pa.decimal128(precision, scale)
    return _TYPES.get(base, pa.string())


def _base(system_type_name: str) -> str:
    return system_type_name.split("(", 1)[0].strip().lower()


def _message(exc: Exception) -> str:
    """pymssql's `(code, b'text')` arguments as readable text."""
    parts = exc.args[0] if exc.args and isinstance(exc.args[0], tuple) else exc.args
    return " ".join(
        p.decode("utf-8", "replace").strip() if isinstance(p, bytes) else str(p) for p in parts
    )


def _quoted(value: str) -> str:
    return _mssql.quote_simple_value(value).decode()


def select_list(columns: Sequence[tuple[str, str]]) -> str | None:
    """The projection that makes the server convert xml, sql_variant and CLR columns, from
    `(name, system_type_name)` pairs; None when every column arrives as is."""
    bases = [_base(type_name) for _, type_name in columns]
    if not any(base in _CASTS for base in bases):
        return None
    return ", ".join(
        f"CAST({_bracket(name)} AS {_CASTS[base]}) AS {_bracket(name)}"
        if base in _CASTS
        else _bracket(name)
        for (name, _), base in zip(columns, bases, strict=True)
    )


def _bracket(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def _describe(mssql: pymssql.Connection, query: str) -> list[tuple[str, str, int, int]]:
    with closing(mssql.cursor()) as cursor:
        try:
            cursor.execute(_DESCRIBE, (query,))
            rows = cursor.fetchall()
        except pymssql.Error as exc:
            raise SourceError(f"a consulta falhou no SQL Server: {_message(exc)}") from exc
    errors = [row[4] for row in rows if row[4]]
    if errors:
        raise SourceError(f"o SQL Server não descreve o resultado da consulta: {errors[0]}")
    # An unnamed expression (`SELECT COUNT(*)`) has no name; pymssql calls it "" too.
    return [
        (name or "", type_name, precision, scale) for name, type_name, precision, scale, _ in rows
    ]


def to_batch(rows: Sequence[tuple], schema: pa.Schema) -> pa.RecordBatch:
    """Rows as pymssql returns them, as a record batch of `schema`."""
    return fetch.to_batch(rows, schema, _array, "SQL Server")


def _array(values, field: pa.Field) -> pa.Array:
    arrow = field.type
    if isinstance(arrow, pa.JsonType):
        return pa.ExtensionArray.from_storage(
            arrow, _array(values, pa.field(field.name, pa.string()))
        )
    if pa.types.is_string(arrow):
        values = [_text(v) for v in values]
    return pa.array(values, type=arrow)


def _text(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    return str(value)  # uniqueidentifier's uuid.UUID


class SqlServer(fetch.CursorDialect):
    """SQL Server: exact types from the server's describe of the query, conversions of what
    FreeTDS cannot decode; its floats have no NaN."""

    name = "sqlserver"
    label = "SQL Server"
    driver_error = pymssql.Error

    def connect(self, conn: Connection) -> pymssql.Connection:
        try:
            return pymssql.connect(
                server=conn.host,
                port=str(conn.port),
                user=conn.user,
                password=conn.password,
                database=conn.database,
                login_timeout=10,
                charset="UTF-8",
                tds_version="7.4",
                appname="pipelines-dump_db",
            )
        except pymssql.Error as exc:
            raise SourceError(
                f"SQL Server {conn.host}:{conn.port}/{conn.database}: {_message(exc)}"
            ) from exc

    def message(self, exc: Exception) -> str:
        return _message(exc)

    def literal(self, conn: Connection, value: str) -> str:
        """A watermark as a SQL Server literal (pymssql's own N'...' quoting), a timestamp in a form
        every date and time type reads whatever the session's DATEFORMAT and language: ISO 8601
        with a `T` when it has whole seconds (converted to the column's own type, so an index on it
        still seeks), cast to datetime2 when it has a fraction, which legacy `datetime` refuses
        beyond three digits. SQL Server's quoting needs no connection."""
        match = _TIMESTAMP_TEXT.fullmatch(value)
        if match and match.group(1):
            return f"CAST({_quoted(value)} AS datetime2(7))"
        if match:
            return _quoted(value.replace(" ", "T"))
        return _quoted(value)

    def primary_key_query(self, table: str) -> tuple[str, tuple[str]]:
        """The catalog query for `table`'s primary key (`schema.table` or `table`, as
        `OBJECT_ID` resolves it) and its parameters."""
        return _PRIMARY_KEY, (".".join(_bracket(part) for part in table.split(".")),)

    def read_batches(
        self, conn: Connection, query: str, batch_size: int
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The result's schema and a stream of `batch_size`-row batches."""
        mssql = self.connect(conn)
        try:
            columns = _describe(mssql, query)
            schema = pa.schema([(n, arrow_type(t, p, s)) for n, t, p, s in columns])
            projection = select_list([(n, t) for n, t, _, _ in columns])
            cursor = mssql.cursor()
            try:
                cursor.execute(
                    query if projection is None else f"SELECT {projection} FROM ({query}) AS _q"
                )
            except pymssql.Error as exc:
                raise SourceError(f"a consulta falhou no SQL Server: {_message(exc)}") from exc
        except BaseException:
            mssql.close()
            raise
        return schema, fetch.fetched_batches(
            mssql,
            cursor,
            schema,
            batch_size,
            _array,
            source="SQL Server",
            driver_error=pymssql.Error,
            message=_message,
        )
