"""
Runs a flow in this process against the local server (started once, then reused).
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.states import State

from pipelines.framework.discovery import FlowInfo
from pipelines.framework.server import api_settings, ensure_server


@dataclass(frozen=True)
class RunOutcome:
    """How a local run ended, in the words a user needs."""

    state: State
    failed_task: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.state.is_completed()


def run_flow(info: FlowInfo, parameters: dict[str, Any]) -> RunOutcome:
    """Run `info` with `parameters`; on failure, name the failing task and why."""
    with api_settings(ensure_server()):
        state = info.flow(**parameters, return_state=True)
        if state.is_completed():
            return RunOutcome(state)
        failed_task = _failed_task_name(state.state_details.flow_run_id)
    return RunOutcome(state, failed_task=failed_task, reason=_reason(state))


def _reason(state: State) -> str:
    error = state.result(raise_on_failure=False)
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return (state.message or state.name).splitlines()[0]


def _failed_task_name(flow_run_id: UUID | None) -> str | None:
    if flow_run_id is None:
        return None
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    failed = [run for run in task_runs if run.state and run.state.is_failed()]
    return failed[-1].task_key.rsplit("-", 1)[0] if failed else None
