"""
Tasks of the dump_db flow: read the last watermark, stream the source into the lake's staging.
"""

import time

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipelines.framework.lake import Lake, StagedTable
from pipelines.framework.warehouse import Warehouse
from pipelines.utils.dump_db import mysql, postgres
from pipelines.utils.dump_db.utils import (
    DumpConfigError,
    connection_for,
    incremental_query,
    watermark_text,
)
from pipelines.utils.loading.utils import Progress
from pipelines.utils.utils import log


@task(cache_policy=NO_CACHE)
def read_watermark(
    warehouse: Warehouse, dataset_id: str, table_id: str, incremental_column: str
) -> str | None:
    """The last loaded value of the watermark column, or None before the first load."""
    state = warehouse.read_state(dataset_id, table_id)
    if state is None:
        log(f"{dataset_id}.{table_id}: primeira carga incremental, lendo tudo")
        return None
    if state["column"] != incremental_column:
        raise DumpConfigError(
            f"{dataset_id}.{table_id} é incremental por {state['column']!r}, "
            f"não por {incremental_column!r}"
        )
    log(f"{dataset_id}.{table_id}: lendo linhas com {incremental_column} > {state['value']}")
    return state["value"]


@task(cache_policy=NO_CACHE)
def extract_to_lake(  # pylint: disable=too-many-locals
    lake: Lake,
    source: dict,
    query: str,
    *,
    run_id: str,
    dataset_id: str,
    table_id: str,
    batch_size: int,
    partition_columns: list[str] | None = None,
    incremental_column: str | None = None,
    last_value: str | None = None,
) -> StagedTable:
    """Stream the query's rows into Parquet under the run's staging prefix.

    `source` holds db_type, host, port, database and vault_secret_path (never a password).
    """
    conn = connection_for(**source)
    reader = postgres if conn.db_type == "postgres" else mysql
    query = incremental_query(
        conn.db_type,
        query,
        incremental_column,
        last_value,
        lambda value: reader.literal(conn, value),
    )
    if conn.db_type == "postgres":
        schema = postgres.describe(conn, query)
        batches = postgres.read_batches(conn, query, schema)
    else:
        schema, batches = mysql.read_batches(conn, query, batch_size)
    if incremental_column and incremental_column not in schema.names:
        raise DumpConfigError(f"a coluna incremental {incremental_column!r} não está na consulta")
    progress = Progress(f"{dataset_id}.{table_id}", every_rows=batch_size)
    started = time.monotonic()
    try:
        staged = lake.write(
            progress.track(batches),
            schema,
            run_id=run_id,
            dataset_id=dataset_id,
            table_id=table_id,
            partition_columns=partition_columns,
            watermark_column=incremental_column,
        )
    except BaseException:
        lake.discard(run_id)
        raise
    seconds = time.monotonic() - started
    log(
        f"{dataset_id}.{table_id}: {staged.rows:,} linhas extraídas em {seconds:.1f}s, "
        f"{staged.bytes / 1e6:.1f} MB de Parquet em {len(staged.files)} arquivo(s)"
    )
    return staged


def watermark_state(staged: StagedTable, column: str | None, last: str | None) -> dict | None:
    """The state to save with the load: the new high watermark (or the old one if no rows)."""
    if not column:
        return None
    value = watermark_text(staged.watermark) if staged.watermark is not None else last
    if value is None:
        return None
    return {"column": column, "value": value, "type": str(staged.schema.field(column).type)}
