"""Prefect 1's core objects: `Flow`, `Task`, `Parameter`, `Edge`."""

from pipelines.compat.prefect1.core.edge import Edge
from pipelines.compat.prefect1.core.flow import Flow
from pipelines.compat.prefect1.core.parameter import Parameter
from pipelines.compat.prefect1.core.task import Task

__all__ = ["Edge", "Flow", "Parameter", "Task"]
