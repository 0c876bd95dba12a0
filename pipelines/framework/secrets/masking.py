"""
Keeps secret values out of logs, exceptions, failed-state messages and terminal output.

Every value the secret helpers return is registered here; from then on this process replaces it
with `****` wherever it would leave: log records (a filter on Prefect's loggers, on the API log
handler that ships logs to the server, and on ours), the message of a failed or crashed state
(Prefect builds it with `prefect.states.format_exception`, which is wrapped), the exception
itself (masked in place, so the caller and the UI see the same text) and `sys.stdout`/`sys.stderr`.

Other processes that run a flow's tasks (dask.distributed workers) know none of this process's
secrets: `registered_secrets` is what they need to be told, and `mask_in_this_process` is what
each of them runs with it (the dump task runner ships both in a worker plugin), so their logs
are masked too.
"""

import contextlib
import io
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

import prefect._internal.states
import prefect.states

MASK = "****"
MIN_MASKED_LENGTH = 4
"""Shorter values are not masked: replacing `1` or `ab` everywhere would garble every log."""
MASKED_LOGGERS = ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.extra", "pipelines")

_lock = threading.RLock()
_values: set[str] = set()
_registered: set[str] = set()
"""The values as registered (`_values` adds their escaped forms)."""
_pattern: re.Pattern[str] | None = None
_original_format_exception = prefect.states.format_exception


def _variants(value: str) -> Iterable[str]:
    """The value and the forms it takes when escaped: JSON/repr, URL-quoted, one line of many."""
    yield value
    yield json.dumps(value)[1:-1]
    yield repr(value)[1:-1]
    yield quote(value, safe="")
    yield quote_plus(value)
    for line in value.splitlines():
        if len(line.strip()) >= 8 and not line.startswith("-----"):
            yield line.strip()


def register_secret(value: Any) -> None:
    """Mask `value` (a string, or every string in a dict/list) from now on in this process."""
    if isinstance(value, dict):
        for item in value.values():
            register_secret(item)
        return
    if isinstance(value, list | tuple | set):
        for item in value:
            register_secret(item)
        return
    if not isinstance(value, str) or len(value) < MIN_MASKED_LENGTH:
        return
    global _pattern  # pylint: disable=global-statement
    with _lock:
        _registered.add(value)
        new = {v for v in _variants(value) if len(v) >= MIN_MASKED_LENGTH} - _values
        if new:
            _values.update(new)
            ordered = sorted(_values, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(v) for v in ordered))
    install_masking()  # again each time: repairs a logging reconfiguration in between


def forget_secrets() -> None:
    """Stop masking everything (for tests)."""
    global _pattern  # pylint: disable=global-statement
    with _lock:
        _values.clear()
        _registered.clear()
        _pattern = None


def registered_secrets() -> tuple[str, ...]:
    """Every value registered in this process so far, for another process to mask as well."""
    with _lock:
        return tuple(sorted(_registered))


def mask_in_this_process(values: Iterable[str]) -> None:
    """What a process that runs another's tasks does first (a dask worker): mask `values`, and
    put the filter on the handlers of every logger already configured, since such a process
    logs through loggers of its own (`distributed.worker`'s "Compute Failed" line names a
    task's arguments) besides Prefect's."""
    register_secret(list(values))
    install_masking()
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            _add_filter(logger)


def mask(text: str) -> str:
    """`text` with every registered secret replaced by `****`."""
    pattern = _pattern
    if pattern is None or not isinstance(text, str):
        return text
    return pattern.sub(MASK, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, tuple):
        return tuple(_mask_value(v) for v in value)
    if isinstance(value, list):
        return [_mask_value(v) for v in value]
    return value


def mask_exception(exc: BaseException | None) -> None:
    """Mask an exception and its causes in place: args, string attributes and notes."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and _pattern is not None:
        seen.add(id(exc))
        with contextlib.suppress(AttributeError, TypeError):
            exc.args = _mask_value(exc.args)
        for name, value in list(getattr(exc, "__dict__", {}).items()):
            if isinstance(value, str | list) and _mask_value(value) != value:
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(exc, name, _mask_value(value))
        if exc.__cause__ is not None:
            mask_exception(exc.__cause__)
        exc = exc.__context__


def mask_record(record: logging.LogRecord) -> None:
    """Mask a log record's message, arguments and traceback in place."""
    if _pattern is None:
        return
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = str(record.msg)
    masked = mask(message)
    if masked != message or record.args:
        record.msg, record.args = masked, ()
    if record.exc_info and record.exc_info[1] is not None:
        mask_exception(record.exc_info[1])
        record.exc_text = mask("".join(traceback.format_exception(*record.exc_info)).rstrip())
    elif record.exc_text:
        record.exc_text = mask(record.exc_text)
    if record.stack_info:
        record.stack_info = mask(record.stack_info)


class SecretMaskingFilter(logging.Filter):
    """Replaces registered secret values with `****` in every record it sees; drops none."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


class MaskingStream(io.TextIOBase):
    """A text stream that masks secrets before writing to the stream it wraps."""

    def __init__(self, wrapped: Any):
        super().__init__()
        self.wrapped = wrapped

    def write(self, text: Any) -> int:
        """Write `text` masked; bytes pass through to the wrapped stream as they are."""
        if isinstance(text, str):
            self.wrapped.write(mask(text))
            return len(text)
        return self.wrapped.write(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def fileno(self) -> int:
        return self.wrapped.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.wrapped, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.wrapped, "errors", "strict")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def _masked_format_exception(exc: BaseException, tb: Any = None) -> str:
    """Prefect's state-message formatter, after masking the exception in place."""
    mask_exception(exc)
    return mask(_original_format_exception(exc, tb))


_FILTER = SecretMaskingFilter()


def install_masking() -> None:
    """Install the filters, the state-message wrapper and the masking streams (idempotent).

    Called on every secret registered, so a logging reconfiguration in between is repaired.
    """
    for name in MASKED_LOGGERS:
        _add_filter(logging.getLogger(name))
    _add_filter(logging.getLogger())
    prefect.states.format_exception = _masked_format_exception
    prefect._internal.states.format_exception = (  # pylint: disable=protected-access
        _masked_format_exception
    )
    if not isinstance(sys.stdout, MaskingStream) and sys.stdout is not None:
        sys.stdout = MaskingStream(sys.stdout)
    if not isinstance(sys.stderr, MaskingStream) and sys.stderr is not None:
        sys.stderr = MaskingStream(sys.stderr)


def _add_filter(logger: logging.Logger) -> None:
    """The filter on the logger (records logged there) and its handlers (records propagated)."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    for handler in logger.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
