"""
Prefect 1 `Flow`, built with `with Flow("name") as flow:`, that is also a real Prefect 3 flow.

Inside the `with` block, calling tasks records the graph (tasks, edges, constants), as Prefect 1
does. The object is a `prefect.Flow` whose function runs that graph on Prefect 3 (one task run
per Prefect 1 task, see `_runner`) and whose signature is built from the flow's Parameters, so
discovery, registration, the run form and `pipelines run` treat it like any other flow.
Prefect 1 settings (`schedule`, `storage`, `run_config`, `executor`, `code_owners`,
`skip_if_running`) are plain attributes that registration reads.
"""

# pylint: disable=unused-argument,too-many-locals,protected-access  # Prefect 1's signatures, kept as they are

import copy
import functools
import inspect
import itertools
import logging
import re
import sys
import types
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import prefect
from prefect.utilities.callables import ParameterSchema, parameter_schema

from pipelines.compat.prefect1 import _runner
from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1._names import prefect3_name
from pipelines.compat.prefect1.core.edge import Edge
from pipelines.compat.prefect1.core.parameter import Parameter
from pipelines.compat.prefect1.core.task import Task
from pipelines.compat.prefect1.tasks.core.constants import Constant
from pipelines.compat.prefect1.utilities.tasks import as_task
from pipelines.framework.runtime import Schedule as PlatformSchedule
from pipelines.framework.runtime import flow as platform_flow

_SKIP_IF_RUNNING_HANDLER = "skip_if_running_handler"
_logger = logging.getLogger("pipelines.compat")


class _FlowParameters(ParameterSchema):
    """Prefect 3's parameter schema that is also Prefect 1's `flow.parameters()`."""

    def __call__(self) -> set[Parameter]:
        return set(self.__pydantic_private__.get("_tasks", ()) if self.__pydantic_private__ else ())


@functools.cache
def _alert_hooks() -> tuple[list[Callable], list[Callable]]:
    """The platform's failure-alert hooks (to the code owners), taken from a declared flow."""
    probe = platform_flow("compat alert probe", code_owners=())(lambda: None)
    return list(probe.on_failure_hooks), list(probe.on_crashed_hooks)


def _definition_site(flow: "Flow") -> tuple[str, str, int]:
    """Module, file and line of the code that built (or copied) `flow`, past any subclass
    `__init__`, the `copy` module and this package."""
    frame = sys._getframe(2)
    while frame is not None and (
        frame.f_locals.get("self") is flow
        or frame.f_globals.get("__name__", "").startswith(("pipelines.compat.prefect1", "copy"))
    ):
        frame = frame.f_back
    if frame is None:
        return "__main__", "<unknown>", 1
    return frame.f_globals.get("__name__", "__main__"), frame.f_code.co_filename, frame.f_lineno


def _function_name(name: str) -> str:
    cleaned = re.sub(r"\W+", "_", name).strip("_").lower() or "flow"
    return cleaned if cleaned.isidentifier() and not cleaned[0].isdigit() else f"flow_{cleaned}"


def _code_owners(on_failure: Any) -> tuple[str, ...] | None:
    """`on_failure=partial(notify..., code_owners=[...])` of the office's Flow subclass."""
    if isinstance(on_failure, functools.partial) and "code_owners" in on_failure.keywords:
        return tuple(on_failure.keywords["code_owners"] or ())
    return None


