"""
`FilterTask`: drops the results of mapped children that fail `filter_func` (by default the
ones that failed or were skipped, which reach it as exceptions or None).
"""

from collections.abc import Callable
from typing import Any

from pipelines.compat.prefect1 import triggers
from pipelines.compat.prefect1.core.task import Task


class FilterTask(Task):
    def __init__(self, filter_func: Callable[[Any], bool] | None = None, log_func=None, **kwargs):
        kwargs.setdefault("skip_on_upstream_skip", False)
        kwargs.setdefault("trigger", triggers.all_finished)
        self.filter_func = filter_func or (
            lambda r: r is not None and not isinstance(r, BaseException)
        )
        self.log_func = log_func
        super().__init__(**kwargs)

    def run(self, task_results: list) -> list:
        kept = [r for r in task_results if self.filter_func(r)]
        if self.log_func is not None:
            self.log_func(kept)
        return kept


__all__ = ["FilterTask"]
