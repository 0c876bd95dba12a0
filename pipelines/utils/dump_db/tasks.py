"""
Tasks of the dump_db flow: read the last watermark, stream the source into the lake's staging.
"""

import time
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipelines.framework.storage import Lake, StagedTable
from pipelines.framework.storage.warehouse import Warehouse
from pipelines.utils.dump_db.dialects import Dialect, Extract, SlicePlan, dialect_for
from pipelines.utils.dump_db.incremental import (
    WatermarkTracker,
    comparison,
    is_nan_state,
    row_identity,
)
from pipelines.utils.dump_db.utils import Connection, DumpConfigError, connection_for
from pipelines.utils.loading.parallel import tasks_spread, waiting_for_others
from pipelines.utils.loading.tasks import WAREHOUSE_STEP
from pipelines.utils.loading.utils import stage_batches
from pipelines.utils.utils import log


@task(**WAREHOUSE_STEP)
def read_watermark(
    warehouse: Warehouse, dataset: str, table_id: str, incremental_column: str
) -> dict[str, Any] | None:
    """The table's incremental state (last loaded value and its boundary rows), or None before
    the first load. `dataset` is the environment's name of the dataset (`DumpRun.dataset`)."""
    name = f"{dataset}.{table_id}"
    state = warehouse.read_state(dataset, table_id)
    if state is None:
        log(f"{name}: primeira carga incremental, lendo tudo")
        return None
    if state["column"] != incremental_column:
        raise DumpConfigError(
            f"{name} é incremental por {state['column']!r}, não por {incremental_column!r}"
        )
    if is_nan_state(state):
        raise DumpConfigError(
            f"o estado incremental de {name} tem {incremental_column} = NaN "
            "(salvo por uma versão anterior): não se sabe até onde a carga chegou; recarregue "
            "a tabela inteira (por exemplo em outro table_id) antes de voltar ao incremental"
        )
    if state["value"] is None:
        log(f"{name}: lendo linhas com {incremental_column} preenchida")
    else:
        log(f"{name}: lendo linhas com {incremental_column} {comparison(state)} {state['value']}")
    return state


@task(cache_policy=NO_CACHE)
def extract_to_lake(  # pylint: disable=too-many-locals
    lake: Lake,
    source: dict,
    *,
    execute_query: str | None = None,
    table: str | None = None,
    run_id: str,
    dataset: str,
    table_id: str,
    batch_size: int,
    read_parallelism: int = 1,
    partition_columns: list[str] | None = None,
    incremental_column: str | None = None,
    primary_key: list[str] | None = None,
    previous_state: dict[str, Any] | None = None,
) -> tuple[StagedTable, dict[str, Any] | None]:
    """Stream `execute_query`'s rows, or `table`'s, into Parquet under the run's staging prefix;
    with an `incremental_column`, also the incremental state to save with the load.

    `source` holds db_type, host, port, database and vault_secret_path (never a password);
    `dataset` is the environment's name of the dataset (`DumpRun.dataset`). A whole table the
    dialect splits (PostgreSQL's block ranges of one snapshot) is read by one task per slice
    on a dask cluster's workers; on the flow's threads, this task reads the slices at once
    itself (the dialect's `read`), without a task run per slice.
    """
    details = dict(source)
    dialect = dialect_for(details.pop("db_type"))
    conn = connection_for(dialect, **details)
    extract = Extract(
        execute_query, table, batch_size, read_parallelism, incremental_column, previous_state
    )
    name = f"{dataset}.{table_id}"
    target = _Target(lake.root_url, run_id, dataset, table_id, partition_columns, batch_size)
    # an incremental read follows one watermark: one stream
    if not incremental_column and tasks_spread():
        with dialect.slices(conn, extract) as plan:
            if plan is not None:
                started = time.monotonic()
                staged = _extract_slices(lake, source, plan, target)
                _log_extracted(name, staged, time.monotonic() - started, None)
                return staged, None
    with dialect.read(conn, extract) as stream:
        if stream.slices > 1:
            log(f"{name}: lendo {stream.slices} faixas da tabela em paralelo, num só snapshot")
        tracker = _tracker(dialect, conn, extract, stream.schema.names, primary_key, name)
        started = time.monotonic()
        staged = stage_batches(
            lake,
            stream.batches if tracker is None else tracker.track(stream.batches),
            stream.schema,
            run_id=run_id,
            dataset=dataset,
            table_id=table_id,
            partition_columns=partition_columns,
            every_rows=batch_size,
        )
    _log_extracted(name, staged, time.monotonic() - started, tracker)
    return staged, None if tracker is None else tracker.state()


