"""A prefetched run is held by the server until it is due: with the Pending state our local worker
proposes, the server releases it to Running at its due time at the earliest. Prefect's own Pending
lets it go up to 0.5 s early (the server rounds the wait to the nearest second)."""

from datetime import datetime, timedelta, timezone

import pytest
from prefect import flow
from prefect.client.schemas.responses import SetStateStatus
from prefect.states import Running, Scheduled
from prefect.utilities.engine import propose_state_sync

from pipelines.framework.stack.worker import ROUNDING_MARGIN, pending_state
from tests.support.prefect_api import client_for

pytestmark = pytest.mark.component


@flow(name="prefetch probe")
def probe() -> None:
    """Never runs: its runs only exist to be moved through their states."""


# What the worker does when a run enters its prefetch window; then what the run's engine does
# once Prefect and the flow are imported (`propose_state_sync`: it waits as the server says).
# With Prefect's Pending, 0.4 s ahead is no wait at all and 1.45 s a wait of 1 s (the server
# rounds both down): Running about 0.4 s early. Ours waits until the due time.
@pytest.mark.parametrize("ahead", [0.4, 1.45, 2.45, 3.7])
def test_a_prefetched_run_goes_running_no_earlier_than_its_due_time(prefect_api, ahead):
    with client_for(prefect_api) as client:
        due = datetime.now(timezone.utc) + timedelta(seconds=ahead)
        run = client.create_flow_run(probe, state=Scheduled(scheduled_time=due))
        pending = propose_state_sync(client, pending_state(run), flow_run_id=run.id)
        assert pending.is_pending()
        assert pending.state_details.scheduled_time == due + ROUNDING_MARGIN
        running = propose_state_sync(client, Running(), flow_run_id=run.id)
        assert running.is_running()
        started = client.read_flow_run(run.id).start_time
    assert started >= due, f"Running {(due - started).total_seconds():.3f} s before its due time"


def test_a_run_picked_up_late_is_not_held(prefect_api):
    """A run the worker takes after its due time (a busy worker, a run created to start now)."""
    with client_for(prefect_api) as client:
        due = datetime.now(timezone.utc) - timedelta(seconds=5)
        run = client.create_flow_run(probe, state=Scheduled(scheduled_time=due))
        propose_state_sync(client, pending_state(run), flow_run_id=run.id)
        answer = client.set_flow_run_state(run.id, Running())
    assert answer.status == SetStateStatus.ACCEPT, answer.details
