"""`prefect.utilities.logging.get_logger`: the current run's logger or a `prefect.*` logger."""

import logging

from pipelines.compat.prefect1._context import context


def get_logger(name: str | None = None) -> logging.Logger | logging.LoggerAdapter:
    """Inside a run, the run logger (lines reach the UI); outside, `prefect.<name>`."""
    logger = context.logger
    if isinstance(logger, logging.LoggerAdapter) or name is None:
        return logger
    return logging.getLogger(f"prefect.{name}")


__all__ = ["get_logger"]
