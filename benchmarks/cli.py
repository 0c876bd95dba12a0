"""
The `pipelines` commands a user types many times a day, wall clock of the whole process, each
beside a plain alternative measured in the same run:

- `pipelines --help` and a usage error, against `ruff --help` (a command that is instant);
- `pipelines status` with nothing running, and with the local server up, against
  `python -c pass` (the interpreter alone);
- `pipelines flows` and `pipelines check` warm (the discovery manifest written by a first run),
  against the same commands cold (a fresh state folder: every flows module imported).

Usage: .venv/bin/python benchmarks/cli.py [--runs 5]
"""

import argparse
import os
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
PIPELINES = str(BIN / "pipelines")


def seconds(command: list[str], env: dict[str, str], runs: int, fresh_home: bool = False) -> float:
    """Median wall clock of `command` over `runs` fresh processes (each its own state folder
    when `fresh_home`: nothing kept from the run before)."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            run_env = {**env, "PIPELINES_HOME": home} if fresh_home else env
            started = time.monotonic()
            subprocess.run(command, env=run_env, cwd=REPO_ROOT, capture_output=True, timeout=300)
            times.append(time.monotonic() - started)
    return statistics.median(times)


def rows(runs: int) -> list[Row]:
    """Each command beside its alternative, measured in this run; goals are issue 16's."""
    with tempfile.TemporaryDirectory() as home:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PIPELINES_", "PREFECT_"))},
            "PIPELINES_HOME": home,
        }
        ruff = seconds([str(BIN / "ruff"), "--help"], env, runs)
        python = seconds([sys.executable, "-c", "pass"], env, runs)
        cold_flows = seconds([PIPELINES, "flows"], env, max(1, runs // 2), fresh_home=True)
        cold_check = seconds([PIPELINES, "check"], env, max(1, runs // 2), fresh_home=True)
        subprocess.run([PIPELINES, "flows"], env=env, cwd=REPO_ROOT, capture_output=True)
        up = _status_with_a_server(env, runs)
        return [
            Row("`pipelines --help`", seconds([PIPELINES, "--help"], env, runs),
                "`ruff --help`", ruff, below=0.3),
            Row("`pipelines no-such-command` (usage error)",
                seconds([PIPELINES, "no-such-command"], env, runs), "`ruff --help`", ruff,
                below=0.3),
            Row("`pipelines status`, nothing running", seconds([PIPELINES, "status"], env, runs),
                "`python -c pass`", python, below=0.3),
            Row("`pipelines status`, local server up", up, "`python -c pass`", python, below=0.3),
            Row("`pipelines flows`, warm", seconds([PIPELINES, "flows"], env, runs),
                "`pipelines flows`, cold", cold_flows, below=1.0),
            Row("`pipelines check`, warm", seconds([PIPELINES, "check"], env, runs),
                "`pipelines check`, cold", cold_check),
        ]  # fmt: skip


def _status_with_a_server(env: dict[str, str], runs: int) -> float:
    """`pipelines status` while the local server (started here, in a state folder of its own)
    answers."""
    with tempfile.TemporaryDirectory() as home:
        server = start_server(Settings(home=Path(home), server_start_timeout=600), "127.0.0.1",
                              free_port())  # fmt: skip
        try:
            return seconds([PIPELINES, "status"], {**env, "PIPELINES_HOME": home}, runs)
        finally:
            stop_process_group(server.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    measured = rows(args.runs)
    print(heading("The daily loop: CLI commands", f"medians of {args.runs} runs", load))
    print(markdown(measured))


if __name__ == "__main__":
    main()
