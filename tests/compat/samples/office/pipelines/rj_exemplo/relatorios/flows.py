# -*- coding: utf-8 -*-
"""
Flows for the relatorios project.
"""

from copy import deepcopy

from prefect import Parameter
from prefect.run_configs import KubernetesRun
from prefect.storage import GCS
from prefect.tasks.prefect import create_flow_run, wait_for_flow_run

from pipelines.constants import constants
from pipelines.rj_exemplo.relatorios.constants import constants as relatorios_constants
from pipelines.rj_exemplo.relatorios.schedules import daily_dumps
from pipelines.rj_exemplo.relatorios.tasks import (
    get_current_flow_labels,
    rename_current_flow_run,
)
from pipelines.utils.decorators import Flow
from pipelines.utils.dump_db.flows import dump_sql_flow
from pipelines.utils.utils import set_default_parameters

rj_exemplo_dump_chamados_flow = deepcopy(dump_sql_flow)
rj_exemplo_dump_chamados_flow.name = "EMD: exemplo - Ingerir chamados"
rj_exemplo_dump_chamados_flow.storage = GCS(constants.GCS_FLOWS_BUCKET.value)
rj_exemplo_dump_chamados_flow.run_config = KubernetesRun(
    image=constants.DOCKER_IMAGE.value,
    labels=[constants.RJ_EXEMPLO_AGENT_LABEL.value],
)
rj_exemplo_dump_chamados_flow = set_default_parameters(
    rj_exemplo_dump_chamados_flow,
    default_parameters={"batch_size": 500},
)
rj_exemplo_dump_chamados_flow.schedule = daily_dumps

with Flow(
    "EMD: exemplo - Relatório de chamados",
    code_owners=["paty"],
    skip_if_running=True,
) as rj_exemplo_relatorio_flow:
    table_id = Parameter("table_id", default=relatorios_constants.TABLE_ID.value)

    rename = rename_current_flow_run(prefix="Relatório: ", table_id=table_id)
    labels = get_current_flow_labels()
    dump_run = create_flow_run(
        flow_name="EMD: exemplo - Ingerir chamados",
        project_name=constants.PREFECT_DEFAULT_PROJECT.value,
        parameters={"table_id": table_id, "batch_size": 10},
        labels=labels,
        run_name=f"Dump {table_id}",
    )
    dump_run.set_upstream(rename)
    wait_for_dump = wait_for_flow_run(
        dump_run,
        stream_states=True,
        stream_logs=True,
        raise_final_state=True,
    )

rj_exemplo_relatorio_flow.storage = GCS(constants.GCS_FLOWS_BUCKET.value)
rj_exemplo_relatorio_flow.run_config = KubernetesRun(
    image=constants.DOCKER_IMAGE.value,
    labels=[constants.RJ_EXEMPLO_DEV_AGENT_LABEL.value],
)
