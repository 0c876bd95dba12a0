# ruff: noqa: F811  (pytest fixtures are imported by name)
"""What a dump_db flow run leaves in Prefect: its main tasks, its report artifact and its logs,
and no bookkeeping beyond them (issue 16: the flow run within 1.2x of its data path)."""

import time

import pytest
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)

from pipelines.framework.config.settings import get_settings
from pipelines.utils.dump_db.flows import dump_db
from pipelines.utils.loading.utils import artifact_key
from tests.support.databases import pg_schema, postgres_server  # noqa: F401
from tests.support.dumps import place  # noqa: F401
from tests.support.prefect_api import client_for, run_log_messages

pytestmark = pytest.mark.component

MAIN_TASKS = ["extract_to_lake", "load_to_warehouse"]


@pytest.fixture
def small_slices(monkeypatch):
    """A slice per 8 KiB of heap (`PIPELINES_READ_SLICE_MB`), so a small table splits too."""
    monkeypatch.setenv("PIPELINES_READ_SLICE_MB", str(8192 / 2**20))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _task_names(client, run_id, expected: int, timeout: float = 60) -> list[str]:
    """The run's task runs as the server recorded them (from events: they arrive late)."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
        names = sorted(run.name.rsplit("-", 1)[0] for run in runs)
        if len(names) >= expected:
            time.sleep(2)  # anything recorded after these would show now
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
            )
            return sorted(run.name.rsplit("-", 1)[0] for run in runs)
        time.sleep(0.5)
    return names


def test_a_table_read_in_slices_on_threads_records_its_two_main_tasks_artifact_and_logs(
    prefect_api, postgres_server, pg_schema, place, monkeypatch, small_slices
):
    """On the flow's threads, one task reads a table's slices (no task run per slice) and the
    publish and report are steps of the run: two task runs, the report artifact on the run and
    the slices' progress in its log; the rows are exact."""
    monkeypatch.setenv("PGUSER", postgres_server.user)
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {pg_schema}.eventos AS SELECT g AS id FROM generate_series(1, 20000) g"
        )
    state = dump_db(
        db_type="postgres",
        db_host=postgres_server.host,
        db_port=postgres_server.port,
        db_database=postgres_server.database,
        table=f"{pg_schema}.eventos",
        dataset_id="br",
        table_id="eventos",
        read_parallelism=4,
        return_state=True,
    )
    assert state.is_completed(), state.result(raise_on_failure=False)
    assert state.result()["rows"] == 20_000
    table = f"{place.dataset('br')}.eventos"
    assert place.query(f"SELECT count(*), count(DISTINCT id) FROM {table}") == [(20_000, 20_000)]

    run_id = state.state_details.flow_run_id
    with client_for(prefect_api) as client:
        assert _task_names(client, run_id, expected=len(MAIN_TASKS)) == MAIN_TASKS
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        assert [a.key for a in artifacts] == [artifact_key(table)]
        assert "20,000" in artifacts[0].data
        messages = run_log_messages(client, run_id, expect="Dump concluído")
    assert any("lendo 4 faixas da tabela em paralelo" in m for m in messages)
    assert any(m.startswith("Dump concluído: 20,000 linhas") for m in messages)
