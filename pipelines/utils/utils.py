"""
Helpers shared by every flow: logging into the run's log and writing files atomically.
"""

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

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


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside `path` and move it over `path` only if the block succeeds.

    A failure leaves an older file at `path` byte-for-byte as it was and no temporary behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
