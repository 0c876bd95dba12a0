"""
Tasks shared by the dump flows: atomic warehouse load, lake publish, summary, materialization.
"""

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed, State

from pipelines.framework.config import current_environment, get_settings
from pipelines.framework.storage import Lake, StagedTable
from pipelines.framework.storage.warehouse import (
    LoadRequest,
    LoadResult,
    TableBusyError,
    Warehouse,
    WarehouseBusyError,
    get_warehouse,
)
from pipelines.utils.loading.utils import DumpSummary, artifact_key
from pipelines.utils.utils import log


@dataclass(frozen=True)
class AfterLoad:
    """What a dump does once its load committed (the guide's `materialize_after_dump`)."""

    materialize: bool = False
    materialization_mode: str = "dev"
    dbt_vars: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class LoadGuards:
    """What a load refuses unless told: shrinking the table past the allowed fraction, and (in
    overwrite) dropping or retyping columns."""

    allow_shrink: bool = False
    schema_change: str = "error"


@dataclass(frozen=True)
class TableLayout:
    """How the warehouse lays the table out (BigQuery; DuckDB ignores it): clustered by
    `cluster_columns`, and an integer partition column split by `partition_range`."""

    cluster_columns: tuple[str, ...] = ()
    partition_range: Mapping[str, int] | None = None
    """`{"start": ..., "end": ..., "interval": ...}` of an integer partition column."""

    def range_tuple(self) -> tuple[int, int, int] | None:
        """(start, end, interval), as the load request takes it."""
        if not self.partition_range:
            return None
        bounds = self.partition_range
        return int(bounds["start"]), int(bounds["end"]), int(bounds["interval"])


@dataclass(frozen=True)
class DumpRun:  # pylint: disable=too-many-instance-attributes
    """One dump run: this environment's lake and warehouse, the run's id, how it loads and what
    follows the load."""

    dataset_id: str
    """As the flow was given it (and materialize takes it); `dataset` is its name here."""
    table_id: str
    dataset: str
    """This environment's name of `dataset_id` (prod keeps it, others add a suffix): the one
    the lake and the warehouse use, and every `dataset` parameter of the dump steps."""
    lake: Lake
    warehouse: Warehouse
    run_id: str
    mode: str
    source: str
    after_load: AfterLoad
    guards: LoadGuards = LoadGuards()
    layout: TableLayout = TableLayout()
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(  # pylint: disable=too-many-arguments
        cls,
        dataset_id: str,
        table_id: str,
        *,
        mode: str,
        source: str,
        after_load: AfterLoad,
        guards: LoadGuards = LoadGuards(),
        layout: TableLayout = TableLayout(),
    ) -> "DumpRun":
        """The current flow run's dump of `source` into `dataset_id.table_id`."""
        environment = current_environment()
        return cls(
            dataset_id=dataset_id,
            table_id=table_id,
            dataset=environment.dataset(dataset_id),
            lake=Lake(environment.lake_url),
            warehouse=get_warehouse(environment),
            run_id=str(flow_run.get_id() or uuid.uuid4().hex),
            mode=mode,
            source=source,
            after_load=after_load,
            guards=guards,
            layout=layout,
        )


