"""
The embedded warehouse: one DuckDB file per environment, datasets as schemas.

DuckDB lets one process write a file at a time, so every short step that opens it (load, state
read) holds an exclusive lock file first and retries the open with backoff if another program
(dbt, a notebook) holds DuckDB's own lock; several dumps on one worker then queue, not fail.
"""

import fcntl
import hashlib
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import fsspec

from pipelines.framework.config import get_settings
from pipelines.framework.storage.files import storage_options, url_to_fs
from pipelines.framework.storage.warehouse.base import (
    LOADS_TABLE,
    STATE_TABLE,
    LoadRequest,
    LoadResult,
    LoadVerificationError,
    TableBusyError,
    WarehouseBusyError,
    boundary_text,
    check_drift,
    check_shrink,
    check_state,
    state_from_row,
)

# A load's memory stays flat whatever the table's length: DuckDB spills past its limit to
# `<file>.tmp/`. What it cannot spill grows with the width (each thread appends to a block per
# column and reads a row group at a time), so the limit is a floor plus about 1 MiB per column and
# thread: 64 MB for a 12-column table, which peaked ~50 MB lower than under the former fixed 128 MB,
# as fast; 40, 90 and 120 columns loaded at 112, 212 and 272 MB (a fixed 128 MB failed from ~150).
_LOAD_MEMORY_FLOOR_MB = 64
_LOAD_MEMORY_BASE_MB = 32
_NO_SPACE = "No space left on device"
# Free space a load needs, as a multiple of its staged Parquet (snappy, as the lake writes it).
# Measured on 1M rows (DuckDB 2.0): a table takes 0.4-0.6x its Parquet in the file (integers,
# typical mixed columns, random text) and the load peaked at 0.55x with its spill in `.tmp/`;
# twice the Parquet leaves room for wider tables spilling more and the WAL. In overwrite the old
# table keeps its space until the commit, so this is on top of what the file holds already.
_SPACE_FACTOR = 2


class WarehouseFullError(RuntimeError):
    """The warehouse's disk filled up during a load (rolled back, nothing written)."""


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@contextmanager
def _flock(lock_path: str, timeout: float, busy: Callable[[], Exception]) -> Iterator[BinaryIO]:
    """Hold an exclusive lock on `lock_path` (yielding its open file), waiting with backoff up to
    `timeout` seconds, then raising `busy()`. The kernel drops it when the holder dies: no stale
    locks."""
    deadline = time.monotonic() + timeout
    with open(lock_path, "a+b") as handle:
        delay = 0.05
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise busy() from None
                time.sleep(min(delay * (1 + random.random()), remaining))
                delay = min(delay * 2, 2.0)
        try:
            yield handle
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
        """Load a run's files atomically: rows, run record and watermark commit together. A disk
        that fills up rolls the load back and fails with a `WarehouseFullError` saying how much
        space is needed."""
        with warehouse_lock(self.path):
            try:
                with _closing(connect(self.path)) as con:
                    return _transaction(con, request)
            except duckdb.Error as exc:
                if _NO_SPACE not in str(exc):
                    raise
                raise WarehouseFullError(_full_message(self.path, request)) from exc

    @contextmanager
    def writer(self, dataset_id: str, table_id: str, holder: str, wait: float) -> Iterator[None]:
        """The table's writer lease: an exclusive lock on a file beside the warehouse, one per
        table, held by the dump's process (released by the kernel if it dies). The file names
        the holder, for the message of a run that finds it busy."""
        leases = self.path.parent / f"{self.path.name}.leases"
        leases.mkdir(parents=True, exist_ok=True)
        name = hashlib.blake2b(f"{dataset_id}\0{table_id}".encode(), digest_size=12).hexdigest()
        lock = leases / f"{name}.lock"

        def busy() -> TableBusyError:
            other = lock.read_text(errors="replace").strip() or "desconhecida"
            return TableBusyError(
                f"outra execução ({other}) está gravando {dataset_id}.{table_id}; esperei {wait:g}s"
            )

        with _flock(str(lock), wait, busy) as handle:
            handle.truncate(0)
            handle.write(holder.encode())
            handle.flush()
            yield

    def writer_slot(self) -> AbstractContextManager[None]:
        """The file's writer slot (`warehouse_lock`), which every load and state read holds too."""
        return warehouse_lock(self.path)

    def read_state(self, dataset_id: str, table_id: str) -> dict[str, Any] | None:
        """Last committed watermark of a table, or None before its first load."""
        if not self.path.exists():
            return None
        with warehouse_lock(self.path), _closing(connect(self.path)) as con:
            _ensure_bookkeeping(con)
            return _saved_state(con, dataset_id, table_id)

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


