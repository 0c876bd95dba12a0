"""
Oracle source: python-oracledb in thin mode (pure Python, no Oracle client), rows fetched with
`fetchmany`; NUMBER arrives as `decimal.Decimal`, CLOB/BLOB as str/bytes.

Tested without a live server (types, conversion, quoting and connection errors only).

Not oracledb's own Arrow fetch (`fetch_df_batches`): it gives TIMESTAMP WITH TIME ZONE as the
local wall time with its offset dropped, a NUMBER without precision as a double, and refuses
JSON, ROWID and XMLType columns. Here the query is parsed first (`cursor.parse`, no rows), its
description gives each column's exact type, and TIMESTAMP WITH TIME ZONE columns are read
through SYS_EXTRACT_UTC, since the driver also drops their offset. The session runs in UTC, so
TIMESTAMP WITH LOCAL TIME ZONE arrives in UTC too. `Connection.database` is the service name.
"""

import json
import re
from collections.abc import Iterator, Sequence

import oracledb
import pyarrow as pa

from pipelines.utils.dump_db.dialects import fetch
from pipelines.utils.dump_db.utils import Connection, SourceError

# A NUMBER declared without precision (or an expression's): BigQuery NUMERIC's (38, 9), as in
# postgres.py; a value that does not fit fails the dump instead of losing digits.
UNCONSTRAINED_NUMBER = pa.decimal128(38, 9)
_FLOATING_SCALE = -127  # the scale oracledb reports for FLOAT(b) and unconstrained NUMBER
_TYPES = {
    oracledb.DB_TYPE_BINARY_FLOAT: pa.float32(),
    oracledb.DB_TYPE_BINARY_DOUBLE: pa.float64(),
    oracledb.DB_TYPE_BINARY_INTEGER: pa.int64(),
    oracledb.DB_TYPE_BOOLEAN: pa.bool_(),
    oracledb.DB_TYPE_DATE: pa.timestamp("us"),  # an Oracle DATE has a time of day
    oracledb.DB_TYPE_TIMESTAMP: pa.timestamp("us"),
    oracledb.DB_TYPE_TIMESTAMP_LTZ: pa.timestamp("us", tz="UTC"),
    oracledb.DB_TYPE_TIMESTAMP_TZ: pa.timestamp("us", tz="UTC"),
    oracledb.DB_TYPE_RAW: pa.binary(),
    oracledb.DB_TYPE_LONG_RAW: pa.binary(),
    oracledb.DB_TYPE_BLOB: pa.binary(),
    oracledb.DB_TYPE_JSON: pa.json_(pa.string()),
}
_UNSUPPORTED = {
    oracledb.DB_TYPE_OBJECT,
    oracledb.DB_TYPE_CURSOR,
    oracledb.DB_TYPE_BFILE,
    oracledb.DB_TYPE_VECTOR,
}
# Columns the server converts before sending: the UTC instant of a TIMESTAMP WITH TIME ZONE,
# and intervals in Oracle's own text ('+01-02', '+01 02:03:04.000000').
_CONVERSIONS = {
    oracledb.DB_TYPE_TIMESTAMP_TZ: "SYS_EXTRACT_UTC({})",
    oracledb.DB_TYPE_INTERVAL_YM: "TO_CHAR({})",
    oracledb.DB_TYPE_INTERVAL_DS: "TO_CHAR({})",
}
_PRIMARY_KEY = (
    "SELECT cc.column_name FROM all_constraints c "
    "JOIN all_cons_columns cc ON cc.owner = c.owner AND cc.constraint_name = c.constraint_name "
    "WHERE c.constraint_type = 'P' AND c.table_name = :name "
    "AND c.owner = COALESCE(:owner, SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')) "
    "ORDER BY cc.position"
)
_SESSION = "ALTER SESSION SET TIME_ZONE = 'UTC' NLS_NUMERIC_CHARACTERS = '.,'"
# The shape `incremental.watermark_text` gives a timestamp.
_TIMESTAMP_TEXT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?")


def arrow_type(
    type_code: oracledb.DbType, precision: int | None, scale: int | None, is_json: bool = False
) -> pa.DataType:
    """Arrow type of a result column from oracledb's `FetchInfo` (type_code, precision, scale,
    is_json); text for the character types, LOBs of text, ROWID, XMLType and intervals."""
    if type_code in _UNSUPPORTED:
        raise SourceError(f"tipo Oracle {type_code.name} não suportado: converta-o na consulta")
    if is_json:  # JSON type, or text/BLOB with an IS JSON constraint: decoded by the driver
        return pa.json_(pa.string())
    if type_code == oracledb.DB_TYPE_NUMBER:
        return _number(precision, scale)
    return _TYPES.get(type_code, pa.string())


def _number(precision: int | None, scale: int | None) -> pa.DataType:
    """NUMBER(p, s): int64 up to 18 integer digits, else decimal128 wide enough for a negative
    scale (whole numbers rounded to tens, hundreds, ...) or a scale above the precision."""
    if not precision or scale is None:
        return UNCONSTRAINED_NUMBER
    if scale == _FLOATING_SCALE:  # FLOAT(b): a float by declaration
        return pa.float64()
    if scale == 0 and precision <= 18:
        return pa.int64()
    digits = precision - scale if scale < 0 else max(precision, scale)
    if digits <= 38:
        return pa.decimal128(digits, max(scale, 0))
    return pa.string()


