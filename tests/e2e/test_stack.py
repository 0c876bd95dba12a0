# ruff: noqa: F811  (pytest fixtures are imported by name)
# pylint: disable=redefined-outer-name
"""The hybrid model on one machine: `pipelines up` starts a real server and real workers, flows
are registered with their schedules, runs go to the worker of their label, crashes are detected
and nothing registered is lost when the server restarts."""

import json
import os
import re
import signal
import time
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from pipelines.framework.config.settings import REPO_ROOT
from pipelines.framework.stack.dev import RandomUserAPI, users_csv
from pipelines.framework.stack.server import free_port, pid_alive
from pipelines.framework.stack.services import run_processes
from tests.conftest import run_pipelines
from tests.support.databases import (  # noqa: F401  pylint: disable=unused-import
    pg_schema,
    postgres_server,
)
from tests.support.file_server import FileServer
from tests.support.prefect_api import (
    client_for,
    run_log_messages,
    wait_for_final_state,
    wait_for_state,
)
from tests.support.webhook_api import WebhookReceiver

pytestmark = pytest.mark.e2e
USERS_REPORT = "EMD: escritorio - Users report/EMD: escritorio - Users report (local)"
DUMP_EXEMPLO = "EMD: escritorio - Dump exemplo/EMD: escritorio - Dump exemplo (local)"
DUMP_URL = "EMD: utils - Dump URL/EMD: utils - Dump URL (local)"
MATERIALIZE = "EMD: utils - Materializar com dbt/EMD: utils - Materializar com dbt (local)"
PATY = "<@100000000000000001>"  # constants.CODE_OWNERS_MENTIONS of the escritorio's owner


@pytest.fixture(scope="module")
def alerts():
    """The team chat's webhook, for the whole module: every alert of every run lands here."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def stack(tmp_path_factory, alerts):
    """`pipelines up` in a fresh home, alerting to `alerts`; `pipelines down` at the end."""
    home = tmp_path_factory.mktemp("stack-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PIPELINES_SECRET_ALERTS_WEBHOOK=json.dumps({"url": alerts.url}),
        PGUSER="postgres",  # dumps without a secret log in as the client's default user
        PIPELINES_HOME=str(home),
        PIPELINES_HTTP_TIMEOUT="200",
        PIPELINES_SERVER_START_TIMEOUT="540",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
        NO_COLOR="1",
        COLUMNS="200",
    )
    started = run_pipelines("up", "--detach", "--port", str(port), env=env)
    assert started.returncode == 0, started.stderr + started.stdout
    yield {
        "env": env,
        "url": f"http://127.0.0.1:{port}/api",
        "port": port,
        "home": home,
        "up": started,
    }
    run_pipelines("down", env=env)


def status(stack) -> dict:
    result = run_pipelines("status", "--json", env=stack["env"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def alerts_about(receiver: WebhookReceiver, run_id, timeout: float, settle: float = 5) -> list[str]:
    """The alert texts that name the run (its link carries the id): waits for the first, then
    `settle` seconds more so that a duplicate would be counted too."""
    deadline = time.monotonic() + timeout

    def found() -> list[str]:
        texts = [message.get("content", "") for message in list(receiver.messages)]
        return [text for text in texts if f"/runs/flow-run/{run_id}" in text]

    while not found() and time.monotonic() < deadline:
        time.sleep(0.5)
    if found():
        time.sleep(settle)
    return found()


def run_deployment(stack, name: str, parameters: dict, timeout: float = 240) -> tuple:
    """Create a run of a registered deployment, wait for its end; (run, its stored log lines)."""
    with client_for(stack["url"]) as client:
        deployment = client.read_deployment_by_name(name)
        run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        finished = wait_for_final_state(client, run.id, timeout=timeout)
        messages = run_log_messages(client, run.id, expect="Finished in state")
    return finished, messages


def warehouse_query(stack, sql: str) -> list[tuple]:
    """Read the stack's DuckDB warehouse (`<home>/warehouse/local.duckdb`) after the runs."""
    path = stack["home"] / "warehouse" / "local.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_up_registers_every_flow_and_shows_the_ui(stack):
    output = stack["up"].stdout
    assert "EMD: escritorio - Users report" in output
    assert f"UI: http://127.0.0.1:{stack['port']}" in output
    current = status(stack)
    assert current["healthy"]
    assert set(current["workers"]) == {"rj-escritorio", "rj-escritorio-dev"}
    assert all(worker["alive"] for worker in current["workers"].values())


