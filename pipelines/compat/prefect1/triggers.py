"""
Prefect 1 triggers (`prefect.triggers`): whether a task runs, given its upstream states.

Each receives `{edge: state}`; a mapped upstream counts through its children's states. A trigger
that refuses raises TRIGGERFAIL, and the task ends TriggerFailed without running.
"""

from collections.abc import Callable
from typing import Any

from pipelines.compat.prefect1.engine import signals
from pipelines.compat.prefect1.engine.state import Mapped


def _get_all_states_as_set(upstream_states: dict[Any, Any]) -> set:
    all_states: set = set()
    for upstream_state in upstream_states.values():
        if isinstance(upstream_state, Mapped):
            all_states.update(upstream_state.map_states)
        else:
            all_states.add(upstream_state)
    return all_states


def all_finished(upstream_states: dict) -> bool:
    """Runs when every upstream task finished, whatever its state (`always_run`)."""
    if not all(s.is_finished() for s in _get_all_states_as_set(upstream_states)):
        raise signals.TRIGGERFAIL(
            'Trigger was "all_finished" but some of the upstream tasks were not finished.'
        )
    return True


always_run = all_finished


def manual_only(upstream_states: dict) -> bool:
    """Not supported: Prefect 3 has no task-level manual approval; the task fails."""
    raise signals.TRIGGERFAIL(
        'Trigger "manual_only" is not supported on Prefect 3: pause the flow with '
        "prefect.flow_runs.pause_flow_run instead"
    )


def all_successful(upstream_states: dict) -> bool:
    """Runs when every upstream task succeeded (Skipped counts as success). The default."""
    if not all(s.is_successful() for s in _get_all_states_as_set(upstream_states)):
        raise signals.TRIGGERFAIL(
            'Trigger was "all_successful" but some of the upstream tasks failed.'
        )
    return True


def all_failed(upstream_states: dict) -> bool:
    if not all(s.is_failed() for s in _get_all_states_as_set(upstream_states)):
        raise signals.TRIGGERFAIL(
            'Trigger was "all_failed" but some of the upstream tasks succeeded.'
        )
    return True


def any_successful(upstream_states: dict) -> bool:
    if upstream_states and not any(
        s.is_successful() for s in _get_all_states_as_set(upstream_states)
    ):
        raise signals.TRIGGERFAIL(
            'Trigger was "any_successful" but none of the upstream tasks succeeded.'
        )
    return True


def any_failed(upstream_states: dict) -> bool:
    if upstream_states and not any(s.is_failed() for s in _get_all_states_as_set(upstream_states)):
        raise signals.TRIGGERFAIL('Trigger was "any_failed" but none of the upstream tasks failed.')
    return True


def not_all_skipped(upstream_states: dict) -> bool:
    """Runs unless every upstream task was skipped (what `merge` uses)."""
    states = _get_all_states_as_set(upstream_states)
    if not all(s.is_successful() for s in states):
        raise signals.TRIGGERFAIL(
            'Trigger was "not_all_skipped" but some of the upstream tasks failed.'
        )
    if states and all(s.is_skipped() for s in states):
        raise signals.SKIP(
            'Trigger was "not_all_skipped" but all of the upstream tasks were skipped.'
        )
    return True


def _some(kind: str, at_least: int | float | None, at_most: int | float | None) -> Callable:
    def check(upstream_states: dict) -> bool:
        if not upstream_states:
            return True
        states = _get_all_states_as_set(upstream_states)
        count = len([s for s in states if getattr(s, f"is_{kind}")()])
        low = 0 if at_least is None else (len(states) * at_least if at_least < 1 else at_least)
        high = (
            len(states) if at_most is None else (len(states) * at_most if at_most < 1 else at_most)
        )
        if not low <= count <= high:
            raise signals.TRIGGERFAIL(
                f"Trigger requires between {low} and {high} {kind} upstream tasks; got {count}."
            )
        return True

    return check


def some_failed(at_least: int | float | None = None, at_most: int | float | None = None):
    return _some("failed", at_least, at_most)


def some_successful(at_least: int | float | None = None, at_most: int | float | None = None):
    return _some("successful", at_least, at_most)


__all__ = [
    "all_failed",
    "all_finished",
    "all_successful",
    "always_run",
    "any_failed",
    "any_successful",
    "manual_only",
    "not_all_skipped",
    "some_failed",
    "some_successful",
]
