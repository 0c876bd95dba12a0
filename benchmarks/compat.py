"""
The Prefect 1 compat layer's overhead: building a large flow, and running a task.

(a) build: a 500-task Prefect 1 flow (`with Flow`, a chain of 250 plus 250 fanning out of it,
    with Parameters and constants), goal < 1 s;
(b) per task: N trivial tasks run in one flow through the compat layer vs the same N tasks in
    a native Prefect 3 flow (`@task` with its default cache policy, and with `NO_CACHE`, which
    the compat layer uses). Only the tasks are timed (the compat graph run; the native flow's
    loop), not the flow run's start and end, whose cost varies by seconds with the server's
    event flushing; goal: compat within 1.2x of native.

Runs against PREFECT_API_URL when set (e.g. the server `pipelines up` started), otherwise against
a temporary Prefect server it starts and stops. Medians of `--runs` rounds, taken round-robin.

Usage: .venv/bin/python benchmarks/compat.py [--tasks N] [--runs N]
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import prefect
from prefect.cache_policies import NO_CACHE
from prefect.testing.utilities import prefect_test_harness
from report import Row, heading, markdown

from pipelines.compat.prefect1 import Flow, Parameter, _runner, task

_timings: list[float] = []


@task
def _step(x, y=0):
    return x


@prefect.task
def _native(x):
    return x


@prefect.task(cache_policy=NO_CACHE)
def _native_no_cache(x):
    return x


def build_flow(size: int = 500) -> Flow:
    """A Prefect 1 flow of `size` tasks."""
    with Flow("bench: build") as flow:
        value = Parameter("start", default=0)
        first = value
        for _ in range(size // 2):
            value = _step(value, y=1)
        for _ in range(size - size // 2):
            _step(first, y=value)
    return flow


def compat_flow(count: int) -> Flow:
    with Flow(f"bench: compat {count}") as flow:
        value = Parameter("start", default=0)
        for _ in range(count):
            value = _step(value)
    return flow


def native_flow(count: int, step: Callable) -> prefect.Flow:
    @prefect.flow(name=f"bench: native {count} {step.name}")
    def run(start: int = 0):
        started = time.perf_counter()
        value = start
        for _ in range(count):
            value = step(value)
        _timings.append(time.perf_counter() - started)
        return value

    return run


def _timed_graph_run(graph_run: Callable) -> Callable:
    """The compat graph run (every task of the flow, nothing else), timed into `_timings`."""

    def run(self):
        started = time.perf_counter()
        try:
            return graph_run(self)
        finally:
            _timings.append(time.perf_counter() - started)

    return run


def _per_task(flow: Callable[[], object], count: int) -> float:
    _timings.clear()
    flow()
    return _timings[-1] / count


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100, help="tasks per timed flow run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    builds = [_timed(build_flow) for _ in range(args.runs)]

    # 600 s, not Prefect's 30: on a loaded machine the temporary server took longer to start
    temporary = prefect_test_harness(server_startup_timeout=600)
    server = nullcontext() if os.environ.get("PREFECT_API_URL") else temporary
    _runner._GraphRun.run = _timed_graph_run(_runner._GraphRun.run)
    with server:
        n = args.tasks
        cases = {
            "compat": compat_flow(n),
            "native": native_flow(n, _native),
            "native NO_CACHE": native_flow(n, _native_no_cache),
        }
        for flow in cases.values():  # warm up: flows registered, imports done
            flow()
        totals: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, flow in cases.items():
                totals[name].append(_per_task(flow, n))
    ms = {name: statistics.median(values) * 1000 for name, values in totals.items()}
    how = f"medians of {args.runs} rounds, {n} tasks a flow run"
    print(heading("Prefect 1 compat", how, load))
    print(markdown([
        Row("build a 500-task Prefect 1 flow", statistics.median(builds), below=1.0),
        Row("per task, compat", ms["compat"], "native Prefect 3 `@task`", ms["native"],
            unit="ms", ratio_below=1.2),
        Row("per task, compat", ms["compat"], "native with `NO_CACHE`", ms["native NO_CACHE"],
            unit="ms", ratio_below=1.2),
    ]))  # fmt: skip


if __name__ == "__main__":
    main()
