"""
Finds every flow of the repository by walking `pipelines/`: nobody keeps a list by hand.
"""

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig

import pipelines
from pipelines.framework.config import UsageError
from pipelines.framework.runtime import Schedule

FLOW_MODULE = "flows"
_SKIPPED_PACKAGES = ("pipelines.framework",)


class DiscoveryError(UsageError, RuntimeError):
    """A flows module that does not import."""


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
        return inspect.getsourcelines(self.flow.fn)[1]

    @property
    def code_owners(self) -> tuple[str, ...]:
        return tuple(getattr(self.flow, "code_owners", ()) or ())

    @property
    def schedule(self) -> Schedule | None:
        return getattr(self.flow, "schedule", None)

    @property
    def deployment_concurrency(self) -> ConcurrencyLimitConfig | None:
        """The deployment's concurrency limit and what a run over it does (queue or cancel)."""
        return getattr(self.flow, "deployment_concurrency", None)

    @property
    def orgao(self) -> str:
        return self.module.split(".")[1]

    @property
    def project(self) -> str:
        parts = self.module.split(".")
        return parts[2] if len(parts) > 3 else ""

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


def flow_modules() -> list[str]:
    """Dotted names of every `flows` module under `pipelines/`, framework excluded."""
    names = []
    for module in pkgutil.walk_packages(pipelines.__path__, prefix="pipelines."):
        if module.name.startswith(_SKIPPED_PACKAGES):
            continue
        if module.name.rsplit(".", 1)[-1] == FLOW_MODULE:
            names.append(module.name)
    return sorted(names)


def flows_in(module_name: str) -> list[FlowInfo]:
    """The flows defined (not merely imported) in one module."""
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken module must name itself, whatever it raised
        raise DiscoveryError(f"{module_name}: cannot import: {exc!r}") from exc
    return [
        FlowInfo(flow=obj, module=module_name, attribute=attribute)
        for attribute, obj in vars(module).items()
        if isinstance(obj, Flow) and _belongs_to(obj, module_name)
    ]


def _belongs_to(flow: Flow, module_name: str) -> bool:
    """Defined in the module, or a copy made there with `instantiate` (not a plain import)."""
    if flow.fn.__module__ == module_name:
        return True
    origin = importlib.import_module(flow.fn.__module__)
    return getattr(origin, flow.fn.__name__, None) is not flow


def discover_flows() -> list[FlowInfo]:
    """Every flow of the repository, sorted by name."""
    found = [info for name in flow_modules() for info in flows_in(name)]
    return sorted(found, key=lambda info: info.name)


class FlowNotFoundError(UsageError, LookupError):
    """No flow, or more than one, matches what the user typed."""


def find_flow(query: str, flows: list[FlowInfo] | None = None) -> FlowInfo:
    """A flow by full name, a unique part of its name, its module, or `module:attribute`."""
    flows = discover_flows() if flows is None else flows
    exact = [f for f in flows if query in (f.name, f.module, f.entrypoint)]
    if len(exact) == 1:
        return exact[0]
    candidates = exact or [f for f in flows if query.lower() in f.name.lower()]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FlowNotFoundError(f"no flow matches {query!r}; `pipelines flows` lists them")
    names = ", ".join(repr(f.name) for f in candidates)
    raise FlowNotFoundError(f"{query!r} matches {len(candidates)} flows: {names}; be more specific")
