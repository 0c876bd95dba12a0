"""A real dask.distributed cluster for component tests: a scheduler and two worker processes
(each behind its nanny, as `dask worker` runs them in production) started from the venv's
`dask` command on free loopback ports, each writing its log to a file the test reads."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from distributed import Client

from pipelines.framework.config.settings import REPO_ROOT
from pipelines.framework.stack.server import free_port

DASK = str(Path(sys.executable).parent / "dask")


@dataclass
class DaskCluster:
    address: str
    logs: dict[str, Path]
    """Each process's name -> the file its stdout and stderr go to."""

    def worker_logs(self) -> dict[str, str]:
        return {
            name: path.read_text(errors="replace")
            for name, path in self.logs.items()
            if name.startswith("worker")
        }


def _commands(address: str, port: int, workers: int) -> dict[str, list[str]]:
    commands = {
        "scheduler": [
            *(DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port)),
            *("--dashboard-address", "127.0.0.1:0"),
        ],
    }
    for index in range(workers):
        commands[f"worker-{index}"] = [
            *(DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "2"),
            *("--dashboard-address", "127.0.0.1:0", "--name", f"worker-{index}"),
            *("--memory-limit", "2GiB"),
        ]
    return commands


@contextmanager
def dask_cluster(folder: Path, env: dict[str, str], workers: int = 2) -> Iterator[DaskCluster]:
    """Start the cluster with `env` (the workers' settings: Prefect API, pipelines home), wait
    until every worker has joined, yield it, then stop every process it started."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**env, "PYTHONPATH": str(REPO_ROOT)}
    folder.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []
    logs: dict[str, Path] = {}
    try:
        for name, command in _commands(address, port, workers).items():
            logs[name] = folder / f"{name}.log"
            with open(logs[name], "wb") as out:
                processes.append(
                    subprocess.Popen(  # pylint: disable=consider-using-with
                        command,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        env=env,
                        cwd=REPO_ROOT,
                        start_new_session=True,
                    )
                )
            if name == "scheduler":
                _wait_for_scheduler(processes[-1], logs[name])
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield DaskCluster(address, logs)
    finally:
        _stop(processes)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for_scheduler(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dask scheduler exited: {log.read_text(errors='replace')}")
        if "Scheduler at:" in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError("dask scheduler did not start in 60 s")
