"""
Schedules with the guide's meaning: clocks with a start date, an IANA timezone, labels (which
agent runs the flow) and parameter defaults. Registration turns them into Prefect schedules.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from prefect.client.schemas.schedules import construct_schedule
from prefect.schedules import Cron, Interval
from prefect.schedules import Schedule as PrefectSchedule

from pipelines.framework.config import UsageError


class ScheduleError(UsageError, ValueError):
    """A schedule that would not run when its author expects."""


def timezone_name(moment: datetime) -> str:
    """IANA name of a datetime's timezone; naive datetimes and fixed offsets are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ScheduleError(
            f"start_date {moment.isoformat()} has no timezone: write it as "
            "datetime(..., tzinfo=ZoneInfo('America/Sao_Paulo'))"
        )
    name = getattr(moment.tzinfo, "key", None)
    if name:
        return name
    if moment.tzinfo is timezone.utc:
        return "UTC"
    raise ScheduleError(
        f"start_date {moment.isoformat()} has a fixed offset; use an IANA zone such as "
        "ZoneInfo('America/Sao_Paulo') so daylight-saving changes keep the local time"
    )


@dataclass(frozen=True)
class _Clock:
    start_date: datetime
    labels: Sequence[str] = ()
    parameter_defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        timezone_name(self.start_date)
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "parameter_defaults", dict(self.parameter_defaults))

    @property
    def timezone(self) -> str:
        return timezone_name(self.start_date)


@dataclass(frozen=True)
class IntervalClock(_Clock):
    """Runs every `interval`, on the wall-clock times of `start_date` in its timezone."""

    interval: timedelta = timedelta(days=1)

    def to_prefect(self) -> PrefectSchedule:
        return Interval(
            self.interval,
            anchor_date=self.start_date,
            timezone=self.timezone,
            parameters=dict(self.parameter_defaults),
        )

    def describe(self) -> str:
        return f"every {self.interval} from {self.start_date.isoformat()} ({self.timezone})"


@dataclass(frozen=True)
class CronClock(_Clock):
    """Runs on a cron string, read in the timezone of `start_date`."""

    cron: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        construct_schedule(cron=self.cron, timezone=self.timezone)  # validates the string

    def to_prefect(self) -> PrefectSchedule:
        return Cron(self.cron, timezone=self.timezone, parameters=dict(self.parameter_defaults))

    def describe(self) -> str:
        return f"cron '{self.cron}' ({self.timezone})"


Clock = IntervalClock | CronClock


@dataclass(frozen=True)
class Schedule:
    """One or more clocks; every clock of a flow must name the same labels."""

    clocks: Sequence[Clock]

    def __post_init__(self) -> None:
        object.__setattr__(self, "clocks", tuple(self.clocks))
        if not self.clocks:
            raise ScheduleError("a Schedule needs at least one clock")

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels shared by every clock."""
        labels = {clock.labels for clock in self.clocks}
        if len(labels) > 1:
            raise ScheduleError(f"clocks of one schedule name different labels: {sorted(labels)}")
        return labels.pop()


def generate_dump_schedules(  # pylint: disable=too-many-arguments
    *,
    interval: timedelta,
    start_date: datetime,
    labels: Sequence[str],
    table_parameters: Mapping[str, Mapping[str, Any]],
    common_parameters: Mapping[str, Any] | None = None,
    runs_interval_minutes: int = 15,
) -> Schedule:
    """One clock per table, start times `runs_interval_minutes` apart so dumps don't pile up.

    Each clock's parameters are `common_parameters`, then the table's own, with `table_id` set to
    the table's key unless the table gives one (the original `generate_dump_db_schedules`).
    """
    clocks = [
        IntervalClock(
            interval=interval,
            start_date=start_date + timedelta(minutes=runs_interval_minutes * index),
            labels=labels,
            parameter_defaults={"table_id": table_id, **(common_parameters or {}), **parameters},
        )
        for index, (table_id, parameters) in enumerate(table_parameters.items())
    ]
    return Schedule(clocks=clocks)
