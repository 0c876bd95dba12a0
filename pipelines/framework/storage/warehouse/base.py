"""
What every warehouse adapter shares: load requests and results, errors, schema-drift rules.
"""

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipelines.framework.config import get_settings

LOAD_MODES = ("append", "overwrite")
SCHEMA_CHANGES = ("error", "replace")
"""What an overwrite does when the new data drops or retypes columns: fail, or replace the table."""
LOADS_TABLE = "_pipelines_loads"
STATE_TABLE = "_pipelines_state"


class SchemaDriftError(ValueError):
    """The new data removes or retypes columns the warehouse table already has."""


class LoadVerificationError(RuntimeError):
    """The warehouse holds a different number of rows than the run extracted."""


class WarehouseBusyError(RuntimeError):
    """Another process held the warehouse longer than this one waits for it: worth trying the
    step again later (the load tasks do). Not a `TimeoutError`: Prefect would name the failed run
    "TimedOut", as if the flow ran too long."""


class TableBusyError(RuntimeError):
    """Another run holds the table's writer lease longer than this one waits for it."""


class StateMovedError(RuntimeError):
    """Another run loaded the table after this one read its watermark: loading would duplicate."""

    @classmethod
    def between(
        cls, table: str, saved: Mapping[str, Any] | None, read: Mapping[str, Any] | None
    ) -> "StateMovedError":
        """The error for a run that read `read` while the table's saved state is now `saved`."""
        return cls(
            f"{table}: outra execução carregou a tabela depois que esta leu o watermark "
            f"(lido: {_describe_state(read)}; salvo agora: {_describe_state(saved)}); carregar "
            "duplicaria linhas. Nada foi gravado; a próxima execução parte do watermark salvo."
        )


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
    max_shrink: float = field(default_factory=lambda: get_settings().max_shrink)
    """Fraction of its rows an overwrite may remove without `allow_shrink`."""
    schema_change: str = "error"
    """Overwrite only: `replace` takes the new columns when some were dropped or retyped."""
    partition_column: str | None = None
    """The dump's declared partition column (the first of `partition_columns`): BigQuery
    partitions the table by it, by day for a date or time, by `partition_range` for an integer;
    other warehouses ignore it."""
    partition_range: tuple[int, int, int] | None = None
    """(start, end, interval) of an integer partition column's ranges."""
    cluster_columns: tuple[str, ...] = ()
    """Columns BigQuery clusters the table by (at most 4, in order)."""

    def __post_init__(self) -> None:
        if self.mode not in LOAD_MODES:
            raise ValueError(f"dump_mode {self.mode!r} inválido; use um de {LOAD_MODES}")
        if self.schema_change not in SCHEMA_CHANGES:
            raise ValueError(
                f"schema_change {self.schema_change!r} inválido; use um de {SCHEMA_CHANGES}"
            )

    @property
    def incremental(self) -> bool:
        """Whether the load depends on the table's saved state: it read one, or saves one."""
        return self.read_state is not None or self.state is not None


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


def _describe_state(state: Mapping[str, Any] | None) -> str:
    return "nenhum" if state is None else f"{state.get('column')} = {state.get('value')}"


def check_state(table: str, saved: Mapping[str, Any] | None, request: LoadRequest) -> None:
    """Refuse an incremental load when the table's `saved` state is no longer the one the run
    read (optimistic concurrency: the last net behind the writer lease)."""
    if request.incremental and saved != request.read_state:
        raise StateMovedError.between(table, saved, request.read_state)


def check_shrink(table: str, request: LoadRequest, existing_rows: int | None) -> None:
    """Refuse an overwrite that would remove more than `max_shrink` of the table's rows (a
    source cut short replacing a complete table), unless the dump allows it."""
    if request.mode != "overwrite" or request.allow_shrink or not existing_rows:
        return
    new_rows = request.expected_rows
    if new_rows >= existing_rows * (1 - request.max_shrink):
        return
    raise ShrinkError(
        f"{table}: a nova versão tem {new_rows:,} linhas e a tabela tem {existing_rows:,}; "
        f"sobrescrever removeria {1 - new_rows / existing_rows:.0%} das linhas, mais que o "
        f"limite de {request.max_shrink:.0%}. A tabela anterior foi mantida. Se a fonte perdeu "
        "essas linhas de fato, rode de novo com allow_shrink=True."
    )


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

    def writer_slot(self) -> AbstractContextManager[None]:
        """Hold the warehouse's single writer slot for a step that writes into it outside `load`
        (a dbt build), so that step and the loads queue instead of failing each other; waits
        `Settings.warehouse_lock_timeout`, then raises `WarehouseBusyError`. A warehouse whose
        writers run side by side (BigQuery) holds nothing."""


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


def check_drift(
    table: str,
    new: Mapping[str, str],
    old: Mapping[str, str],
    mode: str = "append",
    schema_change: str = "error",
) -> list[str]:
    """The columns to add; raise naming every removed or retyped column, unless an overwrite
    replaces the table's schema (`schema_change="replace"`)."""
    added, removed, retyped = schema_changes(new, old)
    if mode == "overwrite" and schema_change == "replace":
        return added
    problems = []
    if removed:
        problems.append(f"colunas removidas: {', '.join(removed)}")
    if retyped:
        problems.append(f"colunas com tipo incompatível: {', '.join(retyped)}")
    if problems:
        way_out = (
            ' Para substituir a tabela pelas colunas novas, rode com schema_change="replace".'
            if mode == "overwrite"
            else ""
        )
        raise SchemaDriftError(
            f"mudança de esquema em {table}: {'; '.join(problems)}. A tabela anterior foi "
            f"mantida.{way_out}"
        )
    return added
