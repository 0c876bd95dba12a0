"""
The embedded warehouse: one DuckDB file per environment, datasets as schemas.

DuckDB lets one process write a file at a time, so every short step that opens it (load, state
read) holds an exclusive lock file first and retries the open with backoff if another program
(dbt, a notebook) holds DuckDB's own lock; several dumps on one worker then queue, not fail.
"""

import fcntl
import hashlib
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from pipelines.framework.settings import get_settings
from pipelines.framework.warehouse.base import (
    LOADS_TABLE,
    STATE_TABLE,
    LoadRequest,
    LoadResult,
    LoadVerificationError,
    TableBusyError,
    boundary_text,
    check_drift,
    state_from_row,
)

# A load's memory stays flat whatever the table's length: DuckDB spills past its limit to
# `<file>.tmp/`. What it cannot spill grows with the width (each thread appends to a block per
# column and reads a row group at a time), so the limit is a floor plus about 1 MiB per column and
# thread: 64 MB for a 12-column table, which peaked ~50 MB lower than under the former fixed 128 MB,
# as fast; 40, 90 and 120 columns loaded at 112, 212 and 272 MB (a fixed 128 MB failed from ~150).
_LOAD_MEMORY_FLOOR_MB = 64
_LOAD_MEMORY_BASE_MB = 32


