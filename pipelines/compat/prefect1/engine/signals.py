"""
Prefect 1 signals (`prefect.engine.signals`): raise one in a task to end it in a given state.

As in Prefect 1 they derive from BaseException, so a task's own `except Exception` lets them pass.
"""

from typing import Any

from pipelines.compat.prefect1.engine import state


class PrefectSignal(BaseException):
    """Base of every signal."""

    def __init__(self, message: Any = None, *args: Any, **kwargs: Any):
        super().__init__(message, *args)


class ENDRUN(PrefectSignal):
    """End the task with `state`, skipping retries."""

    def __init__(self, state: "state.State"):
        self.state = state
        super().__init__()


class PrefectStateSignal(PrefectSignal):
    """A signal that carries the state it stands for."""

    _state_cls: type = state.State

    def __init__(self, message: Any = None, *args: Any, **kwargs: Any):
        super().__init__(message)
        kwargs.setdefault("result", self)
        self.state = self._state_cls(message, *args, **kwargs)


class FAIL(PrefectStateSignal):
    """The task failed (retried like any error)."""

    _state_cls = state.Failed


class LOOP(PrefectStateSignal):
    """Run the task again with `prefect.context.task_loop_result` set to `result`."""

    _state_cls = state.Looped


class TRIGGERFAIL(FAIL):
    """The task's trigger refused to run it."""

    _state_cls = state.TriggerFailed


class VALIDATIONFAIL(FAIL):
    _state_cls = state.ValidationFailed


class SUCCESS(PrefectStateSignal):
    """The task succeeded with `result`."""

    _state_cls = state.Success


class PAUSE(PrefectStateSignal):
    """Not supported here: a paused task fails (Prefect 3 pauses whole flow runs)."""

    _state_cls = state.Paused


class RETRY(PrefectStateSignal):
    _state_cls = state.Retrying


class SKIP(PrefectStateSignal):
    """Skip the task: Skipped counts as a success, its downstream tasks skip too."""

    _state_cls = state.Skipped


def signal_from_state(from_state: "state.State") -> type[PrefectStateSignal]:
    """The signal class whose state class is `from_state`'s (or the nearest parent's)."""
    signals = {
        sig._state_cls: sig
        for sig in (FAIL, LOOP, TRIGGERFAIL, VALIDATIONFAIL, SUCCESS, PAUSE, RETRY, SKIP)
    }
    for cls in type(from_state).__mro__:
        if cls in signals:
            return signals[cls]
    raise ValueError(f"no signal for state {from_state!r}")


__all__ = [
    "ENDRUN",
    "FAIL",
    "LOOP",
    "PAUSE",
    "RETRY",
    "SKIP",
    "SUCCESS",
    "TRIGGERFAIL",
    "VALIDATIONFAIL",
    "PrefectSignal",
    "PrefectStateSignal",
    "signal_from_state",
]
