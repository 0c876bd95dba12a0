# -*- coding: utf-8 -*-
"""
Flows for the estacoes project.
"""

from prefect import Parameter, case
from prefect.executors import LocalDaskExecutor
from prefect.run_configs import KubernetesRun
from prefect.storage import GCS
from prefect.tasks.control_flow import merge
from prefect.utilities.edges import unmapped, flatten

from pipelines.constants import constants
from pipelines.rj_exemplo.meteorologia.estacoes.constants import (
    constants as estacoes_constants,
)
from pipelines.rj_exemplo.meteorologia.estacoes.schedules import (
    daily_report,
    every_fifteen_minutes,
)
from pipelines.rj_exemplo.meteorologia.estacoes.tasks import (
    after_skip,
    alert_offline,
    countdown,
    double,
    end_run_failed,
    fail_signal,
    flatten_input,
    hot_message,
    is_hot,
    keep_readings,
    list_stations,
    maybe_skip,
    mild_message,
    publish,
    read_station,
    summarize,
)
from pipelines.utils.decorators import Flow
from pipelines.utils.tasks import log_task

with Flow(
    "EMD: exemplo - Leituras das estações",
    code_owners=[
        "paty",
        "diego",
    ],
) as rj_exemplo_estacoes_flow:
    # Parameters
    stations = Parameter("stations", default=estacoes_constants.STATIONS.value)
    threshold = Parameter("threshold", default=25.0, required=False)
    dataset_id = Parameter("dataset_id", default=estacoes_constants.DATASET_ID.value)
    not_used = Parameter("not_used", default="dropped")

    station_list = list_stations(stations)
    readings = read_station.map(station=station_list)
    kept = keep_readings(readings)
    offline = alert_offline(readings)
    mean, count = summarize(kept)
    hot = is_hot(mean, threshold=threshold)
    with case(hot, True):
        hot_text = hot_message(mean)
    with case(hot, False):
        mild_text = mild_message(mean)
    message = merge(hot_text, mild_text)
    published = publish(message, count)
    log_task(msg=dataset_id, upstream_tasks=[published])

rj_exemplo_estacoes_flow.storage = GCS(constants.GCS_FLOWS_BUCKET.value)
rj_exemplo_estacoes_flow.run_config = KubernetesRun(
    image=constants.DOCKER_IMAGE.value,
    labels=[constants.RJ_EXEMPLO_AGENT_LABEL.value],
)
rj_exemplo_estacoes_flow.executor = LocalDaskExecutor(num_workers=3)
rj_exemplo_estacoes_flow.schedule = every_fifteen_minutes


with Flow(
    "EMD: exemplo - Sinais e laços",
    code_owners=["diego"],
) as rj_exemplo_sinais_flow:
    flag = Parameter("flag", default=False, required=False)
    looped = countdown()
    skipped = maybe_skip(flag)
    after = after_skip(skipped)
    ended = end_run_failed()
    failed = fail_signal()
    doubled = double.map(flatten(flatten_input()))
    doubled_again = double.map(doubled)
    cleanup = log_task(msg="cleanup", task_args={"name": "cleanup"})
    cleanup.set_dependencies(upstream_tasks=[ended, failed])

rj_exemplo_sinais_flow.storage = GCS(constants.GCS_FLOWS_BUCKET.value)
rj_exemplo_sinais_flow.run_config = KubernetesRun(
    image=constants.DOCKER_IMAGE.value,
    labels=[constants.RJ_EXEMPLO_DEV_AGENT_LABEL.value],
)
rj_exemplo_sinais_flow.schedule = daily_report
