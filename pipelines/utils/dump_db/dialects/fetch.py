"""
Rows fetched through a DB-API cursor (MySQL, SQL Server, Oracle), turned into Arrow batches.

PostgreSQL streams COPY text instead (`postgres.py`); the other drivers hand rows as Python
tuples, so each source only says how a column of its values becomes an Arrow array.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from pipelines.utils.dump_db.dialects.base import Dialect, Extract, Stream
from pipelines.utils.dump_db.utils import Connection, SourceError

ToArray = Callable[[Sequence[Any], pa.Field], pa.Array]


def to_batch(
    rows: Sequence[tuple], schema: pa.Schema, to_array: ToArray, source: str
) -> pa.RecordBatch:
    """Rows as a record batch of `schema`, a column at a time; a value its column's type cannot
    hold (a number out of range) fails naming the column and the `source` database."""
    arrays = []
    for values, field in zip(zip(*rows, strict=True), schema, strict=True):
        try:
            arrays.append(to_array(values, field))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise SourceError(f"coluna {field.name!r} do {source} ({field.type}): {exc}") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def fetched_batches(  # pylint: disable=too-many-arguments
    connection: Any,
    cursor: Any,
    schema: pa.Schema,
    batch_size: int,
    to_array: ToArray,
    *,
    source: str,
    driver_error: type[Exception],
    message: Callable[[Exception], str] = str,
) -> Iterator[pa.RecordBatch]:
    """`batch_size` rows at a time from an executed `cursor`; a driver error while fetching (a
    dropped connection) becomes a `SourceError` naming the `source` with the driver's `message`.
    The cursor and its connection are closed when the stream ends, fails or is abandoned."""
    try:
        while True:
            try:
                rows = cursor.fetchmany(batch_size)
            except driver_error as exc:
                raise SourceError(f"a leitura do {source} falhou: {message(exc)}") from exc
            if not rows:
                return
            yield to_batch(rows, schema, to_array, source)
    finally:
        cursor.close()
        connection.close()


class CursorDialect(Dialect):
    """A dialect that runs the extract's one statement and fetches `batch_size` rows at a
    time from the cursor: it only says how (`read_batches`)."""

    def read_batches(
        self, conn: Connection, query: str, batch_size: int
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """`query`'s schema and a stream of `batch_size`-row batches."""
        raise NotImplementedError

    @contextmanager
    def read(self, conn: Connection, extract: Extract) -> Iterator[Stream]:
        (query,) = self.queries(conn, extract)
        yield Stream(*self.read_batches(conn, query, extract.batch_size))
