"""
Schedules for the tutorial flow.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pipelines.constants import constants
from pipelines.framework.runtime import IntervalClock, Schedule

every_day_at_four_am = Schedule(
    clocks=[
        IntervalClock(
            interval=timedelta(days=1),
            start_date=datetime(2021, 1, 1, 4, 0, 0, tzinfo=ZoneInfo("America/Sao_Paulo")),
            labels=[constants.RJ_ESCRITORIO_DEV_AGENT_LABEL.value],
            parameter_defaults={"n_users": 10},
        )
    ]
)
