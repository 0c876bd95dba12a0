"""A scheduled run on the worker `pipelines up` starts: taken well before its due time (its
process imports Prefect and the flow meanwhile), started no earlier than its due time. How soon
after it (p50, p90 over 20 runs, goal p90 < 3 s) is benchmarks/scheduling.py's figure: here, on a
machine that may be running other suites, only the behaviour is checked."""

import time
from datetime import datetime, timedelta, timezone

import pytest
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.states import Scheduled

from pipelines.framework.config import Environment, Settings
from pipelines.framework.stack.dev import RandomUserAPI
from pipelines.framework.stack.services import start_worker, stop_worker
from tests.conftest import run_pipelines
from tests.support.prefect_api import client_for, wait_for_final_state

pytestmark = pytest.mark.e2e
LABEL = "rj-escritorio-dev"
USERS_REPORT = "EMD: escritorio - Users report/EMD: escritorio - Users report (local)"
LEAD = timedelta(seconds=25)  # inside the prefetch window (30 s): time to import on a busy box


def wait_online(client, name: str, since: datetime, timeout: float = 180) -> None:
    """Until the worker has sent a heartbeat after `since`: it polls from then on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in client.read_workers_for_work_pool(LABEL):
            if worker.name == name and (worker.last_heartbeat_time or since) > since:
                return
        time.sleep(0.5)
    raise AssertionError(f"worker {name} not online after {timeout} s")


def test_a_scheduled_run_is_taken_early_and_starts_at_its_due_time(
    cli_env, prefect_api, prefect_home, tmp_path
):
    registered = run_pipelines("register", "--env", "local", env=cli_env, timeout=600)
    assert registered.returncode == 0, registered.stderr + registered.stdout
    settings = Settings(home=prefect_home)
    since = datetime.now(timezone.utc)
    worker = start_worker(settings, prefect_api, LABEL, Environment("local"))
    try:
        with RandomUserAPI() as api, client_for(prefect_api) as client:
            wait_online(client, f"{LABEL}-local", since)
            deployment = client.read_deployment_by_name(USERS_REPORT)
            due = datetime.now(timezone.utc) + LEAD
            run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"n_users": 3, "api_url": api.url, "output_path": str(tmp_path / "r")},
                state=Scheduled(scheduled_time=due),
            )
            finished = wait_for_final_state(client, run.id, timeout=240)
            states = client.read_flow_run_states(run.id)
            tasks = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
            )
    finally:
        stop_worker(worker)
    assert finished.state.is_completed(), finished.state
    pending = next(state.timestamp for state in states if state.is_pending())
    first_task = min(task.start_time for task in tasks if task.start_time)
    # taken at the first poll, well before Prefect's own window (10 s ahead) would have taken it
    taken_ahead = (due - pending).total_seconds()
    assert taken_ahead > 15, f"taken {taken_ahead:.1f} s before its due time, not at once"
    assert finished.start_time >= due, f"Running {due - finished.start_time} before it was due"
    assert first_task >= due, f"first task {due - first_task} before the run was due"
