"""
The production warehouse: BigQuery, loading Parquet staged on GCS.

A load job fills a run-specific temporary table. An overwrite then replaces the target in one
statement (`CREATE OR REPLACE TABLE ... AS SELECT`, partitioned and clustered as declared) that
also labels it with the run's id, so the run's record commits with its rows; an append moves the
rows in by one multi-statement transaction (INSERT) together with the run record and the
watermark, after checking that the watermark is still the one the run read. Readers see the old
table or the new one, never half. Jobs run in `Settings.bigquery_location`, the location of every
dataset the adapter creates; a transaction aborted by a concurrent one is run again by the
client's own job retry. A dump holds the table's writer lease, a
row of the meta dataset's lease table that it renews while it runs, from its watermark read to its
publish. The Google libraries (`pip install -e '.[gcp]'`) are imported by this module only, which
`get_warehouse` imports when this adapter is chosen.
"""

import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import datetime, timedelta, timezone
from typing import Any

import fsspec

try:  # the optional `gcp` extra
    from google.api_core.exceptions import (  # pylint: disable=import-error,no-name-in-module
        BadRequest,
        NotFound,
        RetryError,
    )
    from google.api_core.retry import Retry  # pylint: disable=import-error,no-name-in-module
    from google.cloud import bigquery  # pylint: disable=import-error,no-name-in-module
except ImportError as exc:  # pragma: no cover - depends on the optional extra
    raise ImportError(
        "the BigQuery warehouse needs the 'gcp' extra: pip install -e '.[gcp]'"
    ) from exc

from pipelines.framework.config import get_settings
from pipelines.framework.storage.warehouse.base import (
    LOADS_TABLE,
    STATE_TABLE,
    LoadRequest,
    LoadResult,
    LoadVerificationError,
    StateMovedError,
    TableBusyError,
    WarehouseBusyError,
    boundary_text,
    check_drift,
    check_shrink,
    check_state,
    schema_changes,
    state_from_row,
)

META_DATASET = "_pipelines"
LEASES_TABLE = "_pipelines_leases"
_TABLE_ROW = "dataset_id = @d AND table_id = @t"
# The ERROR() of the transaction's check that the saved state is still the one the run read:
# BigQuery fails the script with it as the message (and rolls the transaction back). ASSERT would
# read better, but a transaction takes SELECT and DML statements only.
_STATE_MOVED = "pipelines: o estado incremental mudou desde a leitura"
_logger = logging.getLogger(__name__)
# BigQuery cancels a transaction that mutates a table another one is mutating (the MERGE into the
# state table, for loads of different tables at once): "Transaction is aborted due to concurrent
# update against table ..." ("Could not serialize access to table ... due to concurrent update").
_CONFLICT = "due to concurrent update"
# How long the client's job retry runs an aborted transaction again (first wait, then doubling).
_CONFLICT_RETRY_SECONDS = 120.0
_CONFLICT_FIRST_WAIT_SECONDS = 1.0
# Job errors BigQuery documents as worth retrying (the client's own default job retry retries
# these): rate limits and backend errors, of the API call or of the job.
_RETRYABLE_REASONS = frozenset(
    {"rateLimitExceeded", "backendError", "internalError", "badGateway"}
    | {"jobRateLimitExceeded", "jobBackendError", "jobInternalError"}
)
# The label an overwrite puts on the table it makes: the run whose rows it holds.
RUN_LABEL = "pipelines_run"
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{1,63}")
_MAX_CLUSTER_COLUMNS = 4
_TIME_TYPES = ("DATE", "TIMESTAMP", "DATETIME")
# A run's temporary table is deleted at the end of its load; this expiry, set as soon as the load
# job has made the table (a load job cannot set it), removes one a killed process left behind.
_TEMP_TABLE_LIFETIME = timedelta(days=1)
_TYPES = {"BIGINT": "INTEGER", "DATE": "DATE", "VARCHAR": "STRING"}
# Table schemas name types the legacy way; DDL takes GoogleSQL names only ("Type not found: FLOAT")
_DDL_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


