"""
Prefect 1 clocks (`prefect.schedules.clocks`) as the platform's clocks, with Prefect 1's reading
of `start_date`: a naive date is UTC, a pytz zone is its wall clock in that zone (not the LMT
offset `datetime(..., tzinfo=pytz.timezone(...))` carries), a pendulum date keeps its zone, and a
whole-hour fixed offset becomes the matching `Etc/GMT` zone. Registration turns them into
deployment schedules with the same instants.
"""

# pylint: disable=too-many-arguments  # Prefect 1's signatures, kept as they are

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from prefect.schedules import Cron
from prefect.schedules import Schedule as PrefectSchedule

from pipelines.compat.prefect1.schedules._translate import Rules, translate
from pipelines.framework import runtime as platform

DEFAULT_INTERVAL_START = datetime(2019, 1, 1, tzinfo=ZoneInfo("UTC"))
"""Prefect 1's start of an IntervalClock (and timezone of a CronClock) without `start_date`."""


def _zone(moment: datetime) -> ZoneInfo:
    tzinfo = moment.tzinfo
    name = getattr(tzinfo, "zone", None) or getattr(tzinfo, "key", None)  # pytz, zoneinfo
    if name is None and hasattr(tzinfo, "name"):  # pendulum 2 timezones
        name = tzinfo.name
    if name:
        return ZoneInfo("UTC" if name in ("utc", "+00:00") else name)
    offset = moment.utcoffset() or timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    if tzinfo is timezone.utc or offset == timedelta(0):
        return ZoneInfo("UTC")
    if rest:
        raise platform.ScheduleError(
            f"start_date {moment.isoformat()} has an offset of {offset}; use an IANA zone"
        )
    return ZoneInfo(f"Etc/GMT{-hours:+d}")


def prefect1_datetime(moment: datetime | None, default: datetime | None = None) -> datetime:
    """A start/end date as Prefect 1 reads it, as a datetime in an IANA zone."""
    if moment is None:
        if default is None:
            raise ValueError("a date is required")
        return default
    if moment.tzinfo is None:
        return moment.replace(tzinfo=ZoneInfo("UTC"))
    naive = moment.replace(tzinfo=None)
    return naive.replace(tzinfo=_zone(moment), fold=getattr(moment, "fold", 0))


class IntervalClock(platform.IntervalClock):
    """`IntervalClock(interval, start_date=None, end_date=None, parameter_defaults, labels)`."""

    end_date: datetime | None

    def __init__(
        self,
        interval: timedelta,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        parameter_defaults: Mapping[str, Any] | None = None,
        labels: Sequence[str] | None = None,
    ):
        if not isinstance(interval, timedelta):
            raise TypeError("Interval must be a timedelta.")
        if interval.total_seconds() <= 0:
            raise ValueError("Interval must be greater than 0.")
        super().__init__(
            start_date=prefect1_datetime(start_date, DEFAULT_INTERVAL_START),
            labels=tuple(labels or ()),
            parameter_defaults=dict(parameter_defaults or {}),
            interval=interval,
        )
        object.__setattr__(self, "end_date", prefect1_datetime(end_date) if end_date else None)

    def base_schedule(self) -> PrefectSchedule:
        """The schedule of the clock's instants, its end date left aside."""
        return super().to_prefect()

    def to_prefect(self) -> PrefectSchedule:
        return _with_end(self)

    def describe(self) -> str:
        return _described(self, super().describe())


class CronClock(platform.CronClock):
    """`CronClock(cron, start_date=None, end_date=None, parameter_defaults, labels, day_or)`.

    Without `start_date` the cron string is read in UTC, as Prefect 1 does.
    """

    end_date: datetime | None
    day_or: bool

    def __init__(
        self,
        cron: str,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        parameter_defaults: Mapping[str, Any] | None = None,
        labels: Sequence[str] | None = None,
        day_or: bool | None = None,
    ):
        super().__init__(
            start_date=prefect1_datetime(start_date, DEFAULT_INTERVAL_START),
            labels=tuple(labels or ()),
            parameter_defaults=dict(parameter_defaults or {}),
            cron=cron,
        )
        object.__setattr__(self, "end_date", prefect1_datetime(end_date) if end_date else None)
        object.__setattr__(self, "day_or", True if day_or is None else bool(day_or))

    def base_schedule(self) -> PrefectSchedule:
        """The schedule of the clock's instants, its end date left aside."""
        return Cron(
            self.cron,
            timezone=self.timezone,
            day_or=self.day_or,
            parameters=dict(self.parameter_defaults),
        )

    def to_prefect(self) -> PrefectSchedule:
        return _with_end(self)

    def describe(self) -> str:
        return _described(self, super().describe())


def _with_end(clock: "IntervalClock | CronClock") -> PrefectSchedule:
    """A clock without an end date as it is; with one, its instants until then (or inactive)."""
    if clock.end_date is None:
        return clock.base_schedule()
    return translate(clock, clock.base_schedule(), Rules(), datetime.now(timezone.utc))


def _described(clock: "IntervalClock | CronClock", description: str) -> str:
    return f"{description} until {clock.end_date.isoformat()}" if clock.end_date else description


class DatesClock:
    """Not supported: one-off dates are runs to create (`pipelines backfill`), not a schedule."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise NotImplementedError(
            "DatesClock is not supported: create those runs with `pipelines backfill` or "
            "prefect.deployments.run_deployment(..., scheduled_time=...)"
        )


__all__ = ["CronClock", "DatesClock", "IntervalClock"]
