"""
Prefect 1 `Schedule(clocks, filters, or_filters, not_filters, adjustments)` as the platform's
`Schedule`, so `flow.schedule = ...` registers as deployment schedules.

Prefect 3 deployment schedules cannot filter or adjust: a schedule that does registers each clock
as the cron string (an RRule with an end date) with the very instants Prefect 1 ran it on, and is
refused at registration, with the reason, when no cron string holds them (`_translate.py`).
"""

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from pipelines.compat.prefect1.schedules._translate import Rules, translate
from pipelines.framework import runtime as platform


class Schedule(platform.Schedule):
    """One or more clocks (each with its own parameter defaults)."""

    filters: tuple[Callable, ...]
    or_filters: tuple[Callable, ...]
    not_filters: tuple[Callable, ...]
    adjustments: tuple[Callable, ...]

    def __init__(
        self,
        clocks: Sequence[Any],
        filters: Sequence[Callable] | None = None,
        or_filters: Sequence[Callable] | None = None,
        not_filters: Sequence[Callable] | None = None,
        adjustments: Sequence[Callable] | None = None,
    ):
        rules = Rules(
            tuple(filters or ()),
            tuple(or_filters or ()),
            tuple(not_filters or ()),
            tuple(adjustments or ()),
        )
        object.__setattr__(self, "filters", rules.filters)
        object.__setattr__(self, "or_filters", rules.or_filters)
        object.__setattr__(self, "not_filters", rules.not_filters)
        object.__setattr__(self, "adjustments", rules.adjustments)
        super().__init__(clocks=tuple(clocks))
        if rules.names():
            object.__setattr__(
                self, "clocks", tuple(_Filtered(clock, rules) for clock in self.clocks)
            )


class _Filtered:
    """A clock of a schedule with filters or adjustments: registers the instants they leave."""

    def __init__(self, clock: Any, rules: Rules):
        self._clock = clock
        self._rules = rules

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clock, name)

    def to_prefect(self) -> Any:
        base = getattr(self._clock, "base_schedule", self._clock.to_prefect)()
        return translate(self._clock, base, self._rules, datetime.now(timezone.utc))

    def describe(self) -> str:
        return f"{self._clock.describe()}, filtered by {self._rules.names()}"


__all__ = ["Schedule"]
