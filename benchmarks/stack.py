"""
The local stack, measured side by side in one invocation:

1. ready time of `pipelines up --detach` (server healthy, pools, workers, every flow registered),
   cold (fresh state folder) and warm (same folder, server stopped), against plain
   `prefect server start` reaching /api/health on a fresh PREFECT_HOME;
2. `register` of 200 generated flows: first time, and again with nothing changed (in-process
   time of the registration itself, and the whole CLI command);
3. the delay between a run's due time and its first task starting on a worker;
4. flow-run overhead: the Users report called as a Prefect flow, against the same functions
   called without Prefect, in one process.

Usage: .venv/bin/python benchmarks/stack.py [--flows 200] [--runs 3]
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from pipelines.framework.config import REPO_ROOT
from pipelines.framework.stack import free_port, is_healthy, stop_process_group

BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO_ROOT))
from pipelines.framework.stack.dev import RandomUserAPI  # noqa: E402


def wait_healthy(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(url, timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy in {timeout} s")


def pipelines(*args: str, env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.monotonic()
    subprocess.run(
        [str(BIN / "pipelines"), *args], env=env, cwd=cwd, check=True, capture_output=True
    )
    return time.monotonic() - started


def stack_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return {**env, "PIPELINES_HOME": str(home), **(extra or {})}


def ready_times(runs: int) -> dict[str, list[float]]:
    """Seconds until ready: plain `prefect server start`, `pipelines up` cold and warm."""
    times: dict[str, list[float]] = {
        "prefect server start (cold)": [],
        "pipelines up (cold)": [],
        "pipelines up (warm)": [],
    }
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as prefect_home:
            port = free_port()
            env = stack_env(
                Path(prefect_home),
                {"PREFECT_HOME": prefect_home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
            )
            started = time.monotonic()
            server = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, "-m", "prefect", "server", "start", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            wait_healthy(f"http://127.0.0.1:{port}/api")
            times["prefect server start (cold)"].append(time.monotonic() - started)
            stop_process_group(server.pid)
        with tempfile.TemporaryDirectory() as home:
            env, port = stack_env(Path(home)), str(free_port())
            times["pipelines up (cold)"].append(
                pipelines("up", "--detach", "--port", port, env=env)
            )
            pipelines("down", env=env)
            times["pipelines up (warm)"].append(
                pipelines("up", "--detach", "--port", port, env=env)
            )
            pipelines("down", env=env)
    return times


def generated_repo(target: Path, flows: int) -> Path:
    """A copy of the repository with `flows` generated projects, as a large monorepo has."""
    ignore = shutil.ignore_patterns(".venv", ".git", ".pipelines", "__pycache__", "target")
    shutil.copytree(REPO_ROOT / "pipelines", target / "pipelines", ignore=ignore)
    code = (
        "import sys; from pipelines.framework.deploy import create_project\n"
        f"[create_project('rj_bench', f'projeto{{i:03d}}') for i in range({flows})]\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=target,
        env={**os.environ, "PYTHONPATH": str(target)},
        check=True,
    )
    return target


REGISTER_IN_PROCESS = """
import asyncio, sys, time
from prefect.settings import PREFECT_API_URL, temporary_settings
from pipelines.framework.config import Environment
from pipelines.framework.deploy import register
started = time.monotonic()
with temporary_settings(updates={PREFECT_API_URL: sys.argv[1]}):
    outcomes = asyncio.run(register(Environment("local")))
print(time.monotonic() - started, len(outcomes), sum(o.action == "skipped" for o in outcomes))
"""


def register_times(flows: int) -> list[tuple[str, float, float, int]]:
    """(case, seconds in-process, seconds of the whole command, flows skipped)."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        repo = generated_repo(Path(scratch) / "repo", flows)
        home = Path(scratch) / "home"
        env = stack_env(home, {"PYTHONPATH": str(repo)})
        port = free_port()
        pipelines("up", "--detach", "--port", str(port), env=env, cwd=repo)  # registers once
        url = f"http://127.0.0.1:{port}/api"
        try:
            # a fresh environment for "first time": staging has nothing registered yet
            for case, register_env in (
                ("first time (staging)", "staging"),
                ("no change (staging)", "staging"),
            ):
                started = time.monotonic()
                subprocess.run(
                    [str(BIN / "pipelines"), "register", "--env", register_env],
                    env={**env, "PREFECT_API_URL": url},
                    cwd=repo,
                    check=True,
                    capture_output=True,
                )
                whole = time.monotonic() - started
                rows.append((case, float("nan"), whole, -1))
            probe = subprocess.run(
                [sys.executable, "-c", REGISTER_IN_PROCESS, url],
                env=env,
                cwd=repo,
                check=True,
                capture_output=True,
                text=True,
            )
            seconds, _total, skipped = probe.stdout.split()
            rows.append(
                ("no change (local), registration only", float(seconds), float("nan"), int(skipped))
            )
        finally:
            pipelines("down", env=env, cwd=repo)
    return rows


