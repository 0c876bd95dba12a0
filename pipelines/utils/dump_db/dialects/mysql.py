"""
MySQL / MariaDB source: pymysql's unbuffered server-side cursor (SSCursor), fetched in batches.

The session runs in UTC so TIMESTAMP columns come back as UTC instants; DECIMAL stays decimal.
"""

from collections.abc import Iterator
from contextlib import closing

import pyarrow as pa
import pymysql
from pymysql.constants import FIELD_TYPE

from pipelines.utils.dump_db.dialects import fetch
from pipelines.utils.dump_db.utils import Connection, SourceError

_BINARY_CHARSET = 63
_UNSIGNED_FLAG = 32
_INTEGERS = {
    FIELD_TYPE.TINY: (pa.int8(), pa.int16()),
    FIELD_TYPE.SHORT: (pa.int16(), pa.int32()),
    FIELD_TYPE.INT24: (pa.int32(), pa.int32()),
    FIELD_TYPE.LONG: (pa.int32(), pa.int64()),
    FIELD_TYPE.LONGLONG: (pa.int64(), pa.decimal128(20, 0)),
    FIELD_TYPE.YEAR: (pa.int16(), pa.int16()),
}
_TEXT_LIKE = {
    FIELD_TYPE.VARCHAR,
    FIELD_TYPE.VAR_STRING,
    FIELD_TYPE.STRING,
    FIELD_TYPE.TINY_BLOB,
    FIELD_TYPE.MEDIUM_BLOB,
    FIELD_TYPE.LONG_BLOB,
    FIELD_TYPE.BLOB,
}
_OTHERS = {
    FIELD_TYPE.FLOAT: pa.float32(),
    FIELD_TYPE.DOUBLE: pa.float64(),
    FIELD_TYPE.DATE: pa.date32(),
    FIELD_TYPE.DATETIME: pa.timestamp("us"),
    FIELD_TYPE.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    FIELD_TYPE.BIT: pa.binary(),
}
_PRIMARY_KEY = (
    "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
    "WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND TABLE_NAME = %s "
    "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION"
)


def arrow_type(field) -> pa.DataType:  # pylint: disable=too-many-return-statements
    """Arrow type of a result field, from its MySQL type code, flags and charset."""
    code = field.type_code
    if code in _INTEGERS:
        signed, unsigned = _INTEGERS[code]
        return unsigned if field.flags & _UNSIGNED_FLAG else signed
    if code in (FIELD_TYPE.NEWDECIMAL, FIELD_TYPE.DECIMAL):
        unsigned = bool(field.flags & _UNSIGNED_FLAG)
        precision = field.length - (1 if field.scale else 0) - (0 if unsigned else 1)
        if precision <= 38:
            return pa.decimal128(max(precision, 1), field.scale)
        return pa.string()
    if code == FIELD_TYPE.JSON:
        return pa.json_(pa.string())
    if code in _OTHERS:
        return _OTHERS[code]
    if code in _TEXT_LIKE and field.charsetnr == _BINARY_CHARSET:
        return pa.binary()
    return pa.string()


class MySQL(fetch.CursorDialect):
    """MySQL and MariaDB: backquoted names, a server-side cursor; their floats have no NaN."""

    name = "mysql"
    label = "MySQL"
    driver_error = pymysql.MySQLError
    quote_mark = "`"

    def connect(self, conn: Connection) -> pymysql.Connection:
        try:
            return pymysql.connect(
                host=conn.host,
                port=conn.port,
                user=conn.user or "root",
                password=conn.password or "",
                database=conn.database,
                charset="utf8mb4",
                connect_timeout=10,
                init_command="SET time_zone = '+00:00'",
                cursorclass=pymysql.cursors.SSCursor,
            )
        except pymysql.MySQLError as exc:
            raise SourceError(f"MySQL {conn.host}:{conn.port}/{conn.database}: {exc}") from exc

    def literal(self, conn: Connection, value: str) -> str:
        """A value quoted as a MySQL string literal."""
        with closing(self.connect(conn)) as mysql:
            return mysql.escape(value)

    def primary_key_query(self, table: str) -> tuple[str, list[str | None]]:
        """The catalog query for `table`'s primary key (`db.table`, or a table of the
        connection's database) and its parameters."""
        schema, _, name = table.rpartition(".")
        return _PRIMARY_KEY, [schema or None, name]

    def read_batches(
        self, conn: Connection, query: str, batch_size: int
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The result's schema and a stream of `batch_size`-row batches (server-side cursor)."""
        mysql = self.connect(conn)
        cursor = mysql.cursor()
        try:
            cursor.execute(query)
        except pymysql.MySQLError as exc:
            mysql.close()
            raise SourceError(f"a consulta falhou no MySQL: {exc}") from exc
        fields = cursor._result.fields  # pylint: disable=protected-access
        schema = pa.schema([(f.name, arrow_type(f)) for f in fields])
        return schema, fetch.fetched_batches(
            mysql,
            cursor,
            schema,
            batch_size,
            _array,
            source="MySQL",
            driver_error=pymysql.MySQLError,
        )


def _array(values, field: pa.Field) -> pa.Array:
    if isinstance(field.type, pa.JsonType):
        return pa.ExtensionArray.from_storage(
            field.type, _array(values, pa.field(field.name, pa.string()))
        )
    if pa.types.is_string(field.type):
        values = [v if v is None or isinstance(v, str) else str(v) for v in values]
    return pa.array(values, type=field.type)