def test_the_scheduler_creates_runs_at_four_in_sao_paulo_with_the_schedule_parameters(stack):
    with client_for(stack["url"]) as client:
        deployment = client.read_deployment_by_name(USERS_REPORT)
        scheduled = []
        for _ in range(60):
            scheduled = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=3,
            )
            if len(scheduled) == 3:
                break
            time.sleep(2)
    assert len(scheduled) == 3
    for run in scheduled:
        when = run.expected_start_time.astimezone(timezone.utc)
        assert (when.hour, when.minute) == (7, 0)
        assert run.parameters == {"n_users": 10}
    assert deployment.work_pool_name == "rj-escritorio-dev"
    assert deployment.work_queue_name == "local"


def test_a_run_with_other_parameters_completes_on_its_labels_worker_with_its_logs(stack, tmp_path):
    report = tmp_path / "report.csv"
    with RandomUserAPI() as api, client_for(stack["url"]) as client:
        deployment = client.read_deployment_by_name(USERS_REPORT)
        run = client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"n_users": 7, "api_url": api.url, "output_path": str(report)},
        )
        finished = wait_for_final_state(client, run.id, timeout=180)
        assert finished.state.is_completed(), finished.state
        messages = run_log_messages(client, run.id, expect="Dados salvos")
    assert len(report.read_text(encoding="utf-8").splitlines()) >= 8
    assert "Dados baixados com sucesso!" in messages
    assert "Dados convertidos em DataFrame com sucesso!" in messages
    assert f"Dados salvos em {report} com sucesso!" in messages
    # it was the rj-escritorio-dev worker, never the rj-escritorio one, that took it
    assert any("Worker 'rj-escritorio-dev-local' submitting" in m for m in messages)
    other_log = (stack["home"] / "logs" / "worker-rj-escritorio.log").read_text(errors="replace")
    assert str(run.id) not in other_log


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_in_the_ui_a_user_finds_the_flow_runs_it_with_other_parameters_and_reads_its_log(
    stack, tmp_path
):
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = tmp_path / "ui_report.csv"
    run_name = f"ui-run-{os.getpid()}"
    with RandomUserAPI() as api, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.goto(f"{stack['url'].removesuffix('/api')}/deployments", wait_until="networkidle")
            page.get_by_placeholder("Search deployments...").fill("Users report")
            # each row is named for its flow and environment, not "local" on every row
            page.get_by_text("EMD: escritorio - Users report (local)", exact=True).click()
            page.screenshot(path=ARTIFACTS / "1-deployment.png")
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("Custom run").click()
            # each parameter shows its description, from the flow's Args: docstring
            expect(page.get_by_text("Quantos usuários baixar da API")).to_be_visible()
            page.get_by_role("textbox").nth(0).fill(run_name)
            page.get_by_role("spinbutton").fill("3")  # n_users
            page.get_by_role("textbox").nth(1).fill(api.url)  # api_url (no internet here)
            page.get_by_role("textbox").nth(2).fill(str(report))  # output_path
            page.screenshot(path=ARTIFACTS / "2-custom-run.png")
            form_url = page.url
            page.get_by_role("button", name="Submit").click()
            # the form posts the run, then leaves for the deployment page: reloading before that
            # would drop the submission. On a loaded machine the UI's request can fail ("Oops.
            # Something went wrong", seen once in CI): its user submits again, and so do we.
            try:
                page.wait_for_url(lambda url: url != form_url, timeout=45_000)
            except PlaywrightTimeoutError:
                page.screenshot(path=ARTIFACTS / "2b-submit-failed.png")
                page.get_by_role("button", name="Submit").click()
                page.wait_for_url(lambda url: url != form_url, timeout=90_000)
            with client_for(stack["url"]) as client:
                deadline = time.monotonic() + 90
                while not client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[run_name]))
                ):
                    assert time.monotonic() < deadline, "the submitted run never reached the API"
                    time.sleep(1)
            run_link = page.get_by_role("link", name=run_name).first
            for _ in range(30):  # the runs list refreshes on its own schedule: reload until listed
                if run_link.is_visible():
                    break
                page.wait_for_timeout(2000)
                page.reload()
            run_link.click()
            page.wait_for_url("**/runs/flow-run/**")
            expect(page.get_by_text("Completed").first).to_be_visible(timeout=180_000)
            page.reload()
            expect(page.get_by_text("Dados baixados com sucesso!")).to_be_visible(timeout=60_000)
            page.screenshot(path=ARTIFACTS / "3-run-logs.png", full_page=True)
        except Exception:
            page.screenshot(path=ARTIFACTS / "failure.png", full_page=True)
            raise
        finally:
            browser.close()
    assert len(report.read_text(encoding="utf-8").splitlines()) == 4  # header + 3 users


