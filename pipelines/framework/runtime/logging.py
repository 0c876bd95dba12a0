"""
`log`: a line in the current run's log (shown in the UI), or in the `pipelines` logger outside one.
"""

import logging

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

_fallback_logger = logging.getLogger("pipelines")


def log(message: str, level: str = "info") -> None:
    """Log a message to the current run's log (shown in the UI); outside a run, to `pipelines`."""
    try:
        logger = get_run_logger()
    except MissingContextError:
        logger = _fallback_logger
    logger.log(logging.getLevelName(level.upper()), message)
