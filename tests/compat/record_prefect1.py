"""Record what Prefect 0.15.9 itself says of the office sample, as the tests' expected values.

Run it with a throwaway Prefect 1 venv (not this project's):

    python3.11 -m venv /tmp/p1
    /tmp/p1/bin/pip install "prefect==0.15.9" "pendulum<3" "marshmallow==3.20.2" pytz
    /tmp/p1/bin/python tests/compat/record_prefect1.py > tests/compat/samples/office_expected.json

The same function describes the migrated flows on this platform (test_office.py), so both sides
are rendered alike: names, parameters, clocks (next instants), labels, task names, run states.
"""

import importlib
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

SAMPLE = Path(__file__).parent / "samples" / "office"
FLOW_MODULES = (
    "pipelines.utils.dump_db.flows",
    "pipelines.rj_exemplo.meteorologia.estacoes.flows",
    "pipelines.rj_exemplo.relatorios.flows",
)
RUNS = {
    "EMD: exemplo - Leituras das estações": [{}, {"threshold": 26.5}],
    "EMD: exemplo - Sinais e laços": [{}, {"flag": True}],
    "EMD: exemplo - Ingerir chamados": [{"table_id": "chamados"}],
}
AFTER = datetime(2024, 3, 9, tzinfo=timezone.utc)


def _instants(clock, count=4, after=AFTER):
    """The next `count` instants of a clock after `after`, as UTC ISO strings."""
    if hasattr(clock, "events"):  # Prefect 1
        events = clock.events(after=after)
        return [next(events).start_time.in_tz("UTC").isoformat() for _ in range(count)]
    # The platform's clock: the dates Prefect 3's scheduler computes for its deployment schedule.
    import asyncio

    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.server.schemas import schedules as server_schedules

    created = DeploymentScheduleCreate.from_schedule(clock.to_prefect())
    if not created.active:
        return []
    client_schedule = created.schedule
    server_class = getattr(server_schedules, type(client_schedule).__name__)
    server_schedule = server_class.model_validate(client_schedule.model_dump())
    # Prefect 3 starts on or after `start`, Prefect 1 strictly after: compare the same instants.
    dates = asyncio.run(server_schedule.get_dates(n=count + 1, start=after))
    return [d.astimezone(timezone.utc).isoformat() for d in dates if d > after][:count]


def _labels(flow):
    run_config = getattr(flow, "run_config", None)
    return sorted(run_config.labels) if run_config is not None else []


def describe(flow, run=None):
    """What a flow declares, rendered the same way on Prefect 1 and on the compat layer."""
    parameters = sorted(flow.parameters(), key=lambda p: p.name)
    schedule = flow.schedule
    return {
        "name": flow.name,
        "parameters": [
            {"name": p.name, "default": p.default, "required": p.required} for p in parameters
        ],
        "clocks": [
            {
                "instants": _instants(clock),
                "labels": sorted(clock.labels or []),
                "parameter_defaults": dict(clock.parameter_defaults or {}),
            }
            for clock in (schedule.clocks if schedule else [])
        ],
        "run_config_labels": _labels(flow),
        "tasks": sorted(t.name for t in flow.tasks),
        "runs": [_run(flow, parameters) for parameters in (run or [])],
    }


def _state(state):
    rendered = {"state": type(state).__name__, "message": state.message}
    if type(state).__name__ == "Mapped":
        rendered["children"] = [type(s).__name__ for s in state.map_states]
    return rendered


def _run(flow, parameters):
    state = flow.run(parameters=parameters, run_on_schedule=False)
    tasks = sorted(
        (_task_key(task, flow), _state(task_state)) for task, task_state in state.result.items()
    )
    return {
        "parameters": parameters,
        "state": type(state).__name__,
        "message": state.message,
        "tasks": [{"task": key, **rendered} for key, rendered in tasks],
    }


def _task_key(task, flow):
    """A task's name, with its upstream names when several tasks share it."""
    same = [t for t in flow.tasks if t.name == task.name]
    if len(same) == 1:
        return task.name
    upstream = sorted(t.name for t in flow.upstream_tasks(task))
    return f"{task.name}<-{','.join(upstream)}"


def schedule_instants(schedule, count=12, after=AFTER):
    """The next `count` instants of each clock of a schedule, its filters and adjustments
    applied, as UTC ISO strings; on Prefect 1 from the clock's events, here from the deployment
    schedule registration sends (`to_prefect()`), as Prefect 3's scheduler reads it."""
    found = []
    for clock in schedule.clocks:
        if hasattr(clock, "events"):  # Prefect 1
            instants = []
            for event in clock.events(after=after):
                if len(instants) == count or event.start_time > after + timedelta(days=4000):
                    break
                if schedule._check_filters(event.start_time):
                    moment = schedule._apply_adjustments(event.start_time)
                    instants.append(moment.in_tz("UTC").isoformat())
            found.append(instants)
        else:
            found.append(_instants(clock, count, after))
    return found


def record(modules=FLOW_MODULES):
    flows, seen = [], set()
    for name in modules:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if type(value).__name__ in ("Flow", "CustomFlow") and id(value) not in seen:
                seen.add(id(value))
                flows.append(describe(value, RUNS.get(value.name)))
    return sorted(flows, key=lambda f: f["name"])


def record_schedules(path, after):
    """Every Schedule of a schedules file, with its instants after `after`."""
    namespace = {}
    exec(compile(Path(path).read_bytes(), str(path), "exec"), namespace)
    refused = namespace.get("UNRECORDED", ())
    return {
        name: schedule_instants(value, after=after)
        for name, value in namespace.items()
        if type(value).__name__ == "Schedule" and name not in refused
    }


if __name__ == "__main__" and sys.argv[1:2] == ["--schedules"]:
    # `record_prefect1.py --schedules FILE ISO_DATE`: with Prefect 1, the file's schedules.
    print(json.dumps(record_schedules(sys.argv[2], datetime.fromisoformat(sys.argv[3])), indent=1))
elif __name__ == "__main__":
    # `record_prefect1.py [MODULE...]`: with Prefect 1, the sample's modules (from its folder);
    # with this project's Python and the migrated repository on PYTHONPATH, the named modules.
    if len(sys.argv) == 1:
        sys.path.insert(0, str(SAMPLE))
    import logging

    logging.disable(logging.CRITICAL)
    found = record(sys.argv[1:] or FLOW_MODULES)
    print(json.dumps(found, indent=2, ensure_ascii=False, sort_keys=True, default=str))
