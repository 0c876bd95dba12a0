"""The compat runtime: Prefect 1 graphs built with `with Flow` run as Prefect 3 flows.

Expected states and messages are Prefect 0.15.9's (recorded from a throwaway venv running the same
flows with `prefect==0.15.9`).
"""

import copy
import inspect
import threading
import time
from datetime import timedelta

import pytest
from prefect import Flow as Prefect3Flow

import pipelines.compat.prefect1 as prefect
from pipelines.compat.prefect1 import Flow, Parameter, Task, case, task, unmapped
from pipelines.compat.prefect1.engine import signals
from pipelines.compat.prefect1.engine.state import Failed, Mapped, Skipped, Success, TriggerFailed
from pipelines.compat.prefect1.executors import LocalDaskExecutor
from pipelines.compat.prefect1.tasks.control_flow import merge
from pipelines.compat.prefect1.triggers import all_finished, any_failed

pytestmark = pytest.mark.component


@task
def add(x, y=1):
    return x + y


@task(nout=2)
def pair(x):
    return x, x * 2


@task
def boom(x=None):
    raise ValueError("boom")


class Multiply(Task):
    def __init__(self, factor: int, **kwargs):
        self.factor = factor
        super().__init__(**kwargs)

    def run(self, x):
        return x * self.factor


def by_name(state):
    return {t.name: s for t, s in state.result.items()}


def test_graph_is_recorded_and_unused_parameters_are_dropped():
    with Flow("graph") as flow:
        n = Parameter("n", default=3)
        Parameter("unused", default=1)
        total = add(n, y=2)
        first, second = pair(total)
        add(first, second)
    assert isinstance(flow, Prefect3Flow)
    assert {p.name for p in flow.parameters()} == {"n"}
    assert str(inspect.signature(flow.fn)) == "(*, n=3)"
    assert flow.fn.__name__ == "flow"
    assert flow.fn.__module__ == __name__
    assert sorted(t.name for t in flow.tasks) == ["add", "add", "n", "pair", "pair[0]", "pair[1]"]
    assert flow.constants[total] == {"y": 2}


def test_task_outside_a_flow_says_what_to_do():
    with pytest.raises(ValueError, match=r"call `add.run\(...\)`"):
        add(1)
    assert add.run(1) == 2


def test_required_parameters_have_no_default():
    with Flow("required") as flow:
        add(Parameter("x"), Parameter("y", default=None, required=False))
    assert str(inspect.signature(flow.fn)) == "(*, x, y=None)"
    with pytest.raises(ValueError, match="required parameters: x"):
        flow.run()


def test_run_with_parameters_dependencies_and_subclasses(prefect_api):
    order = []

    @task
    def record(label):
        order.append(label)
        return label

    with Flow("run") as flow:
        n = Parameter("n", default=2)
        doubled = Multiply(factor=2, name="double")(n)
        last = record("last")
        first = record("first", upstream_tasks=[doubled])
        last.set_upstream(first)
    state = flow.run(n=5)
    assert state.is_successful()
    assert state.message == "All reference tasks succeeded."
    assert state.result[doubled].result == 10
    assert order == ["first", "last"]
    assert flow.run(parameters={"n": 7}).result[doubled].result == 14


def test_context_inside_tasks(prefect_api):
    @task
    def read_context():
        ctx = prefect.context
        ctx.logger.info("hello from a task")
        return {
            "flow_name": ctx.flow_name,
            "parameters": ctx.parameters,
            "today": ctx.today,
            "task_name": ctx.get("task_name"),
            "run_id": ctx.get("flow_run_id"),
        }

    with Flow("context") as flow:
        read_context(upstream_tasks=[Parameter("n", default=4)])
    values = by_name(flow.run())["read_context"].result
    assert values["flow_name"] == "context"
    assert values["parameters"] == {"n": 4}
    assert len(values["today"]) == 10
    assert values["task_name"] == "read_context"
    assert values["run_id"]


def test_case_merge_and_skips(prefect_api):
    with Flow("branches") as flow:
        flag = Parameter("flag", default=True)
        with case(flag, True):
            yes = add(1, 10)
        with case(flag, False):
            no = add(1, 20)
        chosen = merge(yes, no)
        after_no = add(no)
    state = flow.run()
    assert state.is_successful()
    assert state.result[chosen].result == 11
    assert isinstance(state.result[no], Skipped)
    assert isinstance(state.result[after_no], Skipped)
    # recorded from prefect 0.15.9
    assert state.result[no].message == (
        "Upstream task was skipped; if this was not the intended behavior, consider changing "
        "`skip_on_upstream_skip=False` for this task."
    )
    other = flow.run(flag=False)
    assert other.result[chosen].result == 21
    assert isinstance(other.result[yes], Skipped)


def test_map_unmapped_and_dask_executor(prefect_api):
    with Flow("map") as flow:
        numbers = Parameter("numbers", default=[1, 2, 3])
        mapped = add.map(numbers, y=unmapped(10))
        again = add.map(mapped)
        total = add(mapped, y=[])
    flow.executor = LocalDaskExecutor(num_workers=3)
    state = flow.run()
    assert isinstance(state.result[mapped], Mapped)
    assert state.result[mapped].result == [11, 12, 13]
    assert state.result[again].result == [12, 13, 14]
    assert state.result[total].result == [11, 12, 13]


