# -*- coding: utf-8 -*-
"""
General utilities for all pipelines.
"""

from typing import Any

import prefect
from prefect.engine.state import Skipped, State


def log(msg: Any, level: str = "info") -> None:
    """
    Logs a message to prefect's logger.
    """
    levels = {
        "debug": 10,
        "info": 20,
        "warning": 30,
        "error": 40,
        "critical": 50,
    }
    if level not in levels:
        raise ValueError(f"Invalid log level: {level}")
    prefect.context.logger.log(levels[level], msg)  # pylint: disable=E1101


def notify_discord_on_failure(
    flow: prefect.Flow,
    state: State,
    secret_path: str,
    code_owners=None,
):
    """
    Notifies a Discord channel when a flow fails.
    """
    message = f"{flow.name} failed: {state.message} (owners: {code_owners})"
    log(f"would post to Discord ({secret_path}): {message}")


def skip_if_running_handler(obj, old_state: State, new_state: State) -> State:
    """
    State handler that will skip a flow run if another instance of the flow is already running.
    """
    if new_state.is_running():
        raise RuntimeError("the old repository asked Prefect Server's GraphQL API here")
    return new_state


def set_default_parameters(
    flow: prefect.Flow, default_parameters: dict
) -> prefect.Flow:
    """
    Sets default parameters for a flow.
    """
    for parameter in flow.parameters():
        if parameter.name in default_parameters:
            parameter.default = default_parameters[parameter.name]
    return flow


def untuple_clocks(clocks):
    """
    Converts a list of tuples to a list of clocks.
    """
    return [clock[0] if isinstance(clock, tuple) else clock for clock in clocks]