class BigQueryWarehouse:
    """Loads runs into BigQuery tables `project.dataset.table`."""

    lease_seconds = 180
    """How long a table's writer lease lasts unless its holder renews it (every third of this):
    a run that dies without releasing it keeps other runs out for at most this long."""

    def __init__(self, project: str | None = None, client: Any = None, location: str | None = None):
        self.location = location or get_settings().bigquery_location
        self.client = client or bigquery.Client(project=project, location=self.location)
        self.project = self.client.project
        self._leases = f"{self.project}.{META_DATASET}.{LEASES_TABLE}"

    def _id(self, dataset_id: str, table_id: str) -> str:
        return f"{self.project}.{dataset_id}.{table_id}"

    def load(self, request: LoadRequest) -> LoadResult:
        """Load job into a temporary table, then one transaction into the target."""
        committed = self.committed_load(request.dataset_id, request.table_id, request.run_id)
        if committed is not None:
            return committed
        name = f"{request.dataset_id}.{request.table_id}"
        if request.mode == "overwrite" and request.incremental:
            raise ValueError(
                f"{name}: uma carga incremental anexa linhas (dump_mode='append'); no BigQuery "
                "um overwrite substitui a tabela e não guarda watermark"
            )
        if request.incremental:  # checked again inside the transaction
            check_state(name, self.read_state(request.dataset_id, request.table_id), request)
        check_shrink(name, request, self.count_rows(request.dataset_id, request.table_id))
        self._ensure_dataset(request.dataset_id)
        temp = self._id(request.dataset_id, f"_tmp_{request.table_id}_{request.run_id[:12]}")
        try:
            staged_rows = self._load_temp(request, temp).num_rows
            if staged_rows != request.expected_rows:
                raise LoadVerificationError(
                    f"{name}: {staged_rows} linhas no load job, {request.expected_rows} extraídas"
                )
            if request.mode == "overwrite":
                added = self._replace(request, temp)
            else:
                added = self._append(request, temp)
        finally:
            self.client.delete_table(temp, not_found_ok=True)
        total = self.count_rows(request.dataset_id, request.table_id) or 0
        return LoadResult(name, request.expected_rows, total, tuple(added))

    def committed_load(self, dataset_id: str, table_id: str, run_id: str) -> LoadResult | None:
        """The load `run_id` already committed into the table, or None."""
        self._ensure_meta()
        previous = self._query(
            f"SELECT `rows`, mode FROM `{self.project}.{META_DATASET}.{LOADS_TABLE}` "
            "WHERE dataset_id = @d AND table_id = @t AND run_id = @r",
            d=dataset_id,
            t=table_id,
            r=run_id,
        )
        name = f"{dataset_id}.{table_id}"
        if previous:
            total = self.count_rows(dataset_id, table_id) or 0
            rows, mode = previous[0]
            return LoadResult(name, rows, total, already_loaded=True, mode=mode)
        table = self._table(dataset_id, table_id)
        if table is None or (table.labels or {}).get(RUN_LABEL) != run_label(run_id):
            return None
        # the overwrite's replacement committed, its record did not: the label is the record
        rows = table.num_rows or 0
        return LoadResult(name, rows, rows, already_loaded=True, mode="overwrite")

    def _table(self, dataset_id: str, table_id: str) -> Any:
        try:
            return self.client.get_table(self._id(dataset_id, table_id))
        except NotFound:
            return None

    def _ensure_dataset(self, dataset_id: str) -> None:
        """The dataset, made in the adapter's location; one found elsewhere is a clear error
        (BigQuery runs a job in one location, and would not find it)."""
        try:
            found = self.client.get_dataset(f"{self.project}.{dataset_id}")
        except NotFound:
            dataset = bigquery.Dataset(f"{self.project}.{dataset_id}")
            dataset.location = self.location
            self.client.create_dataset(dataset, exists_ok=True)
            return
        if (found.location or "").lower() != self.location.lower():
            raise ValueError(
                f"o dataset {dataset_id} está em {found.location}, não em {self.location} "
                "(PIPELINES_BIGQUERY_LOCATION): os jobs de uma carga rodam numa só localização"
            )

    def _load_temp(self, request: LoadRequest, temp: str) -> Any:
        """The run's files in the temporary table `temp`, which expires in a day."""
        folder = f"{request.run_id}/{request.dataset_id}/{request.table_id}"
        with _on_gcs(request.files, folder, list(request.hive_types)) as uris:
            return self._load_job(request, uris, temp)

    def _load_job(self, request: LoadRequest, uris: list[str], temp: str) -> Any:
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        )
        parquet = bigquery.ParquetOptions()  # the config's getter returns a copy: set, then assign
        parquet.enable_list_inference = True
        config.parquet_options = parquet
        if request.hive_types:
            prefix = uris[0].split("/" + next(iter(request.hive_types)) + "=")[0]
            keys = "/".join(f"{{{k}:{_TYPES[v]}}}" for k, v in request.hive_types.items())
            hive = bigquery.HivePartitioningOptions()
            hive.mode = "CUSTOM"
            hive.source_uri_prefix = f"{prefix}/{keys}"
            config.hive_partitioning = hive
        self.client.load_table_from_uri(
            uris, temp, job_config=config, location=self.location
        ).result()
        table = self.client.get_table(temp)
        table.expires = datetime.now(timezone.utc) + _TEMP_TABLE_LIFETIME
        return self.client.update_table(table, ["expires"])

    def _columns(self, table: str) -> dict[str, str]:
        try:
            return {f.name: _sql_type(f) for f in self.client.get_table(table).schema}
        except NotFound:
            return {}

    def _replace(self, request: LoadRequest, temp: str) -> list[str]:
        """An overwrite: the target replaced by the temporary table's rows in one statement,
        partitioned and clustered as declared and labelled with the run (its record, atomic
        with the rows); the run's row in the loads table follows, for the history. The schema
        guard runs first: dropped or retyped columns only with `schema_change="replace"`; else
        the table keeps its columns' order and adds the new ones at the end."""
        target = self._id(request.dataset_id, request.table_id)
        existing, new = self._table(request.dataset_id, request.table_id), self._columns(temp)
        old = {f.name: _sql_type(f) for f in existing.schema} if existing is not None else {}
        name = f"{request.dataset_id}.{request.table_id}"
        added = check_drift(name, new, old, request.mode, request.schema_change) if old else []
        _, removed, retyped = schema_changes(new, old)
        columns = list(new) if removed or retyped or not old else [*old, *added]
        layout = self._layout(request, new, existing)
        label = f"OPTIONS(labels=[('{RUN_LABEL}', '{run_label(request.run_id)}')])"
        selected = ", ".join(f"`{c}`" for c in columns)
        self._query(
            f"CREATE OR REPLACE TABLE `{target}` {layout}{label} AS SELECT {selected} FROM `{temp}`"
        )
        meta = f"{self.project}.{META_DATASET}"
        self._query(
            f"INSERT INTO `{meta}.{LOADS_TABLE}` VALUES (@d, @t, @r, @m, @n, CURRENT_TIMESTAMP())",
            d=request.dataset_id,
            t=request.table_id,
            r=request.run_id,
            m=request.mode,
            n=request.expected_rows,
        )
        return added

    def _append(self, request: LoadRequest, temp: str) -> list[str]:
        """An append: a first load makes the table (partitioned and clustered as declared);
        new columns are added; then the rows, the run record and the watermark move in by one
        transaction."""
        target = self._id(request.dataset_id, request.table_id)
        old = self._columns(target)
        added: list[str] = []
        if not old:  # LIKE copies the temporary table's options, its one-day expiry too
            layout = self._layout(request, self._columns(temp), None)
            self._query(
                f"CREATE TABLE `{target}` LIKE `{temp}` {layout}"
                "OPTIONS(expiration_timestamp = NULL)"
            )
        else:
            new = self._columns(temp)
            name = f"{request.dataset_id}.{request.table_id}"
            added = check_drift(name, new, old, request.mode, request.schema_change)
            for column in added:
                self._query(f"ALTER TABLE `{target}` ADD COLUMN `{column}` {new[column]}")
        self._swap(request, temp)
        return added

    def _layout(self, request: LoadRequest, columns: dict[str, str], existing: Any) -> str:
        """`PARTITION BY ... CLUSTER BY ... ` of the declaration. BigQuery replaces a table
        only with its own partitioning: a table already made otherwise keeps its partitioning
        (logged, with the way to change it)."""
        partition, cluster = _declared_layout(request, columns)
        if existing is not None:
            current = _partition_of(existing)
            if current != partition:
                _logger.warning(
                    "%s.%s: a tabela já existe particionada por %s, e o BigQuery não troca o "
                    "particionamento de uma tabela (declarado: %s); ela fica como está. Para "
                    "trocar, apague a tabela: a próxima carga a recria como declarado.",
                    request.dataset_id,
                    request.table_id,
                    current or "nada",
                    partition or "nada",
                )
                partition = current
        text = f"PARTITION BY {partition} " if partition else ""
        return text + (f"CLUSTER BY {', '.join(f'`{c}`' for c in cluster)} " if cluster else "")

    def _swap(self, request: LoadRequest, temp: str) -> None:
        """Move an append's rows in with the run record and the state, in one transaction."""
        state, read = request.state or {}, request.read_state or {}
        try:
            self._transaction(
                "\n".join(self._swap_statements(request, temp)),
                d=request.dataset_id,
                t=request.table_id,
                r=request.run_id,
                m=request.mode,
                n=request.expected_rows,
                c=state.get("column"),
                v=state.get("value"),
                y=state.get("type"),
                b=boundary_text(state),
                rn=int(request.read_state is not None),
                rc=read.get("column"),
                rv=read.get("value"),
                ry=read.get("type"),
                rb=boundary_text(read),
            )
        except BadRequest as exc:
            if _STATE_MOVED not in str(exc):
                raise
            saved = self.read_state(request.dataset_id, request.table_id)
            name = f"{request.dataset_id}.{request.table_id}"
            raise StateMovedError.between(name, saved, request.read_state) from exc

    def _swap_statements(self, request: LoadRequest, temp: str) -> list[str]:
        target = self._id(request.dataset_id, request.table_id)
        columns = ", ".join(f"`{c}`" for c in self._columns(temp))
        meta = f"{self.project}.{META_DATASET}"
        statements = ["BEGIN TRANSACTION;"]
        if request.incremental:
            statements.append(_state_check(f"{meta}.{STATE_TABLE}"))
        statements.append(f"INSERT INTO `{target}` ({columns}) SELECT {columns} FROM `{temp}`;")
        statements.append(
            f"INSERT INTO `{meta}.{LOADS_TABLE}` VALUES (@d, @t, @r, @m, @n, CURRENT_TIMESTAMP());"
        )
        if request.state is not None:
            statements.append(
                f"MERGE `{meta}.{STATE_TABLE}` s USING (SELECT @d AS d, @t AS t) k "
                "ON s.dataset_id = k.d AND s.table_id = k.t "
                "WHEN MATCHED THEN UPDATE SET watermark_column = @c, watermark_value = @v, "
                "watermark_type = @y, watermark_boundary = @b, updated_at = CURRENT_TIMESTAMP() "
                "WHEN NOT MATCHED THEN INSERT (dataset_id, table_id, watermark_column, "
                "watermark_value, watermark_type, watermark_boundary, updated_at) "
                "VALUES (@d, @t, @c, @v, @y, @b, CURRENT_TIMESTAMP());"
            )
        statements.append("COMMIT TRANSACTION;")
        return statements

    def _transaction(self, script: str, **params: Any) -> None:
        """Run a transaction script; the client's job retry runs it again while BigQuery aborts
        it for a concurrent one (loads of other tables update the shared state table too, and
        an aborted script changed nothing), for `_CONFLICT_RETRY_SECONDS`. Aborted all that
        time, it is a `WarehouseBusyError`, which the load task tries again later."""
        retry = Retry(
            predicate=_retry_job,
            initial=_CONFLICT_FIRST_WAIT_SECONDS,
            maximum=20.0,
            multiplier=2.0,
            timeout=_CONFLICT_RETRY_SECONDS,
        )
        try:
            self._query(script, job_retry=retry, **params)
        except RetryError as exc:
            cause = exc.cause or exc
            if _CONFLICT not in str(cause):
                raise cause from exc
            raise WarehouseBusyError(
                f"transações concorrentes abortaram esta carga por {_CONFLICT_RETRY_SECONDS:g}s "
                f"seguidos: {cause}"
            ) from exc

    def _ensure_meta(self) -> None:
        """Create or migrate the meta tables; once they are in place this only reads their three
        schemas (each DDL is a query job, and an ALTER counts against a table's metadata-update
        quota)."""
        meta = f"{self.project}.{META_DATASET}"
        if (
            self._columns(self._leases)
            and self._columns(f"{meta}.{LOADS_TABLE}")
            and "watermark_boundary" in self._columns(f"{meta}.{STATE_TABLE}")
        ):
            return
        self._ensure_dataset(META_DATASET)
        self._query(
            f"CREATE TABLE IF NOT EXISTS `{meta}.{LOADS_TABLE}` (dataset_id STRING, "
            "table_id STRING, run_id STRING, mode STRING, `rows` INT64, loaded_at TIMESTAMP)"
        )
        self._query(
            f"CREATE TABLE IF NOT EXISTS `{meta}.{STATE_TABLE}` (dataset_id STRING, "
            "table_id STRING, watermark_column STRING, watermark_value STRING, "
            "watermark_type STRING, updated_at TIMESTAMP)"
        )
        self._query(
            f"ALTER TABLE `{meta}.{STATE_TABLE}` ADD COLUMN IF NOT EXISTS watermark_boundary STRING"
        )
        self._query(
            f"CREATE TABLE IF NOT EXISTS `{self._leases}` (dataset_id STRING, table_id STRING, "
            "holder STRING, expires_at TIMESTAMP)"
        )

    def _query(self, sql: str, job_retry: Retry | None = None, **params: Any) -> list[tuple]:
        """Rows of a query job in the adapter's location; `job_retry` replaces the client's
        default job retry (rate limits, backend errors)."""
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(
                    name, "INT64" if isinstance(value, int) else "STRING", value
                )
                for name, value in params.items()
            ]
        )
        options: dict[str, Any] = {"job_config": config, "location": self.location}
        if job_retry is not None:
            options["job_retry"] = job_retry
        return [tuple(row.values()) for row in self.client.query(sql, **options).result()]

    @contextmanager
    def writer(self, dataset_id: str, table_id: str, holder: str, wait: float) -> Iterator[None]:
        """The table's writer lease: its row in the meta dataset's lease table names the holder
        until an expiry that a daemon thread renews while the holder runs; one that dies loses
        it after `lease_seconds`. Waits up to `wait` seconds for another holder."""
        self._ensure_meta()
        lease = _Lease(self._query, self._leases, dataset_id, table_id, holder, self.lease_seconds)
        lease.acquire(wait)
        stop = threading.Event()
        renewer = threading.Thread(
            target=lease.renew, args=(stop,), name=f"lease {dataset_id}.{table_id}", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            lease.release()

    def writer_slot(self) -> AbstractContextManager[None]:
        """Nothing to hold: BigQuery takes writers side by side (a conflicting transaction is
        aborted and run again)."""
        return nullcontext()

    def read_state(self, dataset_id: str, table_id: str) -> dict[str, Any] | None:
        """Last committed watermark of a table, or None before its first load."""
        self._ensure_meta()
        rows = self._query(
            "SELECT watermark_column, watermark_value, watermark_type, watermark_boundary "
            f"FROM `{self.project}.{META_DATASET}.{STATE_TABLE}` "
            "WHERE dataset_id = @d AND table_id = @t",
            d=dataset_id,
            t=table_id,
        )
        if not rows:
            return None
        return state_from_row(rows[0])

    def count_rows(self, dataset_id: str, table_id: str) -> int | None:
        """Rows in a table, or None when it does not exist."""
        try:
            return self.client.get_table(self._id(dataset_id, table_id)).num_rows
        except NotFound:
            return None


class _Lease:
    """One table's writer lease, a row of the lease table (see `BigQueryWarehouse.writer`)."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        query: Callable[..., list[tuple]],
        leases: str,
        dataset_id: str,
        table_id: str,
        holder: str,
        seconds: int,
    ):
        self._query, self._leases, self.seconds = query, leases, seconds
        self.table, self.holder = f"{dataset_id}.{table_id}", holder
        self._key = {"d": dataset_id, "t": table_id, "h": holder}

    def acquire(self, wait: float) -> None:
        """Claim the lease, again with backoff while another holder's is unexpired. A claim is
        an UPDATE of the table's lease row (inserted free the first time): a mutating DML
        statement, which BigQuery serializes with every other on the lease table, so of two
        claims at once one finds the row taken. Two first inserts at once can leave two rows:
        a holder holds them all, and gives back the part it took of a split."""
        deadline = time.monotonic() + wait
        delay = 1.0
        holders = self._claim()
        while True:
            if not holders:  # the table's first lease: its row, free
                self._update(
                    f"MERGE `{self._leases}` l USING (SELECT @d AS d, @t AS t) k "
                    "ON l.dataset_id = k.d AND l.table_id = k.t WHEN NOT MATCHED THEN INSERT "
                    "(dataset_id, table_id, holder, expires_at) "
                    "VALUES (@d, @t, NULL, CURRENT_TIMESTAMP())"
                )
                holders = self._claim()
            others = [held for held in holders if held[0] != self.holder]
            if holders and not others:
                return
            if len(others) < len(holders):
                self.release()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._busy(others, wait)
            time.sleep(min(delay * random.uniform(1, 1.5), remaining))
            delay = min(delay * 2, 10.0)
            holders = self._claim()

    def _busy(self, others: list[tuple], wait: float) -> TableBusyError:
        other, expires = others[0] if others else (None, None)
        until = f" (até {expires:%Y-%m-%d %H:%M:%S} UTC, se não renovar)" if expires else ""
        return TableBusyError(
            f"outra execução ({other or 'desconhecida'}) está gravando {self.table}{until}; "
            f"esperei {wait:g}s"
        )

    def _claim(self) -> list[tuple]:
        """Take the lease rows that are free, expired or already ours; (holder, expiry) of every
        row after it."""
        try:
            self._update(
                f"UPDATE `{self._leases}` SET holder = @h, "
                "expires_at = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @s SECOND) "
                f"WHERE {_TABLE_ROW} AND (holder IS NULL OR holder = @h "
                "OR expires_at < CURRENT_TIMESTAMP())"
            )
        except BadRequest as exc:  # another claim won the row: read who holds it
            if _CONFLICT not in str(exc):
                raise
        return self._query(
            f"SELECT holder, expires_at FROM `{self._leases}` WHERE {_TABLE_ROW}", **self._key
        )

    def renew(self, stop: threading.Event) -> None:
        """Push the expiry on every third of the lease's length until `stop`: the lease outlives
        a renewal that fails (logged, tried again at the next)."""
        while not stop.wait(self.seconds / 3):
            self._logged(
                "renovar",
                f"UPDATE `{self._leases}` SET "
                "expires_at = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @s SECOND) "
                f"WHERE {_TABLE_ROW} AND holder = @h",
            )

    def release(self) -> None:
        """Free the rows this holder holds; one that fails to is logged, and expires by itself
        (never hiding why the dump ended)."""
        self._logged(
            "liberar",
            f"UPDATE `{self._leases}` SET holder = NULL, expires_at = CURRENT_TIMESTAMP() "
            f"WHERE {_TABLE_ROW} AND holder = @h",
        )

    def _logged(self, verb: str, sql: str) -> None:
        try:
            self._update(sql)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a thread, a finally
            _logger.warning(
                "não consegui %s a concessão de escrita de %s (sem renovação, expira em %ss): %s",
                verb,
                self.table,
                self.seconds,
                exc,
            )

    def _update(self, sql: str) -> None:
        self._query(sql, s=self.seconds, **self._key)


def _state_check(state_table: str) -> str:
    """A SELECT that fails unless the table's saved state is the one the run read (`@rn` 1,
    and its columns `@rc`...`@rb`) or it has none (`@rn` 0). Inside the transaction it reads the
    transaction's snapshot; a state another transaction commits meanwhile makes BigQuery abort
    this one (concurrent update of the state table), and its retry then fails this check."""
    same = (
        "watermark_column IS NOT DISTINCT FROM @rc AND watermark_value IS NOT DISTINCT FROM @rv "
        "AND watermark_type IS NOT DISTINCT FROM @ry "
        "AND watermark_boundary IS NOT DISTINCT FROM @rb"
    )
    return (
        f"SELECT IF((SELECT COUNT(*) FROM `{state_table}` WHERE {_TABLE_ROW}) = @rn "
        f"AND (SELECT COUNT(*) FROM `{state_table}` WHERE {_TABLE_ROW} AND {same}) = @rn, "
        f"TRUE, ERROR('{_STATE_MOVED}'));"
    )


def run_label(run_id: str) -> str:
    """A run's id as a label value (lowercase letters, digits, `_` and `-`, 63 at most): itself
    when it is one (Prefect's run ids are), else a digest of it."""
    if _LABEL_VALUE.fullmatch(run_id):
        return run_id
    return "h-" + hashlib.sha256(run_id.encode()).hexdigest()[:40]


def _retry_job(exc: Exception) -> bool:
    """Whether the client's job retry runs a failed job again: a transaction aborted by a
    concurrent one, or what BigQuery documents as retryable."""
    if isinstance(exc, RetryError):
        exc = exc.cause  # type: ignore[assignment]
    if _CONFLICT in str(exc):
        return True
    reasons = [error.get("reason") for error in getattr(exc, "errors", None) or []]
    return bool(reasons) and reasons[0] in _RETRYABLE_REASONS


def _declared_layout(request: LoadRequest, columns: dict[str, str]) -> tuple[str | None, list]:
    """The partition expression and cluster columns a request declares, for the table's
    `columns` (name -> GoogleSQL type): a date partitions by day, a timestamp or datetime by
    its day, an integer by `partition_range`; an integer without one, or another type, is
    clustered by instead (BigQuery partitions by nothing else)."""
    cluster = list(request.cluster_columns)
    column = request.partition_column
    partition = None
    if column and column in columns:
        kind = columns[column]
        if kind == "DATE":
            partition = f"`{column}`"
        elif kind in _TIME_TYPES:
            partition = f"DATE(`{column}`)"
        elif kind == "INT64" and request.partition_range:
            start, end, interval = request.partition_range
            partition = f"RANGE_BUCKET(`{column}`, GENERATE_ARRAY({start}, {end}, {interval}))"
        elif column not in cluster:
            cluster.insert(0, column)
    missing = [c for c in cluster if c not in columns]
    if missing or len(cluster) > _MAX_CLUSTER_COLUMNS:
        raise ValueError(
            f"{request.dataset_id}.{request.table_id}: cluster_columns {cluster} inválido: "
            f"até {_MAX_CLUSTER_COLUMNS} colunas da tabela (ausentes: {missing or 'nenhuma'})"
        )
    return partition, cluster


def _partition_of(table: Any) -> str | None:
    """An existing table's partitioning as the expression `_declared_layout` writes."""
    ranged = table.range_partitioning
    if ranged is not None and ranged.field:
        bounds = ranged.range_
        return (
            f"RANGE_BUCKET(`{ranged.field}`, GENERATE_ARRAY({bounds.start}, {bounds.end}, "
            f"{bounds.interval}))"
        )
    timed = table.time_partitioning
    if timed is None or not timed.field:
        return None
    kinds = {f.name: f.field_type for f in table.schema}
    return f"`{timed.field}`" if kinds.get(timed.field) == "DATE" else f"DATE(`{timed.field}`)"


def _sql_type(field: Any) -> str:
    """A schema field's GoogleSQL type, as ALTER TABLE ADD COLUMN takes it and drift checks
    compare it: a list (REPEATED) is `ARRAY<...>`, a RECORD is `STRUCT<...>`."""
    if field.field_type in ("RECORD", "STRUCT"):
        base = "STRUCT<" + ", ".join(f"`{f.name}` {_sql_type(f)}" for f in field.fields) + ">"
    else:
        base = _DDL_TYPES.get(field.field_type, field.field_type)
    return f"ARRAY<{base}>" if field.mode == "REPEATED" else base


@contextmanager
def _on_gcs(files: Sequence[str], folder: str, hive_keys: Sequence[str]) -> Iterator[list[str]]:
    """Load jobs read only from GCS: files already on `gs://` (a GCS lake) are used in place;
    local ones are uploaded under `gcs_staging_url/<folder>/` (the run's id, dataset and table),
    keeping their Hive folders, and deleted once the load job has read them (or failed)."""
    if all(f.startswith("gs://") for f in files):
        yield list(files)
        return
    staging = get_settings().gcs_staging_url
    if not staging:
        raise ValueError(
            "BigQuery carrega só de gs://: use PIPELINES_STORAGE_URL=gs://... ou "
            "PIPELINES_GCS_STAGING_URL=gs://bucket/prefixo"
        )
    gcs = fsspec.filesystem("gs")
    root = f"{staging.rstrip('/')}/{folder}"
    marker = f"/{hive_keys[0]}=" if hive_keys else None
    uris = []
    for local in files:
        if marker and marker in local:  # from the first Hive folder down, even if all share it
            relative = local[local.index(marker) + 1 :]
        else:
            relative = local.rsplit("/", 1)[-1]
        uris.append(f"{root}/{relative}")
    try:
        for local, uri in zip(files, uris, strict=True):
            gcs.put(local, uri)
        yield uris
    finally:
        with suppress(FileNotFoundError):  # nothing was uploaded
            gcs.rm(root, recursive=True)
