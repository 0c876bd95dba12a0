"""
Prefect 1 schedule adjustments. Registration turns an adjusted clock into the cron string with
the same instants (schedules/_translate.py), or refuses it.
"""

from collections.abc import Callable
from datetime import datetime, timedelta


def add(interval: timedelta) -> Callable[[datetime], datetime]:
    return lambda d: d + interval


def next_weekday(dt: datetime) -> datetime:
    while dt.weekday() >= 5:
        dt = dt + timedelta(days=1)
    return dt
