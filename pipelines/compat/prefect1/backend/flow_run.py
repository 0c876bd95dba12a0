"""
`FlowRunView` (`prefect.backend.flow_run`): what flows read of a flow run, from the Prefect 3 API.

`labels` are the run's work pool (the agent label that ran it), as Prefect 1's labels picked the
agent; `state` is the Prefect 1 state of the run's Prefect 3 state.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType

from pipelines.compat.prefect1.engine import state as states

_STATE_CLASSES = {
    StateType.SCHEDULED: states.Scheduled,
    StateType.PENDING: states.Pending,
    StateType.RUNNING: states.Running,
    StateType.COMPLETED: states.Success,
    StateType.FAILED: states.Failed,
    StateType.CRASHED: states.Failed,
    StateType.CANCELLED: states.Cancelled,
    StateType.CANCELLING: states.Cancelling,
    StateType.PAUSED: states.Paused,
}


def prefect1_state(prefect3_state: Any) -> states.State:
    """The Prefect 1 state of a Prefect 3 flow or task run state."""
    if prefect3_state is None:
        return states.Pending()
    if prefect3_state.name == "Skipped":
        return states.Skipped(prefect3_state.message)
    cls = _STATE_CLASSES.get(prefect3_state.type, states.State)
    return cls(prefect3_state.message)


@dataclass
class TaskRunView:
    task_run_id: str
    name: str
    task_slug: str
    map_index: int
    state: states.State
    _prefect3_state: Any = field(repr=False, default=None)

    def get_result(self) -> Any:
        if self._prefect3_state is None:
            raise ValueError(f"task run {self.name!r} has no state")
        return self._prefect3_state.result(raise_on_failure=False)


@dataclass
class FlowRunView:
    """A flow run as Prefect 1 flows read it."""

    flow_run_id: str
    name: str
    flow_id: str
    state: states.State
    labels: list[str]
    parameters: dict[str, Any]
    tags: list[str]
    deployment_id: str | None
    _prefect3_state: Any = field(repr=False, default=None)

    @classmethod
    def from_flow_run_id(cls, flow_run_id: str, **_: Any) -> "FlowRunView":
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(str(flow_run_id)))
        return cls(
            flow_run_id=str(run.id),
            name=run.name,
            flow_id=str(run.flow_id),
            state=prefect1_state(run.state),
            labels=[run.work_pool_name] if run.work_pool_name else [],
            parameters=dict(run.parameters or {}),
            tags=list(run.tags or []),
            deployment_id=str(run.deployment_id) if run.deployment_id else None,
            _prefect3_state=run.state,
        )

    def get_latest(self) -> "FlowRunView":
        return self.from_flow_run_id(self.flow_run_id)

    def get_all_task_runs(self) -> list[TaskRunView]:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(self.flow_run_id)]))
            )
        return [_task_run_view(run) for run in runs]

    def get_task_run(self, task_slug: str, map_index: int = -1) -> TaskRunView:
        """The run of the task named like `task_slug` (`name-1` or `name`), child `map_index`."""
        name = task_slug.rsplit("-", 1)[0] if task_slug.rsplit("-", 1)[-1].isdigit() else task_slug
        wanted = name if map_index == -1 else f"{name}[{map_index}]"
        for view in self.get_all_task_runs():
            if view.name == wanted:
                return view
        raise ValueError(f"no task run {wanted!r} in flow run {self.name!r}")

    @property
    def is_finished(self) -> bool:
        return self.state.is_finished()


def _task_run_view(run: Any) -> TaskRunView:
    name = run.name
    index = -1
    if name.endswith("]") and "[" in name:
        base, _, rest = name.rpartition("[")
        if rest[:-1].isdigit():
            index = int(rest[:-1])
            name = base
    return TaskRunView(
        task_run_id=str(run.id),
        name=run.name,
        task_slug=name,
        map_index=index,
        state=prefect1_state(run.state),
        _prefect3_state=run.state,
    )


def watch_flow_run(
    flow_run_id: str, stream_states: bool = True, stream_logs: bool = False, poll: float = 1.0
) -> Iterator[Any]:
    """Wait for the flow run to finish, yielding a log-like record per state change."""
    seen = None
    while True:
        view = FlowRunView.from_flow_run_id(flow_run_id)
        current = type(view.state).__name__
        if stream_states and current != seen:
            seen = current
            yield _Log(20, f"Entered state <{current}>: {view.state.message or ''}".strip())
        if view.state.is_finished():
            return
        time.sleep(poll)


@dataclass
class _Log:
    level: int
    message: str


__all__ = ["FlowRunView", "TaskRunView", "prefect1_state", "watch_flow_run"]
