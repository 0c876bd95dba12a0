"""
The `flow` decorator: Prefect's, plus what the guide's flows declare (code owners, schedule).
"""

from collections.abc import Callable, Sequence
from typing import Any

import prefect
from prefect import Flow

from pipelines.framework.alerts import attach as attach_alerts
from pipelines.framework.schedules import Schedule


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
    of the flow's deployment run at a time.
    """

    def decorate(fn: Callable[..., Any]) -> Flow:
        return _declare(
            prefect.flow(name=name, **prefect_options)(fn), code_owners, schedule, skip_if_running
        )

    return decorate


def instantiate(
    generic: Flow,
    name: str,
    *,
    code_owners: Sequence[str],
    schedule: Schedule | None = None,
    skip_if_running: bool = False,
) -> Flow:
    """A project's own copy of a generic flow (dump_db, dump_url, ...) with its name and schedule.

    Discovery registers the copy under the project, so one generic flow serves many tables.
    """
    return _declare(generic.with_options(name=name), code_owners, schedule, skip_if_running)


def _declare(
    prefect_flow: Flow, code_owners: Sequence[str], schedule: Schedule | None, skip_if_running: bool
) -> Flow:
    prefect_flow.code_owners = tuple(code_owners)
    prefect_flow.schedule = schedule
    prefect_flow.skip_if_running = skip_if_running
    attach_alerts(prefect_flow)  # on_failure / on_crashed: tell the code owners
    return prefect_flow
