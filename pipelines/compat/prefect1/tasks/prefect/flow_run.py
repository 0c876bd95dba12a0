"""
Child flow runs (`prefect.tasks.prefect`): `create_flow_run`, `wait_for_flow_run`,
`get_task_run_result`, `StartFlowRun`.

A Prefect 1 flow is found by name in this environment's deployments (`<flow name>/<env>`, what
`pipelines register` creates); the child run is a Prefect 3 run of that deployment, linked to the
current run as a subflow. Labels are not needed: the deployment's work pool already is the label.
"""

# pylint: disable=unused-argument,redefined-outer-name,arguments-differ  # Prefect 1's signatures, kept as they are

import time
from typing import Any

from prefect.deployments import run_deployment

from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1._names import deployment_name
from pipelines.compat.prefect1.backend.flow_run import FlowRunView, watch_flow_run
from pipelines.compat.prefect1.core.task import Task
from pipelines.compat.prefect1.engine import signals
from pipelines.compat.prefect1.utilities.tasks import task


@task
def create_flow_run(
    flow_id: str | None = None,
    flow_name: str | None = None,
    project_name: str = "",
    parameters: dict | None = None,
    context: dict | None = None,
    labels: Any = None,
    run_name: str | None = None,
    run_config: Any = None,
    scheduled_start_time: Any = None,
    idempotency_key: str | None = None,
) -> str:
    """Start a run of the deployment of `flow_name`; returns its flow run id."""
    if flow_name is None:
        raise ValueError(
            "create_flow_run needs flow_name on Prefect 3 (flow ids of Prefect 1 do not exist)"
        )
    if labels:
        _log(f"labels {sorted(labels)} ignored: the deployment's work pool runs {flow_name!r}")
    flow_run = run_deployment(
        name=deployment_name(flow_name),
        parameters=dict(parameters or {}),
        scheduled_time=scheduled_start_time,
        flow_run_name=run_name,
        timeout=0,
        idempotency_key=idempotency_key,
        as_subflow=True,
    )
    _log(f"Created flow run {flow_run.name!r} ({flow_run.id}) of {flow_name!r}")
    return str(flow_run.id)


@task
def wait_for_flow_run(
    flow_run_id: str,
    stream_states: bool = True,
    stream_logs: bool = False,
    raise_final_state: bool = False,
) -> FlowRunView:
    """Wait until the child run ends; with `raise_final_state`, end this task in its state."""
    flow_run = FlowRunView.from_flow_run_id(flow_run_id)
    for record in watch_flow_run(flow_run_id, stream_states=stream_states, stream_logs=stream_logs):
        _log(f"Flow {flow_run.name!r}: {record.message}")
    flow_run = flow_run.get_latest()
    if raise_final_state:
        raise signals.signal_from_state(flow_run.state)(
            message=f"{flow_run_id} finished in state {flow_run.state}", result=flow_run
        )
    return flow_run


TASK_RUN_RECORD_SECONDS = 30.0
"""How long a finished child run's task run may take to appear in the server's records."""


@task
def get_task_run_result(
    flow_run_id: str, task_slug: str, map_index: int = -1, poll_time: int = 5
) -> Any:
    """The result of a task of a finished child run (its task must persist results:
    `checkpoint=True`)."""
    if not task_slug:
        raise ValueError("Required argument `task_slug` is empty")
    view = FlowRunView.from_flow_run_id(flow_run_id)
    while not view.state.is_finished():
        time.sleep(poll_time)
        view = view.get_latest()
    # The server records task runs from their events, a moment after the flow run ends.
    deadline = time.monotonic() + TASK_RUN_RECORD_SECONDS
    while True:
        try:
            return view.get_task_run(task_slug, map_index).get_result()
        except ValueError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class StartFlowRun(Task):
    """Prefect 1's class form: start (and with `wait=True` wait for) a child run."""

    def __init__(
        self,
        flow_name: str | None = None,
        project_name: str | None = None,
        parameters: dict | None = None,
        wait: bool = False,
        run_name: str | None = None,
        **kwargs: Any,
    ):
        self.flow_name = flow_name
        self.project_name = project_name
        self.parameters = parameters
        self.wait = wait
        self.run_name = run_name
        super().__init__(**kwargs)

    def run(  # type: ignore[override]
        self,
        flow_name: str | None = None,
        parameters: dict | None = None,
        run_name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        name = flow_name or self.flow_name
        flow_run_id = create_flow_run.run(
            flow_name=name, parameters=parameters or self.parameters, run_name=run_name
        )
        if not self.wait:
            return flow_run_id
        view = wait_for_flow_run.run(flow_run_id)
        raise signals.signal_from_state(view.state)(
            message=f"{flow_run_id} finished in state {view.state}", result=flow_run_id
        )


def _log(message: str) -> None:
    context.logger.info(message)


__all__ = [
    "StartFlowRun",
    "create_flow_run",
    "deployment_name",
    "get_task_run_result",
    "wait_for_flow_run",
]
