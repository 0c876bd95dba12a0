"""
Runs a Prefect 1 graph inside a Prefect 3 flow run, with Prefect 1's rules.

Tasks run in dependency order. Before a task runs, its upstream states decide, as in Prefect 1:
an upstream Skipped skips it (unless `skip_on_upstream_skip=False`), then its trigger may end it
TriggerFailed. Every task that is not a Parameter is one Prefect 3 task run (mapped children are
one each), so the UI lists the same tasks with their logs; the Prefect 1 state of each (Success,
Skipped, TriggerFailed, Looped, ...) is kept for the flow's final state and for `flow.run()`.
Retries are Prefect 3's (`max_retries`/`retry_delay`); signals end the task in their state.
"""

from __future__ import annotations

# pylint: disable=protected-access  # the runner reads its own package's graph internals
import contextvars
import copy
import io
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext, redirect_stdout
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pendulum
import prefect
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext
from prefect.states import Completed
from prefect.states import Failed as Prefect3Failed

from pipelines.compat.prefect1._context import context
from pipelines.compat.prefect1.engine import signals
from pipelines.compat.prefect1.engine.state import (
    Failed,
    Mapped,
    NoResult,
    Pending,
    Running,
    Skipped,
    State,
    Success,
    TimedOut,
    TriggerFailed,
)
from pipelines.framework import stack

if TYPE_CHECKING:
    from pipelines.compat.prefect1.core.edge import Edge
    from pipelines.compat.prefect1.core.flow import Flow
    from pipelines.compat.prefect1.core.task import Task

_CALL: ContextVar[_Call | None] = ContextVar("prefect1_call", default=None)
_LOCAL_RUN: ContextVar[list | None] = ContextVar("prefect1_local_run", default=None)
_CACHE_ATTRIBUTE = "_compat_runtime"


class TaskRunFailedError(Exception):
    """A Prefect 1 task ended Failed (an error or a FAIL signal); Prefect 3 retries it."""


class Prefect1FlowFailedError(Exception):
    """Some reference tasks of a Prefect 1 flow failed."""


@dataclass
class _Call:
    """One attempt series of one task run: what the Prefect 3 task body needs, and its outcome."""

    task: Task
    map_index: int | None
    preset: State | None = None
    outcome: State | None = None
    retry: bool = True
    run_name: str = ""
    flow_context: dict[str, Any] = field(default_factory=dict)


# Prefect 3 side of each task --------------------------------------------------------------------


def _run_name() -> str:
    call = _CALL.get()
    return call.run_name if call else "task"


def _may_retry(task: Any, task_run: Any, state: Any) -> bool:  # pylint: disable=unused-argument
    """Prefect 3 asks before each retry: signals (ENDRUN, SKIP) and `retry_on` may refuse."""
    call = _CALL.get()
    if call is None or not call.retry:
        return False
    retry_on = call.task.retry_on
    if retry_on:
        error = state.result(raise_on_failure=False)
        original = error.__cause__ if isinstance(error, TaskRunFailedError) else error
        return isinstance(original, tuple(retry_on) if isinstance(retry_on, Iterable) else retry_on)
    return True


def _body_for(name: str) -> Callable[..., Any]:
    """A Prefect 3 task function named after the Prefect 1 task (the UI's and alerts' name)."""

    def body(**inputs: Any) -> Any:
        return _attempt(inputs)

    body.__name__ = body.__qualname__ = name
    return body


def _prefect3_task(task: Task) -> prefect.Task:
    """The Prefect 3 task that runs `task` (made once per settings, kept on the task)."""
    delay = task.retry_delay.total_seconds() if task.retry_delay else 0
    key = (task.name, task.max_retries, delay, task.timeout, task.log_stdout, task.checkpoint)
    cached = task.__dict__.get(_CACHE_ATTRIBUTE)
    if cached is not None and cached[0] == key:
        return cached[1]
    made = prefect.Task(
        fn=_body_for(task.name),
        name=task.name,
        retries=task.max_retries or 0,
        retry_delay_seconds=delay,
        timeout_seconds=task.timeout,
        retry_condition_fn=_may_retry,
        cache_policy=NO_CACHE,
        # checkpoint=True: the result is stored, so `get_task_run_result` reads it from another
        # run (Prefect 1 checkpointed it to the flow's result); unset: Prefect 3's default.
        persist_result=task.checkpoint,
        task_run_name=_run_name,
        tags=set(task.tags),
    )
    task.__dict__[_CACHE_ATTRIBUTE] = (key, made)
    return made


