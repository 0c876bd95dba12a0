"""
Incremental dumps: read only rows at or past the last loaded watermark, exactly once.

The source is asked for `column >= last value` (its dialect's `watermark_query`), so rows
committed late with the same value as the last load's highest (many rows per second, per day, ...)
are not missed. The rows that sat on that boundary in the last load are remembered and dropped
when they come back, so a rerun never duplicates them: by their primary key when the table has one
(an edited row, or a column added at the source, is still the same row), else by a hash of the
columns the saved state knew. This is dlt's `incremental` rule, applied to Arrow batches.

A NULL or NaN watermark cannot be compared: the first load takes those rows, later loads neither
ask for them (PostgreSQL and Oracle order NaN above every number) nor follow them.
"""

# pyarrow.compute builds its functions at import time, out of pylint's sight.
# pylint: disable=no-member

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.utils.dump_db.utils import DumpConfigError

# `str()` of the Arrow types whose values may be NaN, as saved in a state's `type`.
FLOAT_TYPES = ("halffloat", "float", "double")


def comparison(previous: dict[str, Any]) -> str:
    """`>=` past a state that remembers its boundary rows; `>` for one saved without them."""
    return ">" if previous.get("boundary") is None else ">="


def is_nan_state(state: dict[str, Any]) -> bool:
    """A state whose value is NaN (saved by versions that followed NaN as the high): nothing
    past it can be asked for."""
    value = state.get("value")
    return state.get("type") in FLOAT_TYPES and str(value).lower() == "nan"


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


@dataclass(frozen=True)
class Identity:
    """What tells boundary rows apart: the primary key's `columns` (`by_key`) or the content of
    `columns`; None hashes whole rows, as states saved before keys did."""

    columns: tuple[str, ...] | None
    by_key: bool = False

    def of(self, rows: pa.RecordBatch) -> list[str]:
        """One identity per row of `rows`; a column it names that `rows` lacks counts as NULL."""
        if self.columns is None:
            return [row_hash(row) for row in rows.to_pylist()]
        present = rows.select([c for c in self.columns if c in rows.schema.names])
        return [row_hash({c: row.get(c) for c in self.columns}) for row in present.to_pylist()]

    def saved(self, identities: Iterable[str]) -> list[dict[str, Any]]:
        """A boundary as stored: one item, the rule and the identities (a list, which the
        warehouse stores as it is)."""
        return [
            {
                "by": "key" if self.by_key else "content",
                "columns": list(self.columns or ()),
                "rows": sorted(identities),
            }
        ]


def row_identity(primary_key: Sequence[str] | None, names: Sequence[str]) -> Identity:
    """Boundary rows by `primary_key` when there is one, else by the content of every column
    read (`names`)."""
    if not primary_key:
        return Identity(tuple(names))
    missing = [c for c in primary_key if c not in names]
    if missing:
        raise DumpConfigError(f"a chave primária {missing} não está na consulta")
    return Identity(tuple(primary_key), by_key=True)


def _saved(previous: dict[str, Any] | None) -> tuple[Identity, frozenset[str]]:
    """The rule a saved state's boundary used and its identities; a plain list of hashes is the
    form saved before keys (whole rows)."""
    boundary = (previous or {}).get("boundary") or []
    if boundary and isinstance(boundary[0], dict):
        saved = boundary[0]
        rule = Identity(tuple(saved["columns"]), by_key=saved["by"] == "key")
        return rule, frozenset(saved["rows"])
    return Identity(None), frozenset(boundary)


def _usable(values: pa.Array) -> pa.Array:
    """Which watermark values can be compared: neither NULL nor NaN."""
    if pa.types.is_floating(values.type):
        return pc.fill_null(pc.invert(pc.is_nan(values)), False)
    return pc.is_valid(values)


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


class WatermarkTracker:  # pylint: disable=too-many-instance-attributes
    """Drops rows already loaded at the last boundary, and rows whose watermark cannot be
    compared once a first load took them, and follows the new boundary as batches pass."""

    def __init__(self, column: str, previous: dict[str, Any] | None, identity: Identity):
        self.column = column
        self.previous = previous
        self.identity = identity
        self._known, self._seen = _saved(previous)
        self._type: pa.DataType | None = None
        self.high: pa.Scalar | None = None
        self.boundary: set[str] = set()
        self.dropped = 0
        self.unusable = 0

    def track(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Pass `batches` through without the rows a previous load already has."""
        last: pa.Scalar | None = None
        for batch in batches:
            self._type = batch.schema.field(self.column).type
            usable = _usable(batch.column(self.column))
            self.unusable += batch.num_rows - usable.true_count
            self._follow(batch, usable)  # every row on the high, loaded now or before
            if self.previous is not None and batch.num_rows:
                if last is None and self.previous["value"] is not None:
                    last = _typed(self.previous["value"], self._type)
                batch = self._drop_loaded(batch, usable, last)
            yield batch

    def _drop_loaded(
        self, batch: pa.RecordBatch, usable: pa.Array, last: pa.Scalar | None
    ) -> pa.RecordBatch:
        """`batch` without its rows with no usable watermark and those on the last boundary
        that a previous load has."""
        keep = usable
        loaded = self._loaded(batch, last)
        if loaded:
            self.dropped += len(loaded)
            flags = keep.to_pylist()
            for index in loaded:
                flags[index] = False
            keep = pa.array(flags, type=pa.bool_())
        return batch if pc.all(keep).as_py() else batch.filter(keep)

    def _loaded(self, batch: pa.RecordBatch, last: pa.Scalar | None) -> list[int]:
        """Positions of the rows on the last boundary that a previous load has."""
        if not self._seen or last is None:
            return []
        on_last = pc.fill_null(pc.equal(batch.column(self.column), last), False)
        candidates = pc.indices_nonzero(on_last).to_pylist()
        if not candidates:
            return []
        identities = self._known.of(batch.take(candidates))
        return [
            index
            for index, identity in zip(candidates, identities, strict=True)
            if identity in self._seen
        ]

    def _follow(self, batch: pa.RecordBatch, usable: pa.Array) -> None:
        """Move the high to the batch's highest usable value (NaN and NULL never equal it) and
        remember the identities of the rows on it."""
        if not usable.true_count:
            return
        values = batch.column(self.column)
        high = pc.max(values.filter(usable))
        if self.high is None or high.as_py() > self.high.as_py():
            self.high, self.boundary = high, set()
        if high.as_py() == self.high.as_py():
            self.boundary.update(self.identity.of(batch.filter(pc.equal(values, self.high))))

    def state(self) -> dict[str, Any] | None:
        """What to save with the load: the new high watermark and the identities of every row
        on it, or the previous state unchanged when no new value came. A first load whose
        rows all lacked a usable value saves a state without one, so they are not read again."""
        if self.high is None and (self.previous is not None or not self.unusable):
            return self.previous
        return {
            "column": self.column,
            "value": None if self.high is None else watermark_text(self.high.as_py()),
            "type": str(self._type),
            "boundary": self.identity.saved(self.boundary),
        }
