"""
Rows fetched through a DB-API cursor (MySQL, SQL Server, Oracle), turned into Arrow batches.

PostgreSQL streams COPY text instead (`postgres.py`); the other drivers hand rows as Python
tuples, so each source only says how a column of its values becomes an Arrow array.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from pipelines.utils.dump_db.utils import SourceError

ToArray = Callable[[Sequence[Any], pa.Field], pa.Array]


def to_batch(rows: Sequence[tuple], schema: pa.Schema, to_array: ToArray) -> pa.RecordBatch:
    """Rows as a record batch of `schema`, a column at a time."""
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [to_array(values, field) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


def fetched_batches(  # pylint: disable=too-many-arguments
    connection: Any,
    cursor: Any,
    schema: pa.Schema,
    batch_size: int,
    to_array: ToArray,
    *,
    driver_error: type[Exception],
    failure: Callable[[Exception], str],
) -> Iterator[pa.RecordBatch]:
    """`batch_size` rows at a time from an executed `cursor`; a driver error while fetching (a
    dropped connection) becomes a `SourceError` with `failure`'s message. The cursor and its
    connection are closed when the stream ends, fails or is abandoned."""
    try:
        while True:
            try:
                rows = cursor.fetchmany(batch_size)
            except driver_error as exc:
                raise SourceError(failure(exc)) from exc
            if not rows:
                return
            yield to_batch(rows, schema, to_array)
    finally:
        cursor.close()
        connection.close()
