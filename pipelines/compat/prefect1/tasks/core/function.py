"""
`FunctionTask`: what `@task` makes of a function.
"""

import inspect
from collections.abc import Callable
from typing import Any

from pipelines.compat.prefect1.core.task import Task


class FunctionTask(Task):
    """A task whose `run` is a plain function."""

    def __init__(self, fn: Callable, name: str | None = None, **kwargs: Any):
        if not callable(fn):
            raise TypeError("fn must be callable.")
        self.run = fn  # type: ignore[method-assign]
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        super().__init__(name=name or getattr(fn, "__name__", type(self).__name__), **kwargs)

    def _run_signature(self) -> inspect.Signature:
        return inspect.signature(self.run)

    def __getstate__(self) -> dict:
        return super().__getstate__()


__all__ = ["FunctionTask"]
