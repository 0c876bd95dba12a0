"""
Where the parallel parts of a dump run (the tables of `dump_tables`, the slices of one large
table): threads of the flow's own process by default, or the workers of a dask.distributed
cluster when `PIPELINES_DASK_ADDRESS` (or `PIPELINES_DASK_ADDRESSES` for the run's label) names
its scheduler. Each table keeps its own writer lease, commit and publish wherever it runs. On
threads, a large table's slices are read by its extract task itself (`tasks_spread`): a task run
per slice only pays off where the slices go to other machines.
"""

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture, as_completed
from prefect.states import State
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from pipelines.framework.config import get_settings

T = TypeVar("T")


def cluster_address() -> str | None:
    """The dask scheduler this process sends its tasks to: the one of the worker it runs in (a
    table running on the cluster sends its slices there too), else the run's label's, else
    `PIPELINES_DASK_ADDRESS`; None for threads."""
    inside = _worker_scheduler()
    if inside:
        return inside
    settings = get_settings()
    context = FlowRunContext.get()
    label = context.flow_run.work_pool_name if context and context.flow_run else None
    return settings.dask_addresses.get(label or "") or settings.dask_address


def _worker_scheduler() -> str | None:
    """The scheduler's address when this code runs in a dask worker's task."""
    distributed = sys.modules.get("distributed")  # never imported here unless a cluster is used
    if distributed is None:
        return None
    try:
        return distributed.get_worker().scheduler.address
    except ValueError:  # not in a worker
        return None


class DumpTaskRunner(TaskRunner):
    """Prefect's thread pool, or a dask cluster whose every worker masks the run's secrets,
    decided when the flow run starts (`cluster_address`)."""

    def __init__(self, address: str | None = None):
        super().__init__()
        self.address = address
        self.on_cluster = False
        """Whether the run's tasks go to a dask cluster (set when the run starts)."""
        self._runner: TaskRunner | None = None

    def duplicate(self) -> "DumpTaskRunner":
        return type(self)(self.address)

    def __enter__(self) -> "DumpTaskRunner":
        super().__enter__()
        address = self.address or cluster_address()
        self.on_cluster = bool(address)
        self._runner = _dask_runner(address) if address else ThreadPoolTaskRunner()
        self._runner.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        runner, self._runner = self._runner, None
        try:
            if runner is not None:
                runner.__exit__(*exc_info)
        finally:
            super().__exit__(*exc_info)

    def submit(  # type: ignore[override]  # one signature for the runner's overloads
        self,
        task: Any,
        parameters: dict[str, Any],
        wait_for: Iterable[PrefectFuture[Any]] | None = None,
        dependencies: dict[str, Any] | None = None,
    ) -> PrefectFuture[Any]:
        if self._runner is None:
            raise RuntimeError("The task runner must be started before submitting work.")
        return self._runner.submit(task, parameters, wait_for, dependencies)


def tasks_spread() -> bool:
    """Whether tasks submitted here run on a dask cluster's workers: only then is one part of
    a table (a slice) worth its own task run; on the flow's threads, one task reads the slices
    itself and spares the run their task runs (states, events, log records)."""
    if _worker_scheduler() is not None:
        return True
    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    return isinstance(runner, DumpTaskRunner) and runner.on_cluster


def _dask_runner(address: str) -> TaskRunner:
    """The cluster's runner; prefect-dask (the `dask` extra) is imported only when a cluster is
    named: a dump on threads never loads it."""
    from pipelines.utils.loading.dask import MaskingDaskTaskRunner

    return MaskingDaskTaskRunner(address)


def run_bounded(
    submit: Callable[[T], PrefectFuture[Any]], items: Sequence[T], limit: int
) -> list[State]:
    """`submit(item)` for every item with at most `limit` running at once; their final states,
    in the items' order (a failure does not stop the others)."""
    if limit < 1:
        raise ValueError(f"o limite de execuções simultâneas deve ser ao menos 1, não {limit}")
    pending = list(enumerate(items))
    running: dict[PrefectFuture[Any], int] = {}
    finished: dict[int, PrefectFuture[Any]] = {}
    while pending or running:
        while pending and len(running) < limit:
            index, item = pending.pop(0)
            running[submit(item)] = index
        done = next(as_completed(list(running)))
        finished[running.pop(done)] = done
    return [_final_state(finished[index]) for index in range(len(items))]


def _final_state(future: PrefectFuture[Any]) -> State:
    future.wait()
    return future.state


@contextmanager
def waiting_for_others() -> Iterator[None]:
    """Around a task's wait for tasks it submitted: on a dask worker the waiting task gives its
    thread back to the worker (`secede`) until they are done, so tables waiting for their
    slices never hold every thread of the cluster (the pattern of dask's `worker_client`)."""
    if _worker_scheduler() is None:
        yield
        return
    distributed = sys.modules["distributed"]
    distributed.secede()
    try:
        yield
    finally:
        distributed.rejoin()
