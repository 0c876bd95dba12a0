"""
The `flow` decorator: Prefect's, plus what the guide's flows declare (code owners, schedule).

A flow's `deployment_concurrency` (Prefect's `ConcurrencyLimitConfig`, or None) is what its
deployment's concurrency limit becomes at registration.
"""

from collections.abc import Callable, Sequence
from typing import Any

import prefect
from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from pipelines.framework.runtime.alerts import attach as attach_alerts
from pipelines.framework.runtime.schedules import Schedule


def flow(
    name: str,
    *,
    code_owners: Sequence[str],
    schedule: Schedule | None = None,
    skip_if_running: bool = False,
    **prefect_options: Any,
) -> Callable[[Callable[..., Any]], Flow]:
    """Make a Prefect flow that carries its owners, its schedule and its concurrency rule.

    `schedule` may also be assigned after the flow, as in the guide:
    `users_report.schedule = every_day_at_four_am`. `skip_if_running=True` lets at most one run
    of the flow's deployment run at a time: a run that finds one running is cancelled.
    """

    def decorate(fn: Callable[..., Any]) -> Flow:
        concurrency = _concurrency(skip_if_running, None)
        return _declare(
            prefect.flow(name=name, **prefect_options)(fn), code_owners, schedule, concurrency
        )

    return decorate


def instantiate(
    generic: Flow,
    name: str,
    *,
    code_owners: Sequence[str],
    schedule: Schedule | None = None,
    skip_if_running: bool = False,
    concurrency_limit: int | None = 1,
) -> Flow:
    """A project's own copy of a generic flow (dump_db, dump_url, ...) with its name and schedule.

    Discovery registers the copy under the project, so one generic flow serves many tables. The
    copy's deployment runs at most `concurrency_limit` runs at a time (default 1: two runs of one
    table never overlap, and the tables of one copy run one after another) and queues the next
    ones, so a duplicate trigger or a manual run beside the schedule waits instead of being lost;
    None lifts the limit, `skip_if_running=True` drops a run that finds one running instead.
    """
    concurrency = _concurrency(skip_if_running, concurrency_limit)
    return _declare(generic.with_options(name=name), code_owners, schedule, concurrency)


def _concurrency(skip_if_running: bool, limit: int | None) -> ConcurrencyLimitConfig | None:
    """Skipping means one run and a new one cancelled; a limit alone queues the next runs."""
    if skip_if_running:
        return ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        )
    if limit is None:
        return None
    return ConcurrencyLimitConfig(limit=limit, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)


def _declare(
    prefect_flow: Flow,
    code_owners: Sequence[str],
    schedule: Schedule | None,
    concurrency: ConcurrencyLimitConfig | None,
) -> Flow:
    prefect_flow.code_owners = tuple(code_owners)
    prefect_flow.schedule = schedule
    prefect_flow.deployment_concurrency = concurrency
    attach_alerts(prefect_flow)  # on_failure / on_crashed: tell the code owners
    return prefect_flow