class WarehouseBusyError(RuntimeError):
    """Another process held the warehouse longer than this one waits for it. Not a
    `TimeoutError`: Prefect would name the failed run "TimedOut", as if the flow ran too long."""


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@contextmanager
def _flock(lock_path: str, timeout: float, busy: Callable[[], Exception]) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path`, waiting with backoff up to `timeout` seconds, then
    raising `busy()`. The kernel drops it when the holder dies: no stale locks."""
    deadline = time.monotonic() + timeout
    with open(lock_path, "a+b") as handle:
        delay = 0.05
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise busy() from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def warehouse_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the warehouse's writer slot (an exclusive lock on `<file>.lock`) for a short step."""
    timeout = get_settings().warehouse_lock_timeout if timeout is None else timeout
    path.parent.mkdir(parents=True, exist_ok=True)
    with _flock(
        f"{path}.lock",
        timeout,
        lambda: WarehouseBusyError(f"o warehouse {path} ficou ocupado por mais de {timeout:.0f}s"),
    ):
        yield


def connect(
    path: Path, read_only: bool = False, timeout: float = 60.0
) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying with backoff while another program (dbt, a notebook) holds
    DuckDB's own lock; still held after `timeout`, it is a `WarehouseBusyError`, which the load
    task retries."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise WarehouseBusyError(
                    f"o warehouse {path} ficou ocupado por outro programa por mais de "
                    f"{timeout:.0f}s: {exc}"
                ) from exc
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)


class DuckDBWarehouse:
    """Loads Parquet runs into a DuckDB file in one transaction each."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self, request: LoadRequest) -> LoadResult:
        """Load a run's files atomically: rows, run record and watermark commit together."""
        with warehouse_lock(self.path), _closing(connect(self.path)) as con:
            con.execute(f"SET memory_limit = '{_LOAD_MEMORY_FLOOR_MB}MB'")
            con.execute("SET preserve_insertion_order = false")  # lets inserts stream
            con.execute("SET enable_progress_bar = false")
            _register_filesystems(con, request.files)
            con.execute("BEGIN TRANSACTION")
            try:
                result = _load(con, request)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            if result.already_loaded:
                con.execute("ROLLBACK")
            else:
                con.execute("COMMIT")
            return result

    @contextmanager
    def writer(self, dataset_id: str, table_id: str, holder: str, wait: float) -> Iterator[None]:
        """The table's writer lease: an exclusive lock on a file beside the warehouse, one per
        table, held by the dump's process (released by the kernel if it dies)."""
        leases = self.path.parent / f"{self.path.name}.leases"
        leases.mkdir(parents=True, exist_ok=True)
        name = hashlib.blake2b(f"{dataset_id}\0{table_id}".encode(), digest_size=12).hexdigest()
        with _flock(
            str(leases / f"{name}.lock"),
            wait,
            lambda: TableBusyError(
                f"outra execução está gravando {dataset_id}.{table_id} há mais de {wait:.0f}s"
            ),
        ):
            yield

    def read_state(self, dataset_id: str, table_id: str) -> dict[str, Any] | None:
        """Last committed watermark of a table, or None before its first load."""
        if not self.path.exists():
            return None
        with warehouse_lock(self.path), _closing(connect(self.path)) as con:
            _ensure_bookkeeping(con)
            row = con.execute(
                "SELECT watermark_column, watermark_value, watermark_type, watermark_boundary "
                f"FROM {STATE_TABLE} "
                "WHERE dataset_id = ? AND table_id = ?",
                [dataset_id, table_id],
            ).fetchone()
        if row is None:
            return None
        return state_from_row(row)

    def committed_load(self, dataset_id: str, table_id: str, run_id: str) -> LoadResult | None:
        """The load `run_id` already committed into the table, or None."""
        if not self.path.exists():
            return None
        with warehouse_lock(self.path), _closing(connect(self.path)) as con:
            _ensure_bookkeeping(con)
            return _committed(con, dataset_id, table_id, run_id)

    def count_rows(self, dataset_id: str, table_id: str) -> int | None:
        """Rows in a table, or None when it does not exist."""
        if not self.path.exists():
            return None
        with warehouse_lock(self.path), _closing(connect(self.path)) as con:
            if not _columns(con, dataset_id, table_id):
                return None
            return con.execute(f"SELECT count(*) FROM {_table(dataset_id, table_id)}").fetchone()[0]


@contextmanager
def _closing(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    try:
        yield con
    finally:
        con.close()


def _register_filesystems(con: duckdb.DuckDBPyConnection, files: list[str] | Any) -> None:
    """Let DuckDB read remote lake files (gs://, s3://, ...) through fsspec."""
    import fsspec

    protocols = {f.split("://", 1)[0] for f in files if "://" in f}
    for protocol in protocols - {"file"}:
        con.register_filesystem(fsspec.filesystem(protocol))


def _table(dataset_id: str, table_id: str) -> str:
    return f"{quote(dataset_id)}.{quote(table_id)}"


def _ensure_bookkeeping(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {LOADS_TABLE} (dataset_id VARCHAR, table_id VARCHAR, "
        "run_id VARCHAR, mode VARCHAR, rows BIGINT, loaded_at TIMESTAMPTZ, "
        "PRIMARY KEY (dataset_id, table_id, run_id))"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (dataset_id VARCHAR, table_id VARCHAR, "
        "watermark_column VARCHAR, watermark_value VARCHAR, watermark_type VARCHAR, "
        "updated_at TIMESTAMPTZ, PRIMARY KEY (dataset_id, table_id))"
    )
    con.execute(f"ALTER TABLE {STATE_TABLE} ADD COLUMN IF NOT EXISTS watermark_boundary VARCHAR")


def _columns(con: duckdb.DuckDBPyConnection, dataset_id: str, table_id: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [dataset_id, table_id],
    ).fetchall()
    return dict(rows)


def _source(request: LoadRequest) -> str:
    files = "[" + ", ".join(_literal(f) for f in request.files) + "]"
    if not request.hive_types:
        return f"read_parquet({files}, hive_partitioning = false)"
    types = ", ".join(f"{_literal(k)}: {v}" for k, v in request.hive_types.items())
    return f"read_parquet({files}, hive_partitioning = true, hive_types = {{{types}}})"


def _load_memory_mb(con: duckdb.DuckDBPyConnection, columns: int) -> int:
    """The memory limit a load of `columns` columns needs (see `_LOAD_MEMORY_FLOOR_MB`)."""
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    return max(_LOAD_MEMORY_FLOOR_MB, _LOAD_MEMORY_BASE_MB + columns * int(threads))


def _committed(
    con: duckdb.DuckDBPyConnection, dataset_id: str, table_id: str, run_id: str
) -> LoadResult | None:
    previous = con.execute(
        f"SELECT rows, mode FROM {LOADS_TABLE} "
        "WHERE dataset_id = ? AND table_id = ? AND run_id = ?",
        [dataset_id, table_id, run_id],
    ).fetchone()
    if previous is None:
        return None
    total = con.execute(f"SELECT count(*) FROM {_table(dataset_id, table_id)}").fetchone()[0]
    return LoadResult(
        f"{dataset_id}.{table_id}", previous[0], total, already_loaded=True, mode=previous[1]
    )


def _load(con: duckdb.DuckDBPyConnection, request: LoadRequest) -> LoadResult:
    _ensure_bookkeeping(con)
    committed = _committed(con, request.dataset_id, request.table_id, request.run_id)
    if committed is not None:
        return committed
    table = _table(request.dataset_id, request.table_id)
    name = f"{request.dataset_id}.{request.table_id}"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(request.dataset_id)}")
    source = _source(request)
    new = dict(
        con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})"
        ).fetchall()
    )
    old = _columns(con, request.dataset_id, request.table_id)
    added = check_drift(name, new, old) if old else []
    con.execute(f"SET memory_limit = '{_load_memory_mb(con, len(new.keys() | old.keys()))}MB'")
    if request.mode == "overwrite" or not old:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {source}")
        loaded = total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    else:
        for column in added:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(column)} {new[column]}")
        before = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {source}")
        total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        loaded = total - before
    if loaded != request.expected_rows:
        raise LoadVerificationError(
            f"{name}: {loaded} linhas carregadas, {request.expected_rows} extraídas; "
            "nada foi gravado"
        )
    _record(con, request, loaded)
    return LoadResult(name, loaded, total, tuple(added))


def _record(con: duckdb.DuckDBPyConnection, request: LoadRequest, rows: int) -> None:
    now = datetime.now(timezone.utc)
    con.execute(
        f"INSERT INTO {LOADS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
        [request.dataset_id, request.table_id, request.run_id, request.mode, rows, now],
    )
    if request.state is None:
        return
    con.execute(
        f"INSERT OR REPLACE INTO {STATE_TABLE} (dataset_id, table_id, watermark_column, "
        "watermark_value, watermark_type, watermark_boundary, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            request.dataset_id,
            request.table_id,
            request.state["column"],
            request.state["value"],
            request.state.get("type"),
            boundary_text(request.state),
            now,
        ],
    )
