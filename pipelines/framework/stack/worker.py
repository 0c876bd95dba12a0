"""
The process of a local worker: Prefect's command line (`python -m pipelines.framework.stack.worker
worker start ...` takes what `prefect worker start` takes) with a process worker whose prefetched
runs never start before their due time.

A worker submits a run up to its prefetch window early, so that the run's process imports Prefect
and the flow before the due time; the server then holds the run's move to Running
(WaitForScheduledTime) until the scheduled time of its Pending state. That rule rounds the wait to
whole seconds, to the nearest: Prefect's own worker lets a run start up to 0.5 s early. Ours
proposes Pending with the due time plus those 0.5 s, so the server releases the run at the due time
at the earliest (and 1 s after it at the latest, plus a round trip).

A run's process also gets its environment's name (`PIPELINES_ENV`) from the run's `env:<name>`
tag, which registration gives every deployment and Prefect copies onto its runs: a deployment on
a process pool carries no job variables (see `deploy/registration.py`).
"""

import warnings
from datetime import timedelta
from typing import TYPE_CHECKING

from prefect.cli import app
from prefect.exceptions import Abort
from prefect.states import Pending
from prefect.utilities.engine import propose_state
from prefect.workers.process import ProcessWorker

from pipelines.framework.config import ENV_TAG

if TYPE_CHECKING:
    import anyio.abc
    from prefect.client.schemas.objects import FlowRun, State
    from prefect.workers.process import ProcessJobConfiguration, ProcessWorkerResult

# Defining the class replaces Prefect's process worker in this process's registry of worker
# types, which `worker start` reads: Prefect warns that it does, and that is the point.
warnings.filterwarnings("ignore", message="Type 'PunctualProcessWorker'")

ROUNDING_MARGIN = timedelta(seconds=0.5)
"""The server rounds a run's wait to the nearest second: half a second is the most it cuts."""


class PunctualProcessWorker(ProcessWorker):
    """Prefect's process worker, but a prefetched run's Pending state carries its due time plus
    `ROUNDING_MARGIN` (the server copies the Scheduled one as is otherwise)."""

    type = "process"

    async def run(
        self,
        flow_run: "FlowRun",
        configuration: "ProcessJobConfiguration",
        task_status: "anyio.abc.TaskStatus[int] | None" = None,
    ) -> "ProcessWorkerResult":
        """Prefect's run, in the environment its `env:` tag names (`run_environment`)."""
        configuration.env = {**configuration.env, **run_environment(flow_run)}
        return await super().run(flow_run, configuration, task_status)

    async def _propose_pending_state(self, flow_run: "FlowRun") -> bool:
        """Prefect 3.9.1's `BaseWorker._propose_pending_state` with `pending_state`."""
        run_logger = self.get_flow_run_logger(flow_run)
        try:
            state = await propose_state(self.client, pending_state(flow_run), flow_run.id)
        except Abort as exc:
            run_logger.info(f"Aborted submission of flow run '{flow_run.id}'. Server sent: {exc}")
            return False
        except Exception:  # pylint: disable=broad-exception-caught  # as Prefect's: not submitted
            run_logger.exception(f"Failed to update state of flow run '{flow_run.id}'")
            return False
        if not state.is_pending():
            run_logger.info(
                f"Aborted submission of flow run '{flow_run.id}': "
                f"Server returned a non-pending state {state.type.value!r}"
            )
            return False
        return True


def run_environment(flow_run: "FlowRun") -> dict[str, str]:
    """`PIPELINES_ENV` of the environment the run's tag names; nothing for an untagged run."""
    names = [tag.removeprefix(ENV_TAG) for tag in flow_run.tags if tag.startswith(ENV_TAG)]
    return {"PIPELINES_ENV": names[0]} if names else {}


def pending_state(flow_run: "FlowRun") -> "State":
    """Pending, held until the run's due time (of its Scheduled state) plus the margin."""
    due = flow_run.state.state_details.scheduled_time if flow_run.state else None
    return Pending(state_details={"scheduled_time": due + ROUNDING_MARGIN}) if due else Pending()


if __name__ == "__main__":
    app()