async def _due_to_first_task(api_url: str, output: Path, runs: int) -> list[float]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.states import Scheduled

    delays = []
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(
            "EMD: escritorio - Users report/EMD: escritorio - Users report (local)"
        )
        for _ in range(runs):
            due = datetime.now(timezone.utc)
            run = await client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"n_users": 5, "api_url": api_url, "output_path": str(output)},
                state=Scheduled(scheduled_time=due),
            )
            while True:
                tasks = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
                )
                started = [t.start_time for t in tasks if t.start_time]
                if started:
                    delays.append((min(started) - due).total_seconds())
                    break
                await asyncio.sleep(0.2)
    return delays


def due_delays(runs: int) -> list[float]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with tempfile.TemporaryDirectory() as home, RandomUserAPI() as api:
        env, port = stack_env(Path(home)), free_port()
        pipelines("up", "--detach", "--port", str(port), env=env)
        url = f"http://127.0.0.1:{port}/api"
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}):
                return asyncio.run(_due_to_first_task(api.url, Path(home) / "due.csv", runs))
        finally:
            pipelines("down", env=env)


OVERHEAD = """
import sys, time
from prefect.settings import PREFECT_API_URL, temporary_settings
from pipelines.rj_escritorio.tutorial.flows import users_report
from pipelines.rj_escritorio.tutorial.tasks import download_data, parse_data, save_report
api, runs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def plain():
    save_report.fn(parse_data.fn(download_data.fn(100, api)), out)
def with_prefect():
    users_report(n_users=100, api_url=api, output_path=out)
with temporary_settings(updates={PREFECT_API_URL: sys.argv[4]}):
    with_prefect()  # warm-up: first contact with the server
    for name, fn in (("plain", plain), ("flow", with_prefect)):
        started = time.monotonic()
        for _ in range(runs):
            fn()
        print(name, (time.monotonic() - started) / runs)
"""


def flow_overhead(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home, RandomUserAPI() as api:
        env, port = stack_env(Path(home)), free_port()
        pipelines("up", "--detach", "--port", str(port), env=env)
        try:
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    OVERHEAD,
                    api.url,
                    str(runs),
                    str(Path(home) / "r.csv"),
                    f"http://127.0.0.1:{port}/api",
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        finally:
            pipelines("down", env=env)
    return {line.split()[0]: float(line.split()[1]) for line in out.splitlines() if line.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    print(f"# stack benchmark, {now:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores,", end=" ")
    print(f"load {os.getloadavg()[0]:.1f}")

    print("\n## ready time (s)\n| case | median | runs | x prefect server start |")
    print("|---|---:|---|---:|")
    ready = ready_times(args.runs)
    base = statistics.median(ready["prefect server start (cold)"])
    for case, values in ready.items():
        median = statistics.median(values)
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {case} | {median:.1f} | {shown} | {median / base:.2f}x |")

    print(
        f"\n## register {args.flows} generated flows (s)\n| case | registration | whole command |"
        " skipped |\n|---|---:|---:|---:|"
    )
    for case, inner, whole, skipped in register_times(args.flows):
        print(f"| {case} | {inner:.2f} | {whole:.1f} | {skipped if skipped >= 0 else '-'} |")

    delays = due_delays(args.runs)
    print(
        f"\n## due time -> first task on the worker (s)\nmedian {statistics.median(delays):.1f}; "
        f"runs {', '.join(f'{d:.1f}' for d in delays)}"
    )

    overhead = flow_overhead(args.runs)
    plain, flow = overhead["plain"], overhead["flow"]
    print(
        f"\n## flow-run overhead, in one process (s per run)\nplain functions {plain:.2f}; "
        f"as a Prefect flow {flow:.2f}; overhead {flow - plain:.2f} s ({flow / plain:.1f}x)"
    )


if __name__ == "__main__":
    main()
