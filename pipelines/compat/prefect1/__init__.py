"""
Prefect 1 (0.15) on Prefect 3: the API the guide's flows and the office's monorepo import.

After `pipelines migrate`, `from prefect import Flow, Parameter, task, case` reads
`from pipelines.compat.prefect1 import ...` and `import prefect` reads
`import pipelines.compat.prefect1 as prefect`, so `prefect.context.logger` keeps working.
Submodules mirror Prefect 1's paths (`.schedules.clocks`, `.engine.signals`, `.run_configs`, ...).
A flow built here is a real Prefect 3 flow; see docs/migrating-from-prefect-1.md.
"""

import importlib
from typing import Any

from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1.core.flow import Flow
from pipelines.compat.prefect1.core.parameter import Parameter
from pipelines.compat.prefect1.core.task import Task
from pipelines.compat.prefect1.tasks.control_flow import case
from pipelines.compat.prefect1.utilities.edges import flatten, mapped, unmapped
from pipelines.compat.prefect1.utilities.tasks import tags, task

__version__ = "0.15.9+compat"

_SUBMODULES = (
    "backend",
    "client",
    "core",
    "engine",
    "environments",
    "executors",
    "run_configs",
    "schedules",
    "storage",
    "tasks",
    "triggers",
    "utilities",
)


def __getattr__(name: str) -> Any:
    """`prefect.schedules`, `prefect.engine.signals`, `prefect.Client`... imported when used."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "Client":
        return importlib.import_module(f"{__name__}.client").Client
    if name == "apply_map":
        return importlib.import_module(f"{__name__}.utilities.tasks").apply_map
    raise AttributeError(f"module 'prefect' (Prefect 1 compat) has no attribute {name!r}")


__all__ = [
    "Client",
    "Flow",
    "Parameter",
    "Task",
    "case",
    "context",
    "flatten",
    "mapped",
    "tags",
    "task",
    "unmapped",
]
