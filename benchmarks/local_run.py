"""
Wall time of one local run of the Users report, four ways, side by side.

(a) plain Python (httpx + pandas, `plain_users_report.py`), no Prefect;
(b) `pipelines run "Users report"` cold: fresh PIPELINES_HOME, no PREFECT_API_URL, so the CLI
    starts its background server (stopped again after each run);
(c) the same warm: the server and the warm runner an untimed run just started are reused;
(c0) the alternative to (c): the same command run in its own process (no warm runner), on the
    server of an untimed run;
(d) `python run.py` of examples/first_flow: Prefect's temporary (ephemeral) server, with a fresh
    PREFECT_HOME each run as a new user has; (d2) the same once its database exists.

Every case is a subprocess against a local randomuser stand-in; the figure is the median of N runs,
taken round-robin (one run of each case per round) so that a change in the machine's load hits
every case alike. Every server and warm runner started here is stopped as soon as its run is over.
The table gives each case's ratio to (a) and, for (b) and (c), the goal of issue 16 and whether
the median meets it.

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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipelines.framework.cli.runner import stop_runners
from pipelines.framework.config import REPO_ROOT, Settings
from pipelines.framework.stack import free_port, stop_server

PYTHON = sys.executable
PIPELINES = str(Path(sys.executable).parent / "pipelines")
BENCHMARKS = Path(__file__).resolve().parent
EXAMPLE = REPO_ROOT / "examples" / "first_flow"
STAND_IN = [PIPELINES, "dev", "randomuser", "--port", "0"]  # prints "... on <url>" first
EXAMPLE_USERS = 10  # examples/first_flow/run.py calls users_report(): the default, 10
RUN_TIMEOUT = 300
IN_PROCESS = (  # `pipelines` as its console script runs it, marked as a runner's child
    "import sys; from pipelines.framework.cli import runner; runner.INSIDE = True; "
    "from pipelines.framework.cli import app; app(sys.argv[1:], prog_name='pipelines')"
)


@dataclass(frozen=True)
class Run:
    """Where one measured run happens: scratch folder, stand-in URL, users, round number."""

    scratch: Path
    api_url: str
    n_users: int
    round: int


@dataclass
class Case:
    """One way of running the report, how to time one run of it, and the times it took."""

    label: str
    measure: Callable[[Run], float]
    example: bool = False
    goal: float | None = None
    """Issue 16's goal for the median, in seconds."""
    seconds: list[float] = field(default_factory=list)

    def n_users(self, n_users: int) -> int:
        return EXAMPLE_USERS if self.example else n_users

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
    """The randomuser stand-in (`pipelines dev randomuser`) in a subprocess; yields its URL."""
    with subprocess.Popen(
        STAND_IN,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            yield process.stdout.readline().split()[-1]
        finally:
            os.killpg(process.pid, signal.SIGTERM)


@contextmanager
def _pipelines_home(scratch: Path, name: str) -> Iterator[dict[str, str]]:
    """Env of `pipelines run` with its own PIPELINES_HOME; stops the server it leaves behind."""
    home = scratch / name
    home.mkdir(parents=True, exist_ok=True)
    env = _base_env()
    env.update(
        PIPELINES_HOME=str(home),
        PIPELINES_PORT=str(free_port()),  # never take 4200 from someone's `pipelines up`
        PREFECT_HOME=str(home / "client"),
    )
    try:
        yield env
    finally:
        stop_runners(home)
        stop_server(Settings(home=home))


def plain(run: Run) -> float:
    """(a) The same work without Prefect."""
    command = [PYTHON, str(BENCHMARKS / "plain_users_report.py"), str(run.n_users), run.api_url]
    return _timed(command, run.scratch, _base_env(), run.n_users)


def _cli_command(run: Run, command: tuple[str, ...] = (PIPELINES,)) -> list[str]:
    parameters = ["-p", f"n_users={run.n_users}", "-p", f"api_url={run.api_url}"]
    return [*command, "run", "Users report", *parameters]


def cli_cold(run: Run) -> float:
    """(b) `pipelines run` that must start the background server on a fresh home."""
    with _pipelines_home(run.scratch, f"cold-{run.round}") as env:
        return _timed(_cli_command(run), run.scratch, env, run.n_users)


def cli_warm(run: Run) -> float:
    """(c) `pipelines run` reusing the server an earlier, untimed run left running."""
    with _pipelines_home(run.scratch, f"warm-{run.round}") as env:
        _timed(_cli_command(run), run.scratch, env, run.n_users)  # starts the server
        return _timed(_cli_command(run), run.scratch, env, run.n_users)


def cli_in_process(run: Run) -> float:
    """(c0) `pipelines run` in its own process, the server already running: (c) without the
    warm runner."""
    with _pipelines_home(run.scratch, f"in-process-{run.round}") as env:
        command = (PYTHON, "-c", IN_PROCESS)
        _timed(_cli_command(run, command), run.scratch, env, run.n_users)  # starts the server
        return _timed(_cli_command(run, command), run.scratch, env, run.n_users)


def _run_example(run: Run, prefect_home: Path) -> float:
    folder = run.scratch / "first_flow"
    if not folder.exists():
        shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", "*.csv"))
    env = _base_env()
    env.update(RANDOMUSER_API_URL=run.api_url, PREFECT_HOME=str(prefect_home))
    return _timed([PYTHON, "run.py"], folder, env, EXAMPLE_USERS)


def example_fresh(run: Run) -> float:
    """(d) `python run.py` as a new user runs it: temporary server, new Prefect database."""
    return _run_example(run, run.scratch / f"prefect-fresh-{run.round}")


def example_reused(run: Run) -> float:
    """(d2) `python run.py` again: temporary server, its database created by an untimed run."""
    home = run.scratch / "prefect-reused"
    if not (home / "prefect.db").exists():
        _run_example(run, home)
    return _run_example(run, home)


def cases() -> list[Case]:
    return [
        Case("(a) plain Python (httpx + pandas), no Prefect", plain),
        Case("(b) `pipelines run`, cold (starts its server)", cli_cold, goal=12.0),
        Case("(c) `pipelines run`, warm (server and runner running)", cli_warm, goal=3.0),
        Case("(c0) the same in its own process, no warm runner (server running)", cli_in_process),
        Case("(d) examples/first_flow `python run.py`, temporary server", example_fresh, True),
        Case("(d2) the same, Prefect database already created", example_reused, True),
    ]


def render(cases: list[Case], runs: int, n_users: int) -> str:
    """A Markdown table: median, every run, the ratio to the plain-Python baseline, the goal
    and whether the median meets it."""
    baseline = cases[0].median if cases[0].seconds else float("nan")
    lines = [
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, median of {runs} runs, "
        f"1-min load average at the end {os.getloadavg()[0]:.1f}",
        "",
        "| case | n_users | median (s) | runs (s) | x (a) | goal | met? |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for case in cases:
        goal = f"< {case.goal:.0f} s" if case.goal else "-"
        if not case.seconds:
            lines.append(
                f"| {case.label} | {case.n_users(n_users)} | - | not measured | - | {goal} | - |"
            )
            continue
        runs_text = ", ".join(f"{s:.1f}" for s in case.seconds)
        met = "-" if case.goal is None else ("yes" if case.median < case.goal else "no")
        lines.append(
            f"| {case.label} | {case.n_users(n_users)} | {case.median:.1f} | {runs_text} "
            f"| {case.median / baseline:.1f}x | {goal} | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument("--n-users", type=int, default=100, help="users per run (default 100)")
    args = parser.parse_args()
    measured = cases()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-local-run-") as tmp, _stand_in() as url:
            for index in range(args.runs):  # round-robin, so load drift hits every case alike
                for case in measured:
                    run = Run(Path(tmp), url, case.n_users(args.n_users), index)
                    case.seconds.append(case.measure(run))
                    print(f"  {case.label}: {case.seconds[-1]:.1f} s", file=sys.stderr, flush=True)
    finally:  # a failed run still reports what was measured before it
        print(render(measured, args.runs, args.n_users))


if __name__ == "__main__":
    main()
