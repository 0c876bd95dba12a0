"""
What Prefect 3 deployment schedules lack, read from the instants: schedule filters, adjustments
and a clock's `end_date`.

A clock's instants over a year, as Prefect 1 computes them (its arithmetic, then filters, then
adjustments, in the clock's zone), are read back as the minutes, hours, days, months and
weekdays they fall on. When that product of sets is exactly those instants, it is the cron
string (or, for an end date still ahead, the RRule with UNTIL) that registers: the same instants.
What no such product holds (an end-of-month filter, `next_weekday`) is refused with the reason.
An end date already past registers the clock's schedule inactive: Prefect 1 made no runs of it.
"""

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from prefect._vendor.croniter import croniter  # what Prefect 3 reads cron strings with
from prefect.schedules import Cron, RRule
from prefect.schedules import Schedule as PrefectSchedule

from pipelines.framework.runtime import ScheduleError

SAMPLE_DAYS = 400
"""Days of instants read: every weekday, day of month, month and daylight-saving change."""


@dataclasses.dataclass(frozen=True)
class Rules:
    """A schedule's filters and adjustments, as Prefect 1's `Schedule` applies them."""

    filters: Sequence[Callable[[datetime], bool]] = ()
    or_filters: Sequence[Callable[[datetime], bool]] = ()
    not_filters: Sequence[Callable[[datetime], bool]] = ()
    adjustments: Sequence[Callable[[datetime], datetime]] = ()

    def keeps(self, moment: datetime) -> bool:
        return (
            all(f(moment) for f in self.filters)
            and (not self.or_filters or any(f(moment) for f in self.or_filters))
            and not any(f(moment) for f in self.not_filters)
        )

    def adjust(self, moment: datetime) -> datetime:
        for adjustment in self.adjustments:
            moment = adjustment(moment)
        return moment

    def names(self) -> str:
        found = [*self.filters, *self.or_filters, *self.not_filters, *self.adjustments]
        return ", ".join(_name(f) for f in found)


def _name(function: Callable) -> str:
    name = getattr(function, "__qualname__", repr(function))
    return name.split(".<locals>")[0]


def _wall_add(moment: datetime, days: int, seconds: float) -> datetime:
    """Prefect 1's (pendulum's) `add(days=, seconds=)`: days on the wall clock, then seconds."""
    zone = moment.tzinfo
    wall = (moment.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=zone)
    return (wall.astimezone(timezone.utc) + timedelta(seconds=seconds)).astimezone(zone)


def _interval_instants(clock: Any, start: datetime, end: datetime) -> Iterator[datetime]:
    """An IntervalClock's instants in [start, end), as Prefect 1's `IntervalClock.events`."""
    origin, step = clock.start_date, clock.interval
    skip = max(0, int((start - origin) / step))
    while True:
        total = step * skip
        moment = _wall_add(origin, total.days, total.total_seconds() - total.days * 86400)
        if moment >= end:
            return
        if moment >= start:
            yield moment
        skip += 1


def _cron_instants(clock: Any, start: datetime, end: datetime) -> Iterator[datetime]:
    """A CronClock's instants in [start, end), on the wall clock of its zone."""
    zone = ZoneInfo(clock.timezone)
    local = start.astimezone(zone).replace(tzinfo=None) - timedelta(seconds=1)
    wall_times = croniter(clock.cron, local, day_or=getattr(clock, "day_or", True))
    while True:
        moment = wall_times.get_next(datetime).replace(tzinfo=zone)
        if moment >= end:
            return
        yield moment


def prefect1_instants(clock: Any, rules: Rules, start: datetime, end: datetime) -> list[datetime]:
    """What Prefect 1 runs of `clock` in [start, end): its instants, filtered, adjusted."""
    instants = _cron_instants if hasattr(clock, "cron") else _interval_instants
    kept = (rules.adjust(m) for m in instants(clock, start, end) if rules.keeps(m))
    end_date = getattr(clock, "end_date", None)
    return sorted({m for m in kept if end_date is None or m <= end_date})