def test_a_failing_run_on_the_worker_alerts_its_owners_once(stack, alerts, tmp_path):
    with RandomUserAPI(mode="short") as api:  # one user fewer than asked: the download fails
        finished, _ = run_deployment(
            stack,
            USERS_REPORT,
            {"n_users": 3, "api_url": api.url, "output_path": str(tmp_path / "r.csv")},
            timeout=180,
        )
    assert finished.state.is_failed(), finished.state
    texts = alerts_about(alerts, finished.id, timeout=60)
    assert len(texts) == 1, texts
    text = texts[0]
    assert text.startswith(
        f"[local] **EMD: escritorio - Users report**: run `{finished.name}` failed"
    )
    assert "deployment: `EMD: escritorio - Users report (local)`" in text
    assert "failing task: `download_data`" in text
    assert "ValueError: a API devolveu 2 usuários, esperados 3" in text
    assert f"run: http://127.0.0.1:{stack['port']}/runs/flow-run/{finished.id}" in text
    assert f"owners: {PATY}" in text


TYPED_TABLE = """
CREATE TABLE {table} AS SELECT
    g::bigint AS id,
    round(g * 1.25, 2)::numeric(12, 2) AS valor,
    g % 2 = 0 AS ativo,
    date '2024-01-01' + g % 31 AS data,
    timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' AS criado_em,
    CASE WHEN g % 10 = 0 THEN NULL ELSE 'Conceição nº ' || g END AS nome
FROM generate_series(1, {rows}) g
"""
TYPED_ROWS = 30_000  # about 2 MB of CSV from PostgreSQL: two batches of progress


def progress_lines(messages: list[str], table: str) -> list[str]:
    """The per-batch progress lines of a dump of `table` (`<table>: lote N: R linhas, ...`)."""
    pattern = re.compile(rf"{re.escape(table)}: lote \d+: [\d,]+ linhas, ")
    return [m for m in messages if pattern.match(m)]


