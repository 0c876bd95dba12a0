"""
PostgreSQL source: `COPY (query) TO STDOUT` in the server's own text format (its fastest export:
no quoting) parsed by pyarrow's streaming CSV reader as tab-separated values, then unescaped.

Measured here (2M rows, 12 columns): psql's C client piping COPY into pyarrow beat psycopg 3's
COPY iterator (one Python call per row) by ~1.5x and ADBC by ~1.3x, so the bytes come from `psql`
when it is installed, else from psycopg. Types come from the query's own description, so numeric
stays decimal and timestamptz is read as UTC.
"""

# pyarrow.compute builds its functions at import time, out of pylint's sight.
# pylint: disable=no-member

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from psycopg import sql

from pipelines.utils.dump_db.utils import Connection, SourceError

BLOCK_SIZE = 1 << 20
_SESSION = {"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "iso_8601"}
_SIMPLE_TYPES = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    26: pa.int64(),
    700: pa.float32(),
    701: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
_NUMERIC = 1700
_JSON_TYPES = (114, 3802)


def arrow_type(type_oid: int, precision: int | None, scale: int | None) -> pa.DataType:
    """Arrow type of a result column: exact for numbers and times, text for everything else."""
    if type_oid in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[type_oid]
    if type_oid in _JSON_TYPES:
        return pa.json_(pa.string())
    if type_oid == _NUMERIC:
        if precision is None:  # unconstrained numeric: BigQuery NUMERIC's (38, 9)
            return pa.decimal128(38, 9)
        if precision <= 38:
            return pa.decimal128(precision, scale or 0)
    return pa.string()


def _connect(conn: Connection) -> psycopg.Connection:
    try:
        return psycopg.connect(
            host=conn.host,
            port=conn.port,
            dbname=conn.database,
            user=conn.user,
            password=conn.password,
            connect_timeout=10,
            options=" ".join(f"-c {k}={v.replace(' ', '')}" for k, v in _SESSION.items()),
        )
    except psycopg.OperationalError as exc:
        raise SourceError(f"PostgreSQL {conn.host}:{conn.port}/{conn.database}: {exc}") from exc


def describe(conn: Connection, query: str) -> pa.Schema:
    """The Arrow schema of `query`'s result, read without fetching a row."""
    with _connect(conn) as pg, pg.cursor() as cursor:
        try:
            cursor.execute(
                sql.SQL("SELECT * FROM ({}) AS _describe LIMIT 0").format(sql.SQL(query))
            )
        except psycopg.Error as exc:
            raise SourceError(f"a consulta falhou no PostgreSQL: {exc}") from exc
        columns = cursor.description or []
        return pa.schema([(c.name, arrow_type(c.type_code, c.precision, c.scale)) for c in columns])


def literal(conn: Connection, value: str) -> str:
    """A value quoted as a SQL literal by the server's own rules."""
    with _connect(conn) as pg:
        return sql.Literal(value).as_string(pg)


def read_batches(conn: Connection, query: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Stream the query's rows as Arrow batches (about 1 MiB of COPY text each)."""
    copy = f"COPY ({query}) TO STDOUT"
    source = _psql_stream if shutil.which("psql") else _psycopg_stream
    with source(conn, copy) as (stream, failure):
        text_schema = _as_text(schema)
        try:
            reader = pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(block_size=BLOCK_SIZE, column_names=schema.names),
                parse_options=_PARSE_OPTIONS,
                convert_options=_convert_options(text_schema),
            )
            for batch in reader:
                batch = _unescaped(batch)
                yield batch if text_schema is schema else batch.cast(schema)
        except pa.ArrowInvalid as exc:
            problem = failure()
            if problem is None and "Empty CSV file" in str(exc):
                return  # the query returned no rows
            raise SourceError(problem or f"dados inválidos vindos do PostgreSQL: {exc}") from exc
        problem = failure()
        if problem:
            raise SourceError(problem)


def _as_text(schema: pa.Schema) -> pa.Schema:
    """The schema the CSV parser reads: JSON columns as text, cast to JSON afterwards."""
    if not any(isinstance(f.type, pa.JsonType) for f in schema):
        return schema
    return pa.schema(
        [(f.name, pa.string() if isinstance(f.type, pa.JsonType) else f.type) for f in schema]
    )


# COPY text: one line per row, tab-separated, nothing quoted; tabs, newlines and backslashes
# inside values are backslash escapes, so an empty line is a row (one empty text column).
_PARSE_OPTIONS = pcsv.ParseOptions(
    delimiter="\t", quote_char=False, escape_char=False, ignore_empty_lines=False
)
# The escapes COPY TO writes (it never writes octal or hex ones), and a stand-in for an escaped
# backslash while the others are replaced: NUL, which PostgreSQL text cannot contain.
_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\b": "\b", "\\f": "\f", "\\v": "\v"}
_BACKSLASH_STAND_IN = "\x00"


def _convert_options(schema: pa.Schema) -> pcsv.ConvertOptions:
    """COPY text: NULL is `\\N` (an empty field is ''); booleans are t/f."""
    return pcsv.ConvertOptions(
        column_types=schema,
        null_values=["\\N"],
        strings_can_be_null=True,
        true_values=["t"],
        false_values=["f"],
    )


def _unescaped(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Undo COPY text's backslash escapes in the text columns that have any (numbers, dates and
    times never do), vectorized: escaped backslashes first, so `\\\\n` stays a backslash + n."""
    columns = list(batch.columns)
    for index, column in enumerate(columns):
        if not pa.types.is_string(column.type):
            continue
        if not pc.any(pc.match_substring(column, "\\")).as_py():
            continue
        column = pc.replace_substring(column, "\\\\", _BACKSLASH_STAND_IN)
        for escape, character in _ESCAPES.items():
            column = pc.replace_substring(column, escape, character)
        columns[index] = pc.replace_substring(column, _BACKSLASH_STAND_IN, "\\")
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


@contextmanager
def _psql_stream(conn: Connection, copy: str):
    """COPY through the psql client; its exit status and stderr tell whether the stream is whole."""
    env = {
        **os.environ,
        "PGHOST": conn.host,
        "PGPORT": str(conn.port),
        "PGDATABASE": conn.database,
        "PGCONNECT_TIMEOUT": "10",
        "PGOPTIONS": " ".join(f"-c {k}={v.replace(' ', '')}" for k, v in _SESSION.items()),
        "PGCLIENTENCODING": "UTF8",
        "PGAPPNAME": "pipelines-dump_db",
    }
    if conn.user:
        env["PGUSER"] = conn.user
    if conn.password:
        env["PGPASSWORD"] = conn.password
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", copy],
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            env=env,
        )

        def failure() -> str | None:
            if process.poll() is None:
                process.stdout.close()
            code = process.wait()
            if code == 0:
                return None
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip()
            return f"PostgreSQL {conn.host}:{conn.port}/{conn.database}: {message or code}"

        try:
            yield process.stdout, failure
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


@contextmanager
def _psycopg_stream(conn: Connection, copy: str):
    """COPY through psycopg, regrouped into 1 MiB blocks for pyarrow."""
    with _connect(conn) as pg, pg.cursor() as cursor:
        try:
            with cursor.copy(copy) as rows:
                yield _BlockReader(rows), lambda: None
        except psycopg.Error as exc:
            raise SourceError(f"PostgreSQL {conn.host}:{conn.port}: {exc}") from exc


class _BlockReader(io.RawIOBase):
    """A file-like view over COPY's per-row chunks."""

    def __init__(self, rows):
        super().__init__()
        self._rows = iter(rows)
        self._block = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._block:
            block = bytearray()
            for chunk in self._rows:
                block += chunk
                if len(block) >= BLOCK_SIZE:
                    break
            if not block:
                return 0
            self._block = memoryview(bytes(block))
        size = min(len(buffer), len(self._block))
        buffer[:size] = self._block[:size]
        self._block = self._block[size:]
        return size