def _call_handlers(task: Task, old: State, new: State) -> State:
    for handler in task.state_handlers:
        new = handler(task, old, new) or new
    return new


def _attempt(inputs: dict[str, Any]) -> Any:
    """One Prefect 3 attempt of a Prefect 1 task: run it and turn signals into states."""
    call = _CALL.get()
    assert call is not None, "a compat task body runs only from the compat runner"
    if call.preset is not None:
        call.retry = False
        call.outcome = call.preset
        return _as_prefect3(call.preset)
    task = call.task
    run_context = TaskRunContext.get()
    run_count = run_context.task_run.run_count if run_context else 1
    task_context = {
        **call.flow_context,
        "task_name": task.name,
        "task_full_name": call.run_name,
        "task_slug": call.flow_context.get("_slugs", {}).get(task, task.name),
        "task_tags": task.tags,
        "map_index": call.map_index,
        "task_run_count": run_count,
        "task_run_id": str(run_context.task_run.id) if run_context else None,
    }
    old: State = Pending() if run_count == 1 else Failed("Retrying")
    running = _call_handlers(task, old, Running(message="Starting task run."))
    with context(task_context):
        state = _run_with_signals(task, inputs) if not running.is_finished() else running
        if state.is_failed() and not isinstance(state, TriggerFailed) and call.retry:
            retries_left = (task.max_retries or 0) - run_count + 1
            if retries_left > 0:
                _call_handlers(task, running, state)
                call.outcome = state
                raise TaskRunFailedError(state.message) from _exception_of(state)
        state = _call_handlers(task, running, state)
    call.outcome = state
    if isinstance(state, Failed) and not call.retry:
        return _as_prefect3(state)
    if state.is_failed():
        raise TaskRunFailedError(state.message) from _exception_of(state)
    if isinstance(state, Skipped):
        return _as_prefect3(state)
    return state.result


def _exception_of(state: State) -> BaseException | None:
    result = state._result
    return result if isinstance(result, BaseException) else None


def _run_with_signals(task: Task, inputs: dict[str, Any]) -> State:  # pylint: disable=too-many-return-statements
    """`task.run(**inputs)` with LOOP repeated and every signal made its state."""
    call = _CALL.get()
    loop_result: Any = NoResult
    loop_count = 1
    while True:
        extra = {"task_loop_count": loop_count}
        if loop_result is not NoResult:
            extra["task_loop_result"] = loop_result
        try:
            with context(extra), _stdout_to_log(task):
                value = task.run(**inputs)
            return Success(result=value, message="Task run succeeded.")
        except signals.LOOP as sig:
            loop_result = sig.state.result
            loop_count += 1
        except signals.ENDRUN as sig:
            call.retry = False
            return sig.state
        except signals.SKIP as sig:
            call.retry = False
            return sig.state
        except signals.SUCCESS as sig:
            return sig.state
        except signals.PAUSE:
            call.retry = False
            return Failed(
                "PAUSE is not supported on Prefect 3: use prefect.flow_runs.pause_flow_run"
            )
        except signals.PrefectStateSignal as sig:
            return sig.state
        except TimeoutError as exc:  # Prefect 3's timeout_seconds interrupted the run
            return TimedOut("Task timed out during execution.", result=exc)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # Prefect 1's Failed
            return Failed(f"Error during execution of task: {exc!r}", result=exc)


def _stdout_to_log(task: Task) -> Any:
    if not task.log_stdout:
        return nullcontext()

    class _ToLog(io.TextIOBase):
        def write(self, text: str) -> int:
            if text.strip():
                context.logger.info(text.rstrip("\n"))
            return len(text)

    return redirect_stdout(_ToLog())


def _as_prefect3(state: State) -> Any:
    """The Prefect 3 final state of a task run whose Prefect 1 state is `state`."""
    name = type(state).__name__
    if state.is_failed():
        error = _exception_of(state)
        raised = isinstance(error, Exception) and error.__traceback__ is not None
        return Prefect3Failed(name=name, message=state.message, data=error if raised else None)
    return Completed(name=name, message=state.message)


