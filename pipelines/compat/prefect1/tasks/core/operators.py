"""
Operator tasks: `task[key]` (GetItem, what tuple unpacking of `nout` tasks makes), and what
`task + 1`, `"x" + task`, `task > 3`, ... make inside a flow, as in Prefect 1.
"""

import operator
from collections.abc import Callable
from typing import Any

from pipelines.compat.prefect1.core.task import Task


class GetItem(Task):
    def run(self, task_result: Any, key: Any) -> Any:
        return task_result[key]


class GetAttr(Task):
    def run(self, task_result: Any, attr: str) -> Any:
        return getattr(task_result, attr)


class _Binary(Task):
    function: Callable[[Any, Any], Any] = staticmethod(operator.eq)

    def run(self, x: Any, y: Any) -> Any:
        return type(self).function(x, y)


def _binary(name: str, function: Callable[[Any, Any], Any]) -> type[_Binary]:
    return type(name, (_Binary,), {"function": staticmethod(function), "__module__": __name__})


Add = _binary("Add", operator.add)
Sub = _binary("Sub", operator.sub)
Mul = _binary("Mul", operator.mul)
Div = _binary("Div", operator.truediv)
FloorDiv = _binary("FloorDiv", operator.floordiv)
Mod = _binary("Mod", operator.mod)
Pow = _binary("Pow", operator.pow)
And = _binary("And", lambda x, y: x and y)
Or = _binary("Or", lambda x, y: x or y)
Equal = _binary("Equal", operator.eq)
NotEqual = _binary("NotEqual", operator.ne)
GreaterThan = _binary("GreaterThan", operator.gt)
GreaterThanOrEqual = _binary("GreaterThanOrEqual", operator.ge)
LessThan = _binary("LessThan", operator.lt)
LessThanOrEqual = _binary("LessThanOrEqual", operator.le)


class Not(Task):
    def run(self, x: Any) -> bool:
        return not x


__all__ = [
    "Add",
    "And",
    "Div",
    "Equal",
    "FloorDiv",
    "GetAttr",
    "GetItem",
    "GreaterThan",
    "GreaterThanOrEqual",
    "LessThan",
    "LessThanOrEqual",
    "Mod",
    "Mul",
    "Not",
    "NotEqual",
    "Or",
    "Pow",
    "Sub",
]
