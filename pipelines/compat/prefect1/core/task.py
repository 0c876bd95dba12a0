"""
Prefect 1 tasks: `Task` (subclass it and write `run()`), bound into a flow's graph by calling it
inside `with Flow(...)`, with `.map`, `set_upstream`, `set_dependencies` and `nout` unpacking.
"""

# pylint: disable=unused-argument,too-many-instance-attributes,too-many-locals,cyclic-import  # Prefect 1's signatures, kept as they are

import copy
import enum
import inspect
import typing
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pipelines.compat.prefect1 import triggers
from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1.utilities.edges import EdgeAnnotation

if TYPE_CHECKING:
    from pipelines.compat.prefect1.core.flow import Flow


class NoDefault(enum.Enum):
    """Prefect 1's marker of a Parameter without a default (`prefect.core.task.NoDefault`)."""

    value = "no_default"


_RESERVED = ("upstream_tasks", "mapped", "task_args", "flow")
_RUNTIME_CACHE = "_compat_runtime"


def _infer_nout(run: Callable[..., Any]) -> int | None:
    """`Tuple[int, str]` as a return annotation means two outputs, as Prefect 1 infers."""
    try:
        annotation = inspect.signature(run).return_annotation
    except (TypeError, ValueError):
        return None
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args and Ellipsis not in args and args != ((),):
            return len(args)
    return None


