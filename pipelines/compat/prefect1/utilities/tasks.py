"""
Prefect 1's `prefect.utilities.tasks`: `as_task`, `defaults_from_attrs`, `tags`, `task`.
"""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1.core.task import Task
from pipelines.compat.prefect1.utilities.edges import EdgeAnnotation


def _is_constant(value: Any) -> bool:
    if isinstance(value, (Task, EdgeAnnotation)):
        return False
    if isinstance(value, (list, tuple, set)):
        return all(_is_constant(item) for item in value)
    if isinstance(value, dict):
        return all(_is_constant(item) for item in value.values())
    return True


def as_task(value: Any, flow: Any = None) -> Task:
    """A task for `value`: itself if a task, a `Constant`, or a collection task over tasks."""
    from pipelines.compat.prefect1.tasks.core import collections
    from pipelines.compat.prefect1.tasks.core.constants import Constant

    if isinstance(value, Task):
        return value
    if isinstance(value, EdgeAnnotation):
        return as_task(value.value, flow=flow)
    if _is_constant(value):
        made: Task = Constant(value)
    elif isinstance(value, list):
        made = collections.List().bind(*value, flow=flow)
    elif isinstance(value, tuple):
        made = collections.Tuple().bind(*value, flow=flow)
    elif isinstance(value, set):
        made = collections.Set().bind(*value, flow=flow)  # pylint: disable=deprecated-class
    elif isinstance(value, dict):
        made = collections.Dict().bind(
            keys=list(value.keys()), values=list(value.values()), flow=flow
        )
    else:
        return value
    made.auto_generated = True
    return made


def defaults_from_attrs(*attr_args: str) -> Callable:
    """Fill `run()` arguments left as None from the task's attributes of the same name."""

    def wrapper(method: Callable) -> Callable:
        @functools.wraps(method)
        def inner(self: Task, *args: Any, **kwargs: Any) -> Any:
            for attr in attr_args:
                if kwargs.get(attr) is None:
                    kwargs[attr] = getattr(self, attr)
            return method(self, *args, **kwargs)

        return inner

    if len(attr_args) == 1 and callable(attr_args[0]):
        raise TypeError("defaults_from_attrs needs the attribute names: @defaults_from_attrs('x')")
    return wrapper


@contextmanager
def tags(*task_tags: str) -> Iterator[None]:
    """Tasks created inside the block get these tags."""
    current = set(context.get("tags", ()) or ())
    with context(tags=current | set(task_tags)):
        yield


def task(fn: Callable | None = None, **task_init_kwargs: Any) -> Any:
    """`@task` / `@task(max_retries=..., ...)`: a function as a Prefect 1 task."""
    from pipelines.compat.prefect1.tasks.core.function import FunctionTask

    if fn is None:
        return lambda fn: FunctionTask(fn=fn, **task_init_kwargs)
    return FunctionTask(fn=fn, **task_init_kwargs)


def unmapped(value: Any) -> Any:
    from pipelines.compat.prefect1.utilities.edges import unmapped as _unmapped

    return _unmapped(value)


__all__ = ["as_task", "defaults_from_attrs", "tags", "task", "unmapped"]
