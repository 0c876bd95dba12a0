"""
PostgreSQL source: `COPY (query) TO STDOUT` in the server's own text format (its fastest export:
no quoting) parsed by pyarrow's streaming CSV reader as tab-separated values, then unescaped.

Measured here (2M rows, 12 columns): psql's C client piping COPY into pyarrow beat psycopg 3's
COPY iterator (one Python call per row) by ~1.5x and ADBC by ~1.3x, so the bytes come from `psql`
when it is installed, else from psycopg. Types come from the query's own description, so numeric
stays decimal and timestamptz is read as UTC.

A whole table is read by several COPYs at once, each over a range of its blocks (TID range scans,
PostgreSQL 14+), all in one snapshot exported by a leader transaction: `pg_dump -j`'s consistency
with the server's export spread over more than one backend (BENCHMARKS.md, "Dumps").
"""

# pyarrow.compute builds its functions at import time, out of pylint's sight.
# pylint: disable=no-member

import io
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from psycopg import sql

from pipelines.framework.config import get_settings
from pipelines.utils.dump_db.dialects.base import (
    Dialect,
    Extract,
    SlicePlan,
    Stream,
    quote_identifier,
)
from pipelines.utils.dump_db.utils import Connection, SourceError

BLOCK_SIZE = 1 << 20
_TID_RANGE_SCANS = 140000  # server_version_num
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
_PRIMARY_KEY = (
    "SELECT a.attname FROM pg_index i "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
    "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
    "ORDER BY array_position(i.indkey::int2[], a.attnum)"
)


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


