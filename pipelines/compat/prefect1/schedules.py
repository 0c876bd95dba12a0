"""
Stand-in for the package `schedules/` beside it (`prefect.schedules`), which Python imports
instead of this file. It exists because `pipelines check` reads every folder two levels under
`pipelines/` as a project (constants, flows, schedules, tasks, utils) and because registration's
code snapshot takes `schedules.py` for the package `schedules`: imported from such a snapshot,
this module serves as the package (its `__path__` is the folder) with the package's names.
"""

# pylint: disable=wrong-import-position,no-name-in-module  # __path__ must come first

from pathlib import Path

__path__ = [str(Path(__file__).with_suffix(""))]

from pipelines.compat.prefect1.schedules import adjustments, clocks, filters
from pipelines.compat.prefect1.schedules.clocks import CronClock, IntervalClock
from pipelines.compat.prefect1.schedules.schedules import Schedule

__all__ = ["CronClock", "IntervalClock", "Schedule", "adjustments", "clocks", "filters"]
