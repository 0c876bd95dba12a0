"""
Collection tasks: a list, tuple, set or dict literal holding tasks becomes one task.
"""

from typing import Any

from pipelines.compat.prefect1.core.task import Task


class _VarArgs(Task):
    """Binds positional arguments as keywords `arg_1`, `arg_2`, ... (Prefect 1's layout)."""

    def bind(self, *args: Any, upstream_tasks=None, flow=None, **kwargs: Any) -> Task:  # type: ignore[override]
        keywords = {f"arg_{i + 1}": a for i, a in enumerate(args)}
        keywords.update(kwargs)
        self.set_dependencies(flow=flow, upstream_tasks=upstream_tasks, keyword_tasks=keywords)
        return self

    @staticmethod
    def _ordered(task_results: dict[str, Any]) -> list[Any]:
        keys = sorted(task_results, key=lambda k: int(k.split("_")[1]))
        return [task_results[k] for k in keys]


class List(_VarArgs):
    def run(self, **task_results: Any) -> list:
        return self._ordered(task_results)


class Tuple(_VarArgs):
    def run(self, **task_results: Any) -> tuple:
        return tuple(self._ordered(task_results))


class Set(_VarArgs):
    def run(self, **task_results: Any) -> set:
        return set(self._ordered(task_results))


class Dict(Task):
    def run(self, keys: list, values: list) -> dict:
        if len(keys) != len(values):
            raise ValueError("A key must be provided for each value.")
        return dict(zip(keys, values, strict=True))


__all__ = ["Dict", "List", "Set", "Tuple"]
