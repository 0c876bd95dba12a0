"""Prefect 1's control flow: `case`, `merge`, `ifelse`, `switch`, `FilterTask`."""

from pipelines.compat.prefect1.tasks.control_flow.case import case
from pipelines.compat.prefect1.tasks.control_flow.conditional import ifelse, merge, switch
from pipelines.compat.prefect1.tasks.control_flow.filter import FilterTask

__all__ = ["FilterTask", "case", "ifelse", "merge", "switch"]