def test_a_database_dump_runs_on_the_worker_into_the_stacks_warehouse(
    stack, postgres_server, pg_schema
):
    table_id = f"tipos_{uuid.uuid4().hex[:8]}"
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(TYPED_TABLE.format(table=f"{pg_schema}.tipos", rows=TYPED_ROWS))
    finished, messages = run_deployment(
        stack,
        DUMP_EXEMPLO,
        {
            "db_type": "postgres",
            "db_host": postgres_server.host,
            "db_port": postgres_server.port,
            "db_database": postgres_server.database,
            "table": f"{pg_schema}.tipos",
            "dataset_id": "exemplo",
            "table_id": table_id,
            "batch_size": 10_000,
        },
    )
    assert finished.state.is_completed(), (finished.state, messages[-20:])
    table = f"exemplo_local.{table_id}"
    rows = warehouse_query(
        stack,
        f"SELECT count(*), count(DISTINCT id), sum(valor), count(nome), sum(ativo::int), "
        f"min(data), max(data) FROM {table}",
    )
    assert rows == [
        (
            TYPED_ROWS,
            TYPED_ROWS,
            Decimal("562518750.00"),  # 1.25 * n(n+1)/2
            TYPED_ROWS - TYPED_ROWS // 10,
            TYPED_ROWS // 2,
            date(2024, 1, 1),
            date(2024, 1, 31),
        )
    ]
    first = warehouse_query(stack, f"SELECT * FROM {table} WHERE id = 1")[0]
    assert first[:4] == (1, Decimal("1.25"), False, date(2024, 1, 2))
    assert first[4] == datetime(2024, 1, 1, 0, 1, tzinfo=timezone.utc)
    assert first[5] == "Conceição nº 1"
    types = dict(
        warehouse_query(
            stack,
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = 'exemplo_local' AND table_name = '{table_id}'",
        )
    )
    assert types == {
        "id": "BIGINT",
        "valor": "DECIMAL(12,2)",
        "ativo": "BOOLEAN",
        "data": "DATE",
        "criado_em": "TIMESTAMP WITH TIME ZONE",
        "nome": "VARCHAR",
    }
    assert len(progress_lines(messages, table)) >= 2, messages
    assert any(f"{table}: {TYPED_ROWS:,} linhas extraídas em" in m for m in messages), messages
    assert any(
        m.startswith(f"Dump concluído: {TYPED_ROWS:,} linhas em")
        and m.endswith(f"-> {table} ({TYPED_ROWS:,} linhas na tabela)")
        for m in messages
    ), messages


def test_a_url_dump_then_the_materialize_deployment_build_the_example_model(stack):
    with FileServer({"/users.csv": users_csv(40).encode()}) as server:
        finished, messages = run_deployment(
            stack,
            DUMP_URL,
            {"url": server.url("/users.csv"), "dataset_id": "tutorial", "table_id": "users"},
        )
    assert finished.state.is_completed(), (finished.state, messages[-20:])
    assert warehouse_query(
        stack, 'SELECT count(*), count(DISTINCT "login.username") FROM tutorial_local.users'
    ) == [(40, 40)]
    assert any(m.startswith("Baixados ") and "/users.csv em " in m for m in messages), messages
    assert len(progress_lines(messages, "tutorial_local.users")) == 1, messages
    assert any(
        m.startswith("Dump concluído: 40 linhas em")
        and m.endswith("-> tutorial_local.users (40 linhas na tabela)")
        for m in messages
    ), messages

    built, messages = run_deployment(
        stack,
        MATERIALIZE,
        {
            "dataset_id": "tutorial",
            "table_id": "users_by_city",
            "dbt_vars": {"min_users_per_city": 1},
        },
    )
    assert built.state.is_completed(), (built.state, messages[-30:])
    assert any("dbt build --select fqn:pipelines.tutorial.users_by_city" in m for m in messages)
    assert warehouse_query(
        stack, "SELECT city, users FROM tutorial_local.users_by_city ORDER BY city"
    ) == [("Niterói", 10), ("Petrópolis", 10), ("Rio de Janeiro", 10), ("São Paulo", 10)]


@contextmanager
def _hanging_run(stack, tmp_path):
    """A Users report run RUNNING on the dev worker, stuck on an API that never answers:
    yields the client, the run, the worker's pid and the run's processes."""
    worker_pid = status(stack)["workers"]["rj-escritorio-dev"]["pid"]
    with RandomUserAPI(mode="hang", hang_seconds=600) as api, client_for(stack["url"]) as client:
        deployment = client.read_deployment_by_name(USERS_REPORT)
        run = client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"n_users": 3, "api_url": api.url, "output_path": str(tmp_path / "x.csv")},
        )
        wait_for_state(client, run.id, "RUNNING", timeout=180)
        processes = run_processes(worker_pid)
        assert processes, "the worker started no process for the run"
        yield client, run, worker_pid, processes


