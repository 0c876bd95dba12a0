"""
`Constant`: a value that is not a task, where a task is expected.
"""

from typing import Any

from pipelines.compat.prefect1.core.task import Task


class Constant(Task):
    """Returns `value`; keyword constants are folded into `flow.constants` instead."""

    def __init__(self, value: Any, name: str | None = None, **kwargs: Any):
        self.value = value
        if name is None:
            name = repr(value)
            if len(name) > 8:
                name = f"Constant[{type(value).__name__}]"
        super().__init__(name=name, **kwargs)

    def run(self) -> Any:
        return self.value


__all__ = ["Constant"]
