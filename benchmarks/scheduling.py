"""
Due time -> first task, for scheduled runs on a local worker, side by side in one invocation:

- ours: the worker `pipelines up` starts (`services.start_worker`, its poll interval and prefetch
  window), on the stack's server;
- Prefect's defaults: a plain `prefect worker start` on the same pool, queue and server, with no
  worker setting of ours (Prefect polls every 10 s and prefetches 10 s);
- with `--before`, also the worker `pipelines up` started until now: Prefect's `prefect worker
  start` polling every 2 s with Prefect's prefetch (10 s).

Runs are created ahead of their due time, as the server's scheduler creates a schedule's runs,
with due times `--spacing` seconds apart, the first `--lead` seconds after the worker is online
(beyond every prefetch window, so the worker's own polling finds it). Each
run's delay is its first task's start time (from the API) minus its due time; a negative delay
is a run that started early, which must never happen. The workers alternate by rounds so that
both meet the same machine load.

Usage: .venv/bin/python benchmarks/scheduling.py [--runs 20] [--rounds 2] [--spacing 10] [--lead 35]
"""

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Scheduled

from pipelines.framework.config import Environment, Settings
from pipelines.framework.stack import free_port
from pipelines.framework.stack.dev import RandomUserAPI
from pipelines.framework.stack.security import client_environment
from pipelines.framework.stack.services import start_worker, stop_worker, worker_environment
from pipelines.framework.stack.state import StackState

BIN = Path(sys.executable).parent
LABEL = "rj-escritorio-dev"  # the Users report's label
DEPLOYMENT = "EMD: escritorio - Users report/EMD: escritorio - Users report (local)"
GOAL_P90 = 3.0
MISSED = timedelta(seconds=300)
RECORDED = timedelta(seconds=60)


def pipelines(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "pipelines"), *args], env=env, check=True, capture_output=True)


def prefect_worker(settings: Settings, url: str, name: str, **worker_env: str) -> int:
    """A plain `prefect worker start` on the pool and queue, with Prefect's own worker settings
    but `worker_env`; the platform's run environment (home, key) is passed as ours passes it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_WORKER_")}
    env.update(PREFECT_API_URL=url, PIPELINES_HOME=str(settings.home))
    env.update(client_environment(settings), **worker_env)
    command = [
        sys.executable, "-m", "prefect", "worker", "start",
        "--pool", LABEL, "--work-queue", "local", "--name", name,
    ]  # fmt: skip
    with open(settings.logs_dir / f"worker-{name}.log", "ab") as log:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return process.pid


def wait_online(client: SyncPrefectClient, name: str, since: datetime) -> None:
    """Until the worker named `name` has sent a heartbeat after `since` (it is polling)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for worker in client.read_workers_for_work_pool(LABEL):
            if (
                worker.name == name
                and worker.last_heartbeat_time
                and worker.last_heartbeat_time > since
            ):
                return
        time.sleep(0.5)
    raise RuntimeError(f"worker {name} not online in 120 s")


def first_task_start(client: SyncPrefectClient, run_id: UUID) -> datetime | None:
    tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    starts = [task.start_time for task in tasks if task.start_time]
    return min(starts) if starts else None


