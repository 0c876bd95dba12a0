"""Small synchronous helpers over Prefect's client for end-to-end assertions."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL, temporary_settings


@contextmanager
def client_for(url: str) -> Iterator[SyncPrefectClient]:
    with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        yield client


def wait_for_final_state(client: SyncPrefectClient, run_id: UUID, timeout: float) -> FlowRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(run_id)
        if run.state and run.state.is_final():
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} not final after {timeout} s: {run.state}")


def wait_for_state(client: SyncPrefectClient, run_id: UUID, state: str, timeout: float) -> FlowRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(run_id)
        if run.state and run.state.type.value == state:
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} never {state} in {timeout} s: {run.state}")


def run_log_messages(
    client: SyncPrefectClient, run_id: UUID, expect: str, timeout: float = 30
) -> list[str]:
    """The run's log lines as stored on the server (they arrive in batches: wait for `expect`)."""
    deadline = time.monotonic() + timeout
    messages: list[str] = []
    while time.monotonic() < deadline:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        messages = [log.message for log in logs]
        if any(expect in m for m in messages):
            break
        time.sleep(1)
    return messages
