# pylint: disable=redefined-outer-name  # pytest fixtures take each other by name
"""Work pools on a real Prefect server follow the settings: created with a queue per
environment, their template updated when a label's settings change, and replaced (with their
deployments moved back on) when a label's worker type changes, which Prefect cannot update."""

import asyncio
import json
import uuid

import pytest
from prefect import get_client

from pipelines.framework.config.environments import ENVIRONMENTS
from pipelines.framework.config.settings import get_settings
from pipelines.framework.deploy.work_pools import base_job_template, ensure_work_pools

pytestmark = pytest.mark.component


@pytest.fixture
def label(monkeypatch):
    """A pool of this test's own, with no worker settings yet."""
    monkeypatch.delenv("PIPELINES_WORKERS", raising=False)
    monkeypatch.delenv("PIPELINES_WORK_POOL_TYPES", raising=False)
    get_settings.cache_clear()
    try:
        yield f"test-pool-{uuid.uuid4().hex[:8]}"
    finally:
        get_settings.cache_clear()


def set_worker(monkeypatch, label: str, **worker) -> None:
    monkeypatch.setenv("PIPELINES_WORKERS", json.dumps({label: worker}))
    get_settings.cache_clear()


async def _pool_and_deployments(label: str, names: list[str] | None = None):
    async with get_client() as client:
        pool = await client.read_work_pool(label)
        queues = sorted(q.name for q in await client.read_work_queues(work_pool_name=label))
        deployments = [await client.read_deployment_by_name(name) for name in names or []]
    return pool, queues, deployments


async def _deploy_on(label: str, queue: str) -> str:
    async with get_client() as client:
        flow_id = await client.create_flow_from_name(f"flow-{label}")
        await client.create_deployment(
            flow_id=flow_id,
            name=queue,
            work_pool_name=label,
            work_queue_name=queue,
            entrypoint="x.py:f",
        )
    return f"flow-{label}/{queue}"


async def _ensure(label: str, forbid_update: bool = False) -> None:
    async with get_client() as client:
        if forbid_update:

            async def no_update(*_args, **_kwargs):
                raise AssertionError("an unchanged pool was updated")

            client.update_work_pool = no_update
        await ensure_work_pools(client, [label])


@pytest.mark.usefixtures("prefect_api")
def test_pools_follow_the_settings_of_their_label(label, monkeypatch):
    asyncio.run(_ensure(label))
    pool, queues, _ = asyncio.run(_pool_and_deployments(label))
    assert pool.type == "process"
    assert queues == sorted([*ENVIRONMENTS, "default"])
    staging, prod = (asyncio.run(_deploy_on(label, q)) for q in ("staging", "prod"))
    asyncio.run(_ensure(label, forbid_update=True))  # nothing changed: nothing written

    set_worker(monkeypatch, label, type="kubernetes", image="registry/p:1", memory="1Gi")
    asyncio.run(_ensure(label))
    pool, queues, deployments = asyncio.run(_pool_and_deployments(label, [staging, prod]))
    assert pool.type == "kubernetes"
    assert pool.base_job_template == base_job_template(label)
    assert queues == sorted([*ENVIRONMENTS, "default"])
    assert [(d.work_pool_name, d.work_queue_name) for d in deployments] == [
        (label, "staging"),
        (label, "prod"),
    ]

    set_worker(monkeypatch, label, type="kubernetes", image="registry/p:2", memory="4Gi")
    asyncio.run(_ensure(label))
    pool, _, _ = asyncio.run(_pool_and_deployments(label))
    defaults = {
        k: v.get("default") for k, v in pool.base_job_template["variables"]["properties"].items()
    }
    assert (defaults["image"], defaults["memory_request"]) == ("registry/p:2", "4Gi")
    asyncio.run(_ensure(label, forbid_update=True))

    set_worker(monkeypatch, label, type="process")
    asyncio.run(_ensure(label))
    pool, _, deployments = asyncio.run(_pool_and_deployments(label, [staging]))
    assert pool.type == "process"
    assert deployments[0].work_pool_name == label
