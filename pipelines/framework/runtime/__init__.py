"""
What runs inside a flow run: the `flow` decorator and `instantiate` (a project's copy of a generic
flow), schedules, failure alerts to the code owners, and `log`. Flow authors import from here:

    from pipelines.framework.runtime import flow, instantiate, Schedule, IntervalClock, CronClock
    from pipelines.framework.runtime import generate_dump_schedules
"""

from typing import TYPE_CHECKING

from pipelines.framework import lazy_names

if TYPE_CHECKING:  # every module here imports Prefect: imported on first use
    from pipelines.framework.runtime.alerts import crash_alert_action
    from pipelines.framework.runtime.flows import flow, instantiate
    from pipelines.framework.runtime.logging import log
    from pipelines.framework.runtime.schedules import (
        Clock,
        CronClock,
        IntervalClock,
        Schedule,
        ScheduleError,
        generate_dump_schedules,
    )

__all__ = [
    "Clock",
    "CronClock",
    "IntervalClock",
    "Schedule",
    "ScheduleError",
    "crash_alert_action",
    "flow",
    "generate_dump_schedules",
    "instantiate",
    "log",
]
__getattr__ = lazy_names(__name__)
