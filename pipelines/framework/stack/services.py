"""
The local stack of `pipelines up`: the Prefect server (orchestration + UI), one worker per agent
label (the guide's agents) and every flow registered, on one machine with nothing to install.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from prefect import get_client
from prefect.automations import Automation
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectNotFound

from pipelines.framework.config import Environment, Settings
from pipelines.framework.deploy import (
    agent_labels,
    discover_flows,
    ensure_work_pools,
    plan,
    pool_type,
)
from pipelines.framework.runtime import crash_alert_action
from pipelines.framework.stack.security import client_environment
from pipelines.framework.stack.server import (
    Launch,
    api_settings,
    pid_alive,
    state_lock,
    stop_process_group,
    stop_server,
)
from pipelines.framework.stack.state import StackState

HEARTBEAT_SECONDS = 30
ZOMBIE_AFTER = timedelta(seconds=90)
ZOMBIE_AUTOMATION = "pipelines: crash runs whose worker died"
RUN_STOP_SECONDS = 20
PREFETCH_SECONDS = 30
"""How far ahead of a run's due time a worker starts its process, so that importing Prefect and
the flow (5 s on a quiet machine, over 20 s on a busy one) is done by then; the server holds the
run until it is due. Must exceed the poll interval plus that start-up time; Prefect's
`PREFECT_WORKER_PREFETCH_SECONDS`, when set, wins."""


def worker_environment(settings: Settings, url: str) -> dict[str, str]:
    """Workers talk to our server, poll quickly, start a run's process before it is due (so that
    its imports are done by then) and send heartbeats for crash detection."""
    return {
        **os.environ,
        "PREFECT_API_URL": url,
        "PIPELINES_HOME": str(settings.home),
        "PREFECT_WORKER_QUERY_SECONDS": str(settings.worker_poll_seconds),
        "PREFECT_WORKER_PREFETCH_SECONDS": os.environ.get(
            "PREFECT_WORKER_PREFETCH_SECONDS", str(PREFETCH_SECONDS)
        ),
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **client_environment(settings),
    }


def start_worker(settings: Settings, url: str, label: str, env: Environment) -> int:
    """Start a process worker on the label's pool and the environment's queue: Prefect's
    `worker start`, with the worker of `stack/worker.py` (no prefetched run starts early)."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pipelines.framework.stack.worker", "worker", "start",
        "--pool", label, "--work-queue", env.work_queue(), "--name", f"{label}-{env.name}",
        "--install-policy", "never", "--no-create-pool-if-not-found",
    ]  # fmt: skip
    with open(settings.logs_dir / f"worker-{label}.log", "ab") as log:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=worker_environment(settings, url),
            start_new_session=True,
        )
    return process.pid


def run_processes(worker_pid: int) -> list[int]:
    """The flow-run processes a worker started (its children, each in a session of its own)."""
    children: list[int] = []
    for children_file in Path(f"/proc/{worker_pid}/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            children += [int(pid) for pid in children_file.read_text().split()]
    return children


def stop_runs(worker_pid: int, timeout: float = RUN_STOP_SECONDS) -> None:
    """SIGTERM the worker's flow runs, which then report themselves Crashed; SIGKILL what is left
    after `timeout`. Stopping only the worker would leave them running, orphaned."""
    groups = set()
    for pid in run_processes(worker_pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            groups.add(os.getpgid(pid))
    groups.discard(os.getpgid(0))
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while groups and time.monotonic() < deadline:
        time.sleep(0.2)
        groups = {group for group in groups if pid_alive(group)}
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def stop_worker(pid: int) -> None:
    """Stop the worker's runs, then the worker: it drains on the first SIGTERM and exits on the
    second; then SIGKILL."""
    stop_runs(pid)
    for _ in range(2):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        time.sleep(1)
    stop_process_group(pid, timeout=5)


async def ensure_zombie_automation(env: Environment) -> None:
    """Mark a run Crashed when its heartbeats stop (its worker or machine died) and alert its
    owners, since no process is left to do it. Recreated on every `up` to follow the owners."""
    with contextlib.suppress(ObjectNotFound, ValueError):
        await (await Automation.aread(name=ZOMBIE_AUTOMATION)).adelete()
    owners = {info.name: info.code_owners for info in discover_flows()}
    reason = f"No heartbeat for {ZOMBIE_AFTER.seconds} s: its worker or machine died."
    alert = await crash_alert_action(owners, env.name, reason)
    await Automation(
        name=ZOMBIE_AUTOMATION,
        trigger=EventTrigger(
            # From Running too: a run whose process died before its first heartbeat reached
            # the server would otherwise stay Running forever.
            after={"prefect.flow-run.Running", "prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=ZOMBIE_AFTER,
        ),
        actions=[
            ChangeFlowRunState(state=StateType.CRASHED, message=reason),
            *([alert] if alert else []),
        ],
    ).acreate()


async def prepare_server(labels: list[str], env: Environment) -> None:
    """Pools, queues and the crash-detection automation, before any worker polls."""
    async with get_client() as client:
        await ensure_work_pools(client, labels)
    await ensure_zombie_automation(env)


def served_labels(env: Environment) -> list[str]:
    """The labels that get a worker: the platform's agent labels and every label a flow of the
    repository registers on (a migrated Prefect 1 flow may name its own, by clock or run config)."""
    return sorted({*agent_labels(), *(spec.label for spec in plan(env))})


def up(settings: Settings, env: Environment, launch: Launch) -> StackState:
    """With the server booting (`server_starting`, whose state lock the caller holds): read the
    flows meanwhile, then create pools and queues and start the missing workers."""
    labels = served_labels(env)  # imports every flow while the server boots
    server = launch.wait()
    previous = StackState.load(settings.home)
    workers = {
        label: pid
        for label, pid in (previous.workers if previous else {}).items()
        if pid_alive(pid) and previous and previous.url == server.url
    }
    with api_settings(server.url):
        asyncio.run(prepare_server(labels, env))
    for label in labels:  # a Kubernetes pool's worker runs in its cluster, not here
        if pool_type(label) != "process" and label in workers:
            stop_worker(workers.pop(label))
        elif pool_type(label) == "process" and label not in workers:
            workers[label] = start_worker(settings, server.url, label, env)
    state = StackState(url=server.url, env=env.name, workers=workers)
    state.save(settings.home)
    return state


def down(settings: Settings) -> StackState | None:
    """Stop every worker and the server that `up` started."""
    with state_lock(settings):
        state = StackState.load(settings.home)
        for pid in (state.workers if state else {}).values():
            if pid_alive(pid):
                stop_worker(pid)
        StackState.path(settings.home).unlink(missing_ok=True)
    stop_server(settings)
    return state
