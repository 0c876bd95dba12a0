"""
Prefect 1 executors (`prefect.executors`). `LocalExecutor` runs mapped children one at a time;
`LocalDaskExecutor` and `DaskExecutor` run them on a thread pool of `num_workers` (default: the
number of cores). Independent branches run in dependency order in both cases.
"""

from typing import Any


class Executor:
    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LocalExecutor(Executor):
    pass


class LocalDaskExecutor(Executor):
    def __init__(self, scheduler: str = "threads", num_workers: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.scheduler = scheduler
        self.num_workers = num_workers


class DaskExecutor(Executor):
    def __init__(self, address: str | None = None, cluster_kwargs: dict | None = None, **kw):
        super().__init__(**kw)
        self.address = address
        self.num_workers = (cluster_kwargs or {}).get("n_workers")


__all__ = ["DaskExecutor", "Executor", "LocalDaskExecutor", "LocalExecutor"]
