"""
Prefect 1 `Parameter`: a named flow input. A flow's Parameters become its Prefect 3 parameters
(the run form offers them); one created but never used by a task is not part of the flow.
"""

from datetime import datetime
from typing import Any

from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1.core.task import Task


class _NoDefault:
    def __repr__(self) -> str:
        return "no_default"


no_default = _NoDefault()


class Parameter(Task):
    """`Parameter("n_users", default=10)`; `required` defaults to "no default was given"."""

    def __init__(
        self,
        name: str,
        default: Any = no_default,
        required: bool | None = None,
        tags: Any = None,
    ):
        if required is None:
            required = default is no_default
        if default is no_default:
            default = None
        self.required = required
        self.default = default
        super().__init__(name=name, slug=name, tags=tags)

    def __repr__(self) -> str:
        return f"<Parameter: {self.name}>"

    def __call__(self, flow: Any = None) -> "Parameter":  # type: ignore[override]
        """Add the parameter to the active flow (or `flow`)."""
        return super().bind(flow=flow)

    def copy(self, name: str, **task_args: Any) -> "Parameter":  # type: ignore[override]
        if "slug" in task_args:
            raise AttributeError("The slug of a Parameter is its name.")
        return super().copy(name=name, slug=name, **task_args)

    def run(self) -> Any:
        params = context.get("parameters") or {}
        if self.required and self.name not in params:
            raise ValueError(f'No value found for required parameter "{self.name}"')
        return params.get(self.name, self.default)


class DateTimeParameter(Parameter):
    """A parameter read as a datetime (ISO text is parsed)."""

    def run(self) -> Any:
        value = super().run()
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(str(value))


__all__ = ["DateTimeParameter", "Parameter", "no_default"]
