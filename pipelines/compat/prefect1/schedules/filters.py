"""
Prefect 1 schedule filters, with Prefect 1's meaning (a window whose end comes before its start
wraps around). Registration turns a filtered clock into the cron string with the same instants
(schedules/_translate.py), or refuses it.
"""

from collections.abc import Callable
from datetime import datetime, time, timedelta


def on_datetime(dt: datetime) -> Callable[[datetime], bool]:
    return lambda d: d == dt


def between_datetimes(start: datetime, end: datetime) -> Callable[[datetime], bool]:
    return lambda d: start <= d <= end


def on_date(month: int, day: int) -> Callable[[datetime], bool]:
    return lambda d: (d.month, d.day) == (month, day)


def between_dates(
    start_month: int, start_day: int, end_month: int, end_day: int
) -> Callable[[datetime], bool]:
    start, end = (start_month, start_day), (end_month, end_day)
    if start <= end:
        return lambda d: start <= (d.month, d.day) <= end
    return lambda d: (d.month, d.day) >= start or (d.month, d.day) <= end


def at_time(t: time) -> Callable[[datetime], bool]:
    return lambda d: d.time() == t


def between_times(start: time, end: time) -> Callable[[datetime], bool]:
    if start <= end:
        return lambda d: start <= d.time() <= end
    return lambda d: d.time() >= start or d.time() <= end


def is_weekday(dt: datetime) -> bool:
    return dt.weekday() < 5


def is_weekend(dt: datetime) -> bool:
    return dt.weekday() >= 5


def is_month_end(dt: datetime) -> bool:
    return (dt + timedelta(days=1)).month != dt.month


def is_month_start(dt: datetime) -> bool:
    return dt.day == 1


def is_day_of_week(day_of_week: int) -> Callable[[datetime], bool]:
    return lambda d: d.weekday() == day_of_week
