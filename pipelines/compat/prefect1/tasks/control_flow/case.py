"""
`case(task, value)`: the tasks created in the block run only if `task`'s result equals `value`;
otherwise they end Skipped, and so do their downstream tasks (unless `skip_on_upstream_skip`).
"""

from typing import Any

from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1.core.task import Task
from pipelines.compat.prefect1.tasks.control_flow.conditional import CompareValue


class case:
    """A conditional block in a flow definition (a `with` block)."""

    def __init__(self, task: Task, value: Any):
        if isinstance(value, Task):
            raise TypeError("`value` cannot be a task")
        self.task = task
        self.value = value
        self._tasks: dict[Task, None] = {}
        self._flow: Any = None
        self._previous: Any = None

    def add_task(self, task: Task, flow: Any) -> None:
        if self._flow is None:
            self._flow = flow
        elif self._flow is not flow:
            raise ValueError("Multiple flows cannot be used with the same case statement")
        self._tasks[task] = None

    def __enter__(self) -> "case":
        self._previous = context.get("case")
        context.update(case=self)
        return self

    def __exit__(self, *args: Any) -> None:
        if self._previous is None:
            context.pop("case", None)
        else:
            context.update(case=self._previous)
        if self._tasks:
            cond = CompareValue(self.value, name=f"case({self.value})").bind(
                value=self.task, flow=self._flow
            )
            for child in self._tasks:
                if not set(self._tasks).intersection(self._flow.upstream_tasks(child)):
                    child.set_upstream(cond, flow=self._flow)


__all__ = ["case"]
