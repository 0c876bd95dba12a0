# -*- coding: utf-8 -*-
"""
Schedules for the estacoes project.
"""

from datetime import datetime, timedelta

import pytz
from prefect.schedules import Schedule
from prefect.schedules.clocks import CronClock, IntervalClock

from pipelines.constants import constants

every_fifteen_minutes = Schedule(
    clocks=[
        IntervalClock(
            interval=timedelta(minutes=15),
            start_date=datetime(2021, 1, 1, 0, 5, tzinfo=pytz.timezone("America/Sao_Paulo")),
            labels=[
                constants.RJ_EXEMPLO_AGENT_LABEL.value,
            ],
            parameter_defaults={"threshold": 25.0},
        ),
    ]
)

daily_report = Schedule(
    clocks=[
        CronClock(
            cron="30 7 * * 1-5",
            start_date=datetime(2022, 3, 1, tzinfo=pytz.timezone("America/Sao_Paulo")),
            labels=[
                constants.RJ_EXEMPLO_AGENT_LABEL.value,
            ],
            parameter_defaults={"threshold": 30.0},
        ),
        IntervalClock(
            interval=timedelta(days=1),
            start_date=datetime(2021, 6, 1, 12, 0),
            labels=[
                constants.RJ_EXEMPLO_AGENT_LABEL.value,
            ],
        ),
    ]
)
