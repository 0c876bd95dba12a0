"""A `pipelines run` killed outside a worker ends Crashed, and a live one is never crashed."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import pytest
from prefect import flow, get_client
from prefect.automations import Automation
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType

from pipelines.framework.config.environments import Environment
from pipelines.framework.config.settings import Settings
from pipelines.framework.deploy.discovery import FlowInfo
from pipelines.framework.stack import local_run, run_records
from pipelines.framework.stack import services as stack
from pipelines.framework.stack.dev import RandomUserAPI
from pipelines.framework.stack.run_records import LocalRunRecord
from tests.conftest import pipelines_command, run_pipelines

pytestmark = pytest.mark.e2e
USERS_REPORT = "EMD: escritorio - Users report"


def _running_users_reports() -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[USERS_REPORT])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
            ),
        )


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not in {timeout:.0f} s"
        time.sleep(0.2)


def test_a_sigkilled_pipelines_run_is_crashed_by_the_next_command(
    cli_env, prefect_home, randomuser, tmp_path
):
    records = prefect_home / "local-runs"
    log = tmp_path / "killed.log"
    with RandomUserAPI(mode="hang", hang_seconds=120) as hanging, open(log, "wb") as output:
        killed = subprocess.Popen(  # pylint: disable=consider-using-with
            [*pipelines_command(), "run", "Users report", "-p", f"api_url={hanging.url}"],
            env={**cli_env, "PIPELINES_HTTP_TIMEOUT": "120"},
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for(lambda: hanging.requests, 120, f"no download started; {log.read_text()}")
            [orphan] = _running_users_reports()
            assert any(records.glob("*.json"))
        finally:
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait()
    assert _running_users_reports() == [orphan]  # nobody told the server: it stays Running

    result = run_pipelines(
        "run", "Users report", "-p", "n_users=2", "-p", f"api_url={randomuser.url}",
        env=cli_env, cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert f"run {orphan.name!r} of a `pipelines run` whose process died" in result.stderr
    with get_client(sync_client=True) as client:
        crashed = client.read_flow_run(orphan.id)
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[orphan.id]))
        )
    assert crashed.state.type == StateType.CRASHED
    assert f"(pid {killed.pid} on " in crashed.state.message
    assert [t.state.type for t in tasks] == [StateType.CRASHED]  # download_data, mid-request
    assert not list(records.glob("*.json"))


def test_a_live_local_run_longer_than_the_heartbeat_window_is_not_crashed(
    prefect_api, tmp_path, monkeypatch
):
    monkeypatch.setattr(local_run, "get_settings", lambda: Settings(home=tmp_path))
    monkeypatch.setattr(local_run, "HEARTBEAT_SECONDS", 4)
    monkeypatch.setattr(stack, "ZOMBIE_AFTER", timedelta(seconds=15))
    monkeypatch.setattr(stack, "discover_flows", lambda: [])

    @flow(name="pipelines test: sleeps past the crash window")
    def sleeps() -> None:
        time.sleep(35)

    asyncio.run(stack.ensure_zombie_automation(Environment("local")))
    try:
        outcome = local_run.run_flow(FlowInfo(sleeps, __name__, "sleeps"), {})
    finally:
        asyncio.run(_delete_automation())
    assert outcome.ok, outcome.reason
    history = _state_types(outcome.state.state_details.flow_run_id)
    assert history == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]


def _state_types(flow_run_id: UUID | None) -> list[StateType]:
    with get_client(sync_client=True) as client:
        return [state.type for state in client.read_flow_run_states(flow_run_id)]


async def _delete_automation() -> None:
    await (await Automation.aread(name=stack.ZOMBIE_AUTOMATION)).adelete()


def test_a_record_is_alive_only_while_its_own_process_lives():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    record = LocalRunRecord(
        "pipelines-run:test", "http://127.0.0.1:1/api", socket.gethostname(), child.pid,
        run_records.process_start(child.pid),
    )  # fmt: skip
    assert record.is_alive()
    assert not replace(record, started="1").is_alive()  # the same pid, another process
    assert replace(record, host="another-machine", started="1").is_alive()  # not ours to judge
    _wait_for(lambda: not record.is_alive(), 10, "the exited child (a zombie) still counts alive")
    child.wait()
    assert not record.is_alive()
