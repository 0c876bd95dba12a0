"""
Tasks of the materialize flow.
"""

import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipelines.framework.config import get_settings
from pipelines.framework.storage.warehouse import Warehouse
from pipelines.utils.materialize.constants import constants
from pipelines.utils.materialize.utils import (
    WarehouseLockedError,
    build_args,
    check_result,
    dbt_run_dir,
    run_dbt,
)
from pipelines.utils.utils import log


def _retry_when_locked(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry only when another program held DuckDB's lock on the warehouse file."""
    return isinstance(state.result(raise_on_failure=False), WarehouseLockedError)


@task(
    retries=len(constants.LOCK_RETRY_DELAYS_SECONDS.value),
    retry_delay_seconds=list(constants.LOCK_RETRY_DELAYS_SECONDS.value),
    retry_condition_fn=_retry_when_locked,
    cache_policy=NO_CACHE,
)
def build_models(
    selector: str,
    target: str,
    variables: Mapping[str, Any],
    warehouse: Warehouse,
    warehouse_path: Path,
) -> dict[str, str]:
    """
    Roda `dbt build --select <selector>` no target, com as linhas do dbt no log da execução.

    Args:
        selector: seleção do dbt (`+fqn:pipelines.<dataset_id>.<table_id>+`).
        target: target do profiles.yml (dev, local, staging, prod).
        variables: vars do dbt, já com o sufixo de dataset do ambiente.
        warehouse: o warehouse do ambiente; o build ocupa a vaga de escrita dele (no DuckDB, a
            mesma das cargas dos dumps: builds e cargas esperam a vez um do outro).
        warehouse_path: arquivo DuckDB dos targets DuckDB.

    Returns:
        O status de cada nó executado (`model.pipelines.x` -> success, `test...` -> pass).
    """
    settings = get_settings()
    run_dir = dbt_run_dir(settings.home, uuid.uuid4().hex)
    args = build_args(selector, target, variables, settings.dbt_project_dir, run_dir)
    env = {
        constants.WAREHOUSE_PATH_ENV.value: str(warehouse_path),
        constants.GCP_PROJECT_ENV.value: settings.gcp_project or "",
        constants.BIGQUERY_LOCATION_ENV.value: settings.bigquery_location,
    }
    log(f"dbt build --select {selector} --target {target}")
    with warehouse.writer_slot():
        result = run_dbt(args, env, emit=log)
    try:
        statuses = check_result(result, selector)
    except Exception:
        log(f"Artefatos do dbt desta execução em {run_dir}", "warning")
        raise
    shutil.rmtree(run_dir, ignore_errors=True)
    return statuses