def select_list(columns: Sequence[tuple[str, oracledb.DbType]]) -> str | None:
    """The projection that converts TIMESTAMP WITH TIME ZONE and interval columns on the
    server, from `(name, type_code)` pairs; None when every column arrives as is."""
    if not any(type_code in _CONVERSIONS for _, type_code in columns):
        return None
    parts = []
    for name, type_code in columns:
        quoted = '"' + name + '"'  # Oracle names cannot contain a double quote
        if type_code in _CONVERSIONS:
            parts.append(f"{_CONVERSIONS[type_code].format(quoted)} {quoted}")
        else:
            parts.append(quoted)
    return ", ".join(parts)


def to_batch(rows: Sequence[tuple], schema: pa.Schema) -> pa.RecordBatch:
    """Rows as oracledb returns them (NUMBER as Decimal), as a record batch of `schema`."""
    return fetch.to_batch(rows, schema, _array, "Oracle")


def _array(values, field: pa.Field) -> pa.Array:
    arrow = field.type
    if isinstance(arrow, pa.JsonType):
        text = [None if v is None else _json(v) for v in values]
        return pa.ExtensionArray.from_storage(arrow, pa.array(text, type=pa.string()))
    if pa.types.is_string(arrow):
        values = [v if v is None or isinstance(v, str) else str(v) for v in values]
    elif pa.types.is_floating(arrow):  # FLOAT(b) arrives as Decimal, like any NUMBER
        values = [v if v is None else float(v) for v in values]
    return pa.array(values, type=arrow)


def _json(value) -> str:
    """A JSON value the driver decoded (a JSON string too), as JSON text again; dates and
    decimals inside it (OSON has them) become strings."""
    return json.dumps(value, ensure_ascii=False, default=str)


class Oracle(fetch.CursorDialect):
    """Oracle: the query parsed first for its exact types, a session in UTC; BINARY_FLOAT and
    BINARY_DOUBLE have NaN."""

    name = "oracle"
    label = "Oracle"
    driver_error = oracledb.Error
    # NaN, which Oracle orders above every number
    not_nan = "{} IS NOT NAN"

    def connect(self, conn: Connection) -> oracledb.Connection:
        try:
            ora = oracledb.connect(
                user=conn.user,
                password=conn.password,
                host=conn.host,
                port=conn.port,
                service_name=conn.database,
                tcp_connect_timeout=10,
                program="pipelines-dump_db",
            )
        except oracledb.Error as exc:
            raise SourceError(f"Oracle {conn.host}:{conn.port}/{conn.database}: {exc}") from exc
        try:
            with ora.cursor() as cursor:
                cursor.execute(_SESSION)
        except oracledb.Error as exc:
            ora.close()
            raise SourceError(f"Oracle {conn.host}:{conn.port}/{conn.database}: {exc}") from exc
        return ora

    def literal(self, conn: Connection, value: str) -> str:
        """A watermark as an Oracle literal, whatever the session's NLS formats: a timestamp with a
        fraction as an ANSI TIMESTAMP literal, one without as a DATE (so an indexed DATE column is
        not converted to TIMESTAMP for the comparison; the session's UTC applies to the time zone
        types), anything else a quoted string. Oracle's quoting needs no connection."""
        match = _TIMESTAMP_TEXT.fullmatch(value)
        if match and match.group(1):
            return f"TIMESTAMP '{value}'"
        if match:
            return f"TO_DATE('{value}', 'YYYY-MM-DD HH24:MI:SS')"
        return "'" + value.replace("'", "''") + "'"

    def primary_key_query(self, table: str) -> tuple[str, dict[str, str | None]]:
        """The catalog query for `table`'s primary key (`OWNER.TABLE`, or a table of the
        session's schema; names as written, as the dump quotes them) and its binds."""
        owner, _, name = table.rpartition(".")
        return _PRIMARY_KEY, {"owner": owner or None, "name": name}

    def read_batches(
        self, conn: Connection, query: str, batch_size: int
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The result's schema and a stream of `batch_size`-row batches."""
        ora = self.connect(conn)
        try:
            cursor = ora.cursor()
            cursor.arraysize = cursor.prefetchrows = batch_size
            try:
                cursor.parse(query)
                columns = cursor.description or []
                schema = pa.schema(
                    [
                        (c.name, arrow_type(c.type_code, c.precision, c.scale, c.is_json))
                        for c in columns
                    ]
                )
                projection = select_list([(c.name, c.type_code) for c in columns])
                statement = query if projection is None else f"SELECT {projection} FROM ({query}) q"
                cursor.execute(statement, fetch_lobs=False, fetch_decimals=True)
            except oracledb.Error as exc:
                raise SourceError(f"a consulta falhou no Oracle: {exc}") from exc
        except BaseException:
            ora.close()
            raise
        return schema, fetch.fetched_batches(
            ora,
            cursor,
            schema,
            batch_size,
            _array,
            source="Oracle",
            driver_error=oracledb.Error,
        )
