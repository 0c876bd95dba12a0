"""
Wall time of one local run of the Users report, four ways, side by side.

(a) plain Python (httpx + pandas, `plain_users_report.py`), no Prefect;
(b) `pipelines run "Users report"` cold: fresh PIPELINES_HOME, no PREFECT_API_URL, so the CLI
    starts its background server (stopped again after each run);
(c) the same warm: the server a previous run left running is reused;
(d) `python run.py` of examples/first_flow: Prefect's temporary (ephemeral) server, with a fresh
    PREFECT_HOME each run as a new user has; (d2) the same once its database exists.

Every case is a subprocess against a local randomuser stand-in; the figure is the median of N runs.
Every server started here is stopped before the script exits.

Usage: .venv/bin/python benchmarks/local_run.py [--runs N] [--n-users N]
"""

import argparse
import csv
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipelines.framework.server import free_port, stop_server
from pipelines.framework.settings import REPO_ROOT, Settings

PYTHON = sys.executable
PIPELINES = str(Path(sys.executable).parent / "pipelines")
BENCHMARKS = Path(__file__).resolve().parent
EXAMPLE = REPO_ROOT / "examples" / "first_flow"
STAND_IN = REPO_ROOT / "tests" / "support" / "randomuser_api.py"
EXAMPLE_USERS = 20  # examples/first_flow/run.py calls users_report(n_users=20)
RUN_TIMEOUT = 300


