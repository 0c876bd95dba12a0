# ruff: noqa: F811  (pytest fixtures are imported by name)
"""The dump fault matrix, part one: two runs of one table at once, a failure after the commit,
names with accents, staging left by dead runs. Real PostgreSQL, DuckDB and Prefect server; the
concurrent runs are separate processes, as two workers (or a worker and `pipelines run`) are."""

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.framework.config.settings import REPO_ROOT
from pipelines.framework.storage.lake import STAGING_FOLDER, Lake
from pipelines.framework.storage.warehouse.duckdb import DuckDBWarehouse
from pipelines.utils.dump_db.flows import dump_db
from pipelines.utils.dump_url.flows import dump_url
from tests.support.databases import pg_schema, postgres_server  # noqa: F401
from tests.support.dumps import place  # noqa: F401
from tests.support.file_server import Fault, FaultServer

pytestmark = pytest.mark.component


def _events(server, schema: str, rows: int, start: int = 1, table: str = "eventos") -> None:
    with server.connect(autocommit=True) as conn:
        conn.execute(f'CREATE TABLE IF NOT EXISTS {schema}."{table}" (id bigint, valor text)')
        conn.execute(
            f"INSERT INTO {schema}.\"{table}\" SELECT g, 'v' || g "
            "FROM generate_series(%s::bigint, %s::bigint) g",
            [start, start + rows - 1],
        )


def _params(server, query: str, table_id: str = "eventos") -> dict:
    return {
        "db_type": "postgres",
        "db_host": server.host,
        "db_port": server.port,
        "db_database": server.database,
        "dataset_id": "br",
        "table_id": table_id,
        "incremental_column": "id",
        "execute_query": query,
    }


def _slow_view(server, schema: str) -> str:
    """A view of `eventos` that takes ~0.5 ms a row to read: a dump of it stays in its extract
    long enough for a second run to start beside it."""
    with server.connect(autocommit=True) as conn:
        conn.execute(
            f"CREATE VIEW {schema}.lento AS SELECT e.* FROM {schema}.eventos e "
            "WHERE pg_sleep(0.0005)::text = ''"
        )
    return f"SELECT * FROM {schema}.lento"


