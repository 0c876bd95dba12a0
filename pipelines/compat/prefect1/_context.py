"""
`prefect.context` of Prefect 1: a dict-like view of the current flow and task run.

Values set by the compat runtime (flow_name, flow_run_id, parameters, today, task_name, ...) live
in a context variable, so threads that run mapped children see their own. `logger` is the
Prefect 3 run logger inside a run (its lines reach the UI), the `prefect` logger outside.
"""

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

_SCOPE: ContextVar[Mapping[str, Any]] = ContextVar("prefect1_context", default={})  # noqa: B039
_fallback_logger = logging.getLogger("prefect")


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return _fallback_logger


class Context:
    """Prefect 1's `prefect.context`: attribute and item access, `get`, and `with context(...)`."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"Context object has no attribute {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __getitem__(self, key: str) -> Any:
        scope = _SCOPE.get()
        if key in scope:
            return scope[key]
        if key == "logger":
            return _logger()
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        _SCOPE.set({**_SCOPE.get(), key: value})

    def __delitem__(self, key: str) -> None:
        scope = dict(_SCOPE.get())
        del scope[key]
        _SCOPE.set(scope)

    def __contains__(self, key: object) -> bool:
        return key == "logger" or key in _SCOPE.get()

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self):
        return self.to_dict().keys()

    def items(self):
        return self.to_dict().items()

    def values(self):
        return self.to_dict().values()

    def pop(self, key: str, default: Any = None) -> Any:
        scope = dict(_SCOPE.get())
        value = scope.pop(key, default)
        _SCOPE.set(scope)
        return value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in _SCOPE.get():
            self[key] = default
        return self[key]

    def update(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        merged = dict(_SCOPE.get())
        for mapping in args:
            merged.update(mapping)
        merged.update(kwargs)
        _SCOPE.set(merged)

    def to_dict(self) -> dict[str, Any]:
        return {"logger": _logger(), **_SCOPE.get()}

    def copy(self) -> dict[str, Any]:
        return self.to_dict()

    @contextmanager
    def __call__(self, *args: Mapping[str, Any], **kwargs: Any) -> Iterator["Context"]:
        """`with prefect.context(key=value):` sets values for the block only."""
        merged = dict(_SCOPE.get())
        for mapping in args:
            merged.update(mapping)
        merged.update(kwargs)
        token = _SCOPE.set(merged)
        try:
            yield self
        finally:
            _SCOPE.reset(token)

    def __repr__(self) -> str:
        return f"<Context: {', '.join(sorted(self.keys()))}>"


context = Context()
