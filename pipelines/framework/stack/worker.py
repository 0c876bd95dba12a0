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
"""

import warnings
from datetime import timedelta
from typing import TYPE_CHECKING

from prefect.cli import app
from prefect.exceptions import Abort
from prefect.states import Pending
from prefect.utilities.engine import propose_state
from prefect.workers.process import ProcessWorker

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, State

# Defining the class replaces Prefect's process worker in this process's registry of worker
# types, which `worker start` reads: Prefect warns that it does, and that is the point.
warnings.filterwarnings("ignore", message="Type 'PunctualProcessWorker'")

ROUNDING_MARGIN = timedelta(seconds=0.5)
"""The server rounds a run's wait to the nearest second: half a second is the most it cuts."""


class PunctualProcessWorker(ProcessWorker):
    """Prefect's process worker, but a prefetched run's Pending state carries its due time plus
    `ROUNDING_MARGIN` (the server copies the Scheduled one as is otherwise)."""

    type = "process"

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


def pending_state(flow_run: "FlowRun") -> "State":
    """Pending, held until the run's due time (of its Scheduled state) plus the margin."""
    due = flow_run.state.state_details.scheduled_time if flow_run.state else None
    return Pending(state_details={"scheduled_time": due + ROUNDING_MARGIN}) if due else Pending()


if __name__ == "__main__":
    app()
