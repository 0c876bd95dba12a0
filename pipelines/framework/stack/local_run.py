"""
Runs a flow in this process against the local server (started once, then reused).

A run whose process dies (SIGKILL, out of memory, the machine stopped) cannot report its end. Each
`pipelines run` therefore tags its runs, leaves a record of its process in the state folder while
it runs, and sends the heartbeats the server's crash automation expects; the next `pipelines run`
or `pipelines status` marks the runs of a record whose process is gone Crashed.
"""

import contextvars
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from prefect import Flow, get_client, tags
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import SettingsContext, SyncClientContext
from prefect.events import emit_event
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_engine import run_flow as run_prefect_flow
from prefect.states import Crashed, Pending, State
from prefect.utilities.callables import get_call_parameters

from pipelines.framework.config import Settings, get_settings
from pipelines.framework.deploy import FlowInfo
from pipelines.framework.stack.run_records import LocalRunRecord, dead_records, recorded
from pipelines.framework.stack.server import local_api
from pipelines.framework.stack.services import HEARTBEAT_SECONDS

UNFINISHED = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
_logger = logging.getLogger("pipelines.local_run")


@dataclass(frozen=True)
class RunOutcome:
    """How a local run ended, in the words a user needs."""

    state: State
    failed_task: str | None = None
    reason: str | None = None
    crashed_orphans: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state.is_completed()


def run_flow(info: FlowInfo, parameters: dict[str, Any], caller: int | None = None) -> RunOutcome:
    """Run `info` with `parameters`; on failure, name the failing task and why. `caller` is the
    `pipelines run` process the run belongs to when it is not this one (a warm runner's child)."""
    with _recorded_runs(get_settings(), caller) as (orphans, tag):
        state = _run_tagged(info.flow, parameters, tag)
        if state.is_completed():
            return RunOutcome(state, crashed_orphans=orphans)
        failed_task = _failed_task_name(state.state_details.flow_run_id)
    return RunOutcome(state, failed_task, _reason(state), orphans)


def _run_tagged(flow: Flow, parameters: dict[str, Any], tag: str) -> State:
    """Run `flow` as calling it would, its flow run created here with `tag`, so that its task
    runs do not carry the tag: a tagged task run asks the server for its tag's concurrency slots
    first (a round trip each, the first one through a new async client), and the tag only needs
    to find the flow run."""
    parameters = get_call_parameters(flow.fn, (), parameters)  # the defaults too, as a call has
    with SyncClientContext.get_or_create() as context:  # the engine then reuses this client
        flow_run = context.client.create_flow_run(
            flow, parameters=flow.serialize_parameters(parameters), state=Pending(), tags=[tag]
        )
        return run_prefect_flow(flow, flow_run, parameters, return_type="state")


@contextmanager
def local_runs(
    settings: Settings | None = None, caller: int | None = None
) -> Iterator[tuple[str, ...]]:
    """Flow runs started inside run as `pipelines run`'s do (a migrated Prefect 1 `flow.run()`
    too): on the platform's API (`local_api`), tagged, recorded and sending heartbeats, so the
    runs of a process that dies are marked Crashed and those of a live one never are. Yields the
    runs of dead earlier processes that it marked Crashed."""
    with _recorded_runs(settings or get_settings(), caller) as (orphans, tag), tags(tag):
        yield orphans


@contextmanager
def _recorded_runs(settings: Settings, caller: int | None) -> Iterator[tuple[tuple[str, ...], str]]:
    """The platform's API, orphans crashed, this process recorded and its heartbeats sent;
    yields the crashed orphans and the tag that finds this process's runs.

    Prefect's own heartbeat thread is off here: `_heartbeats` sends what the crash automation
    reads, and Prefect's thread cost every run up to 1 s at its end (joined after a 1 s sleep)."""
    with local_api(settings) as url:
        orphans = tuple(crash_orphaned_runs(url, settings))
        with (
            recorded(settings, url, caller) as tag,
            _without_prefect_heartbeats(),
            _heartbeats(tag),
        ):
            yield orphans, tag


