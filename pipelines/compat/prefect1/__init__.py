"""
Prefect 1 (0.15) on Prefect 3: the API the guide's flows and the office's monorepo import.

After `pipelines migrate`, `from prefect import Flow, Parameter, task, case` reads
`from pipelines.compat.prefect1 import ...` and `import prefect` reads
`import pipelines.compat.prefect1 as prefect`, so `prefect.context.logger` keeps working.
Submodules mirror Prefect 1's paths (`.schedules.clocks`, `.engine.signals`, `.run_configs`, ...).
A flow built here is a real Prefect 3 flow; see docs/migrating-from-prefect-1.md.
"""

from typing import Any

from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1.core.flow import Flow
from pipelines.compat.prefect1.core.parameter import Parameter
from pipelines.compat.prefect1.core.task import Task
from pipelines.compat.prefect1.tasks.control_flow import case
from pipelines.compat.prefect1.utilities.edges import flatten, mapped, unmapped
from pipelines.compat.prefect1.utilities.tasks import tags, task

__version__ = "0.15.9+compat"

# Every submodule, imported here so `prefect.engine.signals`, `prefect.schedules.clocks`, ...
# work as attributes and registration's code snapshot (which follows imports) holds them all.
from pipelines.compat.prefect1 import (
    backend,
    client,
    core,
    engine,
    environments,
    executors,
    run_configs,
    schedules,
    storage,
    tasks,
    triggers,
    utilities,
)
from pipelines.compat.prefect1.backend import flow_run as _flow_run
from pipelines.compat.prefect1.client import Client
from pipelines.compat.prefect1.engine import result as _result
from pipelines.compat.prefect1.engine import results as _results
from pipelines.compat.prefect1.tasks import control_flow as _control_flow
from pipelines.compat.prefect1.tasks import prefect as _prefect_tasks
from pipelines.compat.prefect1.tasks import secrets as _secrets
from pipelines.compat.prefect1.tasks.core import collections as _collections
from pipelines.compat.prefect1.tasks.core import constants as _constants
from pipelines.compat.prefect1.tasks.core import function as _function
from pipelines.compat.prefect1.tasks.core import operators as _operators
from pipelines.compat.prefect1.utilities import collections as _dot_dict
from pipelines.compat.prefect1.utilities import exceptions as _exceptions
from pipelines.compat.prefect1.utilities import graphql as _graphql
from pipelines.compat.prefect1.utilities import logging as _logging

_LOADED = (
    _collections,
    _constants,
    _control_flow,
    _dot_dict,
    _exceptions,
    _flow_run,
    _function,
    _graphql,
    _logging,
    _operators,
    _prefect_tasks,
    _result,
    _results,
    _secrets,
)
"""Deeper submodules, loaded with the package (their names stay out of `prefect.*`)."""


def __getattr__(name: str) -> Any:
    if name == "apply_map":
        raise AttributeError(
            "apply_map is not supported by the compat layer: call .map on each task instead"
        )
    raise AttributeError(f"module 'prefect' (Prefect 1 compat) has no attribute {name!r}")


__all__ = [
    "Client",
    "Flow",
    "Parameter",
    "Task",
    "backend",
    "case",
    "client",
    "context",
    "core",
    "engine",
    "environments",
    "executors",
    "flatten",
    "mapped",
    "run_configs",
    "schedules",
    "storage",
    "tags",
    "task",
    "tasks",
    "triggers",
    "unmapped",
    "utilities",
]
