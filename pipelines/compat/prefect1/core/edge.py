"""
A Prefect 1 edge: an upstream task feeding a downstream task, by keyword or as a dependency.
"""

from typing import TYPE_CHECKING, Any

from pipelines.compat.prefect1.utilities import edges as annotations

if TYPE_CHECKING:
    from pipelines.compat.prefect1.core.task import Task


class Edge:
    """`upstream_task -> downstream_task`, optionally as the `key` argument, mapped or flattened."""

    __slots__ = ("downstream_task", "flattened", "key", "mapped", "upstream_task")

    def __init__(
        self,
        upstream_task: Any,
        downstream_task: "Task",
        key: str | None = None,
        mapped: bool = False,
        flattened: bool = False,
        flow: Any = None,
    ):
        from pipelines.compat.prefect1.utilities.tasks import as_task

        while isinstance(upstream_task, annotations.EdgeAnnotation):
            if isinstance(upstream_task, annotations.flatten):
                flattened = True
            if isinstance(upstream_task, annotations.unmapped):
                mapped = False
            if isinstance(upstream_task, annotations.mapped):
                mapped = True
            upstream_task = upstream_task.value
        self.upstream_task = as_task(upstream_task, flow=flow)
        self.downstream_task = downstream_task
        self.key = key
        self.mapped = mapped
        self.flattened = flattened

    @property
    def tasks(self) -> set:
        return {self.upstream_task, self.downstream_task}

    def __repr__(self) -> str:
        key = f"[{self.key}]" if self.key else ""
        return f"<Edge{' (mapped)' if self.mapped else ''}: {self.upstream_task.name} to " + (
            f"{self.downstream_task.name}{key}>"
        )

    def _key(self) -> tuple:
        return (id(self.upstream_task), id(self.downstream_task), self.key, self.mapped)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Edge) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


__all__ = ["Edge"]
