"""The materialize flow with real dbt, a real DuckDB warehouse and a real Prefect server."""

# pytest fixtures: requested by name, some only for their effect (the server, the environment).
# pylint: disable=redefined-outer-name,unused-argument

import contextvars
import logging
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from prefect.logging.handlers import APILogHandler

from pipelines.framework.config.environments import Environment
from pipelines.framework.config.settings import REPO_ROOT, get_settings
from pipelines.framework.stack.dev import user_row, users_csv
from pipelines.utils.materialize.flows import materialize
from tests.support.file_server import FileServer
from tests.support.prefect_api import client_for, run_log_messages

pytestmark = pytest.mark.component

CITY = 6  # location.city in pipelines.framework.stack.dev.HEADER
MODEL = "model.pipelines.users_by_city"


@dataclass(frozen=True)
class Warehouse:
    """The test's environment and its DuckDB file."""

    environment: Environment

    @property
    def path(self) -> Path:
        return self.environment.warehouse_path

    def load_users(self, n_users: int, null_city_at: int | None = None) -> None:
        """The raw `tutorial.users` table, as a dump would load the tutorial's CSV report."""
        csv_path = self.path.parent / "users.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        csv_path.write_text(users_csv(n_users), encoding="utf-8")
        dataset = self.environment.dataset("tutorial")
        with duckdb.connect(str(self.path)) as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{dataset}"')
            con.execute(
                f'CREATE OR REPLACE TABLE "{dataset}".users AS '
                f"SELECT * FROM read_csv(?, header = true, all_varchar = true)",
                [str(csv_path)],
            )
            if null_city_at is not None:
                con.execute(
                    f'UPDATE "{dataset}".users SET "location.city" = NULL WHERE email = ?',
                    [f"user{null_city_at}@example.com"],
                )

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def schemas(self) -> set[str]:
        return {
            row[0]
            for row in self.query("SELECT schema_name FROM information_schema.schemata")
            if row[0] not in ("main", "information_schema", "pg_catalog")
        }


def _warehouse(tmp_path: Path, monkeypatch, env: str) -> Iterator[Warehouse]:
    monkeypatch.setenv("PIPELINES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIPELINES_ENV", env)
    monkeypatch.delenv("PIPELINES_WAREHOUSE", raising=False)
    monkeypatch.delenv("PIPELINES_DBT_PROJECT_DIR", raising=False)
    get_settings.cache_clear()
    try:
        yield Warehouse(Environment(env))
    finally:
        get_settings.cache_clear()


@pytest.fixture
def local(tmp_path, monkeypatch) -> Iterator[Warehouse]:
    yield from _warehouse(tmp_path, monkeypatch, "local")


