"""
Stand-in for the package `tasks/` beside it (`prefect.tasks`), which Python imports instead of
this file. It exists because `pipelines check` reads every folder two levels under `pipelines/`
as a project (constants, flows, schedules, tasks, utils) and because registration's code
snapshot takes `tasks.py` for the package `tasks`: imported from such a snapshot, this module
serves as the package by pointing its `__path__` at the folder.
"""

from pathlib import Path

__path__ = [str(Path(__file__).with_suffix(""))]
