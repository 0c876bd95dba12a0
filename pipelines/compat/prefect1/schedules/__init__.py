"""Prefect 1's `prefect.schedules`: `Schedule`, clocks, filters, adjustments."""

from pipelines.compat.prefect1.schedules import adjustments, clocks, filters
from pipelines.compat.prefect1.schedules.clocks import CronClock, IntervalClock
from pipelines.compat.prefect1.schedules.schedules import Schedule

__all__ = ["CronClock", "IntervalClock", "Schedule", "adjustments", "clocks", "filters"]