@dataclass(frozen=True)
class _Target:
    """Where and how a slice task stages its rows (plain values: it may run in another
    process)."""

    lake_url: str
    run_id: str
    dataset: str
    table_id: str
    partition_columns: list[str] | None
    batch_size: int


def _extract_slices(lake: Lake, source: dict, plan: SlicePlan, target: _Target) -> StagedTable:
    """One `extract_slice` task per slice, all at once, while the caller holds the snapshot
    open; their parts combined into one staged table. A failed slice removes every part."""
    name = f"{target.dataset}.{target.table_id}"
    log(f"{name}: lendo {len(plan.queries)} faixas da tabela em paralelo, num só snapshot")
    futures = [
        extract_slice.submit(source, plan, index, target) for index in range(len(plan.queries))
    ]
    with waiting_for_others():
        for future in futures:
            future.wait()
    states = [future.state for future in futures]
    failed = [state for state in states if not state.is_completed()]
    if failed:
        lake.discard_table(target.run_id, target.dataset, target.table_id)
        failed[0].result()  # raises the slice's own error
    return lake.combine([state.result() for state in states])


@task(cache_policy=NO_CACHE, task_run_name="faixa {index} de {target.dataset}.{target.table_id}")
def extract_slice(source: dict, plan: SlicePlan, index: int, target: _Target) -> StagedTable:
    """Stage one slice of a table, read in the snapshot its table's task holds open, as that
    slice's part of the run's staging. `source` names the login by its secret path: the task
    reads it where it runs."""
    details = dict(source)
    dialect = dialect_for(details.pop("db_type"))
    conn = connection_for(dialect, **details)
    return stage_batches(
        Lake(target.lake_url),
        dialect.read_slice(conn, plan, index),
        plan.schema,
        run_id=target.run_id,
        dataset=target.dataset,
        table_id=target.table_id,
        partition_columns=target.partition_columns,
        every_rows=target.batch_size,
        part=f"s{index}",
    )


def _tracker(  # pylint: disable=too-many-arguments
    dialect: Dialect,
    conn: Connection,
    extract: Extract,
    names: list[str],
    primary_key: list[str] | None,
    name: str,
) -> WatermarkTracker | None:
    """What follows an incremental extract's watermark and drops the rows already loaded;
    None for a full one."""
    column = extract.incremental_column
    if not column:
        return None
    if column not in names:
        raise DumpConfigError(f"a coluna incremental {column!r} não está na consulta")
    key = primary_key or (dialect.primary_key(conn, extract.table) if extract.table else [])
    if key and not primary_key:
        log(f"{name}: chave primária lida do catálogo da origem: {', '.join(key)}")
    if not key:
        log(
            f"{name}: sem chave primária (informe primary_key): as linhas do último valor "
            "carregado são reconhecidas pelo conteúdo, e uma delas editada na origem seria "
            "anexada de novo"
        )
    return WatermarkTracker(column, extract.previous, row_identity(key, names))


def _log_extracted(
    name: str, staged: StagedTable, seconds: float, tracker: WatermarkTracker | None
) -> None:
    """What the extract read, and what an incremental one left out."""
    log(
        f"{name}: {staged.rows:,} linhas extraídas em {seconds:.1f}s, "
        f"{staged.bytes / 1e6:.1f} MB de Parquet em {len(staged.files)} arquivo(s)"
    )
    if tracker is None:
        return
    if tracker.dropped:
        log(f"{name}: {tracker.dropped:,} linha(s) já carregada(s) ignorada(s)")
    if tracker.unusable:
        _log_unusable(name, tracker.column, tracker.unusable, first=tracker.previous is None)


def _log_unusable(name: str, column: str, rows: int, *, first: bool) -> None:
    """Rows whose watermark is NULL or NaN: a first load takes them, later ones never do."""
    if first:
        log(
            f"{name}: {rows:,} linha(s) com {column} NULL ou NaN carregada(s) nesta primeira "
            f"carga; linhas assim que chegarem depois não serão lidas (a carga incremental só "
            f"lê valores de {column} comparáveis)",
            "warning",
        )
    else:
        log(
            f"{name}: {rows:,} linha(s) com {column} NULL ou NaN ignorada(s): a carga "
            "incremental só lê valores comparáveis",
            "warning",
        )
