"""
`pipelines register` of many flows, as a large monorepo has them, against a local Prefect server:

1. first registration of N generated projects (one flow each, `pipelines new`'s template) into a
   fresh environment; the alternative is Prefect's own client creating N flows and their
   deployments (a daily schedule, a queue, tags) one after another in one process, on a fresh
   server of its own (no discovery, no code upload): the floor of what Prefect itself costs. Both
   servers are the platform's (`start_server`): a plain `prefect server start` on SQLite would
   add its 2 s "database is locked" retries (stack/prefect_server.py) to the alternative only;
2. the same command again with nothing changed; the alternative is a fresh process that imports
   Prefect and reads those N deployments back (what any Prefect-based no-op check pays);
3. one project's schedule edited: one flow updated, the others skipped.

Each case is the whole command, wall clock, in a fresh process; the server runs on a fresh
state folder in a temporary directory and is stopped at the end.

Usage: .venv/bin/python benchmarks/registration.py [--flows 200] [--runs 1]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import Row, heading, markdown

from pipelines.framework.config import REPO_ROOT, Settings
from pipelines.framework.stack import free_port, start_server, stop_process_group

BIN = Path(sys.executable).parent
GOALS = {"first": 30.0, "unchanged": 2.0}
PREFECT_ALONE = """
import asyncio, sys, time
from datetime import datetime, timedelta, timezone
started = time.monotonic()
from prefect import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate
from prefect.client.schemas.schedules import IntervalSchedule

async def main(count):
    daily = IntervalSchedule(
        interval=timedelta(days=1), anchor_date=datetime(2021, 1, 1, 7, tzinfo=timezone.utc)
    )
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name="alone", type="process"))
        await client.create_work_queue(name="staging", work_pool_name="alone")
        for i in range(count):
            flow_id = await client.create_flow_from_name(f"alone {i:03d}")
            await client.create_deployment(
                flow_id=flow_id,
                name="alone",
                entrypoint=f"alone.flows:f{i}",
                work_pool_name="alone",
                work_queue_name="staging",
                schedules=[DeploymentScheduleCreate(schedule=daily)],
                tags=["pipelines", "env:staging"],
            )

asyncio.run(main(int(sys.argv[1])))
print(time.monotonic() - started)
"""
PREFECT_READ = """
import asyncio, sys, time
started = time.monotonic()
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

async def main():
    async with get_client() as client:
        only = DeploymentFilter(tags=DeploymentFilterTags(all_=["pipelines", "env:staging"]))
        found = []
        while page := await client.read_deployments(
            deployment_filter=only, limit=200, offset=len(found)
        ):
            found += page
        return found

print(len(asyncio.run(main())), time.monotonic() - started)
"""


def generated_repo(target: Path, flows: int) -> Path:
    """The repository's `pipelines/` with `flows` generated projects (`pipelines new`)."""
    ignore = shutil.ignore_patterns("__pycache__", "target", "logs")
    shutil.copytree(REPO_ROOT / "pipelines", target / "pipelines", ignore=ignore)
    shutil.copytree(REPO_ROOT / "queries", target / "queries", ignore=ignore)
    code = (
        "from pipelines.framework.deploy import create_project\n"
        f"[create_project('rj_bench', f'projeto{{i:03d}}') for i in range({flows})]\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=target, env=_env(target, {}), check=True, timeout=600
    )
    return target


def _env(repo: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINES_", "PREFECT_"))}
    return {**env, "PYTHONPATH": str(repo), "NO_COLOR": "1", **extra}


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def register(env: dict[str, str], repo: Path) -> tuple[float, dict[str, int]]:
    seconds, out = timed(
        [str(BIN / "pipelines"), "register", "--env", "staging", "--json"], env, repo
    )
    actions: dict[str, int] = {}
    for outcome in json.loads(out):
        actions[outcome["action"]] = actions.get(outcome["action"], 0) + 1
    return seconds, actions


def measure(flows: int) -> list[dict[str, object]]:
    """One row per case: our figure, the alternative's, and what each did."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        repo = generated_repo(root / "repo", flows)
        alone, read = prefect_alone(root / "alone", flows)
        settings = Settings(home=root / "home", server_start_timeout=600)
        server = start_server(settings, "127.0.0.1", free_port())
        env = _env(repo, {"PIPELINES_HOME": str(root / "home"), "PREFECT_API_URL": server.url})
        try:
            first, first_actions = register(env, repo)
            unchanged, unchanged_actions = register(env, repo)
            schedules = repo / "pipelines/rj_bench/projeto000/schedules.py"
            schedules.write_text(schedules.read_text().replace("days=1", "days=2"))
            one, one_actions = register(env, repo)
        finally:
            stop_process_group(server.pid)
    return [
        _row(f"first registration of {flows} flows", first, first_actions,
             f"Prefect's client creating {flows} deployments, one process", alone, "first"),
        _row("again, nothing changed", unchanged, unchanged_actions,
             f"a fresh process importing Prefect and reading the {flows} back", read, "unchanged"),
        _row("one schedule edited", one, one_actions, "-", None, None),
    ]  # fmt: skip


def prefect_alone(home: Path, flows: int) -> tuple[float, float]:
    """The alternatives, on a server of their own as fresh as ours: creating the deployments
    (each flow, its daily schedule, queue and tags), then reading them back."""
    server = start_server(Settings(home=home, server_start_timeout=600), "127.0.0.1", free_port())
    env = _env(home, {"PREFECT_API_URL": server.url})
    try:
        created, _ = timed([sys.executable, "-c", PREFECT_ALONE, str(flows)], env, home)
        read, _ = timed([sys.executable, "-c", PREFECT_READ], env, home)
    finally:
        stop_process_group(server.pid)
    return created, read


def _row(case, seconds, actions, alternative, alternative_seconds, goal):
    return {
        "case": case,
        "seconds": seconds,
        "actions": ", ".join(f"{n} {a}" for a, n in sorted(actions.items())),
        "alternative": alternative,
        "alternative_seconds": alternative_seconds,
        "goal": GOALS.get(goal) if goal else None,
    }


def _median(runs: list[list[dict[str, object]]], index: int, key: str) -> float | None:
    values = [run[index][key] for run in runs]
    return None if None in values else statistics.median(values)


def rows(runs: list[list[dict[str, object]]]) -> list[Row]:
    """Each case's median beside its alternative's, with its goal (report.py's table)."""
    return [
        Row(
            row["case"],
            _median(runs, index, "seconds"),
            row["alternative"],
            _median(runs, index, "alternative_seconds"),
            below=row["goal"],
            note=row["actions"],
        )
        for index, row in enumerate(runs[0])
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    runs = [measure(args.flows) for _ in range(args.runs)]
    print(heading("Registration", f"{args.flows} generated flows, median of {args.runs}", load))
    print(markdown(rows(runs)))


if __name__ == "__main__":
    main()
