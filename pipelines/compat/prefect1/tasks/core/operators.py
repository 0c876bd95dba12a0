"""
Operator tasks: `task[key]` (GetItem, what tuple unpacking of `nout` tasks makes) and comparisons.
"""

import operator
from typing import Any

from pipelines.compat.prefect1.core.task import Task


class GetItem(Task):
    def run(self, task_result: Any, key: Any) -> Any:
        return task_result[key]


class Equal(Task):
    def run(self, x: Any, y: Any) -> bool:
        return operator.eq(x, y)


class NotEqual(Task):
    def run(self, x: Any, y: Any) -> bool:
        return operator.ne(x, y)


class Not(Task):
    def run(self, x: Any) -> bool:
        return not x


__all__ = ["Equal", "GetItem", "Not", "NotEqual"]
