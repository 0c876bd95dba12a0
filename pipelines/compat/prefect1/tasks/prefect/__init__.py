"""Prefect 1's `prefect.tasks.prefect`: child flow runs of deployments found by flow name."""

from pipelines.compat.prefect1.tasks.prefect.flow_run import (
    StartFlowRun,
    create_flow_run,
    get_task_run_result,
    wait_for_flow_run,
)
from pipelines.compat.prefect1.tasks.prefect.flow_run_rename import RenameFlowRun

__all__ = [
    "RenameFlowRun",
    "StartFlowRun",
    "create_flow_run",
    "get_task_run_result",
    "wait_for_flow_run",
]
