"""
What every warehouse adapter shares: load requests and results, errors, schema-drift rules.
"""

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

LOAD_MODES = ("append", "overwrite")
SCHEMA_CHANGES = ("error", "replace")
"""What an overwrite does when the new data drops or retypes columns: fail, or replace the table."""
LOADS_TABLE = "_pipelines_loads"
STATE_TABLE = "_pipelines_state"


class SchemaDriftError(ValueError):
    """The new data removes or retypes columns the warehouse table already has."""


class LoadVerificationError(RuntimeError):
    """The warehouse holds a different number of rows than the run extracted."""


class TableBusyError(RuntimeError):
    """Another run holds the table's writer lease longer than this one waits for it."""


class StateMovedError(RuntimeError):
    """Another run loaded the table after this one read its watermark: loading would duplicate."""


class ShrinkError(RuntimeError):
    """An overwrite would shrink the table by more than the allowed fraction."""


class UnknownWarehouseError(ValueError):
    """`Settings.warehouse` names no adapter."""


@dataclass(frozen=True)
class LoadRequest:  # pylint: disable=too-many-instance-attributes
    """Parquet files of one run to load into `dataset_id.table_id` (dataset already resolved)."""

    dataset_id: str
    table_id: str
    files: Sequence[str]
    mode: str
    run_id: str
    expected_rows: int
    hive_types: Mapping[str, str] = field(default_factory=dict)
    state: Mapping[str, Any] | None = None
    """Incremental state (`column`, `value`, `type`, `boundary`) saved in the same transaction
    as the rows."""
    read_state: Mapping[str, Any] | None = None
    """The state this run read before extracting (incremental): the load fails with
    `StateMovedError` when the table's saved state is no longer this one."""
    allow_shrink: bool = False
    """Let an overwrite shrink the table past `max_shrink` (a source that really lost rows)."""
    max_shrink: float = 0.5
    """Fraction of its rows an overwrite may remove without `allow_shrink`."""
    schema_change: str = "error"
    """Overwrite only: `replace` takes the new columns when some were dropped or retyped."""

    def __post_init__(self) -> None:
        if self.mode not in LOAD_MODES:
            raise ValueError(f"dump_mode {self.mode!r} inválido; use um de {LOAD_MODES}")
        if self.schema_change not in SCHEMA_CHANGES:
            raise ValueError(
                f"schema_change {self.schema_change!r} inválido; use um de {SCHEMA_CHANGES}"
            )


@dataclass(frozen=True)
class LoadResult:
    """What a load did."""

    table: str
    rows_loaded: int
    table_rows: int
    added_columns: tuple[str, ...] = ()
    already_loaded: bool = False
    mode: str | None = None
    """The committed load's mode, when read back from the run record (`already_loaded`)."""


def boundary_text(state: Mapping[str, Any]) -> str | None:
    """The boundary rows' hashes of an incremental state, as stored (JSON text)."""
    boundary = state.get("boundary")
    return None if boundary is None else json.dumps(list(boundary))


def state_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """An incremental state from its stored columns (column, value, type, boundary JSON)."""
    column, value, type_name, boundary = row
    return {
        "column": column,
        "value": value,
        "type": type_name,
        "boundary": None if boundary is None else json.loads(boundary),
    }


class Warehouse(Protocol):
    """What the dump flows need from a warehouse."""

    def load(self, request: LoadRequest) -> LoadResult:
        """Load a run's files atomically and verify the row count."""

    def read_state(self, dataset_id: str, table_id: str) -> dict[str, Any] | None:
        """The incremental state saved by the last successful load of a table."""

    def committed_load(self, dataset_id: str, table_id: str, run_id: str) -> LoadResult | None:
        """The load `run_id` already committed into the table (`already_loaded`), or None."""

    def count_rows(self, dataset_id: str, table_id: str) -> int | None:
        """Rows in a table, or None when it does not exist."""

    def writer(
        self, dataset_id: str, table_id: str, holder: str, wait: float
    ) -> AbstractContextManager[None]:
        """Hold the table's single-writer lease (for `holder`, a run id) for a whole dump: read
        the watermark, extract, load, publish. Waits up to `wait` seconds for another holder,
        then raises `TableBusyError`. A holder that dies loses the lease (no stale locks)."""


_INTEGER_RANK = {"TINYINT": 1, "SMALLINT": 2, "INTEGER": 3, "BIGINT": 4, "HUGEINT": 5}


def is_compatible(new_type: str, old_type: str) -> bool:
    """A new column type that fits the existing column without loss (same, or a narrower int)."""
    new_type, old_type = new_type.upper(), old_type.upper()
    if new_type == old_type:
        return True
    if new_type in _INTEGER_RANK and old_type in _INTEGER_RANK:
        return _INTEGER_RANK[new_type] <= _INTEGER_RANK[old_type]
    return False


def schema_changes(
    new: Mapping[str, str], old: Mapping[str, str]
) -> tuple[list[str], list[str], list[str]]:
    """(added, removed, retyped) columns of `new` against `old`, by name; types as SQL strings."""
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    retyped = [
        f"{name} ({old[name]} -> {new[name]})"
        for name in new
        if name in old and not is_compatible(new[name], old[name])
    ]
    return added, removed, retyped


def check_drift(table: str, new: Mapping[str, str], old: Mapping[str, str]) -> list[str]:
    """The columns to add; raise naming every removed or retyped column."""
    added, removed, retyped = schema_changes(new, old)
    problems = []
    if removed:
        problems.append(f"colunas removidas: {', '.join(removed)}")
    if retyped:
        problems.append(f"colunas com tipo incompatível: {', '.join(retyped)}")
    if problems:
        raise SchemaDriftError(
            f"mudança de esquema em {table}: {'; '.join(problems)}. A tabela anterior foi mantida."
        )
    return added
