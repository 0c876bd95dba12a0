"""
What `pipelines run` prints while a flow runs: Prefect's log lines as they are, but an exception
a record carries as that record's one line. A failed run would otherwise print each retry's and
the flow's traceback (about 180 lines) before the command's own one-line error. The tracebacks stay
in the run's log on the server (the UI shows them) and `pipelines run -v` prints them here too.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.logging.configuration import ensure_logging_setup
from prefect.logging.handlers import PrefectConsoleHandler


class WithoutTraceback(logging.Formatter):
    """Formats a record as `inner` does, leaving out the traceback of one that carries it."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.exc_text or record.stack_info):
            return self.inner.format(record)
        # a copy: the record itself also goes to the server's log, traceback and all
        bare = logging.makeLogRecord(
            {**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None}
        )
        return self.inner.format(bare)


@contextmanager
def one_line_errors(enabled: bool = True) -> Iterator[None]:
    """While the block runs, Prefect's console handlers print a logged exception as one line."""
    if not enabled:
        yield
        return
    ensure_logging_setup()
    handlers = _console_handlers()
    previous = [handler.formatter for handler in handlers]
    for handler in handlers:
        handler.setFormatter(WithoutTraceback(handler.formatter))
    try:
        yield
    finally:
        for handler, formatter in zip(handlers, previous, strict=True):
            handler.setFormatter(formatter)


def _console_handlers() -> list[PrefectConsoleHandler]:
    """Every Prefect console handler of this process's loggers, once each."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    found = {
        id(handler): handler
        for logger in loggers
        for handler in logger.handlers
        if isinstance(handler, PrefectConsoleHandler)
    }
    return list(found.values())
