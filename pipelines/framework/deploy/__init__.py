"""
From the repository to the server: discovery (every flow, by walking `pipelines/`), registration
(one deployment per flow and environment, code uploaded under its fingerprint), the code closure
it uploads, work pools (the guide's agents), backfills, the conventions `pipelines check` holds
and the scaffold of `pipelines new`.
"""

from typing import TYPE_CHECKING

from pipelines.framework import lazy_names

if TYPE_CHECKING:  # imported on first use: most import Prefect, the scaffold the settings
    from pipelines.framework.deploy.backfill import (
        BackfillError,
        PlannedRun,
        create_backfill,
        next_run,
        planned_runs,
    )
    from pipelines.framework.deploy.checks import Finding, run_checks
    from pipelines.framework.deploy.discovery import (
        DiscoveryError,
        FlowInfo,
        FlowNotFoundError,
        discover_flows,
        find_flow,
    )
    from pipelines.framework.deploy.image import ImageBuild, image_build
    from pipelines.framework.deploy.manifest import (
        Discovery,
        FlowRecord,
        ImportFailure,
        Survey,
        discover,
        survey,
    )
    from pipelines.framework.deploy.registration import (
        DeploymentSpec,
        Outcome,
        deployment_name,
        plan,
        register,
    )
    from pipelines.framework.deploy.scaffold import ScaffoldError, create_project
    from pipelines.framework.deploy.unchanged import nothing_to_register
    from pipelines.framework.deploy.work_pools import (
        WorkPoolError,
        agent_labels,
        ensure_work_pools,
        pool_type,
    )

__all__ = [
    "BackfillError",
    "DeploymentSpec",
    "Discovery",
    "DiscoveryError",
    "Finding",
    "FlowInfo",
    "FlowNotFoundError",
    "FlowRecord",
    "ImageBuild",
    "ImportFailure",
    "Outcome",
    "PlannedRun",
    "ScaffoldError",
    "Survey",
    "WorkPoolError",
    "agent_labels",
    "create_backfill",
    "create_project",
    "deployment_name",
    "discover",
    "discover_flows",
    "ensure_work_pools",
    "find_flow",
    "image_build",
    "next_run",
    "nothing_to_register",
    "plan",
    "planned_runs",
    "pool_type",
    "register",
    "run_checks",
    "survey",
]
__getattr__ = lazy_names(__name__)
