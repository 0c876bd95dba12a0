# -*- coding: utf-8 -*-
"""
Schedules for the relatorios project.
"""

from datetime import datetime, timedelta

import pytz
from prefect.schedules import Schedule
from prefect.schedules.clocks import IntervalClock

from pipelines.constants import constants
from pipelines.utils.utils import untuple_clocks as untuple

clocks = [
    (
        IntervalClock(
            interval=timedelta(days=1),
            start_date=datetime(2021, 1, 1, 3, 15 * index, tzinfo=pytz.timezone("America/Sao_Paulo")),
            labels=[
                constants.RJ_EXEMPLO_AGENT_LABEL.value,
            ],
            parameter_defaults={"table_id": table_id, "batch_size": 1000, "materialize": True},
        ),
    )
    for index, table_id in enumerate(["chamados", "bairros"])
]
daily_dumps = Schedule(clocks=untuple(clocks))