def _from_prefect3(prefect3_state: Any) -> State:
    """The Prefect 1 state of a task run that ended before its body could say (timeouts...)."""
    if prefect3_state.is_completed():
        return Success(result=prefect3_state.result(raise_on_failure=False))
    error = prefect3_state.result(raise_on_failure=False)
    if prefect3_state.name == "TimedOut" or isinstance(error, TimeoutError):
        return TimedOut("Task timed out during execution.", result=error)
    return Failed(prefect3_state.message or prefect3_state.name, result=error)


# The graph ---------------------------------------------------------------------------------


class _GraphRun:
    """One run of a flow's graph: the state of every task, computed in dependency order."""

    def __init__(self, flow: Flow, parameters: dict[str, Any], flow_context: dict[str, Any]):
        self.flow = flow
        self.parameters = parameters
        self.flow_context = {**flow_context, "_slugs": flow.slugs}
        self.states: dict[Task, State] = {}
        self.workers = _workers(flow.executor)

    def run(self) -> dict[Task, State]:
        """Every task's Prefect 1 state, computed in dependency order."""
        from pipelines.compat.prefect1.core.parameter import Parameter

        pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        try:
            for task in self.flow.sorted_tasks():
                upstream = self._upstream_states(task)
                if isinstance(task, Parameter):
                    self.states[task] = self._parameter_state(task)
                elif any(edge.mapped for edge in upstream):
                    self.states[task] = self._run_mapped(task, upstream, pool)
                else:
                    self.states[task] = self._run_single(task, upstream, None)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        return self.states

    def _parameter_state(self, task: Any) -> State:
        try:
            with context(self.flow_context):
                value = task.run()
        except Exception as exc:  # pylint: disable=broad-exception-caught  # no required value
            return Failed(f"Error during execution of task: {exc!r}", result=exc)
        return Success(result=value, message="Task run succeeded.")

    def _upstream_states(self, task: Task) -> dict[Edge, State]:
        states = {}
        for edge in self.flow._edges_to.get(task, ()):
            state = self.states[edge.upstream_task]
            if edge.flattened and not isinstance(state, Mapped):
                state = _flattened(state)
            states[edge] = state
        return states

    # A task that is not mapped, or one mapped child -------------------------------------------

    def _run_single(self, task: Task, upstream: dict[Edge, State], map_index: int | None) -> State:
        call = _Call(task=task, map_index=map_index, flow_context=self.flow_context)
        call.run_name = task.name if map_index is None else f"{task.name}[{map_index}]"
        if task.task_run_name:
            call.run_name = _custom_run_name(task, upstream, self.flow.constants.get(task, {}))
        call.preset = _preflight(task, upstream)
        if call.preset is not None:
            call.preset = _call_handlers(task, Pending(), call.preset)
        inputs = {} if call.preset is not None else self._inputs(task, upstream)
        token = _CALL.set(call)
        try:
            prefect3_state = _prefect3_task(task)(**inputs, return_state=True)
        finally:
            _CALL.reset(token)
        return call.outcome if call.outcome is not None else _from_prefect3(prefect3_state)

    def _inputs(self, task: Task, upstream: dict[Edge, State]) -> dict[str, Any]:
        inputs = dict(self.flow.constants.get(task, {}))
        for edge, state in upstream.items():
            if edge.key is not None:
                inputs[edge.key] = state.result
        return inputs

    # A mapped task ------------------------------------------------------------------------------

    def _run_mapped(
        self, task: Task, upstream: dict[Edge, State], pool: ThreadPoolExecutor | None
    ) -> State:
        parent = _mapped_parent_state(task, upstream)
        if parent is not None:
            return parent
        children = _child_upstream_states(upstream)
        if pool is None:
            states = [self._run_single(task, child, i) for i, child in enumerate(children)]
        else:
            futures = [
                pool.submit(contextvars.copy_context().run, self._run_single, task, child, i)
                for i, child in enumerate(children)
            ]
            states = [future.result() for future in futures]
        return Mapped(
            message="Ready to proceed with mapping.",
            result=[s.result for s in states],
            map_states=states,
        )


