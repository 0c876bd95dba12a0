"""Prefect 1's `RenameFlowRun` task: rename a flow run (by default, the current one)."""

# pylint: disable=arguments-differ  # Prefect 1's signatures, kept as they are

from typing import Any

from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1.client.client import Client
from pipelines.compat.prefect1.core.task import Task


class RenameFlowRun(Task):
    """`RenameFlowRun(flow_run_name=...)`: the UI lists the run under its new name."""

    def __init__(
        self, flow_run_id: str | None = None, flow_run_name: str | None = None, **kwargs: Any
    ):
        self.flow_run_id = flow_run_id
        self.flow_run_name = flow_run_name
        kwargs.setdefault("name", "RenameFlowRun")
        super().__init__(**kwargs)

    def run(self, flow_run_id: str | None = None, flow_run_name: str | None = None) -> bool:  # type: ignore[override]
        """Rename the run `flow_run_id` (else the current one) to `flow_run_name`."""
        run_id = flow_run_id or self.flow_run_id or context.get("flow_run_id")
        name = flow_run_name or self.flow_run_name
        if not run_id or not name:
            raise ValueError("RenameFlowRun needs a flow run id (or a flow run) and a name")
        return Client().set_flow_run_name(str(run_id), str(name))


__all__ = ["RenameFlowRun"]