class Flow(prefect.Flow):  # pylint: disable=too-many-instance-attributes,too-many-public-methods
    """A Prefect 1 flow: a graph of tasks, and the Prefect 3 flow that runs it."""

    def __init__(
        self,
        name: str,
        schedule: Any = None,
        executor: Any = None,
        environment: Any = None,
        run_config: Any = None,
        storage: Any = None,
        tasks: Iterable[Task] | None = None,
        edges: Iterable[Edge] | None = None,
        reference_tasks: Iterable[Task] | None = None,
        state_handlers: list[Callable] | None = None,
        on_failure: Callable | None = None,
        validate: bool | None = None,
        result: Any = None,
        terminal_state_handler: Callable | None = None,
        code_owners: Iterable[str] | None = None,
        skip_if_running: bool = False,
    ):
        if not name:
            raise ValueError("A name must be provided for the flow.")
        module, filename, line = _definition_site(self)
        self.tasks: set[Task] = set()
        self.edges: set[Edge] = set()
        self.constants: defaultdict[Task, dict[str, Any]] = defaultdict(dict)
        self.slugs: dict[Task, str] = {}
        self._order: dict[Task, None] = {}
        self._edges_to: defaultdict[Task, list[Edge]] = defaultdict(list)
        self._edges_from: defaultdict[Task, list[Edge]] = defaultdict(list)
        self._slug_counters: defaultdict[str, itertools.count] = defaultdict(
            lambda: itertools.count(1)
        )
        self._reference_tasks: set[Task] = set()
        self._cache: dict[str, Any] = {}
        self._signature_dirty = True
        self.schedule = schedule
        self.executor = executor
        self.environment = environment
        self.run_config = run_config
        self.storage = storage
        self.result = result
        self.terminal_state_handler = terminal_state_handler
        handlers = list(state_handlers or [])
        self.skip_if_running = bool(skip_if_running) or any(
            getattr(h, "__name__", "") == _SKIP_IF_RUNNING_HANDLER for h in handlers
        )
        self.state_handlers = [
            h for h in handlers if getattr(h, "__name__", "") != _SKIP_IF_RUNNING_HANDLER
        ]
        owners = _code_owners(on_failure)
        self.code_owners = tuple(code_owners or owners or ())
        self.on_failure = None if owners is not None else on_failure
        self._site = (module, filename, line)
        self.definition_module = module
        """The module that built this flow or deep-copied it: where discovery should list it."""
        super().__init__(fn=self._build_fn(_function_name(name)), name=name)
        failure_hooks, crashed_hooks = _alert_hooks()
        self.on_failure_hooks.extend(failure_hooks)
        self.on_crashed_hooks.extend(crashed_hooks)
        for task in tasks or ():
            self.add_task(task)
        for edge in edges or ():
            self.add_edge(
                edge.upstream_task, edge.downstream_task, edge.key, edge.mapped, edge.flattened
            )
        self.set_reference_tasks(reference_tasks or [])

    # The Prefect 3 side ------------------------------------------------------------------------

    def _build_fn(self, function_name: str) -> Callable[..., Any]:
        """A function that runs this flow's graph, defined at the `with Flow` line."""
        graph = self
        # One line, so a traceback through it points at the `with Flow(...)` line itself.
        run_prefect1_flow = lambda **parameters: _runner.run_flow(graph, parameters)  # noqa: E731  # pylint: disable=unnecessary-lambda-assignment
        module, filename, line = self._site
        code = run_prefect1_flow.__code__
        if filename != "<unknown>":
            code = code.replace(co_filename=filename, co_firstlineno=line)
        fn = types.FunctionType(
            code.replace(co_name=function_name, co_qualname=function_name),
            run_prefect1_flow.__globals__,
            function_name,
            None,
            run_prefect1_flow.__closure__,
        )
        fn.__module__ = module
        fn.__qualname__ = function_name
        fn.__doc__ = None
        return fn

    @property  # type: ignore[override]
    def fn(self) -> Callable[..., Any]:
        """The Prefect 3 function; its signature follows the Parameters (even edited later)."""
        key = tuple((p.name, p.required, id(p.default)) for p in self._parameter_tasks())
        if self.__dict__.get("_signature_dirty", False) or self.__dict__.get("_key") != key:
            self._refresh_signature()
            self.__dict__["_key"] = key
        return self.__dict__["_fn"]

    @fn.setter
    def fn(self, value: Callable[..., Any]) -> None:
        self.__dict__["_fn"] = value
        self.__dict__["_signature_dirty"] = True

    @property  # type: ignore[override]
    def parameters(self) -> _FlowParameters:
        """Prefect 3's schema of the parameters; call it for Prefect 1's set of Parameters."""
        fn = self.fn
        cached = self.__dict__.get("_schema")
        if cached is None or cached[0] is not fn.__signature__:
            base = parameter_schema(fn)
            schema = _FlowParameters(**base.model_dump())
            schema.__pydantic_private__ = {"_tasks": self._parameter_tasks()}
            cached = (fn.__signature__, schema)
            self.__dict__["_schema"] = cached
        return cached[1]

    @parameters.setter
    def parameters(self, value: Any) -> None:
        """Prefect 3 assigns its schema at creation; the graph's Parameters decide it here."""

    def _parameter_tasks(self) -> list[Parameter]:
        return list(self.__dict__.get("_parameters", {}))

    def _refresh_signature(self) -> None:
        fn = self.__dict__["_fn"]
        required, optional = [], []
        for parameter in self._parameter_tasks():
            if not parameter.name.isidentifier():
                continue
            if parameter.required:
                required.append(inspect.Parameter(parameter.name, inspect.Parameter.KEYWORD_ONLY))
            else:
                optional.append(
                    inspect.Parameter(
                        parameter.name, inspect.Parameter.KEYWORD_ONLY, default=parameter.default
                    )
                )
        fn.__signature__ = inspect.Signature([*required, *optional])
        self.__dict__["_signature_dirty"] = False

    def _rename_function(self, function_name: str) -> None:
        fn = self.__dict__["_fn"]
        fn.__name__ = fn.__qualname__ = function_name
        fn.__code__ = fn.__code__.replace(co_name=function_name, co_qualname=function_name)
        self.__name__ = self.__qualname__ = function_name  # pylint: disable=attribute-defined-outside-init
        module = fn.__module__
        self._entrypoint = f"{module}:{function_name}"

    def __deepcopy__(self, memo: dict) -> "Flow":
        """A copy with its own graph and its own function: copies share no state."""
        new = object.__new__(type(self))
        memo[id(self)] = new
        skip = {"_fn", "__wrapped__", "task_runner", "_schema", "_cache", "_key"}
        for key, value in self.__dict__.items():
            if key in skip:
                continue
            if key.endswith("_hooks"):
                new.__dict__[key] = list(value)
            else:
                new.__dict__[key] = copy.deepcopy(value, memo)
        new.__dict__["_cache"] = {}
        new.definition_module = _definition_site(new)[0]
        new.task_runner = self.task_runner.duplicate()
        fn = new._build_fn(self.__dict__["_fn"].__name__)
        new.__dict__["_fn"] = fn
        new.__dict__["__wrapped__"] = fn
        new.__dict__["_signature_dirty"] = True
        return new

    def copy(self) -> "Flow":  # type: ignore[override]
        """Prefect 1's `flow.copy()`: a new flow with the same graph and settings."""
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        return f'<Flow: name="{self.name}">'

    def __iter__(self):
        return iter(self.sorted_tasks())

    @property  # type: ignore[override]
    def name(self) -> str:
        return self.__dict__["_name"]

    @name.setter
    def name(self, value: str) -> None:
        renamed = prefect3_name(value)
        if renamed != value:
            _logger.warning("flow name %r holds characters Prefect 3 refuses: %r", value, renamed)
        self.__dict__["_name"] = renamed

    @property
    def schedule(self) -> PlatformSchedule | None:
        """The schedule as registration reads it: each clock's labels (else the run config's),
        and, when registered, only the parameter defaults that are this flow's parameters."""
        raw = self.__dict__.get("_schedule")
        if raw is None or not isinstance(raw, PlatformSchedule):
            return raw
        labels = tuple(sorted(getattr(self.run_config, "labels", None) or ()))
        view = object.__new__(type(raw))
        view.__dict__.update(raw.__dict__)
        clocks = tuple(_FlowClock(clock, self, labels) for clock in raw.clocks)
        object.__setattr__(view, "clocks", clocks)
        return view

    @schedule.setter
    def schedule(self, value: Any) -> None:
        self.__dict__["_schedule"] = value

    # Building ----------------------------------------------------------------------------------

    def __enter__(self) -> "Flow":
        self.__dict__.setdefault("_previous_flows", []).append(context.get("flow"))
        context.update(flow=self)
        return self

    def __exit__(self, *exc: Any) -> None:
        previous = self.__dict__["_previous_flows"].pop()
        if previous is None:
            context.pop("flow", None)
        else:
            context.update(flow=previous)
        frame = sys._getframe(1)
        for variable, value in frame.f_locals.items():
            if value is self and variable.isidentifier():
                self._rename_function(variable)
                break

    def add_task(self, task: Task) -> Task:
        """Add a task (once); inside `with case(...)` the case records it too."""
        if not isinstance(task, Task):
            raise TypeError(f"Tasks must be Task instances (received {type(task)})")
        if task in self._order:
            return task
        if task.slug and task.slug in self.slugs.values():
            raise ValueError(f'A task with the slug "{task.slug}" already exists in this flow.')
        self.slugs[task] = task.slug or f"{task.name}-{next(self._slug_counters[task.name])}"
        self.tasks.add(task)
        self._order[task] = None
        self._cache.clear()
        if isinstance(task, Parameter):
            self.__dict__.setdefault("_parameters", {})[task] = None
            self.__dict__["_signature_dirty"] = True
        elif not isinstance(task, Constant):
            case = context.get("case")
            if case is not None:
                case.add_task(task, self)
        return task

    def add_edge(
        self,
        upstream_task: Any,
        downstream_task: Any,
        key: str | None = None,
        mapped: bool = False,
        flattened: bool = False,
        validate: bool | None = None,
    ) -> Edge:
        """An edge; a keyword constant is folded into `flow.constants` as Prefect 1 does."""
        if isinstance(downstream_task, Parameter):
            raise ValueError(
                "Parameters must be root tasks and can not have upstream dependencies."
            )
        edge = Edge(upstream_task, downstream_task, key, mapped, flattened, flow=self)
        if isinstance(edge.upstream_task, Constant) and key and not edge.mapped and not flattened:
            self.constants[edge.downstream_task][key] = edge.upstream_task.value
            self.add_task(edge.downstream_task)
            return edge
        if edge in self.edges:
            return edge
        self.edges.add(edge)
        self.add_task(edge.upstream_task)
        self.add_task(edge.downstream_task)
        self._edges_to[edge.downstream_task].append(edge)
        self._edges_from[edge.upstream_task].append(edge)
        self._cache.clear()
        return edge

    def set_dependencies(
        self,
        task: Any,
        upstream_tasks: Iterable[Any] | None = None,
        downstream_tasks: Iterable[Any] | None = None,
        keyword_tasks: dict[str, Any] | None = None,
        mapped: bool = False,
        validate: bool | None = None,
    ) -> None:
        """Add `task` with its upstream, downstream and keyword edges."""
        task = as_task(task, flow=self)
        self.add_task(task)
        for upstream in upstream_tasks or ():
            self.add_edge(upstream, task, mapped=mapped)
        for downstream in downstream_tasks or ():
            self.add_edge(task, downstream)
        for key, upstream in (keyword_tasks or {}).items():
            self.add_edge(upstream, task, key=key, mapped=mapped)

    def chain(self, *tasks: Task, validate: bool | None = None) -> list[Edge]:
        return [self.add_edge(a, b) for a, b in itertools.pairwise(tasks)]

    def update(self, flow: "Flow", merge_parameters: bool = False, validate: bool | None = None):
        """Add another flow's tasks, edges and constants to this one."""
        for task in flow._order:
            self.add_task(task)
        for edge in flow.edges:
            self.add_edge(
                edge.upstream_task, edge.downstream_task, edge.key, edge.mapped, edge.flattened
            )
        for task, constants in flow.constants.items():
            self.constants[task].update(constants)

    # Reading the graph -------------------------------------------------------------------------

    def edges_to(self, task: Task) -> set[Edge]:
        return set(self._edges_to.get(task, ()))

    def edges_from(self, task: Task) -> set[Edge]:
        return set(self._edges_from.get(task, ()))

    def upstream_tasks(self, task: Task) -> set[Task]:
        return {e.upstream_task for e in self._edges_to.get(task, ())}

    def downstream_tasks(self, task: Task) -> set[Task]:
        return {e.downstream_task for e in self._edges_from.get(task, ())}

    def root_tasks(self) -> set[Task]:
        return {t for t in self._order if not self._edges_to.get(t)}

    def terminal_tasks(self) -> set[Task]:
        return {t for t in self._order if not self._edges_from.get(t)}

    def reference_tasks(self) -> set[Task]:
        return set(self._reference_tasks) or self.terminal_tasks()

    def set_reference_tasks(self, tasks: Iterable[Task]) -> None:
        tasks = set(tasks)
        if any(t not in self.tasks for t in tasks):
            raise ValueError("reference tasks must be part of the flow.")
        self._reference_tasks = tasks

    def get_tasks(
        self,
        name: str | None = None,
        slug: str | None = None,
        tags: Iterable[str] | None = None,
        task_type: type | None = None,
    ) -> list[Task]:
        """Tasks by name, slug, tags or type."""
        found = []
        for task in self._order:
            if name is not None and task.name != name:
                continue
            if slug is not None and self.slugs.get(task) != slug:
                continue
            if tags is not None and not set(tags) <= task.tags:
                continue
            if task_type is not None and not isinstance(task, task_type):
                continue
            found.append(task)
        return found

    def sorted_tasks(self, root_tasks: Iterable[Task] | None = None) -> tuple[Task, ...]:
        """Tasks in an order where each comes after its upstream tasks (insertion order ties)."""
        if root_tasks is None and "sorted" in self._cache:
            return self._cache["sorted"]
        waiting = {
            t: len({e.upstream_task for e in self._edges_to.get(t, ())}) for t in self._order
        }
        ready = [t for t, n in waiting.items() if n == 0]
        ordered: list[Task] = []
        position = {t: i for i, t in enumerate(self._order)}
        while ready:
            ready.sort(key=position.__getitem__, reverse=True)
            task = ready.pop()
            ordered.append(task)
            for downstream in {e.downstream_task for e in self._edges_from.get(task, ())}:
                waiting[downstream] -= 1
                if waiting[downstream] == 0:
                    ready.append(downstream)
        if len(ordered) != len(self._order):
            raise ValueError("Cycle found; flows must be acyclic!")
        result = tuple(ordered)
        if root_tasks is not None:
            keep = set(root_tasks)
            for task in result:
                if self.upstream_tasks(task) & keep:
                    keep.add(task)
            return tuple(t for t in result if t in keep)
        self._cache["sorted"] = result
        return result

    def validate(self) -> None:
        """Checks Prefect 1 runs before a run: acyclic, reference tasks in the flow."""
        self.sorted_tasks()
        if any(t not in self.tasks for t in self._reference_tasks):
            raise ValueError("Some reference tasks are not contained in this flow.")

    # Running -----------------------------------------------------------------------------------

    def run(
        self,
        parameters: dict[str, Any] | None = None,
        run_on_schedule: bool | None = None,
        runner_cls: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Run the flow once, now, as a Prefect 3 flow run; returns the Prefect 1 final state.

        `flow.run(n_users=20)` and `flow.run(parameters={"n_users": 20})` both work; the state's
        `.result` maps every task to its state. A schedule is not followed here: scheduled runs
        are the deployment's (`pipelines register`).
        """
        values = dict(parameters or {})
        names = {p.name for p in self._parameter_tasks()}
        for key in list(kwargs):
            if key in names:
                values[key] = kwargs.pop(key)
        unknown = set(values) - names
        if unknown:
            shown = ", ".join(sorted(unknown))
            raise ValueError(f"Flow.run received the following unexpected parameters: {shown}")
        missing = {p.name for p in self._parameter_tasks() if p.required} - set(values)
        if missing:
            raise ValueError(
                "Flow.run did not receive the following required parameters: "
                + ", ".join(sorted(missing))
            )
        return _runner.run_locally(self, values)

    def serialize(self, build: bool = False) -> dict:
        raise NotImplementedError(
            "Flow.serialize is Prefect 1 Server's format; `pipelines flows --json` shows flows"
        )

    def register(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            "flows are registered by `pipelines register` (one deployment per flow)"
        )

    def visualize(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("the Prefect UI draws each run's task graph")


class _FlowClock:
    """A clock of a flow's schedule, seen through the flow (see `Flow.schedule`)."""

    def __init__(self, clock: Any, flow: Flow, run_config_labels: tuple[str, ...]):
        self._clock = clock
        self._flow = flow
        self.labels = tuple(clock.labels) or run_config_labels

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clock, name)

    def to_prefect(self) -> Any:
        """The deployment schedule; clock keys that are not parameters are dropped (Prefect 1
        ignored them, Prefect 3 would fail the run)."""
        names = {p.name for p in self._flow._parameter_tasks()}
        defaults = dict(self._clock.parameter_defaults)
        dropped = sorted(set(defaults) - names)
        if not dropped:
            return self._clock.to_prefect()
        _logger.warning(
            "%r: clock parameter(s) %s are not parameters of the flow; dropped",
            self._flow.name,
            ", ".join(dropped),
        )
        kept = copy.copy(self._clock)
        object.__setattr__(
            kept, "parameter_defaults", {k: defaults[k] for k in names & set(defaults)}
        )
        return kept.to_prefect()


__all__ = ["Flow"]