@dataclasses.dataclass(frozen=True)
class _Product:
    """Instants as the product of their minutes, hours, days, months and weekdays."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    either: bool = False
    """Days of month *or* weekdays (cron's own rule when both are set), not both."""

    @classmethod
    def of(cls, instants: list[datetime]) -> "_Product":
        return cls(
            *(
                frozenset(getattr(m, unit) for m in instants)
                for unit in ("minute", "hour", "day", "month")
            ),
            frozenset(m.weekday() for m in instants),
        )

    @classmethod
    def either_day(cls, instants: list[datetime], start: datetime, end: datetime) -> "_Product":
        """The days of month and the weekdays on which every date of the window has runs."""
        dates = {m.date() for m in instants}
        window, day = [], start
        while day < end:
            window.append(day.date())
            day = _wall_add(day, 1, 0)
        months = frozenset(m.month for m in instants)
        window = [d for d in window if d.month in months]
        days = frozenset(n for n in range(1, 32) if all(d in dates for d in window if d.day == n))
        weekdays = frozenset(
            w for w in range(7) if all(d in dates for d in window if d.weekday() == w)
        )
        plain = cls.of(instants)
        return cls(plain.minutes, plain.hours, days, months, weekdays, either=True)

    def _has_day(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        if self.either:
            return day.day in self.days or day.weekday() in self.weekdays
        return day.day in self.days and day.weekday() in self.weekdays

    def instants(self, start: datetime, end: datetime) -> list[datetime]:
        """The product's instants in [start, end), on the wall clock of start's zone."""
        day, found = start, []
        while day < end:
            if self._has_day(day):
                found += [
                    day.replace(hour=h, minute=m)
                    for h in sorted(self.hours)
                    for m in sorted(self.minutes)
                ]
            day = _wall_add(day, 1, 0)
        return [m for m in found if start <= m < end]

    def cron(self) -> str:
        weekdays = frozenset((w + 1) % 7 for w in self.weekdays)  # cron: Sunday is 0
        return " ".join(
            _field(values, full)
            for values, full in (
                (self.minutes, range(60)),
                (self.hours, range(24)),
                (self.days, range(1, 32)),
                (self.months, range(1, 13)),
                (weekdays, range(7)),
            )
        )

    def rrule(self, dtstart: datetime, until: datetime) -> str:
        """`FREQ=DAILY` with the product's BY parts (a full set left out) and UNTIL."""
        names = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
        parts = ["FREQ=DAILY"]
        for key, values, full in (
            ("BYMONTH", self.months, range(1, 13)),
            ("BYMONTHDAY", self.days, range(1, 32)),
            ("BYDAY", self.weekdays, range(7)),
        ):
            if not values >= set(full):
                shown = [names[v] for v in sorted(values)] if key == "BYDAY" else sorted(values)
                parts.append(f"{key}={','.join(str(v) for v in shown)}")
        parts += [f"BYHOUR={_list(self.hours)}", f"BYMINUTE={_list(self.minutes)}", "BYSECOND=0"]
        parts.append(f"UNTIL={until.strftime('%Y%m%dT%H%M%S')}")
        return f"DTSTART:{dtstart.strftime('%Y%m%dT%H%M%S')}\nRRULE:{';'.join(parts)}"


def _list(values: frozenset[int]) -> str:
    return ",".join(str(v) for v in sorted(values))


def _field(values: frozenset[int], full: range) -> str:
    return "*" if values >= set(full) else _list(values)


def _local_midnight(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


def translate(clock: Any, base: PrefectSchedule, rules: Rules, now: datetime) -> PrefectSchedule:
    """The deployment schedule with the instants Prefect 1 runs `clock` on (see the module)."""
    end_date = getattr(clock, "end_date", None)
    if end_date is not None and end_date < now:
        return dataclasses.replace(base, active=False)
    zone = ZoneInfo(clock.timezone)
    start = _local_midnight(max(now, clock.start_date), zone) + timedelta(days=1)
    end = _wall_add(start, SAMPLE_DAYS, 0)
    instants = prefect1_instants(clock, rules, start, end)
    what = f"{rules.names()} on {clock.describe()}" if rules.names() else clock.describe()
    if not instants:
        raise ScheduleError(f"schedule {what}: no run in the next {SAMPLE_DAYS} days")
    inner = (_wall_add(start, 7, 0), _wall_add(end, -7, 0))  # adjustments may cross the edges
    exact = all(m.second == 0 and m.microsecond == 0 for m in instants)
    for product in (_Product.of(instants), _Product.either_day(instants, start, end)):
        if not (product.days and product.weekdays):
            continue
        expected = product.instants(start, end)
        expected = [m for m in expected if end_date is None or m <= end_date]
        if exact and _within(expected, inner) == _within(instants, inner):
            break
    else:
        raise ScheduleError(
            f"schedule {what}: its instants are not the product of minutes, hours, days, months "
            "and weekdays that a cron string or an RRule holds (an end-of-month filter, "
            "next_weekday...): write them as CronClocks, one per pattern"
        )
    parameters = dict(clock.parameter_defaults)
    if end_date is None or product.either:
        if end_date is not None:
            raise ScheduleError(f"schedule {what}: an RRule cannot join days of month and weekdays")
        cron = product.cron()
        day_or = product.either or "*" in cron.split()[2::2]
        return Cron(cron, timezone=clock.timezone, day_or=day_or, parameters=parameters)
    # The rule starts on January 1st of this year (or the clock's start, if later): Prefect 3
    # walks an RRule from its DTSTART, so a start years back would cost every scheduler pass.
    year = datetime(now.astimezone(zone).year, 1, 1, tzinfo=zone)
    dtstart = max(_local_midnight(clock.start_date, zone), year).replace(tzinfo=None)
    rule = product.rrule(dtstart, end_date.astimezone(zone).replace(tzinfo=None))
    return RRule(rule, timezone=clock.timezone, parameters=parameters)


def _within(instants: list[datetime], window: tuple[datetime, datetime]) -> list[datetime]:
    return [m.astimezone(timezone.utc) for m in instants if window[0] <= m < window[1]]


__all__ = ["Rules", "prefect1_instants", "translate"]
