"""
Constant values of the Prefect 1 compat layer.
"""

from enum import Enum


class constants(Enum):  # pylint: disable=c0103
    """
    What the compat layer holds fixed: the Prefect 1 it mirrors, and how its names reach Prefect 3.
    """

    PREFECT1_VERSION = "0.15.9"
    DEPLOYMENT_NAME = "{flow_name}/{environment}"
    """`create_flow_run(flow_name=...)` starts this deployment (what `pipelines register` makes)."""
    DEFAULT_INTERVAL_START = "2019-01-01T00:00:00+00:00"
    """Prefect 1's start of an IntervalClock (and timezone of a CronClock) without start_date."""
    BANNED_NAME_CHARACTERS = {  # noqa: RUF012  (an Enum member: read, never mutated)
        "/": "\u2215",
        "%": "\uff05",
        "&": "\uff06",
        "<": "\u2039",
        ">": "\u203a",
    }
    """Characters Prefect 3 refuses in flow names, and the look-alikes that stand in for them."""
