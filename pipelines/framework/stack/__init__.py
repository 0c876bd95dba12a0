"""
The platform on one machine: the local Prefect server (started once, found again), its security
(encryption key, basic auth, retention), the services of `pipelines up` (a worker per label, the
crash automation), local runs of `pipelines run`, and stand-ins of the external APIs the example
flows read, for running them offline (`pipelines dev`).
"""

from typing import TYPE_CHECKING

from pipelines.framework import lazy_names

if TYPE_CHECKING:  # imported on first use; all but dev, run_records, server, state import Prefect
    from pipelines.framework.stack.dev import RandomUserAPI
    from pipelines.framework.stack.local_run import (
        RunOutcome,
        crash_orphaned_runs,
        local_runs,
        run_flow,
    )
    from pipelines.framework.stack.run_records import dead_records
    from pipelines.framework.stack.server import (
        ServerError,
        api_settings,
        ensure_server,
        free_port,
        is_healthy,
        local_api,
        server_starting,
        start_in_background,
        start_server,
        stop_process_group,
        stop_server,
    )
    from pipelines.framework.stack.services import down, up
    from pipelines.framework.stack.state import StackState, status

__all__ = [
    "RandomUserAPI",
    "RunOutcome",
    "ServerError",
    "StackState",
    "api_settings",
    "crash_orphaned_runs",
    "dead_records",
    "down",
    "ensure_server",
    "free_port",
    "is_healthy",
    "local_api",
    "local_runs",
    "run_flow",
    "server_starting",
    "start_in_background",
    "start_server",
    "status",
    "stop_process_group",
    "stop_server",
    "up",
]
__getattr__ = lazy_names(__name__)