def _transaction(con: duckdb.DuckDBPyConnection, request: LoadRequest) -> LoadResult:
    con.execute(f"SET memory_limit = '{_LOAD_MEMORY_FLOOR_MB}MB'")
    con.execute("SET preserve_insertion_order = false")  # lets inserts stream
    con.execute("SET enable_progress_bar = false")
    _register_filesystems(con, request.files)
    con.execute("BEGIN TRANSACTION")
    try:
        result = _load(con, request)
    except BaseException:
        with suppress(duckdb.Error):  # a failed write may have ended it: closing discards it
            con.execute("ROLLBACK")
        raise
    if result.already_loaded:
        con.execute("ROLLBACK")
    else:
        con.execute("COMMIT")
    return result


def _full_message(path: Path, request: LoadRequest) -> str:
    """What a load that filled the disk tells: the space it needs, where the space it took went
    (DuckDB keeps a rolled-back load's blocks in the file, free: the next load reuses them and
    its checkpoint truncates what is left), and how to compact the file."""
    staged = _staged_bytes(request.files)
    free = shutil.disk_usage(path.parent).free
    return (
        f"o disco do warehouse {path} encheu ao carregar {request.dataset_id}."
        f"{request.table_id} (No space left on device); nada foi gravado e o arquivo continua "
        f"utilizável. A carga precisa de cerca de {_size(staged * _SPACE_FACTOR)} livres em "
        f"{path.parent} ({_SPACE_FACTOR}x os {_size(staged)} de Parquet da carga); há "
        f"{_size(free)}. Libere espaço e rode de novo: o que a carga desfeita escreveu fica livre "
        "dentro do arquivo, a próxima carga reaproveita e devolve ao disco o que sobrar. Para "
        "compactar o arquivo: CHECKPOINT devolve o espaço de linhas apagadas (VACUUM não "
        "devolve); de vez, com o warehouse parado, copie-o para um arquivo novo (ATTACH "
        f"'{path}' AS velho; ATTACH 'novo.duckdb' AS novo; COPY FROM DATABASE velho TO novo) e "
        "troque os arquivos."
    )


def _staged_bytes(files: Sequence[str]) -> int:
    total = 0
    for file in files:
        fs, fs_path = url_to_fs(file)
        total += fs.size(fs_path)
    return total


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB" if n_bytes >= 2**20 else f"{n_bytes / 2**10:,.0f} KiB"


@contextmanager
def _closing(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    try:
        yield con
    finally:
        con.close()


def _register_filesystems(con: duckdb.DuckDBPyConnection, files: list[str] | Any) -> None:
    """Let DuckDB read remote lake files (gs://, s3://, ...) through fsspec."""
    protocols = {f.split("://", 1)[0] for f in files if "://" in f}
    for protocol in protocols - {"file"}:
        con.register_filesystem(fsspec.filesystem(protocol, **storage_options(f"{protocol}://")))


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


def _saved_state(
    con: duckdb.DuckDBPyConnection, dataset_id: str, table_id: str
) -> dict[str, Any] | None:
    row = con.execute(
        "SELECT watermark_column, watermark_value, watermark_type, watermark_boundary "
        f"FROM {STATE_TABLE} WHERE dataset_id = ? AND table_id = ?",
        [dataset_id, table_id],
    ).fetchone()
    return None if row is None else state_from_row(row)


def _load(con: duckdb.DuckDBPyConnection, request: LoadRequest) -> LoadResult:
    _ensure_bookkeeping(con)
    committed = _committed(con, request.dataset_id, request.table_id, request.run_id)
    if committed is not None:
        return committed
    table = _table(request.dataset_id, request.table_id)
    name = f"{request.dataset_id}.{request.table_id}"
    check_state(name, _saved_state(con, request.dataset_id, request.table_id), request)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(request.dataset_id)}")
    source = _source(request)
    new = dict(
        con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})"
        ).fetchall()
    )
    old = _columns(con, request.dataset_id, request.table_id)
    added = check_drift(name, new, old, request.mode, request.schema_change) if old else []
    if old:
        check_shrink(name, request, con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
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
