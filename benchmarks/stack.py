"""
The local stack, measured side by side in one invocation:

1. ready time of `pipelines up --detach` (server healthy, pools, workers, every flow
   registered) against plain `prefect server start` reaching /api/health on a fresh
   PREFECT_HOME, each round in this order:
   - first on this installation: a fresh state folder and a fresh cache, so the template
     database is built (Prefect's own first start on a scratch folder) before the server starts;
   - cold: another fresh state folder, the template of the run before copied into it;
   - warm: the same folder again, its server stopped;
2. flow-run overhead: the Users report called as a Prefect flow, against the same functions
   called without Prefect, in one process.

Registration is timed by benchmarks/registration.py, the due-time delay by
benchmarks/scheduling.py.

Usage: .venv/bin/python benchmarks/stack.py [--runs 3]
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

from pipelines.framework.config import REPO_ROOT
from pipelines.framework.stack import free_port, is_healthy, stop_process_group

BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO_ROOT))
from pipelines.framework.stack.dev import RandomUserAPI  # noqa: E402

GOAL_RATIO = 1.15
"""`pipelines up` cold within this of `prefect server start` (issue 16)."""


def wait_healthy(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(url, timeout=1):
            return
        time.sleep(0.05)
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


def prefect_server_start() -> float:
    """Seconds until plain `prefect server start` on a fresh PREFECT_HOME answers /api/health."""
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
        elapsed = time.monotonic() - started
        stop_process_group(server.pid)
    return elapsed


def up_and_down(home: Path, cache: Path) -> float:
    """Seconds of `pipelines up --detach` with this state folder and cache; then `down`."""
    env = stack_env(home, {"PIPELINES_CACHE_DIR": str(cache)})
    try:
        return pipelines("up", "--detach", "--port", str(free_port()), env=env)
    finally:
        pipelines("down", env=env)


def ready_times(runs: int) -> dict[str, list[float]]:
    """Seconds until ready, per case, one value per round."""
    times: dict[str, list[float]] = {
        "prefect": [],
        "first": [],
        "cold": [],
        "warm": [],
    }
    for _ in range(runs):
        times["prefect"].append(prefect_server_start())
        with tempfile.TemporaryDirectory() as scratch:
            cache = Path(scratch) / "cache"
            times["first"].append(up_and_down(Path(scratch) / "first", cache))
            times["cold"].append(up_and_down(Path(scratch) / "cold", cache))
            times["warm"].append(up_and_down(Path(scratch) / "cold", cache))
    return times


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


def _shown(values: list[float]) -> str:
    return "runs " + ", ".join(f"{v:.1f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--flows",
        type=int,
        help="ignored: registration is benchmarks/registration.py's (the Makefile's QUICK "
        "options still pass it)",
    )
    args = parser.parse_args()
    load = os.getloadavg()[0]

    ready = ready_times(args.runs)
    prefect = statistics.median(ready["prefect"])
    alternative = "`prefect server start`, fresh PREFECT_HOME"
    rows = [
        Row(
            f"`pipelines up` cold, ready ({_shown(ready['cold'])}; "
            f"prefect {_shown(ready['prefect'])})",
            statistics.median(ready["cold"]),
            alternative,
            prefect,
            ratio_below=GOAL_RATIO,
        ),
        Row(
            "`pipelines up`, first on this installation: builds the template database "
            f"({_shown(ready['first'])})",
            statistics.median(ready["first"]),
            alternative,
            prefect,
        ),
        Row(
            f"`pipelines up` warm, server stopped ({_shown(ready['warm'])})",
            statistics.median(ready["warm"]),
            alternative,
            prefect,
            ratio_below=GOAL_RATIO,
        ),
    ]
    overhead = flow_overhead(args.runs)
    rows.append(
        Row(
            "Users report (100 users) as a Prefect flow, in one process, per run",
            overhead["flow"],
            "the same functions without Prefect",
            overhead["plain"],
        )
    )
    print(heading("The local stack", f"medians of {args.runs} rounds", load))
    print(markdown(rows))


if __name__ == "__main__":
    main()