def _workers(executor: Any) -> int:
    """How many mapped children run at once: 1 for LocalExecutor, a pool for the Dask ones."""
    if executor is None or type(executor).__name__ == "LocalExecutor":
        return 1
    workers = getattr(executor, "num_workers", None) or getattr(executor, "n_workers", None)
    return int(workers or os.cpu_count() or 2)


def _all_states(upstream: dict[Edge, State]) -> set[State]:
    found: set[State] = set()
    for edge, state in upstream.items():
        if isinstance(state, Mapped) and not edge.mapped:
            found.update(state.map_states)
        else:
            found.add(state)
    return found


def _preflight(task: Task, upstream: dict[Edge, State]) -> State | None:
    """What Prefect 1 decides before running a task: skipped upstream, then the trigger."""
    if task.skip_on_upstream_skip and any(s.is_skipped() for s in _all_states(upstream)):
        return Skipped(
            "Upstream task was skipped; if this was not the intended behavior, consider "
            "changing `skip_on_upstream_skip=False` for this task."
        )
    try:
        if not task.trigger(upstream):
            raise signals.TRIGGERFAIL("Trigger failed")
    except signals.PrefectStateSignal as sig:
        return sig.state
    except Exception as exc:  # pylint: disable=broad-exception-caught  # as Prefect 1 does
        return TriggerFailed(f"Unexpected error while checking task trigger: {exc!r}", result=exc)
    return None


def _mapped_parent_state(task: Task, upstream: dict[Edge, State]) -> State | None:
    """None when the task can map; else its final state (Skipped, or Failed as Prefect 1 says)."""
    if task.skip_on_upstream_skip and any(s.is_skipped() for s in _all_states(upstream)):
        return Skipped(
            "Upstream task was skipped; if this was not the intended behavior, consider "
            "changing `skip_on_upstream_skip=False` for this task."
        )
    if upstream and not any(e.mapped and s.is_successful() for e, s in upstream.items()):
        return Failed("No upstream states can be mapped over.")
    if not all(
        hasattr(s.result, "__getitem__")
        for e, s in upstream.items()
        if s.is_successful() and not s.is_mapped() and e.mapped
    ):
        return Failed("At least one upstream state has an unmappable result.")
    return None


def _child_upstream_states(upstream: dict[Edge, State]) -> list[dict[Edge, State]]:
    """Upstream states of each mapped child: the i-th element of every mapped input (zip)."""
    mapped_children: dict[Task, list[State]] = {}
    for edge, state in upstream.items():
        if isinstance(state, Mapped):
            children = state.map_states
            if edge.flattened:
                children = [
                    Success(result=item, message=child.message)
                    for child in children
                    for item in (child.result or [])
                ]
            mapped_children[edge.upstream_task] = children
    result = []
    index = 0
    while upstream:
        child: dict[Edge, State] = {}
        try:
            for edge, state in upstream.items():
                if not edge.mapped:
                    child[edge] = state
                elif isinstance(state, Mapped):
                    child[edge] = mapped_children[edge.upstream_task][index]
                else:
                    item = copy.copy(state)
                    value = state.result
                    item.result = value[index] if hasattr(value, "__getitem__") else None
                    child[edge] = item
        except (IndexError, KeyError):
            break
        result.append(child)
        index += 1
    return result


def _flattened(state: State) -> State:
    """An upstream state whose list-of-lists result is flattened (for `flatten(x)`)."""
    try:
        flat = [item for sub in state.result for item in sub]
    except TypeError:
        return state
    new = copy.copy(state)
    new.result = flat
    return new


def _custom_run_name(task: Task, upstream: dict[Edge, State], constants: dict) -> str:
    values = dict(constants)
    values.update({e.key: s.result for e, s in upstream.items() if e.key})
    try:
        if callable(task.task_run_name):
            return str(task.task_run_name(**values))
        return str(task.task_run_name).format(**values)
    except (KeyError, IndexError, TypeError, ValueError):
        return task.name


# The flow ----------------------------------------------------------------------------------


