"""The hybrid model on one machine: `pipelines up` starts a real server and real workers, flows
are registered with their schedules, runs go to the worker of their label, crashes are detected
and nothing registered is lost when the server restarts."""

import os
import signal
from datetime import timezone
from pathlib import Path

import pytest
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from pipelines.framework.server import free_port
from pipelines.framework.settings import REPO_ROOT
from tests.conftest import run_pipelines
from tests.support.prefect_api import (
    client_for,
    run_log_messages,
    wait_for_final_state,
    wait_for_state,
)
from tests.support.randomuser_api import RandomUserAPI

pytestmark = pytest.mark.e2e
USERS_REPORT = "EMD: escritorio - Users report/local"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("stack-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
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
    import json

    result = run_pipelines("status", "--json", env=stack["env"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_up_registers_every_flow_and_shows_the_ui(stack):
    output = stack["up"].stdout
    assert "EMD: escritorio - Users report" in output
    assert f"UI: http://127.0.0.1:{stack['port']}" in output
    current = status(stack)
    assert current["healthy"]
    assert set(current["workers"]) == {"rj-escritorio", "rj-escritorio-dev"}
    assert all(worker["alive"] for worker in current["workers"].values())


def test_the_scheduler_creates_runs_at_four_in_sao_paulo_with_the_schedule_parameters(stack):
    import time

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
            page.locator("tr", has_text="EMD: escritorio - Users report").get_by_text(
                "local", exact=True
            ).click()
            page.screenshot(path=ARTIFACTS / "1-deployment.png")
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("Custom run").click()
            page.get_by_role("textbox").nth(0).fill(run_name)
            page.get_by_role("spinbutton").fill("3")  # n_users
            page.get_by_role("textbox").nth(1).fill(api.url)  # api_url (no internet here)
            page.get_by_role("textbox").nth(2).fill(str(report))  # output_path
            page.screenshot(path=ARTIFACTS / "2-custom-run.png")
            page.get_by_role("button", name="Submit").click()
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


def test_a_killed_worker_leaves_a_crashed_run_and_the_next_run_succeeds(stack, tmp_path):
    worker_pid = status(stack)["workers"]["rj-escritorio-dev"]["pid"]
    with RandomUserAPI(mode="hang", hang_seconds=600) as api, client_for(stack["url"]) as client:
        deployment = client.read_deployment_by_name(USERS_REPORT)
        run = client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"n_users": 3, "api_url": api.url, "output_path": str(tmp_path / "x.csv")},
        )
        wait_for_state(client, run.id, "RUNNING", timeout=180)
        os.killpg(worker_pid, signal.SIGKILL)  # the worker and the run's process die at once
        # the run's engine reports the crash itself; if it can't (machine gone), the heartbeat
        # automation created by `up` marks the run Crashed
        wait_for_state(client, run.id, "CRASHED", timeout=240)

    restarted = run_pipelines("up", "--detach", "--port", str(stack["port"]), env=stack["env"])
    assert restarted.returncode == 0, restarted.stderr
    assert status(stack)["workers"]["rj-escritorio-dev"]["pid"] != worker_pid
    with RandomUserAPI() as api, client_for(stack["url"]) as client:
        run = client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"n_users": 2, "api_url": api.url, "output_path": str(tmp_path / "y.csv")},
        )
        assert wait_for_final_state(client, run.id, timeout=180).state.is_completed()


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
