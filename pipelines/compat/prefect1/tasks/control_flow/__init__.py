"""Prefect 1's control flow: `case`, `merge`, `ifelse`, `switch`, `FilterTask`."""

# pylint: disable=no-name-in-module  # pylint reads tasks.py/schedules.py, not the packages beside them

from pipelines.compat.prefect1.tasks.control_flow.case import case
from pipelines.compat.prefect1.tasks.control_flow.conditional import ifelse, merge, switch
from pipelines.compat.prefect1.tasks.control_flow.filter import FilterTask

__all__ = ["FilterTask", "case", "ifelse", "merge", "switch"]
