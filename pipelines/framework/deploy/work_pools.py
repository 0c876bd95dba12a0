"""
Agents of the guide as Prefect work pools: one pool per label in `pipelines/constants.py`, one
queue per environment in each pool. A label runs on local processes unless settings map it to
another worker type (e.g. `kubernetes`, with prefect-kubernetes installed).
"""

import contextlib
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.workers.process import ProcessWorker

from pipelines.constants import constants
from pipelines.framework.config import ENVIRONMENTS, UsageError, get_settings

LABEL_SUFFIX = "_AGENT_LABEL"


class WorkPoolError(UsageError, RuntimeError):
    """A label mapped to a worker type whose package is not installed."""


def agent_labels() -> list[str]:
    """Every agent label declared in the global constants."""
    return sorted({m.value for m in constants if m.name.endswith(LABEL_SUFFIX)})


def pool_type(label: str) -> str:
    """Worker type of a label's pool: `process` unless `PIPELINES_WORK_POOL_TYPES` says so."""
    return get_settings().work_pool_types.get(label, "process")


def base_job_template(worker_type: str) -> dict[str, Any]:
    """The default job template of a worker type, from the worker's own package."""
    if worker_type == "process":
        return ProcessWorker.get_default_base_job_template()
    if worker_type == "kubernetes":
        try:  # here: prefect-kubernetes is installed only where a label maps to kubernetes
            from prefect_kubernetes.worker import KubernetesWorker
        except ImportError as exc:
            raise WorkPoolError(
                "a label maps to a kubernetes pool: pip install prefect-kubernetes"
            ) from exc
        return KubernetesWorker.get_default_base_job_template()
    raise WorkPoolError(f"unknown worker type {worker_type!r} (use process or kubernetes)")


async def ensure_work_pools(client: PrefectClient, labels: list[str] | None = None) -> None:
    """Create each label's pool and its per-environment queues when missing."""
    for label in labels or agent_labels():
        worker_type = pool_type(label)
        try:
            await client.read_work_pool(label)
        except ObjectNotFound:
            pool = WorkPoolCreate(
                name=label, type=worker_type, base_job_template=base_job_template(worker_type)
            )
            with contextlib.suppress(ObjectAlreadyExists):
                await client.create_work_pool(pool)
        existing = {q.name for q in await client.read_work_queues(work_pool_name=label)}
        for queue in ENVIRONMENTS:
            if queue not in existing:
                with contextlib.suppress(ObjectAlreadyExists):
                    await client.create_work_queue(name=queue, work_pool_name=label)