def _start(params: dict, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.run_dump", "dump_db", json.dumps(params)],
        cwd=REPO_ROOT,
        env={**os.environ, "PGUSER": "postgres", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _outcome(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


def _wait_until_reading(server, view: str, process: subprocess.Popen) -> None:
    """Until the source shows the dump's query on `view` (the run holds its table by then)."""
    deadline = time.monotonic() + 120
    with server.connect(autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1][-4000:]
            reading = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s "
                "AND pid <> pg_backend_pid()",
                [f"%{view}%"],
            ).fetchone()[0]
            if reading:
                return
            time.sleep(0.1)
    raise AssertionError("the first dump never started reading")


def _count(place, table: str = "eventos") -> tuple[int, int]:
    return place.query(f'SELECT count(*), count(DISTINCT id) FROM {place.dataset("br")}."{table}"')[
        0
    ]


def _lake_ids(place, table_id: str = "eventos") -> list[int]:
    files = Lake(place.lake_url).files(place.dataset("br"), table_id)
    return sorted(pq.read_table(files, columns=["id"]).column("id").to_pylist()) if files else []


def test_two_incremental_runs_of_one_table_at_once_load_each_row_once(
    prefect_api, postgres_server, pg_schema, place
):
    """A duplicate trigger, or a manual run beside the scheduled one: the second run waits for
    the first to finish, then reads from the watermark the first committed."""
    _events(postgres_server, pg_schema, 20_000)
    params = _params(postgres_server, _slow_view(postgres_server, pg_schema))
    first = _start(params)
    _wait_until_reading(postgres_server, f"{pg_schema}.lento", first)
    second = _start(params)
    first_outcome, second_outcome = _outcome(first), _outcome(second)
    assert (first_outcome["state"], second_outcome["state"]) == ("Completed", "Completed")
    assert sorted([first_outcome["result"]["rows"], second_outcome["result"]["rows"]]) == [
        0,
        20_000,
    ]
    assert _count(place) == (20_000, 20_000)
    assert _lake_ids(place) == list(range(1, 20_001))


def test_a_run_that_cannot_get_its_table_in_time_ends_skipped_and_loads_nothing(
    prefect_api, postgres_server, pg_schema, place
):
    _events(postgres_server, pg_schema, 10_000)
    params = _params(postgres_server, _slow_view(postgres_server, pg_schema))
    first = _start(params)
    _wait_until_reading(postgres_server, f"{pg_schema}.lento", first)
    second = _outcome(_start(params, PIPELINES_TABLE_LEASE_WAIT="1"))
    assert second["state"] == "Skipped"
    assert second["message"].startswith("outra execução (")
    assert f"está gravando {place.dataset('br')}.eventos" in second["message"]
    assert "não carregou nada" in second["message"]
    assert second["result"]["rows"] == 0
    assert _outcome(first)["result"]["rows"] == 10_000
    assert _count(place) == (10_000, 10_000)


def test_a_run_that_failed_after_its_commit_is_published_by_the_next_run(
    prefect_api, postgres_server, pg_schema, place, monkeypatch
):
    """The lake publish fails after the warehouse committed (no retry): the next run of the
    table publishes what that run loaded before its own work, so the lake gets every row once."""
    _events(postgres_server, pg_schema, 10)
    params = _params(postgres_server, f"SELECT * FROM {pg_schema}.eventos")
    publish = Lake.publish_run
    calls = []

    def fails_first(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise OSError("o bucket recusou a escrita")
        return publish(*args, **kwargs)

    monkeypatch.setattr(Lake, "publish_run", fails_first)
    assert dump_db(**params, return_state=True).is_failed()
    assert _count(place) == (10, 10)
    assert _lake_ids(place) == []

    _events(postgres_server, pg_schema, 5, start=11)
    assert dump_db(**params)["rows"] == 5
    assert _count(place) == (15, 15)
    assert _lake_ids(place) == list(range(1, 16))
    staging = Path(place.lake_url) / STAGING_FOLDER
    assert not staging.exists() or not any(staging.iterdir())


def test_a_table_named_with_accents_loads_reports_and_reruns_once(
    prefect_api, postgres_server, pg_schema, place
):
    _events(postgres_server, pg_schema, 7, table="órgãos")
    params = _params(postgres_server, f'SELECT * FROM {pg_schema}."órgãos"', table_id="órgãos")
    first = dump_db(**params, return_state=True)
    assert first.is_completed(), first.result(raise_on_failure=False)
    assert dump_db(**params)["rows"] == 0
    assert _count(place, "órgãos") == (7, 7)
    assert _lake_ids(place, "órgãos") == list(range(1, 8))


def test_staging_left_by_dead_runs_is_removed(prefect_api, postgres_server, pg_schema, place):
    """A killed run's staging: the next run of its table removes it (it never loaded); another
    table's, older than the run retention, goes too; a recent one of another table stays."""
    _events(postgres_server, pg_schema, 3)
    params = _params(postgres_server, f"SELECT * FROM {pg_schema}.eventos")
    dump_db(**params)
    staging = Path(place.lake_url) / STAGING_FOLDER
    dataset = place.dataset("br")
    dead = staging / "killed-run" / dataset / "eventos" / "killed-run-0.parquet"
    old = staging / "old-run" / dataset / "outra" / "old-run-0.parquet"
    recent = staging / "recent-run" / dataset / "outra" / "recent-run-0.parquet"
    for path in (dead, old, recent):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"PAR1")
    forty_days_ago = time.time() - 40 * 86400
    os.utime(old, (forty_days_ago, forty_days_ago))

    assert dump_db(**params)["rows"] == 0
    assert not (staging / "killed-run").exists()
    assert not (staging / "old-run").exists()
    assert recent.exists()
    assert _count(place) == (3, 3)


def test_a_failure_right_after_the_commit_keeps_the_staged_files_for_the_lake(
    prefect_api, postgres_server, pg_schema, place, monkeypatch
):
    """The load step fails after the warehouse committed (the process lost its answer): the
    staged files are not thrown away, so the next run can still publish them."""
    _events(postgres_server, pg_schema, 4)
    params = _params(postgres_server, f"SELECT * FROM {pg_schema}.eventos")
    load = DuckDBWarehouse.load

    def commits_then_fails(self, request):
        load(self, request)
        raise ConnectionError("a resposta do warehouse se perdeu")

    monkeypatch.setattr(DuckDBWarehouse, "load", commits_then_fails)
    assert dump_db(**params, return_state=True).is_failed()
    monkeypatch.setattr(DuckDBWarehouse, "load", load)
    assert _count(place) == (4, 4)
    assert _lake_ids(place) == []

    assert dump_db(**params)["rows"] == 0
    assert _lake_ids(place) == [1, 2, 3, 4]
    assert _count(place) == (4, 4)


def _kill(process: subprocess.Popen) -> None:
    process.kill()
    process.communicate(timeout=60)


def _staged_runs(place) -> list[str]:
    staging = Path(place.lake_url) / STAGING_FOLDER
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def test_a_dump_killed_mid_extract_keeps_the_table_and_the_rerun_is_exact(
    prefect_api, postgres_server, pg_schema, place
):
    _events(postgres_server, pg_schema, 5_000)
    params = _params(postgres_server, _slow_view(postgres_server, pg_schema))
    assert dump_db(**params)["rows"] == 5_000
    _events(postgres_server, pg_schema, 5_000, start=5_001)
    process = _start(params)
    _wait_until_reading(postgres_server, f"{pg_schema}.lento", process)
    time.sleep(1)  # some batches staged
    _kill(process)
    assert _count(place) == (5_000, 5_000)

    assert dump_db(**params)["rows"] == 5_000
    assert _count(place) == (10_000, 10_000)
    assert _lake_ids(place) == list(range(1, 10_001))
    assert _staged_runs(place) == []  # the killed run's staging went with the rerun


def _warehouse_busy(place) -> bool:
    """True while a load holds the warehouse's writer slot (its lock file)."""
    lock = Path(f"{place.warehouse_path}.lock")
    if not lock.exists():
        return False
    with open(lock, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def test_a_dump_killed_mid_load_keeps_the_table_and_the_rerun_is_exact(
    prefect_api, postgres_server, pg_schema, place
):
    _events(postgres_server, pg_schema, 1_000)
    params = {
        **_params(postgres_server, None),
        "incremental_column": None,
        "table": f"{pg_schema}.eventos",
        "execute_query": None,
    }
    dump_db(**params)
    _events(postgres_server, pg_schema, 1_500_000, start=1_001)
    process = _start(params)
    deadline = time.monotonic() + 240
    while not _warehouse_busy(place):
        assert process.poll() is None, process.communicate()[1][-4000:]
        assert time.monotonic() < deadline, "the load never started"
        time.sleep(0.02)
    _kill(process)
    assert _count(place) == (1_000, 1_000)

    assert dump_db(**params)["rows"] == 1_501_000
    assert _count(place) == (1_501_000, 1_501_000)
    assert _staged_runs(place) == []


def _csv(rows: int) -> bytes:
    return ("id,valor\n" + "".join(f"{i},v{i}\n" for i in range(1, rows + 1))).encode()


def test_a_download_cut_at_a_row_end_without_a_length_cannot_replace_the_table(prefect_api, place):
    """The source declares no length and closes early, at the end of a row: nothing in HTTP
    tells this from a whole file, so the overwrite's volume guard keeps the table; a real
    shrink goes through with allow_shrink."""
    whole = _csv(50_000)
    cut = whole[: whole.index(b"\n", len(whole) // 2) + 1]
    with FaultServer({"/inteiro.csv": Fault(whole, {}), "/cortado.csv": Fault(cut, {})}) as server:
        dump_url(url=server.url("/inteiro.csv"), dataset_id="br", table_id="dados")
        state = dump_url(
            url=server.url("/cortado.csv"), dataset_id="br", table_id="dados", return_state=True
        )
        assert state.is_failed()
        message = str(state.result(raise_on_failure=False))
        assert "50,000" in message or "50000" in message, message
        assert "allow_shrink" in message, message
        assert place.query(f"SELECT count(*) FROM {place.dataset('br')}.dados") == [(50_000,)]

        kept = cut.count(b"\n") - 1
        dump_url(
            url=server.url("/cortado.csv"), dataset_id="br", table_id="dados", allow_shrink=True
        )
    assert place.query(f"SELECT count(*) FROM {place.dataset('br')}.dados") == [(kept,)]
