"""
Finds every flow of the repository by walking `pipelines/`: nobody keeps a list by hand.

A flows module that does not import is reported (file:line and the error) and the others are
still found: one broken project never hides the rest, and registration keeps the deployments of
a module it could not read instead of pausing them as deleted.
"""

import importlib
import inspect
import traceback
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig

from pipelines.framework.config import PACKAGE_ROOT, UsageError
from pipelines.framework.deploy.manifest import (
    Discovery,
    FlowRecord,
    ImportFailure,
    discover,
    flow_modules,
    matching,
)
from pipelines.framework.runtime import Schedule

__all__ = [  # with what the manifest holds (no Prefect there), for the importers of this module
    "Discovery",
    "DiscoveryError",
    "FlowInfo",
    "FlowNotFoundError",
    "ImportFailure",
    "discover",
    "discover_flows",
    "find_flow",
    "flow_modules",
    "flows_in",
    "load_flows",
]
_PLATFORM_FOLDERS = (PACKAGE_ROOT / "framework", PACKAGE_ROOT / "compat")
"""Code that flows call: an error raised there is reported at the flow's line that called it."""


class DiscoveryError(UsageError, RuntimeError):
    """A flows module that does not import."""

    def __init__(self, failure: ImportFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


@dataclass(frozen=True)
class Parameter:
    """One parameter of a flow, as a user passes it."""

    name: str
    annotation: Any
    default: Any

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def type_name(self) -> str:
        """The annotation as a user reads it: `int`, `str`, `list[int]`."""
        annotation = self.annotation
        if getattr(annotation, "__metadata__", None):  # Annotated[int, Field(...)]
            annotation = annotation.__origin__
        if annotation is inspect.Parameter.empty:
            return "any"
        return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


@dataclass(frozen=True)
class FlowInfo:
    """A discovered flow and what the guide asks it to declare."""

    flow: Flow
    module: str
    attribute: str
    """The flow's variable name in its module: the deployment entrypoint is `module:attribute`."""

    @property
    def name(self) -> str:
        return self.flow.name

    @property
    def function_name(self) -> str:
        return self.flow.fn.__name__

    @property
    def entrypoint(self) -> str:
        return f"{self.module}:{self.attribute}"

    @property
    def path(self) -> Path:
        return Path(inspect.getsourcefile(self.flow.fn) or "")

    @property
    def line(self) -> int:
        """The flow's first line: its decorator, or the `with Flow(...)` of a Prefect 1 flow
        (whose function getsourcelines would walk up from, to an unrelated def above)."""
        code = getattr(self.flow.fn, "__code__", None)
        return code.co_firstlineno if code else inspect.getsourcelines(self.flow.fn)[1]

    @property
    def code_owners(self) -> tuple[str, ...]:
        return tuple(getattr(self.flow, "code_owners", ()) or ())

    @property
    def schedule(self) -> Schedule | None:
        return getattr(self.flow, "schedule", None)

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels that pick the flow's work pool: its schedule's; without one, its Prefect 1
        run config's (`flow.run_config.labels`, pipelines.compat), sorted."""
        if self.schedule:
            return tuple(self.schedule.labels)
        return tuple(sorted(getattr(getattr(self.flow, "run_config", None), "labels", None) or ()))

    @property
    def deployment_concurrency(self) -> ConcurrencyLimitConfig | None:
        """The deployment's concurrency limit and what a run over it does (queue or cancel)."""
        return getattr(self.flow, "deployment_concurrency", None)

    @property
    def orgao(self) -> str:
        return self.module.split(".")[1]

    @property
    def project(self) -> str:
        """The folders between the orgao and the module: `projeto`, or `area.projeto` in the
        deeper layout of `pipelines/orgao/area/projeto/flows.py`."""
        return ".".join(self.module.split(".")[2:-1])

    @cached_property
    def parameters(self) -> dict[str, Parameter]:
        signature = inspect.signature(self.flow.fn)
        return {
            name: Parameter(name, param.annotation, param.default)
            for name, param in signature.parameters.items()
        }

    def defaults(self) -> dict[str, Any]:
        """Parameters that have a default, with it."""
        return {p.name: p.default for p in self.parameters.values() if not p.required}

    def summary(self) -> dict[str, Any]:
        """What `pipelines flows` shows of the flow, as plain data (`--json` prints it)."""
        schedule = self.schedule
        return {
            "name": self.name,
            "module": self.module,
            "function": self.function_name,
            "orgao": self.orgao,
            "project": self.project,
            "code_owners": list(self.code_owners),
            "parameters": [
                {
                    "name": p.name,
                    "type": p.type_name,
                    "required": p.required,
                    "default": None if p.required else p.default,
                }
                for p in self.parameters.values()
            ],
            "labels": list(self.labels),
            "schedules": [
                {
                    "description": clock.describe(),
                    "timezone": clock.timezone,
                    "labels": list(clock.labels),
                    "parameter_defaults": clock.parameter_defaults,
                }
                for clock in (schedule.clocks if schedule else ())
            ],
        }


def flows_in(module_name: str) -> list[FlowInfo]:
    """The flows defined (not merely imported) in one module."""
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # a broken module names itself, whatever it raised
        raise DiscoveryError(import_failure(module_name, exc)) from exc
    return [
        FlowInfo(flow=obj, module=module_name, attribute=attribute)
        for attribute, obj in vars(module).items()
        if isinstance(obj, Flow) and _belongs_to(obj, module_name)
    ]


def import_failure(module_name: str, exc: BaseException) -> ImportFailure:
    """Where and why `module_name` did not import, in the words a flow author acts on."""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = Path(exc.filename)
        return ImportFailure(module_name, where, exc.lineno or 1, f"SyntaxError: {exc.msg}", True)
    path, line = _failing_line(exc.__traceback__) or (_module_file(module_name), 1)
    return ImportFailure(module_name, path, line, _one_line(exc))


def _one_line(exc: BaseException) -> str:
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if missing and not missing.startswith("pipelines"):
        package = missing.split(".")[0]
        return f"No module named {missing!r}: install the package {package!r} (a dependency)"
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def _failing_line(tb: TracebackType | None) -> tuple[Path, int] | None:
    """The innermost frame in the flows' own code (not the platform's, not a library's)."""
    found = None
    for frame in traceback.extract_tb(tb):
        path = Path(frame.filename)
        if path.is_relative_to(PACKAGE_ROOT) and not any(
            path.is_relative_to(platform) for platform in _PLATFORM_FOLDERS
        ):
            found = (path, frame.lineno or 1)
    return found


def _module_file(module_name: str) -> Path:
    base = PACKAGE_ROOT.parent.joinpath(*module_name.split("."))
    package = base / "__init__.py"
    return package if package.is_file() else base.with_suffix(".py")


def _belongs_to(flow: Flow, module_name: str) -> bool:
    """Defined in the module, or a copy made there with `instantiate` (not a plain import).

    A Prefect 1 flow (pipelines.compat) records the module that built or deep-copied it: an
    imported generic flow is then listed once, where it is defined.
    """
    defined_in = getattr(flow, "definition_module", None)
    if defined_in:
        return defined_in == module_name
    if flow.fn.__module__ == module_name:
        return True
    origin = importlib.import_module(flow.fn.__module__)
    return getattr(origin, flow.fn.__name__, None) is not flow


def load_flows(found: Discovery) -> Discovery:
    """The flows themselves of a discovery, each module imported once; a module that does not
    import now (the manifest read it before) joins the failures."""
    flows: list[FlowInfo] = []
    failures = list(found.failures)
    for module in sorted({record.module for record in found.flows}):
        try:
            flows.extend(flows_in(module))
        except DiscoveryError as exc:
            failures.append(exc.failure)
    return Discovery(sorted(flows, key=lambda info: info.name), failures)


def discover_flows() -> list[FlowInfo]:
    """Every flow of the repository that imports, sorted by name (`discover` says which did not
    and reads unchanged modules from the manifest instead of importing them)."""
    return load_flows(discover()).flows


class FlowNotFoundError(UsageError, LookupError):
    """No flow, or more than one, matches what the user typed."""


def find_flow(query: str, flows: list[FlowInfo] | list[FlowRecord] | None = None) -> FlowInfo:
    """A flow by full name, a unique part of its name, its module, or `module:attribute`; looked
    up in the manifest's records, so only the module of the flow found is imported."""
    flows = discover(looking_for=query).flows if flows is None else flows
    candidates = matching(query, flows)
    if len(candidates) == 1:
        found = candidates[0]
        return found.load() if isinstance(found, FlowRecord) else found
    if not candidates:
        raise FlowNotFoundError(f"no flow matches {query!r}; `pipelines flows` lists them")
    names = ", ".join(repr(f.name) for f in candidates)
    raise FlowNotFoundError(f"{query!r} matches {len(candidates)} flows: {names}; be more specific")