def _flow_context(flow: Flow, parameters: dict[str, Any]) -> dict[str, Any]:
    """Prefect 1's flow-run context values, from the Prefect 3 run."""
    run_context = FlowRunContext.get()
    flow_run = run_context.flow_run if run_context else None
    scheduled = getattr(flow_run, "expected_start_time", None)
    now = pendulum.now("UTC")
    values: dict[str, Any] = {
        "flow_name": flow.name,
        "flow_run_id": str(flow_run.id) if flow_run else None,
        "flow_run_name": flow_run.name if flow_run else None,
        "flow_id": str(flow_run.flow_id) if flow_run else None,
        "flow_run_version": None,
        "parameters": dict(parameters),
        "scheduled_start_time": pendulum.instance(scheduled).astimezone(pendulum.UTC)
        if scheduled
        else now,
        "running_with_backend": bool(flow_run and flow_run.deployment_id),
        "date": now,
        "today": now.strftime("%Y-%m-%d"),
        "yesterday": now.add(days=-1).strftime("%Y-%m-%d"),
        "tomorrow": now.add(days=1).strftime("%Y-%m-%d"),
        "today_nodash": now.strftime("%Y%m%d"),
        "yesterday_nodash": now.add(days=-1).strftime("%Y%m%d"),
        "tomorrow_nodash": now.add(days=1).strftime("%Y%m%d"),
    }
    return values


def _final_state(flow: Flow, states: dict[Task, State]) -> State:
    """Prefect 1's rule: Failed if a reference task (or mapped child of one) failed."""

    def flat(tasks: Iterable[Task]) -> list[State]:
        found: list[State] = []
        for task in tasks:
            state = states[task]
            found.extend(state.map_states if isinstance(state, Mapped) else [state])
        return found

    key_states = flat(flow.reference_tasks())
    if any(s.is_failed() for s in key_states):
        state: State = Failed(message="Some reference tasks failed.", result=states)
    elif all(s.is_successful() for s in key_states):
        state = Success(message="All reference tasks succeeded.", result=states)
    else:
        state = Success(message="No reference tasks failed.", result=states)
    if flow.terminal_state_handler is not None:
        state = flow.terminal_state_handler(flow, state, set(key_states)) or state
    return state


def _failure_summary(flow: Flow, states: dict[Task, State]) -> str:
    failed = []
    for task in flow.sorted_tasks():
        state = states.get(task)
        children = state.map_states if isinstance(state, Mapped) else [state]
        for child in children:
            if child is not None and child.is_failed() and not isinstance(child, TriggerFailed):
                failed.append(f"{task.name!r}: {child.message}")
                break
    return "; ".join(failed[:3])


def run_flow(flow: Flow, parameters: dict[str, Any]) -> Any:
    """The body of every compat flow's Prefect 3 function."""
    values = {p.name: p.default for p in flow._parameter_tasks() if not p.required}
    values.update(parameters)
    flow_context = _flow_context(flow, values)
    running = Running(message="Running flow.")
    for handler in flow.state_handlers:
        running = handler(flow, Pending(), running) or running
    with context(flow_context):
        states = _GraphRun(flow, values, flow_context).run()
        final = _final_state(flow, states)
        for handler in flow.state_handlers:
            final = handler(flow, running, final) or final
        if final.is_failed() and flow.on_failure is not None:
            flow.on_failure(flow, final)
    holder = _LOCAL_RUN.get()
    if holder is not None:
        holder.append(final)
    if final.is_failed():
        summary = _failure_summary(flow, states) or final.message
        return Prefect3Failed(message=final.message, data=Prefect1FlowFailedError(summary))
    return Completed(message=final.message)


def run_locally(flow: Flow, parameters: dict[str, Any]) -> State:
    """`flow.run()`: one Prefect 3 run of the flow here, on the platform's server as a
    `pipelines run` (not a temporary server per process); its Prefect 1 final state."""
    holder: list[State] = []
    token = _LOCAL_RUN.set(holder)
    try:
        with stack.local_runs():
            prefect3_state = flow(**parameters, return_state=True)
    finally:
        _LOCAL_RUN.reset(token)
    if holder:
        return holder[-1]
    error = prefect3_state.result(raise_on_failure=False)
    return Failed(prefect3_state.message or "Flow run failed.", result=error)