def test_failures_retries_and_triggers(prefect_api):
    attempts = []

    @task(max_retries=2, retry_delay=timedelta(seconds=0))
    def flaky():
        attempts.append(1)
        raise RuntimeError("still broken")

    with Flow("failures") as flow:
        broken = flaky()
        downstream = add(broken)
        cleanup = add(1, upstream_tasks=[broken], task_args={"trigger": all_finished})
        alarm = add(2, upstream_tasks=[broken], task_args={"trigger": any_failed})
    state = flow.run()
    assert len(attempts) == 3
    assert state.is_failed() and state.message == "Some reference tasks failed."
    assert isinstance(state.result[broken], Failed)
    assert (
        state.result[broken].message
        == "Error during execution of task: RuntimeError('still broken')"
    )
    assert isinstance(state.result[downstream], TriggerFailed)
    assert state.result[downstream].message == (
        'Trigger was "all_successful" but some of the upstream tasks failed.'
    )
    assert state.result[cleanup].result == 2
    assert state.result[alarm].result == 3


def test_signals(prefect_api):
    @task
    def skip():
        raise signals.SKIP("nothing to do")

    @task
    def end():
        raise signals.ENDRUN(Failed("ended"))

    @task
    def loop():
        count = prefect.context.get("task_loop_result", 0)
        if count < 3:
            raise signals.LOOP(result=count + 1)
        return count

    with Flow("signals") as flow:
        skipped = skip()
        looped = loop()
    state = flow.run()
    assert state.is_successful()  # Skipped counts as a success
    assert isinstance(state.result[skipped], Skipped)
    assert state.result[looped].result == 3
    with Flow("endrun") as ended:
        end()
    assert ended.run().is_failed()


def test_deepcopy_has_no_shared_state(prefect_api):
    with Flow("generic") as generic:
        add(Parameter("x", default=1))
    copied = copy.deepcopy(generic)
    copied.name = "copy"
    copied.code_owners = ("someone",)
    assert generic.name == "generic"
    assert copied.tasks.isdisjoint(generic.tasks)
    assert copied.fn is not generic.fn
    assert copied.run(x=5).is_successful()
    assert generic.run().is_successful()


def test_state_handlers_see_transitions(prefect_api):
    seen = []

    def handler(task, old, new):
        seen.append((type(old).__name__, type(new).__name__))
        return new

    with Flow("handlers") as flow:
        boom(task_args={"state_handlers": [handler]})
    assert flow.run().is_failed()
    assert seen == [("Pending", "Running"), ("Running", "Failed")]


def test_success_state_is_prefect1s(prefect_api):
    with Flow("one") as flow:
        added = add(1)
    state = flow.run()
    assert isinstance(state.result[added], Success)
    assert state.result[added].message == "Task run succeeded."


def test_operators_make_tasks_and_names_prefect3_refuses_get_look_alikes(prefect_api):
    with Flow("SMTR: RHO - Captura/Tratamento") as flow:
        words = "SMTR: " + add("R", y="HO") + " - "
        big = (add(1) * 2 > 3).not_()
        last = add(5)
        _ = big | last
    assert flow.name == "SMTR: RHO - Captura\u2215Tratamento"
    assert {"Add", "GreaterThan", "Mul", "Not"} <= {t.name for t in flow.tasks}
    assert big in flow.upstream_tasks(last)
    state = flow.run()
    assert state.result[words].result == "SMTR: RHO - "
    assert state.result[big].result is False  # not ((1 + 1) * 2 > 3)


def test_a_deep_copy_is_defined_where_it_was_copied():
    with Flow("generic") as generic:
        add(1)
    copied = copy.deepcopy(generic)
    assert generic.definition_module == copied.definition_module == __name__


def test_timeout_retry_on_and_mapped_context(prefect_api):
    calls = []

    @task(timeout=1)
    def slow():
        time.sleep(5)

    @task(max_retries=3, retry_delay=timedelta(0), retry_on=KeyError)
    def not_retried():
        calls.append(1)
        raise ValueError("not a KeyError")

    @task
    def where(x):
        return prefect.context.map_index, prefect.context.task_full_name

    with Flow("misc") as flow:
        timed = slow()
        not_retried()
        places = where.map([10, 20])
    state = flow.run()
    assert type(state.result[timed]).__name__ == "TimedOut"
    assert len(calls) == 1
    assert state.result[places].result == [(0, "where[0]"), (1, "where[1]")]


def test_dask_executor_runs_mapped_children_at_once(prefect_api):
    barrier = threading.Barrier(3, timeout=20)

    @task
    def meet(x):
        barrier.wait()  # only passes when three children run at the same time
        time.sleep(0.01)
        return x

    with Flow("parallel") as flow:
        met = meet.map([1, 2, 3])
    flow.executor = LocalDaskExecutor(num_workers=3)
    assert flow.run().result[met].result == [1, 2, 3]