@dataclass
class Case:
    """One way of running the report and the wall times it took."""

    label: str
    n_users: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _base_env() -> dict[str, str]:
    """The caller's environment without any Prefect server or platform home it may name."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PREFECT_API_URL", "PIPELINES_HOME", "PIPELINES_PORT", "PREFECT_HOME"}
    }
    env.update(NO_COLOR="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def _timed(command: list[str], cwd: Path, env: dict[str, str], n_users: int) -> float:
    """Run `command` in its own process group; its wall time, after checking the report."""
    report = cwd / "report.csv"
    report.unlink(missing_ok=True)
    start = time.perf_counter()
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RuntimeError(f"{command} took more than {RUN_TIMEOUT} s") from None
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{command} exited {process.returncode}:\n{output[-3000:]}")
    _check_report(report, n_users)
    return elapsed


def _check_report(report: Path, n_users: int) -> None:
    """Fail loudly if a case did not really write the report it claims to."""
    with open(report, newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    if rows != n_users:
        raise RuntimeError(f"{report} has {rows} users, expected {n_users}")


@contextmanager
def _stand_in() -> Iterator[str]:
    """The randomuser stand-in (tests/support) in a subprocess; yields its URL."""
    with subprocess.Popen(
        [PYTHON, str(STAND_IN)], stdout=subprocess.PIPE, text=True, start_new_session=True
    ) as process:
        try:
            yield process.stdout.readline().strip()
        finally:
            os.killpg(process.pid, signal.SIGTERM)


@contextmanager
def _pipelines_home(scratch: Path, name: str) -> Iterator[dict[str, str]]:
    """Env of `pipelines run` with its own PIPELINES_HOME; stops the server it leaves behind."""
    home = scratch / name
    env = _base_env()
    env.update(
        PIPELINES_HOME=str(home),
        PIPELINES_PORT=str(free_port()),  # never take 4200 from someone's `pipelines up`
        PREFECT_HOME=str(home / "client"),
    )
    try:
        yield env
    finally:
        stop_server(Settings(home=home))


def plain(scratch: Path, api_url: str, n_users: int, runs: int) -> Case:
    """(a) The same work without Prefect."""
    command = [PYTHON, str(BENCHMARKS / "plain_users_report.py"), str(n_users), api_url]
    seconds = [_timed(command, scratch, _base_env(), n_users) for _ in range(runs)]
    return Case("(a) plain Python (httpx + pandas), no Prefect", n_users, seconds)


def _cli_command(api_url: str, n_users: int) -> list[str]:
    parameters = ["-p", f"n_users={n_users}", "-p", f"api_url={api_url}"]
    return [PIPELINES, "run", "Users report", *parameters]


def cli_cold(scratch: Path, api_url: str, n_users: int, runs: int) -> Case:
    """(b) `pipelines run` that must start the background server on a fresh home."""
    seconds = []
    for index in range(runs):
        with _pipelines_home(scratch, f"cold-{index}") as env:
            seconds.append(_timed(_cli_command(api_url, n_users), scratch, env, n_users))
    return Case("(b) `pipelines run`, cold (starts its server)", n_users, seconds)


def cli_warm(scratch: Path, api_url: str, n_users: int, runs: int) -> Case:
    """(c) `pipelines run` reusing the server an earlier run left running."""
    command = _cli_command(api_url, n_users)
    with _pipelines_home(scratch, "warm") as env:
        _timed(command, scratch, env, n_users)  # starts the server; not counted
        seconds = [_timed(command, scratch, env, n_users) for _ in range(runs)]
    return Case("(c) `pipelines run`, warm (server running)", n_users, seconds)


def _example_env(api_url: str, prefect_home: Path) -> dict[str, str]:
    env = _base_env()
    env.update(RANDOMUSER_API_URL=api_url, PREFECT_HOME=str(prefect_home))
    return env


def _example_copy(scratch: Path) -> Path:
    target = scratch / "first_flow"
    if not target.exists():
        shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "*.csv"))
    return target


def example_fresh(scratch: Path, api_url: str, _n_users: int, runs: int) -> Case:
    """(d) `python run.py` as a new user runs it: ephemeral server, new Prefect database."""
    folder = _example_copy(scratch)
    command = [PYTHON, "run.py"]
    seconds = [
        _timed(command, folder, _example_env(api_url, scratch / f"fresh-{i}"), EXAMPLE_USERS)
        for i in range(runs)
    ]
    return Case("(d) examples/first_flow `python run.py`, ephemeral server", EXAMPLE_USERS, seconds)


def example_reused(scratch: Path, api_url: str, _n_users: int, runs: int) -> Case:
    """(d2) `python run.py` again: ephemeral server, its database already created."""
    folder = _example_copy(scratch)
    env = _example_env(api_url, scratch / "reused")
    _timed([PYTHON, "run.py"], folder, env, EXAMPLE_USERS)  # creates the database; not counted
    seconds = [_timed([PYTHON, "run.py"], folder, env, EXAMPLE_USERS) for _ in range(runs)]
    return Case("(d2) the same, Prefect database already created", EXAMPLE_USERS, seconds)


CASES: list[Callable[[Path, str, int, int], Case]] = [
    plain,
    cli_cold,
    cli_warm,
    example_fresh,
    example_reused,
]


def render(cases: list[Case], runs: int) -> str:
    """A Markdown table: median, every run, and the ratio to the plain-Python baseline."""
    baseline = cases[0].median
    lines = [
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, median of {runs} runs",
        "",
        "| case | n_users | median (s) | runs (s) | x (a) |",
        "|---|---:|---:|---|---:|",
    ]
    for case in cases:
        runs_text = ", ".join(f"{s:.1f}" for s in case.seconds)
        lines.append(
            f"| {case.label} | {case.n_users} | {case.median:.1f} | {runs_text} "
            f"| {case.median / baseline:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument("--n-users", type=int, default=100, help="users per run (default 100)")
    args = parser.parse_args()
    cases = []
    with tempfile.TemporaryDirectory(prefix="bench-local-run-") as tmp, _stand_in() as api_url:
        for measure in CASES:
            case = measure(Path(tmp), api_url, args.n_users, args.runs)
            print(f"  {case.label}: {case.median:.1f} s", file=sys.stderr, flush=True)
            cases.append(case)
    print(render(cases, args.runs))


if __name__ == "__main__":
    main()