@contextmanager
def _without_prefect_heartbeats() -> Iterator[None]:
    """Prefect's settings with `flows.heartbeat_frequency` None, copied rather than validated
    again as `temporary_settings` does (0.15 s on a quiet machine, 0.8 s on a busy one)."""
    context = SettingsContext.get()
    current = context.settings
    flows = current.flows.model_copy(update={"heartbeat_frequency": None})
    settings = current.model_copy(update={"flows": flows})
    with SettingsContext(profile=context.profile, settings=settings):
        yield


def crash_orphaned_runs(url: str, settings: Settings | None = None) -> list[str]:
    """Mark Crashed the unfinished runs of earlier `pipelines run` processes of this machine that
    died, on the server at `url`; returns the runs' names. The server must be reachable: a record
    it cannot be asked about is kept for a later command."""
    crashed: list[str] = []
    for path, record in dead_records((settings or get_settings()).home, url):
        try:
            crashed += _crash_runs_of(record)
        except (httpx.HTTPError, PrefectHTTPStatusError) as exc:
            _logger.warning("orphaned runs of %s not marked Crashed: %s", record.tag, exc)
            continue
        path.unlink(missing_ok=True)
    return crashed


def _crash_runs_of(record: LocalRunRecord) -> list[str]:
    """Crash the record's unfinished flow runs and their unfinished task runs."""
    crashed = []
    with get_client(sync_client=True) as client:
        for run in _unfinished_runs(client, record.tag):
            client.set_flow_run_state(run.id, Crashed(message=record.crash_message()), force=True)
            tasks = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
                task_run_filter=TaskRunFilter(
                    state=TaskRunFilterState(type=TaskRunFilterStateType(any_=UNFINISHED))
                ),
            )
            for task in tasks:
                client.set_task_run_state(
                    task.id, Crashed(message=record.crash_message()), force=True
                )
            crashed.append(run.name)
    return crashed


def _unfinished_runs(client: SyncPrefectClient, tag: str) -> list[FlowRun]:
    return client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[tag]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=UNFINISHED)),
        )
    )


@contextmanager
def _heartbeats(tag: str) -> Iterator[None]:
    """Heartbeats of this process's runs, as a worker's runs send them: the server's crash
    automation then neither crashes a live local run longer than its window nor misses a killed
    one; unlike Prefect's, this thread stops at once."""
    stop = threading.Event()
    context = contextvars.copy_context()  # the thread's clients talk to this server too
    threading.Thread(target=context.run, args=(_beat, tag, stop), daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def _beat(tag: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            with get_client(sync_client=True) as client:
                runs = _unfinished_runs(client, tag)
        except (httpx.HTTPError, PrefectHTTPStatusError) as exc:
            _logger.debug("heartbeat not sent: %s", exc)
            continue
        for run in runs:
            emit_event(
                event="prefect.flow-run.heartbeat",
                resource={"prefect.resource.id": f"prefect.flow-run.{run.id}"},
            )


def _reason(state: State) -> str:
    error = state.result(raise_on_failure=False)
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return (state.message or state.name).splitlines()[0]


def _failed_task_name(flow_run_id: UUID | None, wait_seconds: float = 5.0) -> str | None:
    """The failed task of a failed run. The server records task runs from their events, which
    can reach it after the flow run's own final state: a quick run waits for them, a little."""
    if flow_run_id is None:
        return None
    deadline = time.monotonic() + wait_seconds
    with get_client(sync_client=True) as client:
        while True:
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            failed = [run for run in task_runs if run.state and run.state.is_failed()]
            if failed or time.monotonic() > deadline:
                return failed[-1].task_key.rsplit("-", 1)[0] if failed else None
            time.sleep(0.2)
