"""
Prefect 1 `Schedule(clocks, filters, or_filters, not_filters, adjustments)` as the platform's
`Schedule`, so `flow.schedule = ...` registers as deployment schedules.

Filters and adjustments have no Prefect 3 deployment equivalent: a schedule that has them is
refused at registration with the reason (and `pipelines migrate` lists them).
"""

from collections.abc import Callable, Sequence
from typing import Any

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
        object.__setattr__(self, "filters", tuple(filters or ()))
        object.__setattr__(self, "or_filters", tuple(or_filters or ()))
        object.__setattr__(self, "not_filters", tuple(not_filters or ()))
        object.__setattr__(self, "adjustments", tuple(adjustments or ()))
        super().__init__(clocks=tuple(clocks))
        unsupported = [*self.filters, *self.or_filters, *self.not_filters, *self.adjustments]
        if unsupported:
            names = ", ".join(getattr(f, "__qualname__", repr(f)) for f in unsupported)
            object.__setattr__(
                self,
                "clocks",
                tuple(_Refused(clock, names) for clock in self.clocks),
            )


class _Refused:
    """A clock whose schedule has filters or adjustments: it describes itself, never registers."""

    def __init__(self, clock: Any, names: str):
        self._clock = clock
        self._names = names

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clock, name)

    def to_prefect(self) -> Any:
        raise platform.ScheduleError(
            f"schedule filters/adjustments ({self._names}) are not supported on Prefect 3: "
            "write the instants as a CronClock (or several clocks) instead"
        )


__all__ = ["Schedule"]
