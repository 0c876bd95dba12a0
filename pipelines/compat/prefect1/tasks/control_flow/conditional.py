"""
Prefect 1 branching tasks: `CompareValue` (what `case` adds), `merge`, `ifelse`, `switch`.
"""

# pylint: disable=arguments-differ  # Prefect 1's signatures, kept as they are

from typing import Any

from pipelines.compat.prefect1 import triggers
from pipelines.compat.prefect1.core.task import Task
from pipelines.compat.prefect1.engine import signals


class Merge(Task):
    """The first non-None result of its upstream branches; Skipped only if all were skipped."""

    def __init__(self, **kwargs: Any):
        if kwargs.setdefault("skip_on_upstream_skip", False):
            raise ValueError("Merge tasks must have `skip_on_upstream_skip=False`.")
        kwargs.setdefault("trigger", triggers.not_all_skipped)
        super().__init__(**kwargs)

    def run(self, **task_results: Any) -> Any:
        return next((v for _, v in sorted(task_results.items()) if v is not None), None)


class CompareValue(Task):
    """Raises SKIP unless the value it receives equals `value`."""

    def __init__(self, value: Any, **kwargs: Any):
        self.value = value
        kwargs.setdefault("name", f'CompareValue: "{value}"')  # Prefect 1's task name
        super().__init__(**kwargs)

    def run(self, value: Any) -> None:
        if value != self.value:
            raise signals.SKIP(f'Provided value "{value}" did not match "{self.value}"')


def switch(condition: Task, cases: dict[Any, Task], mapped: bool = False) -> None:
    """Run only the task of `cases` whose key equals the result of `condition`."""
    for value, task in cases.items():
        match = CompareValue(value=value)
        if mapped:
            match.map(value=condition)
        else:
            match.bind(value=condition)
        task.set_upstream(match, mapped=mapped)


def ifelse(condition: Task, true_task: Task, false_task: Task, mapped: bool = False) -> None:
    """Run `true_task` if `condition` is truthy, else `false_task`."""
    from pipelines.compat.prefect1.utilities.tasks import as_task, task

    @task
    def as_bool(x: Any) -> bool:
        return bool(x)

    cases = {c: t for c, t in ((True, true_task), (False, false_task)) if t is not None}
    if cases:
        bool_condition = as_bool.map(condition) if mapped else as_bool(condition)
        switch(bool_condition, {k: as_task(v) for k, v in cases.items()}, mapped=mapped)


def merge(*tasks: Task, flow: Any = None, mapped: bool = False) -> Task:
    """A task that returns the result of whichever branch ran."""
    merged = Merge()
    keywords = {f"task_{i + 1}": t for i, t in enumerate(tasks)}
    if mapped:
        return merged.map(**keywords, flow=flow)
    return merged.bind(**keywords, flow=flow)


__all__ = ["CompareValue", "Merge", "ifelse", "merge", "switch"]
