"""
Tasks of the dump_db flow: read the last watermark, stream the source into the lake's staging.
"""

import time
from contextlib import ExitStack
from functools import cache
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipelines.framework.storage import Lake, StagedTable
from pipelines.framework.storage.warehouse import Warehouse
from pipelines.utils.dump_db import mysql, oracle, postgres, sqlserver
from pipelines.utils.dump_db.incremental import (
    Identity,
    WatermarkTracker,
    comparison,
    incremental_query,
    is_nan_state,
    row_identity,
)
from pipelines.utils.dump_db.utils import Connection, DumpConfigError, base_query, connection_for
from pipelines.utils.loading.tasks import WAREHOUSE_STEP
from pipelines.utils.loading.utils import stage_batches
from pipelines.utils.utils import log

# PostgreSQL streams COPY; the others fetch `batch_size` rows at a time from a server cursor.
READERS = {"postgres": postgres, "mysql": mysql, "sqlserver": sqlserver, "oracle": oracle}


@task(**WAREHOUSE_STEP)
def read_watermark(
    warehouse: Warehouse, dataset: str, table_id: str, incremental_column: str
) -> dict[str, Any] | None:
    """The table's incremental state (last loaded value and its boundary rows), or None before
    the first load. `dataset` is the environment's name of the dataset (`DumpRun.dataset`)."""
    state = warehouse.read_state(dataset, table_id)
    if state is None:
        log(f"{dataset}.{table_id}: primeira carga incremental, lendo tudo")
        return None
    if state["column"] != incremental_column:
        raise DumpConfigError(
            f"{dataset}.{table_id} é incremental por {state['column']!r}, "
            f"não por {incremental_column!r}"
        )
    if is_nan_state(state):
        raise DumpConfigError(
            f"o estado incremental de {dataset}.{table_id} tem {incremental_column} = NaN "
            "(salvo por uma versão anterior): não se sabe até onde a carga chegou; recarregue "
            "a tabela inteira (por exemplo em outro table_id) antes de voltar ao incremental"
        )
    if state["value"] is None:
        log(f"{dataset}.{table_id}: lendo linhas com {incremental_column} preenchida")
    else:
        log(
            f"{dataset}.{table_id}: lendo linhas com {incremental_column} "
            f"{comparison(state)} {state['value']}"
        )
    return state


def _boundary_identity(
    conn: Connection, table: str | None, primary_key: list[str] | None, names: list[str], name: str
) -> Identity:
    """How this dump tells boundary rows apart: the declared key, else `table`'s key in the
    source's catalog, else the content of the columns (logged: edits look like new rows)."""
    key = primary_key or (READERS[conn.db_type].primary_key(conn, table) if table else [])
    if key and not primary_key:
        log(f"{name}: chave primária lida do catálogo da origem: {', '.join(key)}")
    if not key:
        log(
            f"{name}: sem chave primária (informe primary_key): as linhas do último valor "
            "carregado são reconhecidas pelo conteúdo, e uma delas editada na origem seria "
            "anexada de novo"
        )
    return row_identity(key, names)


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
    `dataset` is the environment's name of the dataset (`DumpRun.dataset`).
    """
    conn = connection_for(**source)
    reader = READERS[conn.db_type]
    literal = cache(lambda value: reader.literal(conn, value))

    def query(where: str | None = None) -> str:
        base = base_query(conn.db_type, execute_query, table, where)
        return incremental_query(
            conn.db_type, base, incremental_column, previous_state, literal, reader.NOT_NAN
        )

    name = f"{dataset}.{table_id}"
    with ExitStack() as reading:
        if conn.db_type == "postgres":
            plan = postgres.table_slices(conn, table, read_parallelism)
            slices, snapshot = reading.enter_context(plan)
            queries = [query(where) for where in slices]
            schema = postgres.describe(conn, queries[0])
            batches = postgres.read_batches(conn, queries, schema, snapshot)
            if len(queries) > 1:
                log(f"{name}: lendo {len(queries)} faixas da tabela em paralelo, num só snapshot")
        else:
            schema, batches = reader.read_batches(conn, query(), batch_size)
        tracker = None
        if incremental_column:
            if incremental_column not in schema.names:
                raise DumpConfigError(
                    f"a coluna incremental {incremental_column!r} não está na consulta"
                )
            identity = _boundary_identity(conn, table, primary_key, schema.names, name)
            tracker = WatermarkTracker(incremental_column, previous_state, identity)
            batches = tracker.track(batches)
        started = time.monotonic()
        staged = stage_batches(
            lake,
            batches,
            schema,
            run_id=run_id,
            dataset=dataset,
            table_id=table_id,
            partition_columns=partition_columns,
            every_rows=batch_size,
        )
    seconds = time.monotonic() - started
    log(
        f"{name}: {staged.rows:,} linhas extraídas em {seconds:.1f}s, "
        f"{staged.bytes / 1e6:.1f} MB de Parquet em {len(staged.files)} arquivo(s)"
    )
    if tracker is None:
        return staged, None
    if tracker.dropped:
        log(f"{name}: {tracker.dropped:,} linha(s) já carregada(s) ignorada(s)")
    if tracker.unusable:
        _log_unusable(name, incremental_column, tracker.unusable, first=previous_state is None)
    return staged, tracker.state()


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