@contextmanager
def table_slices(
    conn: Connection, table: str | None, parallelism: int
) -> Iterator[tuple[list[str | None], str | None]]:
    """Block-range conditions that split `table` for parallel reads, and the snapshot id they
    must all read; `([None], None)` (one plain read) for a query, a view, a small table, an
    older server or a parallelism of 1. The snapshot lives while the block is open."""
    if not table or parallelism <= 1:
        yield [None], None
        return
    with _connect(conn) as pg:
        pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        pg.read_only = True
        found = pg.execute(
            "SELECT current_setting('server_version_num')::int, c.relkind, "
            "pg_relation_size(c.oid), current_setting('block_size')::int "
            "FROM pg_class c WHERE c.oid = to_regclass(%s)",
            [quote_identifier(table)],
        ).fetchone()
        if found is None:
            yield [None], None
            return
        version, kind, size, block = found
        # one slice per `PIPELINES_READ_SLICE_MB` of heap, up to the dump's read_parallelism
        count = min(parallelism, size // max(1, int(get_settings().read_slice_mb * 2**20)) + 1)
        if version < _TID_RANGE_SCANS or kind not in ("r", "m") or count <= 1:
            yield [None], None
            return
        snapshot = pg.execute("SELECT pg_export_snapshot()").fetchone()[0]
        pages = size // block
        bounds = [pages * i // count for i in range(1, count)]
        lows = [None, *bounds]
        highs = [*bounds, None]
        yield [_block_range(low, high) for low, high in zip(lows, highs, strict=True)], snapshot


def _block_range(low: int | None, high: int | None) -> str:
    """Rows stored in blocks [low, high); open-ended at either side."""
    parts = []
    if low is not None:
        parts.append(f"ctid >= '({low},0)'::tid")
    if high is not None:
        parts.append(f"ctid < '({high},0)'::tid")
    return " AND ".join(parts)


def read_batches(
    conn: Connection, queries: Sequence[str], schema: pa.Schema, snapshot: str | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream the rows of `queries` (one, or a table's slices read in parallel in `snapshot`) as
    Arrow batches of about 1 MiB of COPY text each."""
    if len(queries) == 1:
        yield from _read_one(conn, queries[0], schema, snapshot)
        return
    yield from _merged([_read_one(conn, query, schema, snapshot) for query in queries])


def _merged(streams: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
    """Batches of several streams as they come, each stream read by its own thread (pyarrow's
    parser releases the GIL); at most two batches per stream wait, so memory stays bounded.
    The first failure stops the others and is raised here."""
    ready: queue.Queue = queue.Queue(maxsize=2 * len(streams))
    stop = threading.Event()
    done = object()

    def pump(stream: Iterator[pa.RecordBatch]) -> None:
        try:
            for batch in stream:
                while not stop.is_set():
                    try:
                        ready.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
            item: object = done
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            item = exc
        finally:
            stream.close()  # type: ignore[attr-defined]
        ready.put(item)

    threads = [threading.Thread(target=pump, args=(s,), daemon=True) for s in streams]
    for thread in threads:
        thread.start()
    remaining = len(threads)
    try:
        while remaining:
            item = ready.get()
            if item is done:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        while any(thread.is_alive() for thread in threads):
            with suppress(queue.Empty):
                ready.get(timeout=0.1)
        for thread in threads:
            thread.join()


def _read_one(
    conn: Connection, query: str, schema: pa.Schema, snapshot: str | None
) -> Iterator[pa.RecordBatch]:
    copy = f"COPY ({query}) TO STDOUT"
    source = _psql_stream if shutil.which("psql") else _psycopg_stream
    with source(conn, copy, snapshot) as (stream, failure):
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


def _has_backslash(column: pa.Array) -> bool:
    """Whether a text column may hold an escape: one scan of its bytes (those of a sliced array
    may reach past the slice, which at worst sends a clean column down the slow path)."""
    data = column.buffers()[2]
    return data is not None and data.to_pybytes().find(b"\\") >= 0


def _unescaped(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Undo COPY text's backslash escapes in the text columns that have any (numbers, dates and
    times never do), vectorized: escaped backslashes first, so `\\\\n` stays a backslash + n."""
    columns = list(batch.columns)
    for index, column in enumerate(columns):
        if not pa.types.is_string(column.type):
            continue
        if not _has_backslash(column):
            continue
        column = pc.replace_substring(column, "\\\\", _BACKSLASH_STAND_IN)
        for escape, character in _ESCAPES.items():
            column = pc.replace_substring(column, escape, character)
        columns[index] = pc.replace_substring(column, _BACKSLASH_STAND_IN, "\\")
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


@contextmanager
def _psql_stream(conn: Connection, copy: str, snapshot: str | None = None):
    """COPY through the psql client; its exit status and stderr tell whether the stream is whole.
    With a `snapshot`, the COPY runs in a transaction that imports it."""
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
        commands = ["-c", copy]
        if snapshot:
            commands = [
                *("-c", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                *("-c", f"SET TRANSACTION SNAPSHOT '{snapshot}'"),
                *commands,
            ]
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *commands],
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
def _psycopg_stream(conn: Connection, copy: str, snapshot: str | None = None):
    """COPY through psycopg, regrouped into 1 MiB blocks for pyarrow."""
    with _connect(conn) as pg, pg.cursor() as cursor:
        try:
            if snapshot:
                pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                pg.read_only = True
                cursor.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(snapshot))
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


class Postgres(Dialect):
    """PostgreSQL: COPY text; a whole table in parallel block ranges of one snapshot."""

    name = "postgres"
    label = "PostgreSQL"
    driver_error = psycopg.Error
    # NaN, which PostgreSQL orders above every number
    not_nan = "{} <> 'NaN'"

    def connect(self, conn: Connection) -> psycopg.Connection:
        return _connect(conn)

    def literal(self, conn: Connection, value: str) -> str:
        """A value quoted as a SQL literal by the server's own rules."""
        with _connect(conn) as pg:
            return sql.Literal(value).as_string(pg)

    def primary_key_query(self, table: str) -> tuple[str, list[str]]:
        return _PRIMARY_KEY, [quote_identifier(table)]

    @contextmanager
    def read(self, conn: Connection, extract: Extract) -> Iterator[Stream]:
        """`extract`'s rows by one COPY, or a table's by one COPY per slice, all in the
        snapshot the block holds open."""
        # `read` is a context manager itself: the caller's block closes the slices' snapshot
        # pylint: disable-next=contextmanager-generator-missing-cleanup
        with table_slices(conn, extract.table, extract.parallelism) as (slices, snapshot):
            queries = self.queries(conn, extract, slices)
            schema = describe(conn, queries[0])
            yield Stream(schema, read_batches(conn, queries, schema, snapshot), len(queries))

    @contextmanager
    def slices(self, conn: Connection, extract: Extract) -> Iterator[SlicePlan | None]:
        """A whole table large enough for more than one slice: its block ranges, read in the
        snapshot the block holds open; None for a query, a small table or a parallelism of 1."""
        # `slices` is a context manager itself: the caller's block closes the snapshot
        # pylint: disable-next=contextmanager-generator-missing-cleanup
        with table_slices(conn, extract.table, extract.parallelism) as (wheres, snapshot):
            if len(wheres) < 2:
                yield None
                return
            queries = self.queries(conn, extract, wheres)
            yield SlicePlan(describe(conn, queries[0]), tuple(queries), snapshot)

    def read_slice(self, conn: Connection, plan: SlicePlan, index: int) -> Iterator[pa.RecordBatch]:
        return _read_one(conn, plan.queries[index], plan.schema, plan.snapshot)