@pytest.fixture
def staging(tmp_path, monkeypatch) -> Iterator[Warehouse]:
    yield from _warehouse(tmp_path, monkeypatch, "staging")


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of queries/ that a test may add models to."""
    target = tmp_path / "queries"
    shutil.copytree(REPO_ROOT / "queries", target, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setenv("PIPELINES_DBT_PROJECT_DIR", str(target))
    get_settings.cache_clear()
    return target


def expected_cities(n_users: int, min_users: int = 1) -> list[tuple]:
    """users_by_city computed in Python from the rows the stand-in API serves."""
    rows = [user_row(i) for i in range(n_users)]
    users = Counter(row[CITY] for row in rows)
    female = Counter(row[CITY] for row in rows if row[0] == "female")
    return sorted(
        (city, count, female[city], count - female[city], 1)
        for city, count in users.items()
        if count >= min_users
    )


def models(statuses: dict[str, str]) -> list[str]:
    return sorted(node for node in statuses if node.startswith("model."))


def error_of(state) -> str:
    return str(state.result(raise_on_failure=False))


def test_the_example_model_builds_the_expected_rows_and_leaves_no_files(prefect_api, local):
    local.load_users(40)
    before = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "queries").rglob("*"))
    statuses = materialize(dataset_id="tutorial", table_id="users_by_city")
    assert statuses[MODEL] == "success"
    assert sorted(s for n, s in statuses.items() if n.startswith("test.")) == ["pass"] * 3
    rows = local.query("SELECT * FROM tutorial_local.users_by_city ORDER BY city")
    assert rows == expected_cities(40)
    after = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "queries").rglob("*"))
    assert after == before  # dbt's target/ and logs/ live under PIPELINES_HOME
    assert not list((get_settings().home / "dbt" / "runs").iterdir())


def test_upstream_and_downstream_select_the_graph_around_the_model(prefect_api, local, project):
    (project / "models" / "rollup").mkdir()
    (project / "models" / "rollup" / "city_share.sql").write_text(
        "select city, users * 1.0 / sum(users) over () as share from {{ ref('users_by_city') }}\n"
    )
    local.load_users(12)

    only = materialize(dataset_id="tutorial", table_id="users_by_city")
    assert models(only) == [MODEL]
    assert local.schemas() == {"tutorial_local"}

    down = materialize(dataset_id="tutorial", table_id="users_by_city", downstream=True)
    assert models(down) == ["model.pipelines.city_share", MODEL]
    assert local.query("SELECT count(*), sum(share) FROM rollup_local.city_share") == [(4, 1.0)]

    up = materialize(dataset_id="rollup", table_id="city_share", upstream=True)
    assert models(up) == ["model.pipelines.city_share", MODEL]
    alone = materialize(dataset_id="rollup", table_id="city_share")
    assert models(alone) == ["model.pipelines.city_share"]
    assert local.schemas() == {"tutorial_local", "rollup_local"}


def test_a_dump_with_materialize_after_dump_builds_the_models_on_its_table(prefect_api, local):
    from pipelines.utils.dump_url.flows import dump_url

    with FileServer({"/users.csv": users_csv(30).encode()}) as server:
        result = dump_url(
            url=server.url("/users.csv"),
            dataset_id="tutorial",
            table_id="users",
            materialize_after_dump=True,
        )
    assert result["rows"] == 30
    rows = local.query("SELECT * FROM tutorial_local.users_by_city ORDER BY city")
    assert rows == expected_cities(30)


def test_dbt_vars_reach_the_model(prefect_api, local):
    local.load_users(10)
    materialize(dataset_id="tutorial", table_id="users_by_city", dbt_vars={"min_users_per_city": 3})
    rows = local.query("SELECT * FROM tutorial_local.users_by_city ORDER BY city")
    assert rows == expected_cities(10, min_users=3)
    assert [row[0] for row in rows] == ["Rio de Janeiro", "São Paulo"]


def test_a_broken_model_fails_the_flow_with_dbt_s_message(prefect_api, local, project):
    (project / "models" / "tutorial" / "broken.sql").write_text(
        "select nope from {{ ref('users_by_city') }}\n"
    )
    local.load_users(8)
    state = materialize(dataset_id="tutorial", table_id="broken", upstream=True, return_state=True)
    assert state.is_failed()
    message = error_of(state)
    assert "model.pipelines.broken (models/tutorial/broken.sql) [error]" in message
    assert 'Referenced column "nope" not found' in message
    assert MODEL not in message  # the upstream model itself was built
    assert local.query("SELECT count(*) FROM tutorial_local.users_by_city") == [(4,)]


def test_a_failing_data_test_fails_the_flow_naming_the_test(prefect_api, local):
    local.load_users(8, null_city_at=3)
    state = materialize(dataset_id="tutorial", table_id="users_by_city", return_state=True)
    assert state.is_failed()
    message = error_of(state)
    assert "test.pipelines.not_null_users_by_city_city" in message
    assert "[fail]: Got 1 result, configured to fail if != 0" in message


@pytest.mark.parametrize(
    ("table_id", "mode", "expected"),
    [
        ("users_by_city", "dev", "Table with name users does not exist"),  # no raw table
        ("no_such_model", "dev", "nenhum modelo do projeto dbt corresponde"),
        ("users_by_city", "test", "materialization_mode 'test' is not valid"),
        ("users;drop", "dev", "table_id 'users;drop' inválido"),
    ],
)
def test_dbt_or_the_flow_refusing_to_run_fails_with_a_clear_message(
    prefect_api, local, table_id, mode, expected
):
    state = materialize(
        dataset_id="tutorial", table_id=table_id, materialization_mode=mode, return_state=True
    )
    assert state.is_failed()
    assert expected in error_of(state)


def test_dbt_log_lines_reach_the_run_log_on_the_server(prefect_api, local):
    local.load_users(8)
    state = materialize(dataset_id="tutorial", table_id="users_by_city", return_state=True)
    assert state.is_completed()
    APILogHandler().flush()
    with client_for(prefect_api) as client:
        messages = run_log_messages(client, state.state_details.flow_run_id, "Completed success")
    text = "\n".join(messages)
    assert "dbt build --select fqn:pipelines.tutorial.users_by_city --target dev" in text
    assert "START sql table model tutorial_local.users_by_city" in text
    assert "PASS not_null_users_by_city_city" in text
    assert "Completed successfully" in text
    assert "PASS=4 WARN=0 ERROR=0" in text
    assert "\x1b[" not in text  # no terminal colours in the UI


@pytest.mark.parametrize("mode", ["dev", "prod"])
def test_staging_writes_only_staging_datasets(prefect_api, staging, mode):
    staging.load_users(8)
    statuses = materialize(
        dataset_id="tutorial", table_id="users_by_city", materialization_mode=mode
    )
    assert statuses[MODEL] == "success"
    assert staging.schemas() == {"tutorial_staging"}
    assert staging.query("SELECT count(*) FROM tutorial_staging.users_by_city") == [(4,)]
    warehouses = sorted(p.name for p in staging.path.parent.glob("*.duckdb"))
    assert warehouses == ["staging.duckdb"]


class _Seen(logging.Handler):
    """Sets `event` when a log record contains `text`."""

    def __init__(self, text: str):
        super().__init__()
        self.text, self.event = text, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def test_materializations_wait_for_each_other_and_for_duckdb_s_lock(prefect_api, local):
    local.load_users(8)
    # another program holds DuckDB's own lock until it reads a line (or 120 s pass)
    lock_holder = [
        sys.executable,
        "-c",
        "import duckdb, select, sys; c = duckdb.connect(sys.argv[1]); "
        "print('locked', flush=True); select.select([sys.stdin], [], [], 120)",
        str(local.path),
    ]
    results: list = []

    def run(min_users: int) -> None:
        results.append(
            materialize(
                dataset_id="tutorial",
                table_id="users_by_city",
                dbt_vars={"min_users_per_city": min_users},
                return_state=True,
            )
        )

    seen = _Seen("Could not set lock on file")
    logging.getLogger("prefect.task_runs").addHandler(seen)
    try:
        with subprocess.Popen(
            lock_holder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        ) as holder:
            assert holder.stdout.readline().strip() == "locked"
            # each thread runs in a copy of this context, which holds the test server's settings
            threads = [
                threading.Thread(target=contextvars.copy_context().run, args=(run, n))
                for n in (1, 2)
            ]
            for thread in threads:
                thread.start()
            assert seen.event.wait(timeout=120), "dbt never met the other program's lock"
            holder.communicate("release\n", timeout=30)
            for thread in threads:
                thread.join(timeout=300)
    finally:
        logging.getLogger("prefect.task_runs").removeHandler(seen)
    assert [state.is_completed() for state in results] == [True, True], [
        error_of(s) for s in results
    ]
    rows = local.query("SELECT count(*) FROM tutorial_local.users_by_city")
    assert rows in ([(4,)], [(2,)])  # whichever run finished last