class Task:
    """A unit of work: `run()` does it; calling the task inside `with Flow` adds it to the graph."""

    def __init__(
        self,
        name: str | None = None,
        slug: str | None = None,
        tags: Iterable[str] | None = None,
        max_retries: int | None = None,
        retry_delay: timedelta | None = None,
        retry_on: Any = None,
        timeout: int | timedelta | None = None,
        trigger: Callable[..., bool] | None = None,
        skip_on_upstream_skip: bool = True,
        cache_for: timedelta | None = None,
        cache_validator: Callable | None = None,
        cache_key: str | None = None,
        checkpoint: bool | None = None,
        state_handlers: list[Callable] | None = None,
        on_failure: Callable | None = None,
        log_stdout: bool = False,
        result: Any = None,
        target: Any = None,
        task_run_name: str | Callable | None = None,
        nout: int | None = None,
    ):
        self.name = name or type(self).__name__
        self.slug = slug
        self.tags = set(tags or ()) | set(context.get("tags", ()) or ())
        max_retries = max_retries if max_retries is not None else 0
        if max_retries > 0 and retry_delay is None:
            raise ValueError(
                "A datetime.timedelta `retry_delay` must be provided if max_retries > 0"
            )
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.retry_on = retry_on
        if isinstance(timeout, timedelta):
            timeout = int(timeout.total_seconds())
        self.timeout = timeout
        self.trigger = trigger or triggers.all_successful
        self.skip_on_upstream_skip = skip_on_upstream_skip
        self.cache_for = cache_for
        self.cache_validator = cache_validator
        self.cache_key = cache_key
        self.checkpoint = checkpoint
        self.state_handlers = list(state_handlers or [])
        if on_failure is not None:
            self.state_handlers.append(_failure_handler(on_failure))
        self.log_stdout = log_stdout
        self.result = result
        self.target = target
        self.task_run_name = task_run_name
        self.nout = nout if nout is not None else _infer_nout(self.run)
        self.auto_generated = False

    def __repr__(self) -> str:
        return f"<Task: {self.name}>"

    @property
    def logger(self) -> Any:
        """The current run's logger (its lines reach the Prefect UI)."""
        return self.__dict__.get("_logger") or context.logger

    @logger.setter
    def logger(self, value: Any) -> None:
        self.__dict__["_logger"] = value

    def run(self) -> Any:
        """What the task does; subclasses define it with their own arguments."""

    # Graph building ----------------------------------------------------------------------------

    def __call__(
        self,
        *args: Any,
        mapped: bool = False,
        task_args: dict | None = None,
        upstream_tasks: Iterable[Any] | None = None,
        flow: "Flow | None" = None,
        **kwargs: Any,
    ) -> "Task":
        """A copy of the task bound to these arguments in the active flow."""
        new = self.copy(**(task_args or {}))
        return new.bind(*args, mapped=mapped, upstream_tasks=upstream_tasks, flow=flow, **kwargs)

    def copy(self, **task_args: Any) -> "Task":
        """A new task with the same settings (and `task_args` changed)."""
        new = copy.copy(self)
        new.__dict__.pop(_RUNTIME_CACHE, None)
        new.tags = set(self.tags) | set(context.get("tags", ()) or ())
        new.state_handlers = list(self.state_handlers)
        if new.slug and "slug" not in task_args:
            task_args["slug"] = None
        for attribute, value in task_args.items():
            if not hasattr(new, attribute):
                raise AttributeError(f"{new} does not have {attribute} as an attribute")
            setattr(new, attribute, value)
        return new

    def __deepcopy__(self, memo: dict) -> "Task":
        new = copy.copy(self)
        memo[id(self)] = new
        state = {k: v for k, v in self.__dict__.items() if k not in (_RUNTIME_CACHE, "_logger")}
        new.__dict__.clear()
        new.__dict__.update(copy.deepcopy(state, memo))
        return new

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in (_RUNTIME_CACHE, "_logger")}

    def _run_signature(self) -> inspect.Signature:
        return inspect.signature(self.run)

    def bind(
        self,
        *args: Any,
        mapped: bool = False,
        upstream_tasks: Iterable[Any] | None = None,
        flow: "Flow | None" = None,
        **kwargs: Any,
    ) -> "Task":
        """Bind arguments in the active flow (or `flow`); returns the task itself."""
        signature = self._run_signature()
        callargs = dict(signature.bind(*args, **kwargs).arguments)
        for name, parameter in signature.parameters.items():
            if parameter.kind == inspect.Parameter.VAR_KEYWORD and name in callargs:
                callargs.update(callargs.pop(name))
            elif parameter.kind == inspect.Parameter.VAR_POSITIONAL and name in callargs:
                raise ValueError(
                    f"{self}: tasks with variable positional arguments (*{name}) are not "
                    "supported by the compat layer; pass them as a list"
                )
        flow = flow or context.get("flow")
        if flow is None:
            shown = (
                self.name
                if type(self).__name__ == "FunctionTask"
                else f"{type(self).__name__}(...)"
            )
            raise ValueError(
                f"Could not infer an active Flow context while creating edge to {self}. This "
                "often means you called a task outside a `with Flow(...)` block. If you're "
                "trying to run this task outside of a Flow context, you need to call "
                f"`{shown}.run(...)`"
            )
        self.set_dependencies(
            flow=flow, upstream_tasks=upstream_tasks, keyword_tasks=callargs, mapped=mapped
        )
        self.tags.update(context.get("tags", ()) or ())
        return self

    def map(
        self,
        *args: Any,
        upstream_tasks: Iterable[Any] | None = None,
        flow: "Flow | None" = None,
        task_args: dict | None = None,
        **kwargs: Any,
    ) -> "Task":
        """Map the task over its arguments: one child per element (`unmapped(x)` passes x whole)."""
        for arg in (*args, *kwargs.values()):
            if not hasattr(arg, "__getitem__") and not isinstance(arg, (EdgeAnnotation, Task)):
                raise TypeError(
                    f"Cannot map over unsubscriptable object of type {type(arg)}: "
                    f"{repr(arg)[:10]}..."
                )
        task_args = dict(task_args or {})
        task_args.setdefault("nout", None)
        new = self.copy(**task_args)
        return new.bind(*args, mapped=True, upstream_tasks=upstream_tasks, flow=flow, **kwargs)

    def set_dependencies(
        self,
        flow: "Flow | None" = None,
        upstream_tasks: Iterable[Any] | None = None,
        downstream_tasks: Iterable[Any] | None = None,
        keyword_tasks: dict[str, Any] | None = None,
        mapped: bool = False,
        validate: bool | None = None,
    ) -> None:
        """Add edges from `upstream_tasks`, to `downstream_tasks`, and keyword inputs."""
        flow = flow or context.get("flow")
        if flow is None:
            raise ValueError("No Flow was passed, and could not infer an active Flow context.")
        flow.set_dependencies(
            task=self,
            upstream_tasks=upstream_tasks,
            downstream_tasks=downstream_tasks,
            keyword_tasks=keyword_tasks,
            mapped=mapped,
            validate=validate,
        )

    def set_upstream(
        self, task: Any, flow: "Flow | None" = None, key: str | None = None, mapped: bool = False
    ) -> None:
        """Make this task run after `task` (`key`: receive its result as that argument)."""
        if key is not None:
            self.set_dependencies(flow=flow, keyword_tasks={key: task}, mapped=mapped)
        else:
            self.set_dependencies(flow=flow, upstream_tasks=[task], mapped=mapped)

    def set_downstream(
        self, task: "Task", flow: "Flow | None" = None, key: str | None = None, mapped: bool = False
    ) -> None:
        """Make `task` run after this one (`key`: pass this result as that argument)."""
        if key is not None:
            task.set_dependencies(flow=flow, keyword_tasks={key: self}, mapped=mapped)
        else:
            task.set_dependencies(flow=flow, upstream_tasks=[self], mapped=mapped)

    def inputs(self) -> dict[str, dict[str, Any]]:
        inputs = {}
        for name, parameter in self._run_signature().parameters.items():
            required = parameter.default is inspect.Parameter.empty
            inputs[name] = {"type": Any, "required": required, "default": parameter.default}
        return inputs

    def outputs(self) -> Any:
        return self._run_signature().return_annotation

    def is_equal(self, other: Any) -> "Task":
        return _operator("Equal")().bind(self, other)

    def is_not_equal(self, other: Any) -> "Task":
        return _operator("NotEqual")().bind(self, other)

    def not_(self) -> "Task":
        return _operator("Not")().bind(self)

    # `a | b`: b runs after a. Arithmetic and comparisons make operator tasks, as in Prefect 1.

    def __or__(self, other: Any) -> Any:
        self.set_dependencies(downstream_tasks=[other])
        return other

    def __ror__(self, other: Any) -> "Task":
        self.set_dependencies(upstream_tasks=[other])
        return self

    def __add__(self, other: Any) -> "Task":
        return _operator("Add")().bind(self, other)

    def __radd__(self, other: Any) -> "Task":
        return _operator("Add")().bind(other, self)

    def __sub__(self, other: Any) -> "Task":
        return _operator("Sub")().bind(self, other)

    def __rsub__(self, other: Any) -> "Task":
        return _operator("Sub")().bind(other, self)

    def __mul__(self, other: Any) -> "Task":
        return _operator("Mul")().bind(self, other)

    def __rmul__(self, other: Any) -> "Task":
        return _operator("Mul")().bind(other, self)

    def __truediv__(self, other: Any) -> "Task":
        return _operator("Div")().bind(self, other)

    def __rtruediv__(self, other: Any) -> "Task":
        return _operator("Div")().bind(other, self)

    def __floordiv__(self, other: Any) -> "Task":
        return _operator("FloorDiv")().bind(self, other)

    def __rfloordiv__(self, other: Any) -> "Task":
        return _operator("FloorDiv")().bind(other, self)

    def __mod__(self, other: Any) -> "Task":
        return _operator("Mod")().bind(self, other)

    def __rmod__(self, other: Any) -> "Task":
        return _operator("Mod")().bind(other, self)

    def __pow__(self, other: Any) -> "Task":
        return _operator("Pow")().bind(self, other)

    def __rpow__(self, other: Any) -> "Task":
        return _operator("Pow")().bind(other, self)

    def __and__(self, other: Any) -> "Task":
        return _operator("And")().bind(self, other)

    def __rand__(self, other: Any) -> "Task":
        return _operator("And")().bind(other, self)

    def __gt__(self, other: Any) -> "Task":
        return _operator("GreaterThan")().bind(self, other)

    def __ge__(self, other: Any) -> "Task":
        return _operator("GreaterThanOrEqual")().bind(self, other)

    def __lt__(self, other: Any) -> "Task":
        return _operator("LessThan")().bind(self, other)

    def __le__(self, other: Any) -> "Task":
        return _operator("LessThanOrEqual")().bind(self, other)

    __hash__ = object.__hash__

    def __iter__(self) -> Iterator["Task"]:
        if self.nout is None:
            raise TypeError(
                "Task is not iterable. If your task returns multiple results, pass `nout` to "
                "the task decorator/constructor, or provide a `Tuple` return-type annotation to "
                "your task."
            )
        return (self[i] for i in range(self.nout))

    def __getitem__(self, key: Any) -> "Task":
        name = f"{self.name}[{key!r}]"
        getitem = _operator("GetItem")
        return getitem(checkpoint=self.checkpoint, name=name, result=self.result).bind(self, key)


def _operator(name: str) -> type:
    from pipelines.compat.prefect1.tasks.core import operators

    return getattr(operators, name)


def _failure_handler(on_failure: Callable) -> Callable:
    """Prefect 1's `on_failure=fn(task, state)` as a state handler."""

    def handler(task: Task, old_state: Any, new_state: Any) -> Any:
        if new_state.is_failed():
            on_failure(task, new_state)
        return new_state

    return handler


__all__ = ["NoDefault", "Task"]
