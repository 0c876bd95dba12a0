"""
`pipelines backfill`: the runs a schedule would have created in a past window (Prefect only
schedules forward), each with its clock's parameters, created once however often it is asked:
a second backfill of the same window creates nothing and says so.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterIdempotencyKey,
)
from prefect.exceptions import ObjectNotFound
from prefect.server.schemas import schedules as server_schedules
from prefect.states import Scheduled

from pipelines.framework.config import Environment, UsageError
from pipelines.framework.deploy.discovery import FlowInfo
from pipelines.framework.deploy.registration import deployment_name
from pipelines.framework.runtime import Clock

MAX_RUNS = 1000
PAGE = 200  # the server's largest page
NEXT_RUN_WITHIN = timedelta(days=366)
"""How far `next_run` looks: a year from any day, 29 February included."""


class BackfillError(UsageError, ValueError):
    """A window or a flow that cannot be backfilled."""


@dataclass(frozen=True)
class PlannedRun:
    """One run the schedule would have created."""

    scheduled_time: datetime
    parameters: dict[str, Any]


def _dates(clock: Clock, start: datetime, end: datetime, n: int = MAX_RUNS) -> list[datetime]:
    """The clock's first `n` due times in [start, end], computed by the same code as Prefect's
    scheduler."""
    client_schedule = DeploymentScheduleCreate.from_schedule(clock.to_prefect()).schedule
    server_class = getattr(server_schedules, type(client_schedule).__name__)
    server_schedule = server_class.model_validate(client_schedule.model_dump())
    return asyncio.run(server_schedule.get_dates(n=n, start=start, end=end))


def planned_runs(info: FlowInfo, start: datetime, end: datetime) -> list[PlannedRun]:
    """Every due time of every clock of the flow's schedule in [start, end]."""
    if start.tzinfo is None or end.tzinfo is None:
        raise BackfillError("give --start and --end with a timezone, e.g. 2024-01-01T00:00-03:00")
    if end < start:
        raise BackfillError("--end is before --start")
    if info.schedule is None:
        raise BackfillError(f"{info.name!r} has no schedule to backfill")
    runs = [
        PlannedRun(moment, dict(clock.parameter_defaults))
        for clock in info.schedule.clocks
        for moment in _dates(clock, start, end)
    ]
    if len(runs) >= MAX_RUNS:
        raise BackfillError(f"the window holds {MAX_RUNS} runs or more; backfill a shorter one")
    return sorted(runs, key=lambda run: run.scheduled_time)


def next_run(info: FlowInfo, now: datetime) -> datetime | None:
    """The flow's next due time within `NEXT_RUN_WITHIN` of `now`; None without a schedule or a
    due time in that window. One per clock is computed, however often the clock runs."""
    if info.schedule is None:
        return None
    end = now + NEXT_RUN_WITHIN
    return min(
        (d for clock in info.schedule.clocks for d in _dates(clock, now, end, n=1)), default=None
    )


async def create_backfill(info: FlowInfo, env: Environment, runs: list[PlannedRun]) -> list[bool]:
    """Create the runs on the flow's deployment in `env`; returns, per run, whether it is new.

    A run an earlier backfill created (found by its idempotency key, `backfill:<deployment>:<due
    time>`) is kept as it is, however often the window is asked for.
    """
    async with get_client() as client:
        try:
            deployment = await client.read_deployment_by_name(
                f"{info.name}/{deployment_name(info.name, env)}"
            )
        except ObjectNotFound:
            raise BackfillError(
                f"{info.name!r} is not registered in {env.name}; run `pipelines register"
                f" --env {env.name}` (or `pipelines up`) first"
            ) from None
        keys = [_idempotency_key(deployment.id, run) for run in runs]
        existing = await _existing_keys(client, deployment.id, keys)
        for run, key in zip(runs, keys, strict=True):
            if key in existing:
                continue
            await client.create_flow_run_from_deployment(
                deployment.id,
                parameters=run.parameters,
                state=Scheduled(scheduled_time=run.scheduled_time),
                idempotency_key=key,
                tags=["backfill"],
            )
    return [key not in existing for key in keys]


def _idempotency_key(deployment_id: UUID, run: PlannedRun) -> str:
    return f"backfill:{deployment_id}:{run.scheduled_time.isoformat()}"


async def _existing_keys(client: PrefectClient, deployment_id: UUID, keys: list[str]) -> set[str]:
    """Which of `keys` name runs the deployment already has."""
    found: set[str] = set()
    for start in range(0, len(keys), PAGE):
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                idempotency_key=FlowRunFilterIdempotencyKey(any_=keys[start : start + PAGE])
            ),
            limit=PAGE,
        )
        found.update(run.idempotency_key for run in runs if run.idempotency_key)
    return found
