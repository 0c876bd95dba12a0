"""
The generic materialize flow: `dbt build` of one model of `queries/`, the guide's
`materialize_after_dump` step, also runnable on its own.
"""

from typing import Any

from pipelines.framework.config import current_environment
from pipelines.framework.runtime import flow
from pipelines.framework.storage.warehouse import get_warehouse
from pipelines.utils.materialize.constants import constants
from pipelines.utils.materialize.tasks import build_models
from pipelines.utils.materialize.utils import dbt_variables, model_selector


@flow(name=constants.FLOW_NAME.value, code_owners=constants.CODE_OWNERS.value)
def materialize(
    dataset_id: str,
    table_id: str,
    materialization_mode: str = "dev",
    upstream: bool = False,
    downstream: bool = False,
    dbt_vars: dict[str, Any] | None = None,
) -> dict[str, str]:
    """
    Materializa `queries/models/<dataset_id>/<table_id>.sql` com `dbt build` (modelo e testes).

    Args:
        dataset_id: pasta do modelo em `queries/models/` (o dataset, sem sufixo de ambiente).
        table_id: nome do modelo (a tabela).
        materialization_mode: `dev` ou `prod`; escolhe o target do dbt no ambiente atual
            (veja `Environment.materialization_target`).
        upstream: também constrói os modelos dos quais este depende (`+modelo`).
        downstream: também constrói os modelos que dependem deste (`modelo+`).
        dbt_vars: vars do dbt para os modelos (`var('nome')`).

    Returns:
        O status de cada nó executado pelo dbt.
    """
    environment = current_environment()
    target = environment.materialization_target(materialization_mode)
    selector = model_selector(dataset_id, table_id, upstream, downstream)
    variables = dbt_variables(environment.dataset_suffix, dbt_vars)
    warehouse = get_warehouse(environment)
    return build_models(selector, target, variables, warehouse, environment.warehouse_path)
