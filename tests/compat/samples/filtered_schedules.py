# -*- coding: utf-8 -*-
"""
Schedules in the office's style with filters, adjustments and end dates (Prefect 1 code).
"""

from datetime import datetime, time, timedelta

import pytz
from prefect.schedules import Schedule, adjustments, filters
from prefect.schedules.clocks import CronClock, IntervalClock

TZ = pytz.timezone("America/Sao_Paulo")

weekday_every_15_minutes = Schedule(
    clocks=[
        IntervalClock(
            interval=timedelta(minutes=15),
            start_date=datetime(2021, 1, 1, 0, 5, tzinfo=TZ),
            labels=["rj-exemplo"],
            parameter_defaults={"mode": "prod"},
        )
    ],
    filters=[filters.is_weekday],
)
business_hours = Schedule(
    clocks=[
        IntervalClock(
            interval=timedelta(hours=1),
            start_date=datetime(2021, 1, 1, 0, 30, tzinfo=TZ),
            labels=["rj-exemplo"],
        )
    ],
    filters=[filters.is_weekday, filters.between_times(time(7), time(19))],
)
night_window = Schedule(
    clocks=[IntervalClock(interval=timedelta(minutes=30), start_date=datetime(2022, 3, 1))],
    filters=[filters.between_times(time(22), time(1, 59))],
)
first_of_month_or_friday = Schedule(
    clocks=[CronClock("0 6 * * *", start_date=datetime(2021, 1, 1, tzinfo=TZ))],
    or_filters=[filters.is_month_start, filters.is_day_of_week(4)],
)
shifted_five_minutes = Schedule(
    clocks=[IntervalClock(interval=timedelta(days=1), start_date=datetime(2021, 1, 1, 4, tzinfo=TZ))],
    adjustments=[adjustments.add(timedelta(minutes=5))],
)
until_2031 = Schedule(
    clocks=[
        IntervalClock(
            interval=timedelta(hours=6),
            start_date=datetime(2021, 1, 1, 1, tzinfo=TZ),
            end_date=datetime(2031, 6, 30, 12, tzinfo=TZ),
        )
    ]
)
ended = Schedule(
    clocks=[
        IntervalClock(
            interval=timedelta(days=1),
            start_date=datetime(2021, 1, 1, tzinfo=TZ),
            end_date=datetime(2022, 1, 1, tzinfo=TZ),
        )
    ]
)
# Not recorded: the first two have no cron string (registration refuses them); next_weekday gives
# Monday three runs at 09:00 in Prefect 1's event list, which its server kept as one.
UNRECORDED = ("not_on_christmas", "month_end", "next_weekday")
not_on_christmas = Schedule(
    clocks=[CronClock("0 3 * * *", start_date=datetime(2021, 1, 1, tzinfo=TZ))],
    not_filters=[filters.between_dates(12, 24, 12, 26)],
)
month_end = Schedule(
    clocks=[CronClock("0 23 * * *", start_date=datetime(2021, 1, 1, tzinfo=TZ))],
    filters=[filters.is_month_end],
)
next_weekday = Schedule(
    clocks=[CronClock("0 9 * * *", start_date=datetime(2021, 1, 1, tzinfo=TZ))],
    adjustments=[adjustments.next_weekday],
)
