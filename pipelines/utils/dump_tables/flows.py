"""
The generic "dump many tables" flow: one flow run loads the tables a project declares in its
`schedules.py` (the same dicts `generate_dump_schedules` takes), at most `max_parallel` at once,
on threads or on a dask cluster (`PIPELINES_DASK_ADDRESS`).

Projects make their own scheduled copy with `pipelines.framework.runtime.instantiate`.
"""

from typing import Any, Literal

from prefect.states import State

from pipelines.framework.runtime import flow
from pipelines.utils.dump_tables.tasks import TableDump, dump_table, plan_tables
from pipelines.utils.loading.parallel import DumpTaskRunner, run_bounded
from pipelines.utils.utils import log


class TablesFailedError(RuntimeError):
    """Some tables of a dump_tables run failed (the others loaded)."""


@flow(
    name="EMD: utils - Dump tables",
    code_owners=["pipeliners"],
    task_runner=DumpTaskRunner(),
)
def dump_tables(
    tables: dict[str, dict[str, Any]],
    common_parameters: dict[str, Any] | None = None,
    source: Literal["db", "url"] = "db",
    max_parallel: int = 4,
) -> dict[str, Any]:
    """Carrega várias tabelas numa só execução, até `max_parallel` ao mesmo tempo.

    Cada tabela é um dump completo e independente (dump_db ou dump_url): sua própria concessão
    de escrita, sua carga atômica com o registro da execução e o watermark, sua publicação no
    lake. Uma tabela que falha não para as outras; a execução falha no fim, nomeando-as. Com
    `PIPELINES_DASK_ADDRESS`, as tabelas (e as faixas de uma tabela grande do PostgreSQL) rodam
    nos workers do cluster dask; sem ele, em threads deste processo.

    Args:
        tables: As tabelas, como no `schedules.py` do projeto: `table_id` -> parâmetros do dump
            daquela tabela (os mesmos de `generate_dump_schedules`).
        common_parameters: Parâmetros comuns a todas as tabelas (origem, dataset, segredo);
            os de cada tabela prevalecem.
        source: `db` roda o dump_db de cada tabela; `url`, o dump_url.
        max_parallel: Quantas tabelas carregam ao mesmo tempo.
    """
    plans = plan_tables(tables, common_parameters, source)
    log(f"{len(plans)} tabela(s), até {max_parallel} ao mesmo tempo")
    states = run_bounded(dump_table.submit, plans, max_parallel)
    return _summary(plans, states)


def _summary(plans: list[TableDump], states: list[State]) -> dict[str, Any]:
    """Each table's result; a failed table fails the run once every other has finished."""
    results: dict[str, Any] = {}
    failed: list[str] = []
    for plan, state in zip(plans, states, strict=True):
        if state.is_completed():
            results[plan.name] = state.result()
        else:
            failed.append(f"{plan.name} ({state.message or state.name})")
    if failed:
        raise TablesFailedError(
            f"{len(failed)} de {len(plans)} tabela(s) falharam: {'; '.join(failed)}"
        )
    return {"tables": results, "rows": sum(r.get("rows", 0) for r in results.values())}
