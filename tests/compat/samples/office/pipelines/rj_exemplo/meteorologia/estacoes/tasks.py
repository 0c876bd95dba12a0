# -*- coding: utf-8 -*-
"""
Tasks for the estacoes project.
"""

from datetime import timedelta
from typing import List, Tuple

import prefect
from prefect import task
from prefect.engine.signals import ENDRUN, FAIL, LOOP, SKIP
from prefect.engine.state import Failed
from prefect.triggers import all_finished, any_failed

from pipelines.rj_exemplo.meteorologia.estacoes.utils import parse_reading
from pipelines.utils.utils import log


@task
def list_stations(stations: list) -> list:
    """
    The stations to read.
    """
    log(f"{len(stations)} stations")
    return stations


@task(max_retries=2, retry_delay=timedelta(seconds=0))
def read_station(station: str) -> dict:
    """
    Reads one station; station A621 is always offline.
    """
    if station == "A621":
        raise ConnectionError(f"station {station} is offline")
    return parse_reading(station)


@task(trigger=all_finished, skip_on_upstream_skip=False)
def keep_readings(readings: list) -> list:
    """
    Keeps the readings that arrived.
    """
    return [r for r in readings if isinstance(r, dict)]


@task(trigger=any_failed)
def alert_offline(readings: list) -> str:
    """
    Runs only when some station failed.
    """
    return "some station is offline"


@task(nout=2)
def summarize(readings: list) -> Tuple[float, int]:
    """
    Mean temperature and number of readings.
    """
    temperatures = [r["temperature"] for r in readings]
    return sum(temperatures) / len(temperatures), len(temperatures)


@task
def is_hot(mean: float, threshold: float) -> bool:
    """
    Whether the mean passes the threshold.
    """
    return mean > threshold


@task
def hot_message(mean: float) -> str:
    return f"hot: {mean:.1f}"


@task
def mild_message(mean: float) -> str:
    return f"mild: {mean:.1f}"


@task
def publish(message: str, count: int) -> str:
    """
    The day's message.
    """
    log(f"{message} ({count} stations) at {prefect.context.get('flow_name')}")
    return f"{message} ({count})"


@task
def countdown() -> int:
    """
    Loops three times.
    """
    loop_payload = prefect.context.get("task_loop_result", {"n": 0})
    if loop_payload["n"] < 3:
        raise LOOP(message=f"iteration {loop_payload['n']}", result={"n": loop_payload["n"] + 1})
    return loop_payload["n"]


@task
def maybe_skip(flag: bool) -> str:
    """
    Skips itself unless the flag is set.
    """
    if not flag:
        raise SKIP("flag is off")
    return "ran"


@task
def after_skip(value: str) -> str:
    return f"after {value}"


@task
def end_run_failed() -> None:
    """
    Ends with ENDRUN(Failed): never retried.
    """
    raise ENDRUN(state=Failed("stopped on purpose"))


@task(max_retries=1, retry_delay=timedelta(seconds=0))
def fail_signal() -> None:
    raise FAIL("explicit failure")


@task(checkpoint=False)
def flatten_input() -> List[List[int]]:
    return [[1, 2], [3]]


@task
def double(x: int) -> int:
    return 2 * x