def test_a_killed_worker_leaves_a_crashed_run_and_the_next_run_succeeds(stack, alerts, tmp_path):
    with _hanging_run(stack, tmp_path) as (client, run, worker_pid, processes):
        # Prefect starts the run's process in a session of its own, so it would outlive its
        # worker: kill both, as when the machine dies. No process is left to report the crash:
        # the heartbeat automation created by `up` marks the run Crashed and alerts the owners.
        # Killed as soon as it runs, maybe before its first heartbeat reached the server.
        for pid in (worker_pid, *processes):
            os.killpg(pid, signal.SIGKILL)
        crashed = wait_for_state(client, run.id, "CRASHED", timeout=240)
    assert crashed.state.message == "No heartbeat for 90 s: its worker or machine died."
    texts = alerts_about(alerts, crashed.id, timeout=90, settle=10)
    assert len(texts) == 1, texts
    text = texts[0]
    assert text.startswith(
        f"[local] **EMD: escritorio - Users report**: run `{crashed.name}` crashed"
    ), text
    assert "deployment: `EMD: escritorio - Users report (local)`" in text
    assert "failing task: `unknown`" in text
    assert "```\nNo heartbeat for 90 s: its worker or machine died.\n```" in text, text
    assert f"run: http://127.0.0.1:{stack['port']}/runs/flow-run/{crashed.id}" in text
    assert f"owners: {PATY}" in text

    restarted = run_pipelines("up", "--detach", "--port", str(stack["port"]), env=stack["env"])
    assert restarted.returncode == 0, restarted.stderr
    assert status(stack)["workers"]["rj-escritorio-dev"]["pid"] != worker_pid
    with RandomUserAPI() as api, client_for(stack["url"]) as client:
        run = client.create_flow_run_from_deployment(
            client.read_deployment_by_name(USERS_REPORT).id,
            parameters={"n_users": 2, "api_url": api.url, "output_path": str(tmp_path / "y.csv")},
        )
        assert wait_for_final_state(client, run.id, timeout=180).state.is_completed()


def test_down_stops_the_runs_in_progress_and_they_read_crashed(stack, tmp_path):
    with _hanging_run(stack, tmp_path) as (_, run, _, processes):
        assert run_pipelines("down", env=stack["env"]).returncode == 0
    assert not [pid for pid in processes if pid_alive(pid)], "a run outlived `pipelines down`"
    again = run_pipelines("up", "--detach", "--port", str(stack["port"]), env=stack["env"])
    assert again.returncode == 0, again.stderr
    with client_for(stack["url"]) as client:
        assert client.read_flow_run(run.id).state.type == StateType.CRASHED


def test_a_restarted_server_keeps_deployments_schedules_and_history(stack):
    with client_for(stack["url"]) as client:
        before = client.read_deployment_by_name(USERS_REPORT)
        runs_before = len(client.read_flow_runs(limit=200))
    assert run_pipelines("down", env=stack["env"]).returncode == 0
    again = run_pipelines("up", "--detach", "--port", str(stack["port"]), env=stack["env"])
    assert again.returncode == 0, again.stderr
    assert "skipped" in again.stdout
    with client_for(stack["url"]) as client:
        after = client.read_deployment_by_name(USERS_REPORT)
        assert after.id == before.id
        assert after.version == before.version
        assert [s.schedule for s in after.schedules] == [s.schedule for s in before.schedules]
        assert len(client.read_flow_runs(limit=200)) >= runs_before


def test_a_port_in_use_is_a_one_line_error(stack, tmp_path):
    env = {**stack["env"], "PIPELINES_HOME": str(tmp_path)}
    result = run_pipelines("up", "--detach", "--port", str(stack["port"]), env=env)
    assert result.returncode == 1
    assert "in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_only_failed_or_crashed_runs_were_alerted_each_once(stack, alerts):
    texts = [message.get("content", "") for message in list(alerts.messages)]
    ids = [found for text in texts for found in re.findall(r"/runs/flow-run/([0-9a-f-]{36})", text)]
    assert len(ids) == len(texts) == len(set(ids)), texts
    with client_for(stack["url"]) as client:
        states = {run_id: client.read_flow_run(uuid.UUID(run_id)).state.type for run_id in ids}
    assert set(states.values()) <= {StateType.FAILED, StateType.CRASHED}, states
