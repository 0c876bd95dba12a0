"""
The little of Prefect 1's `Client` that flows use, on the Prefect 3 API: rename a flow run,
read one, cancel one. GraphQL queries (Prefect 1 Server's API) are not supported.
"""

from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.states import Cancelled

from pipelines.compat.prefect1.backend.flow_run import FlowRunView


class Client:
    """`prefect.Client()`: talks to the Prefect 3 server of this process."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args
        self.kwargs = kwargs

    def set_flow_run_name(self, flow_run_id: str, name: str) -> bool:
        """Rename a flow run (what the UI lists)."""
        with get_client(sync_client=True) as client:
            client.update_flow_run(UUID(str(flow_run_id)), name=name)
        return True

    def get_flow_run_info(self, flow_run_id: str) -> FlowRunView:
        return FlowRunView.from_flow_run_id(flow_run_id)

    def cancel_flow_run(self, flow_run_id: str) -> bool:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(UUID(str(flow_run_id)), Cancelled(), force=True)
        return True

    def create_flow_run(
        self,
        flow_id: str | None = None,
        parameters: dict | None = None,
        run_name: str | None = None,
        **kwargs: Any,
    ) -> str:
        raise NotImplementedError(
            "Client.create_flow_run takes Prefect 1 flow ids; use "
            "prefect.tasks.prefect.create_flow_run(flow_name=...) (a deployment run)"
        )

    def graphql(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "Prefect 1 Server's GraphQL API does not exist on Prefect 3: read runs with "
            "prefect.get_client() (read_flow_runs, read_deployments, ...)"
        )

    def get_cloud_url(self, subdomain: str, id: str, as_user: bool = True) -> str:
        return f"/runs/flow-run/{id}"


__all__ = ["Client"]
