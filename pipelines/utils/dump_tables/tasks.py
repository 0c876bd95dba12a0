"""
Tasks of the dump_tables flow: one table's whole dump (lease, extract, load, commit, publish)
as one task, so the flow's task runner runs tables side by side.
"""

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prefect import Flow, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import ParameterTypeError
from prefect.states import State

from pipelines.utils.dump_db.flows import dump_db
from pipelines.utils.dump_db.utils import DumpConfigError
from pipelines.utils.dump_url.flows import dump_url

DUMPS: dict[str, Flow] = {"db": dump_db, "url": dump_url}
"""The generic dump each `source` of dump_tables runs per table."""


@dataclass(frozen=True)
class TableDump:
    """One table of a dump_tables run: its name and its dump's validated parameters."""

    table_id: str
    source: str
    parameters: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.parameters['dataset_id']}.{self.table_id}"


def plan_tables(
    tables: Mapping[str, Mapping[str, Any]],
    common_parameters: Mapping[str, Any] | None,
    source: str,
) -> list[TableDump]:
    """Each table's parameters as `generate_dump_schedules` would give its clock (the common
    ones, then the table's own, `table_id` its key), checked against the dump's signature
    before anything runs: a typo in one table fails the run naming that table."""
    if source not in DUMPS:
        raise DumpConfigError(f"source {source!r} inválida; use uma de {sorted(DUMPS)}")
    if not tables:
        raise DumpConfigError("nenhuma tabela em tables")
    dump = DUMPS[source]
    known = set(inspect.signature(dump.fn).parameters)
    plans = []
    for table_id, own in tables.items():
        parameters = {**(common_parameters or {}), **own, "table_id": table_id}
        unknown = sorted(set(parameters) - known)
        if unknown:
            raise DumpConfigError(f"tabela {table_id}: parâmetros desconhecidos: {unknown}")
        try:
            plans.append(TableDump(table_id, source, dump.validate_parameters(parameters)))
        except ParameterTypeError as exc:
            raise DumpConfigError(f"tabela {table_id}: {exc}") from exc
    _refuse_duplicates(plans)
    return plans


def _refuse_duplicates(plans: list[TableDump]) -> None:
    """Two entries that land in one table would wait for each other's lease in one run."""
    seen: set[str] = set()
    for plan in plans:
        if plan.name in seen:
            raise DumpConfigError(f"{plan.name} aparece duas vezes em tables")
        seen.add(plan.name)


@task(cache_policy=NO_CACHE, task_run_name="dump {plan.name}")
def dump_table(plan: TableDump) -> dict[str, Any] | State:
    """Dump one table as its own dump_db/dump_url run would, inside this flow run (whose id the
    table's lease, staging and run record take): its rows, or Skipped when it stayed busy."""
    return DUMPS[plan.source].fn(**plan.parameters)
