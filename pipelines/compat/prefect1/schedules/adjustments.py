"""
Prefect 1 schedule adjustments, kept so schedules.py files import; registration refuses a
schedule that uses one (Prefect 3 deployment schedules cannot shift instants).
"""

from collections.abc import Callable
from datetime import datetime, timedelta


def add(interval: timedelta) -> Callable[[datetime], datetime]:
    return lambda d: d + interval


def next_weekday(dt: datetime) -> datetime:
    while dt.weekday() >= 5:
        dt = dt + timedelta(days=1)
    return dt