def _retry_when_busy(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry a warehouse step only when another process held the warehouse too long."""
    return isinstance(state.result(raise_on_failure=False), WarehouseBusyError)


WAREHOUSE_STEP = {
    "retries": 2,
    "retry_delay_seconds": [10, 30],
    "retry_condition_fn": _retry_when_busy,
    "cache_policy": NO_CACHE,
}
"""Task options of a step that opens the warehouse: tried again while another holds it."""


@contextmanager
def table_writer(run: DumpRun) -> Iterator[None]:
    """Be the table's only writer from the watermark read to the lake publish (a manual run
    beside the scheduled one, a duplicate trigger: the second waits, then ends Skipped), and
    first finish what earlier runs of the table left in staging."""
    wait = get_settings().table_lease_wait
    with run.warehouse.writer(run.dataset, run.table_id, run.run_id, wait):
        finish_earlier_runs(run)
        yield


def finish_earlier_runs(run: DumpRun) -> None:
    """What earlier runs of this table left in the lake's staging (they died, or failed, after
    or before their load): a committed load is published, as that run would have done; an
    uncommitted one is removed. Safe only under the table's writer lease: no other run of the
    table is staging now. Staging older than the run retention, of any table, goes too."""
    retention = get_settings().run_retention_days
    if retention > 0:
        for orphan in run.lake.sweep_staging(older_than_seconds=retention * 86400):
            log(f"staging abandonado removido: {orphan}")
    for earlier in run.lake.staged_runs(run.dataset, run.table_id):
        if earlier == run.run_id:
            continue  # this run's own earlier attempt: `find_committed_load` decides
        committed = run.warehouse.committed_load(run.dataset, run.table_id, earlier)
        if committed is None:
            log(
                f"{run.dataset}.{run.table_id}: removendo o staging da execução {earlier}, "
                "que não chegou a carregar"
            )
            run.lake.discard_table(earlier, run.dataset, run.table_id)
            continue
        log(
            f"{committed.table}: a execução {earlier} carregou {committed.rows_loaded:,} linhas "
            "mas não as publicou no lake; publicando-as agora"
        )
        run.lake.publish_run(earlier, run.dataset, run.table_id, committed.mode or run.mode)


def skipped(run: DumpRun, busy: TableBusyError) -> State:
    """The end of a run that found another run of its table still writing: Skipped (a
    Completed state), nothing read or loaded."""
    message = f"{busy}; esta execução não carregou nada"
    log(message, level="warning")
    return Completed(
        name="Skipped",
        message=message,
        data={"table": f"{run.dataset}.{run.table_id}", "rows": 0, "skipped": True},
    )


@task(**WAREHOUSE_STEP, name="find_committed_load")
def _find_committed_load(run: DumpRun) -> LoadResult | None:
    return run.warehouse.committed_load(run.dataset, run.table_id, run.run_id)


def find_committed_load(run: DumpRun) -> LoadResult | None:
    """This run's load, when an earlier attempt of it (a retry keeps the run's id) committed one.
    Only a retry asks the warehouse: Prefect counts every attempt, and a first one has none."""
    if flow_run.run_count == 1:
        return None
    return _find_committed_load(run)


@task(**WAREHOUSE_STEP)
def load_to_warehouse(
    run: DumpRun,
    staged: StagedTable,
    state: Mapping[str, Any] | None = None,
    read_state: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Load a run's staged Parquet into `dataset.table` in one step, and check the row count."""
    result = run.warehouse.load(
        LoadRequest(
            dataset_id=staged.dataset_id,
            table_id=staged.table_id,
            files=staged.files,
            mode=run.mode,
            run_id=staged.run_id,
            expected_rows=staged.rows,
            hive_types=staged.partitioning.hive_types,
            state=state,
            read_state=read_state,
            allow_shrink=run.guards.allow_shrink,
            schema_change=run.guards.schema_change,
            partition_column=staged.partitioning.declared_column,
            partition_range=run.layout.range_tuple(),
            cluster_columns=tuple(run.layout.cluster_columns),
        )
    )
    if result.already_loaded:
        log(f"{result.table}: esta execução já tinha carregado {result.rows_loaded:,} linhas")
    if result.added_columns:
        log(f"{result.table}: colunas novas adicionadas: {', '.join(result.added_columns)}")
    return result


def publish_to_lake(run: DumpRun) -> str:
    """Move the loaded run's Parquet files into the table's lake folder. A step of the run, not
    a task of its own: a few renames, whose task run would cost more than they do."""
    return run.lake.publish_run(run.run_id, run.dataset, run.table_id, run.mode)


def report_dump(summary: DumpSummary) -> DumpSummary:
    """Log the summary and show it in the UI as a markdown artifact of the run (no task run of
    its own: one log line and one request)."""
    log(summary.line())
    create_markdown_artifact(
        markdown=summary.markdown(),
        key=artifact_key(summary.table),
        description=summary.line(),
    )
    return summary


