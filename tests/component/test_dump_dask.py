# ruff: noqa: F811  (pytest fixtures are imported by name)
"""Parallel dumps on a real dask.distributed cluster: a scheduler and two worker processes
started here, the real Prefect server, PostgreSQL and the DuckDB warehouse. The fan-out loads
the same rows as a serial run, a large table's slices staged by tasks on both workers at once
combine into every row once, and a secret registered in the flow's process appears in no
worker's log."""

import os
import re
import time
import uuid
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest
from prefect import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler

from pipelines.framework.config.settings import get_settings
from pipelines.framework.secrets import masking
from pipelines.framework.storage.lake import Lake
from pipelines.utils.dump_tables.flows import dump_tables
from tests.support.dask_cluster import DaskCluster, dask_cluster
from tests.support.dask_tasks import leaky_on_dask
from tests.support.databases import pg_schema, postgres_server  # noqa: F401
from tests.support.dumps import place  # noqa: F401

pytestmark = pytest.mark.component
SLICE_MB = "0.0625"  # a slice per 64 KiB of heap: the 20k-row table splits in 4
SECRET = f"S3nh@-dask-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def cluster(prefect_api, postgres_server, place, tmp_path, monkeypatch) -> Iterator[DaskCluster]:
    """The cluster, its workers with this test's settings; this process sends its dumps' tasks
    there (`PIPELINES_DASK_ADDRESS`)."""
    monkeypatch.setenv("PIPELINES_READ_SLICE_MB", SLICE_MB)
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PIPELINES_HOME": str(place.home),
        "PIPELINES_ENV": "local",
        "PGUSER": postgres_server.user,
    }
    with dask_cluster(tmp_path / "dask", env) as running:
        yield running
    get_settings.cache_clear()


def _use_cluster(monkeypatch, cluster: DaskCluster | None) -> None:
    if cluster is None:
        monkeypatch.delenv("PIPELINES_DASK_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("PIPELINES_DASK_ADDRESS", cluster.address)
    get_settings.cache_clear()


def _create_tables(server, schema: str) -> dict[str, dict]:
    """Six small tables and one of 20k rows (~1.3 MB of heap, read in 4 slices)."""
    with server.connect(autocommit=True) as conn:
        for index in range(6):
            conn.execute(
                f"CREATE TABLE {schema}.t{index} AS SELECT g AS id, md5(g::text) AS texto, "
                f"(g % 7)::numeric(6, 2) AS valor FROM generate_series(1, {100 * (index + 1)}) g"
            )
        conn.execute(
            f"CREATE TABLE {schema}.grande AS SELECT g AS id, repeat(md5(g::text), 2) AS texto, "
            "date '2024-01-01' + (g % 40) AS dia FROM generate_series(1, 20000) g"
        )
    tables = {f"t{i}": {"table": f"{schema}.t{i}"} for i in range(6)}
    tables["grande"] = {"table": f"{schema}.grande", "read_parallelism": 4}
    tables["grande"]["partition_columns"] = ["dia"]
    return tables


def _common(server, dataset: str) -> dict:
    return {
        "db_type": "postgres",
        "db_host": server.host,
        "db_port": server.port,
        "db_database": server.database,
        "dataset_id": dataset,
    }


def _rows(place, dataset: str, table: str) -> list[tuple]:
    return (
        place.query(
            f"SELECT * EXCLUDE (ano_particao, mes_particao, data_particao) FROM "
            f"{place.dataset(dataset)}.{table} ORDER BY id"
        )
        if table == "grande"
        else (place.query(f"SELECT * FROM {place.dataset(dataset)}.{table} ORDER BY id"))
    )


def test_tables_on_the_cluster_load_the_rows_of_a_serial_run_and_slices_never_clobber(
    cluster, postgres_server, pg_schema, place, monkeypatch
):
    tables = _create_tables(postgres_server, pg_schema)
    _use_cluster(monkeypatch, None)
    serial = dump_tables(tables, _common(postgres_server, "serial"), max_parallel=1)
    _use_cluster(monkeypatch, cluster)
    parallel = dump_tables(tables, _common(postgres_server, "paralelo"), max_parallel=4)

    assert serial["rows"] == parallel["rows"] == sum(100 * (i + 1) for i in range(6)) + 20_000
    for table in tables:
        assert _rows(place, "paralelo", table) == _rows(place, "serial", table), table
    lake = Lake(place.lake_url)
    ids = [
        i
        for path in lake.files(place.dataset("paralelo"), "grande")
        for i in pq.read_table(path, columns=["id"])["id"].to_pylist()
    ]
    assert sorted(ids) == list(range(1, 20_001))  # the lake too: every row once
    assert not any(os.scandir(f"{place.lake_url}/_staging"))  # every part published
    ran_slices = {
        name for name, text in cluster.worker_logs().items() if re.search(r"faixa \d de", text)
    }
    # slices ran as tasks on the cluster's workers (on a loaded machine Dask may give them all
    # to one worker); whichever ran them, their parts combined into every row exactly once
    assert ran_slices and ran_slices <= {"worker-0", "worker-1"}


def _stored_logs(flow_run_id, tasks: int) -> list[str]:
    """The run's log lines on the server once every task's line arrived (the workers send
    theirs every few seconds), or after 30 s."""
    APILogHandler().flush()
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                limit=200,
            )
            messages = [entry.message for entry in logs]
            arrived = sum("conectando com senha" in message for message in messages)
            if arrived >= tasks or time.monotonic() > deadline:
                return messages
            time.sleep(1)


def test_a_secret_registered_in_the_flow_is_masked_in_every_worker(cluster, monkeypatch):
    _use_cluster(monkeypatch, cluster)
    try:
        state = leaky_on_dask(SECRET, tasks=4, return_state=True)
    finally:
        masking.forget_secrets()
    assert state.result() == ["Failed", "Completed", "Completed", "Completed"]

    logs = cluster.worker_logs()
    leaks = [name for name, text in logs.items() if SECRET in text]
    assert leaks == []
    masked = [name for name, text in logs.items() if "senha=****" in text]
    assert masked  # the tasks did run on the workers and log there
    assert any("login recusado para a senha ****" in text for text in logs.values())
    stored = _stored_logs(state.state_details.flow_run_id, tasks=4)
    assert sum("senha=****" in message for message in stored) == 4
    assert [message for message in stored if SECRET in message] == []
