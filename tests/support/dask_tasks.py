"""A flow and tasks the dask workers import by name (this package is on their PYTHONPATH): a
secret registered in the flow's process, then logged, printed and raised by tasks that run on
the workers."""

import os

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipelines.framework.runtime.flows import flow
from pipelines.framework.secrets import register_secret
from pipelines.utils.loading.parallel import DumpTaskRunner, run_bounded
from pipelines.utils.utils import log


@task(cache_policy=NO_CACHE)
def leaky_task(secret: str, index: int) -> int:
    """Everything a careless task does with a value it was given."""
    log(f"tarefa {index} no processo {os.getpid()} conectando com senha={secret}")
    print(f"tarefa {index} imprimiu {secret}")
    if index == 0:
        raise ConnectionError(f"login recusado para a senha {secret}")
    return os.getpid()


def _submit(secret: str):
    return lambda index: leaky_task.submit(secret, index)


@flow("TST: teste - vazamento no dask", code_owners=["paty"], task_runner=DumpTaskRunner())
def leaky_on_dask(secret: str, tasks: int = 4) -> list[str]:
    """Register the secret here (as `get_secret` does), then hand it to tasks on the cluster."""
    register_secret(secret)
    states = run_bounded(_submit(secret), list(range(tasks)), tasks)
    return [state.name for state in states]
