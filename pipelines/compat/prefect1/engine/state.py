"""
Prefect 1 task and flow states (`prefect.engine.state`), with the same classes and predicates.

They describe what happened to a Prefect 1 task inside a Prefect 3 run; Prefect 3 keeps its own
state of each task run (a Skipped task is a Completed task run named "Skipped").
"""

from collections.abc import Sequence
from typing import Any


class _NoResultType:
    """Prefect 1's `NoResult`: no value was ever produced."""

    def __repr__(self) -> str:
        return "<No result>"

    def __bool__(self) -> bool:
        return False


NoResult = _NoResultType()


class State:
    """Base of every state: a message and a result."""

    color = "#696969"

    def __init__(
        self,
        message: str | None = None,
        result: Any = NoResult,
        context: dict[str, Any] | None = None,
        cached_inputs: dict[str, Any] | None = None,
    ):
        self.message = message
        self._result = result
        self.context = context or {}
        self.cached_inputs = cached_inputs or {}

    @property
    def result(self) -> Any:
        """The value of the state (None when nothing was produced)."""
        return None if self._result is NoResult else self._result

    @result.setter
    def result(self, value: Any) -> None:
        self._result = value

    def __repr__(self) -> str:
        if self.message is not None:
            return f'<{type(self).__name__}: "{self.message}">'
        return f"<{type(self).__name__}>"

    def is_pending(self) -> bool:
        return isinstance(self, Pending)

    def is_queued(self) -> bool:
        return isinstance(self, Queued)

    def is_retrying(self) -> bool:
        return isinstance(self, Retrying)

    def is_running(self) -> bool:
        return isinstance(self, Running)

    def is_cached(self) -> bool:
        return isinstance(self, Cached)

    def is_finished(self) -> bool:
        return isinstance(self, Finished)

    def is_looped(self) -> bool:
        return isinstance(self, Looped)

    def is_scheduled(self) -> bool:
        return isinstance(self, Scheduled)

    def is_submitted(self) -> bool:
        return isinstance(self, Submitted)

    def is_skipped(self) -> bool:
        return isinstance(self, Skipped)

    def is_successful(self) -> bool:
        return isinstance(self, Success)

    def is_failed(self) -> bool:
        return isinstance(self, Failed)

    def is_mapped(self) -> bool:
        return isinstance(self, Mapped)

    def is_meta_state(self) -> bool:
        return isinstance(self, _MetaState)


class Pending(State):
    color = "#7ebdff"


class Scheduled(Pending):
    color = "#ffab00"

    def __init__(self, message: str | None = None, result: Any = NoResult, start_time=None, **kw):
        super().__init__(message, result, **kw)
        self.start_time = start_time


class Paused(Scheduled):
    color = "#99a8e8"


class Resume(Scheduled):
    color = "#f58c0c"


class Retrying(Scheduled):
    color = "#f66a0a"

    def __init__(self, message: str | None = None, result: Any = NoResult, run_count=None, **kw):
        super().__init__(message, result, **kw)
        self.run_count = run_count


class _MetaState(State):
    pass


class ClientFailed(_MetaState):
    color = "#eb0000"


class Submitted(_MetaState):
    color = "#ffdf5d"


class Queued(_MetaState):
    color = "#ffea7f"


class Running(State):
    color = "#3d67ff"


class Cancelling(Running):
    color = "#E8E8E8"


class Finished(State):
    color = "#003ccb"


class Looped(Finished):
    color = "#003ccb"

    def __init__(self, message: str | None = None, result: Any = NoResult, loop_count=None, **kw):
        super().__init__(message, result, **kw)
        self.loop_count = loop_count


class Success(Finished):
    color = "#28a745"


class Cached(Success):
    color = "#34d058"


class Mapped(Success):
    """A mapped parent: its children's states are `map_states`."""

    color = "#003ccb"

    def __init__(
        self,
        message: str | None = None,
        result: Any = NoResult,
        map_states: Sequence[State] | None = None,
        **kw,
    ):
        super().__init__(message, result, **kw)
        self.map_states = list(map_states or [])

    @property
    def n_map_states(self) -> int:
        return len(self.map_states)


class Cancelled(Finished):
    color = "#bdbdbd"


class Failed(Finished):
    color = "#eb0000"


class TimedOut(Failed):
    color = "#ff4e33"


class TriggerFailed(Failed):
    color = "#ff5131"


class ValidationFailed(Failed):
    color = "#ff5131"


class Skipped(Success):
    color = "#62757f"


__all__ = [
    "Cached",
    "Cancelled",
    "Cancelling",
    "ClientFailed",
    "Failed",
    "Finished",
    "Looped",
    "Mapped",
    "NoResult",
    "Paused",
    "Pending",
    "Queued",
    "Resume",
    "Retrying",
    "Running",
    "Scheduled",
    "Skipped",
    "State",
    "Submitted",
    "Success",
    "TimedOut",
    "TriggerFailed",
    "ValidationFailed",
]