@task(cache_policy=NO_CACHE)
def materialize_table(
    dataset_id: str,
    table_id: str,
    materialization_mode: str,
    dbt_vars: Mapping[str, Any] | None,
) -> Any:
    """Run the dbt materialize flow for the table just loaded (the guide's
    `materialize_after_dump`): its model, if one has its name, and every model built on it."""
    # here, not at the top: materialize imports dbt (seconds), which a dump that does not
    # materialize never needs
    from pipelines.utils.materialize.flows import materialize

    log(f"Materializando {dataset_id}.{table_id} ({materialization_mode})")
    return materialize(
        dataset_id=dataset_id,
        table_id=table_id,
        materialization_mode=materialization_mode,
        downstream=True,
        dbt_vars=dict(dbt_vars or {}),
    )


def finish_dump(
    run: DumpRun,
    staged: StagedTable,
    state: Mapping[str, Any] | None = None,
    read_state: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The common end of every dump: load, publish, summarize, then materialize if asked.

    A failed load discards the run's staging files; the table and the lake stay as they were.
    `read_state` is the incremental state the run started from (the load refuses to commit if
    another run moved it). Returns the flow's result: table, rows and seconds.
    """
    try:
        result = load_to_warehouse(run, staged, state, read_state)
    except BaseException:
        _discard_unless_committed(run)
        raise
    return _after_load(
        run,
        result,
        lake_bytes=staged.bytes,
        added_columns=result.added_columns,
        watermark=None if state is None else state.get("value"),
    )


def _discard_unless_committed(run: DumpRun) -> None:
    """After a failed load step, remove the run's staging only when the warehouse confirms the
    load did not commit (a failure after the commit, or while asking, keeps the files: the next
    run of the table publishes or removes them under its lease)."""
    try:
        committed = run.warehouse.committed_load(run.dataset, run.table_id, run.run_id)
    except Exception:  # pylint: disable=broad-exception-caught  # the next run decides
        return
    if committed is None:
        run.lake.discard_table(run.run_id, run.dataset, run.table_id)


def resume_dump(run: DumpRun, committed: LoadResult) -> dict[str, Any]:
    """The end of a retried run whose load had committed before its process died (Retry in the
    UI keeps the run's id): publish what that attempt staged, summarize, materialize. Reading
    the source again would stage other rows under the same id (the watermark has moved since),
    and the lake would stop matching the warehouse."""
    log(
        f"{committed.table}: esta execução já carregou {committed.rows_loaded:,} linhas antes "
        "de ser interrompida; publicando o que ela gravou no lake, sem ler a origem de novo"
    )
    return _after_load(run, committed)


def run_dump(
    run: DumpRun, extract_and_load: Callable[[], dict[str, Any]]
) -> dict[str, Any] | State:
    """The life of every dump run, around its own part: hold the table's writer lease; if an
    earlier attempt of this run committed its load, finish that one (`resume_dump`); otherwise
    `extract_and_load()` (read the source, stage it, `finish_dump`). A run that cannot get the
    table in time ends Skipped. Returns the flow's result."""
    try:
        with table_writer(run):
            committed = find_committed_load(run)
            if committed is not None:
                return resume_dump(run, committed)
            return extract_and_load()
    except TableBusyError as busy:
        return skipped(run, busy)


def _after_load(run: DumpRun, loaded: LoadResult, **details: Any) -> dict[str, Any]:
    """Publish, summarize (`details`: the summary's optional fields), materialize if asked."""
    lake_url = publish_to_lake(run)
    summary = report_dump(
        DumpSummary(
            table=loaded.table,
            source=run.source,
            mode=run.mode,
            rows=loaded.rows_loaded,
            table_rows=loaded.table_rows,
            seconds=time.monotonic() - run.started,
            lake_url=lake_url,
            **details,
        )
    )
    if run.after_load.materialize:
        materialize_table(
            run.dataset_id,
            run.table_id,
            run.after_load.materialization_mode,
            run.after_load.dbt_vars,
        )
    return {"table": summary.table, "rows": summary.rows, "seconds": round(summary.seconds, 2)}