def one_round(
    client: SyncPrefectClient,
    runs: int,
    lead: float,
    spacing: float,
    parameters: dict,
    run_logs: Path,
) -> list[dict]:
    """Create `runs` scheduled runs ahead of time; wait for each one's first task."""
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    start = datetime.now(timezone.utc) + timedelta(seconds=lead)
    created = []
    for i in range(runs):
        due = start + timedelta(seconds=i * spacing)
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters=parameters, state=Scheduled(scheduled_time=due)
        )
        created.append((run.id, due))
    rows = []
    for run_id, due in created:
        while (started := first_task_start(client, run_id)) is None:
            # task runs are recorded from their events, which may land after the run's end
            run = client.read_flow_run(run_id)
            ended = run.end_time and datetime.now(timezone.utc) - run.end_time > RECORDED
            if ended or datetime.now(timezone.utc) - due > MISSED:
                raise RuntimeError(f"run {run_id} has no task: {run.state!r} (see {run_logs})")
            time.sleep(0.2)
        states = client.read_flow_run_states(run_id)
        pending = next((s.timestamp for s in states if s.type.value == "PENDING"), None)
        flow_start = client.read_flow_run(run_id).start_time
        print(f"  {run_id}: first task {(started - due).total_seconds():+.2f} s", flush=True)
        rows.append(
            {
                "delay": (started - due).total_seconds(),
                "flow_running": (flow_start - due).total_seconds() if flow_start else None,
                "picked_up": (pending - due).total_seconds() if pending else None,
            }
        )
    for run_id, _ in created:  # the next round starts on an idle worker
        while not client.read_flow_run(run_id).state.is_final():
            time.sleep(0.5)
    return rows


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p90 of 20 values is the 18th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q / 100) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=20, help="scheduled runs per worker")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per worker, alternating")
    parser.add_argument("--spacing", type=float, default=10.0, help="seconds between due times")
    parser.add_argument("--lead", type=float, default=35.0, help="first due time after online")
    parser.add_argument("--before", action="store_true", help="also the previous worker")
    args = parser.parse_args()
    print(f"# scheduling benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC,", end=" ")
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")

    home = tempfile.mkdtemp(prefix="scheduling-")  # kept, with its worker logs, if a run fails
    with RandomUserAPI() as api:
        settings, port = Settings(home=Path(home)), free_port()
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env["PIPELINES_HOME"] = home
        pipelines("up", "--detach", "--port", str(port), env=env)
        url = f"http://127.0.0.1:{port}/api"
        local = Environment("local")
        ours_env = worker_environment(settings, url)
        print(
            f"ours: poll {ours_env['PREFECT_WORKER_QUERY_SECONDS']} s, prefetch "
            f"{ours_env.get('PREFECT_WORKER_PREFETCH_SECONDS', '10 (Prefect default)')} s; "
            f"Prefect's defaults: poll 10 s, prefetch 10 s"
        )
        starters: dict[str, tuple[str, Callable[[], int]]] = {
            "ours (pipelines up)": (
                f"{LABEL}-local",
                lambda: start_worker(settings, url, LABEL, local),
            ),
            "Prefect's defaults": (
                "prefect-defaults",
                lambda: prefect_worker(settings, url, "prefect-defaults"),
            ),
        }
        if args.before:
            starters["before (Prefect's worker, poll 2 s)"] = (
                "before",
                lambda: prefect_worker(settings, url, "before", PREFECT_WORKER_QUERY_SECONDS="2"),
            )
        parameters = {"n_users": 5, "api_url": api.url, "output_path": str(Path(home) / "r.csv")}
        delays: dict[str, list[dict]] = {case: [] for case in starters}
        per_round = -(-args.runs // args.rounds)
        try:
            with (
                temporary_settings(updates={PREFECT_API_URL: url}),
                get_client(sync_client=True) as client,
            ):
                state = StackState.load(settings.home)
                assert state is not None
                stop_worker(state.workers[LABEL])  # each round starts its own worker
                for _ in range(args.rounds):
                    for case, (name, start) in starters.items():
                        print(f"{case}:", flush=True)
                        since = datetime.now(timezone.utc)
                        pid = start()
                        try:
                            wait_online(client, name, since)
                            count = min(per_round, args.runs - len(delays[case]))
                            delays[case] += one_round(
                                client,
                                count,
                                args.lead,
                                args.spacing,
                                parameters,
                                settings.logs_dir,
                            )
                        finally:
                            stop_worker(pid)
        finally:
            pipelines("down", env=env)
    shutil.rmtree(home)
    report(delays)


def report(delays: dict[str, list[dict]]) -> None:
    print(
        "\n## due time -> first task (s); taken: Pending, Running: the flow run's, both after due"
    )
    print("| worker | runs | p50 | p90 | max | min | early | taken (median) | Running (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    figures = {}
    for case, rows in delays.items():
        values = [row["delay"] for row in rows]
        picked = [row["picked_up"] for row in rows if row["picked_up"] is not None]
        running = [row["flow_running"] for row in rows if row["flow_running"] is not None]
        early = sum(value < 0 for value in values)
        p50, p90 = statistics.median(values), percentile(values, 90)
        figures[case] = (p50, p90, early)
        print(
            f"| {case} | {len(values)} | {p50:.2f} | {p90:.2f} | {max(values):.2f} | "
            f"{min(values):.2f} | {early} | {statistics.median(picked):.1f} | "
            f"{statistics.median(running):.2f} |"
        )
    (o50, o90, early), (_, a90, _), *before = figures.values()
    met = o90 < GOAL_P90 and early == 0
    print(
        f"\np90 ratio Prefect's defaults / ours: {a90 / o90:.1f}x; "
        + (f"before / ours: {before[0][1] / o90:.1f}x; " if before else "")
        + f"goal p90 < {GOAL_P90:.0f} s and "
        f"no run early: {'met' if met else 'NOT met'} "
        f"(ours p50 {o50:.2f}, p90 {o90:.2f}, early {early})"
    )
    for case, rows in delays.items():
        print(f"{case}: " + ", ".join(f"{row['delay']:.2f}" for row in rows))
    sys.exit(1 if early else 0)  # a run started early is a fault; a goal missed is a figure


if __name__ == "__main__":
    main()
