# -*- coding: utf-8 -*-
"""
The generic dump flow that projects copy.
"""

from prefect import Parameter
from prefect.run_configs import KubernetesRun
from prefect.storage import GCS

from pipelines.constants import constants
from pipelines.utils.decorators import Flow
from pipelines.utils.dump_db.tasks import count_rows, read_rows

with Flow(
    name="EMD: template - Ingerir tabela de banco SQL",
    code_owners=[
        "diego",
    ],
) as dump_sql_flow:
    table_id = Parameter("table_id")
    batch_size = Parameter("batch_size", default=50000, required=False)

    rows = read_rows(table_id=table_id, batch_size=batch_size)
    total = count_rows(rows)

dump_sql_flow.storage = GCS(constants.GCS_FLOWS_BUCKET.value)
dump_sql_flow.run_config = KubernetesRun(image=constants.DOCKER_IMAGE.value)
