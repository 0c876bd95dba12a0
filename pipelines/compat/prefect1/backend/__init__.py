"""Prefect 1's `prefect.backend`: `FlowRunView` read from the Prefect 3 API."""

from pipelines.compat.prefect1.backend.flow_run import FlowRunView, TaskRunView, watch_flow_run

__all__ = ["FlowRunView", "TaskRunView", "watch_flow_run"]
