"""
Incremental dumps: read only rows at or past the last loaded watermark, exactly once.

The source is asked for `column >= last value`, so rows committed late with the same value as the
last load's highest (many rows per second, per day, ...) are not missed. The rows that sat on that
boundary in the last load are remembered by a hash of their content and dropped when they come
back, so a rerun never duplicates them. This is dlt's `incremental` rule, applied to Arrow batches.
"""

# pyarrow.compute builds its functions at import time, out of pylint's sight.
# pylint: disable=no-member

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.utils.dump_db.utils import quote_identifier


def comparison(previous: dict[str, Any]) -> str:
    """`>=` past a state that remembers its boundary rows; `>` for one saved without them."""
    return ">" if previous.get("boundary") is None else ">="


def incremental_query(
    db_type: str, query: str, column: str | None, previous: dict[str, Any] | None, literal: Any
) -> str:
    """Wrap `query` so it returns only rows at or past the last loaded watermark."""
    if not column or previous is None:
        return query
    return (  # an alias without AS, starting with a letter: the form Oracle accepts too
        f"SELECT * FROM ({query}) dump_rows WHERE "
        f"{quote_identifier(db_type, column)} {comparison(previous)} {literal(previous['value'])}"
    )


def watermark_text(value: Any) -> str | None:
    """A watermark as text the source compares correctly (UTC, no offset, for timestamps)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def row_hash(row: dict[str, Any]) -> str:
    """A short, stable fingerprint of one row's values."""
    text = json.dumps(row, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _typed(text: str, arrow_type: pa.DataType) -> pa.Scalar:
    """The stored watermark text as a scalar of the column's type."""
    if pa.types.is_timestamp(arrow_type):
        moment = datetime.fromisoformat(text)
        if arrow_type.tz is not None:
            moment = moment.replace(tzinfo=timezone.utc)
        return pa.scalar(moment, type=arrow_type)
    if pa.types.is_date(arrow_type):
        return pa.scalar(date.fromisoformat(text), type=arrow_type)
    return pa.scalar(text).cast(arrow_type)


class WatermarkTracker:
    """Drops rows already loaded at the last boundary and follows the new one as batches pass."""

    def __init__(self, column: str, previous: dict[str, Any] | None):
        self.column = column
        self.previous = previous
        self._seen = frozenset((previous or {}).get("boundary") or ())
        self.high: Any = None
        self.boundary: set[str] = set()
        self.dropped = 0

    def track(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Pass `batches` through without the rows a previous load already has."""
        last: pa.Scalar | None = None
        for batch in batches:
            if self._seen and batch.num_rows:
                if last is None:
                    last = _typed(self.previous["value"], batch.schema.field(self.column).type)
                batch = self._drop_seen(batch, last)
            self._follow(batch)
            yield batch

    def _drop_seen(self, batch: pa.RecordBatch, last: pa.Scalar) -> pa.RecordBatch:
        at_boundary = pc.fill_null(pc.equal(batch.column(self.column), last), False)
        if not pc.any(at_boundary).as_py():
            return batch
        keep = [True] * batch.num_rows
        candidates = pc.indices_nonzero(at_boundary).to_pylist()
        for index, row in zip(candidates, batch.take(candidates).to_pylist(), strict=True):
            if row_hash(row) in self._seen:
                keep[index] = False
                self.dropped += 1
        return batch.filter(pa.array(keep))

    def _follow(self, batch: pa.RecordBatch) -> None:
        values = batch.column(self.column)
        high = pc.max(values)
        if not high.is_valid:
            return
        if self.high is None or high.as_py() > self.high.as_py():
            self.high, self.boundary = high, set()
        if high.as_py() == self.high.as_py():
            at_high = pc.fill_null(pc.equal(values, self.high), False)
            self.boundary.update(row_hash(row) for row in batch.filter(at_high).to_pylist())

    def state(self) -> dict[str, Any] | None:
        """What to save with the load: the new high watermark and its boundary rows, or the
        previous state unchanged when no new row came."""
        if self.high is None:
            return self.previous
        if self.previous and self.high == _typed(self.previous["value"], self.high.type):
            self.boundary |= self._seen  # the same boundary value: keep every row loaded on it
        return {
            "column": self.column,
            "value": watermark_text(self.high.as_py()),
            "type": str(self.high.type),
            "boundary": sorted(self.boundary),
        }
