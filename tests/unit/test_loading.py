"""The load tasks' retry rule: any warehouse adapter's busy error is tried again, nothing else."""

import pytest
from prefect.states import Failed

from pipelines.framework.storage.warehouse import (
    LoadVerificationError,
    TableBusyError,
    WarehouseBusyError,
)
from pipelines.utils.loading.tasks import WAREHOUSE_STEP


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (WarehouseBusyError("o warehouse ficou ocupado por mais de 900s"), True),
        (LoadVerificationError("10 linhas carregadas, 12 extraídas"), False),
        (TableBusyError("outra execução está gravando br.t"), False),
        (KeyError("a bug"), False),
    ],
)
def test_a_warehouse_step_is_retried_only_while_the_warehouse_is_busy(error, retried):
    retry = WAREHOUSE_STEP["retry_condition_fn"]

    assert retry(None, None, Failed(data=error)) is retried
