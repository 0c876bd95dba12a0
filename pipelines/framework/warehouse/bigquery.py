"""
The production warehouse: BigQuery, loading Parquet staged on GCS.

A load job fills a run-specific temporary table; one multi-statement transaction then moves its
rows into the target (DELETE + INSERT for overwrite, INSERT for append) together with the run
record and the watermark, so readers see the old table or the new one, never half. The Google
libraries (`pip install -e '.[gcp]'`) are imported only here, when this adapter is chosen.
"""

import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from typing import Any

from pipelines.framework.settings import get_settings
from pipelines.framework.warehouse.base import (
    LOADS_TABLE,
    STATE_TABLE,
    LoadRequest,
    LoadResult,
    LoadVerificationError,
    boundary_text,
    check_drift,
    state_from_row,
)

META_DATASET = "_pipelines"
# BigQuery cancels a transaction that mutates a table another one is mutating (the MERGE into the
# state table, for loads of different tables at once): "Transaction is aborted due to concurrent
# update against table ..." ("Could not serialize access to table ... due to concurrent update").
_CONFLICT = "due to concurrent update"
_CONFLICT_DELAYS_SECONDS = (1, 2, 5, 10, 20)
# A run's temporary table is deleted at the end of its load; this expiry, set as soon as the load
# job has made the table (a load job cannot set it), removes one a killed process left behind.
_TEMP_TABLE_LIFETIME = timedelta(days=1)
_TYPES = {"BIGINT": "INTEGER", "DATE": "DATE", "VARCHAR": "STRING"}
# Table schemas name types the legacy way; DDL takes GoogleSQL names only ("Type not found: FLOAT")
_DDL_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


def _bigquery():
    try:
        from google.cloud import bigquery
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ImportError(
            "the BigQuery warehouse needs the 'gcp' extra: pip install -e '.[gcp]'"
        ) from exc
    return bigquery


class BigQueryWarehouse:
    """Loads runs into BigQuery tables `project.dataset.table`."""

    def __init__(self, project: str | None = None, client: Any = None):
        bigquery = _bigquery()
        self.client = client or bigquery.Client(project=project)
        self.project = self.client.project

    def _id(self, dataset_id: str, table_id: str) -> str:
        return f"{self.project}.{dataset_id}.{table_id}"

    def load(self, request: LoadRequest) -> LoadResult:
        """Load job into a temporary table, then one transaction into the target."""
        bigquery = _bigquery()
        committed = self.committed_load(request.dataset_id, request.table_id, request.run_id)
        if committed is not None:
            return committed
        name = f"{request.dataset_id}.{request.table_id}"
        self.client.create_dataset(request.dataset_id, exists_ok=True)
        temp = self._id(request.dataset_id, f"_tmp_{request.table_id}_{request.run_id[:12]}")
        try:
            staged_rows = self._load_temp(bigquery, request, temp).num_rows
            if staged_rows != request.expected_rows:
                raise LoadVerificationError(
                    f"{name}: {staged_rows} linhas no load job, {request.expected_rows} extraídas"
                )
            added = self._evolve(request, temp)
            self._swap(request, temp)
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
        if not previous:
            return None
        total = self.count_rows(dataset_id, table_id) or 0
        rows, mode = previous[0]
        return LoadResult(f"{dataset_id}.{table_id}", rows, total, already_loaded=True, mode=mode)

    def _load_temp(self, bigquery, request: LoadRequest, temp: str) -> Any:
        """The run's files in the temporary table `temp`, which expires in a day."""
        folder = f"{request.run_id}/{request.dataset_id}/{request.table_id}"
        with _on_gcs(request.files, folder, list(request.hive_types)) as uris:
            return self._load_job(bigquery, request, uris, temp)

    def _load_job(self, bigquery, request: LoadRequest, uris: list[str], temp: str) -> Any:
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
        self.client.load_table_from_uri(uris, temp, job_config=config).result()
        table = self.client.get_table(temp)
        table.expires = datetime.now(timezone.utc) + _TEMP_TABLE_LIFETIME
        return self.client.update_table(table, ["expires"])

    def _columns(self, table: str) -> dict[str, str]:
        from google.api_core.exceptions import NotFound  # pylint: disable=import-error,no-name-in-module

        try:
            return {f.name: _sql_type(f) for f in self.client.get_table(table).schema}
        except NotFound:
            return {}

    def _evolve(self, request: LoadRequest, temp: str) -> list[str]:
        target = self._id(request.dataset_id, request.table_id)
        old = self._columns(target)
        if not old:  # LIKE copies the temporary table's options, its one-day expiry too
            self._query(
                f"CREATE TABLE `{target}` LIKE `{temp}` OPTIONS(expiration_timestamp = NULL)"
            )
            return []
        new = self._columns(temp)
        added = check_drift(f"{request.dataset_id}.{request.table_id}", new, old)
        for column in added:
            self._query(f"ALTER TABLE `{target}` ADD COLUMN `{column}` {new[column]}")
        return added

    def _swap(self, request: LoadRequest, temp: str) -> None:
        target = self._id(request.dataset_id, request.table_id)
        columns = ", ".join(f"`{c}`" for c in self._columns(temp))
        meta = f"{self.project}.{META_DATASET}"
        statements = ["BEGIN TRANSACTION;"]
        if request.mode == "overwrite":
            statements.append(f"DELETE FROM `{target}` WHERE TRUE;")
        statements += [
            f"INSERT INTO `{target}` ({columns}) SELECT {columns} FROM `{temp}`;",
            f"INSERT INTO `{meta}.{LOADS_TABLE}` VALUES (@d, @t, @r, @m, @n, CURRENT_TIMESTAMP());",
        ]
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
        state = request.state or {}
        self._transaction(
            "\n".join(statements),
            d=request.dataset_id,
            t=request.table_id,
            r=request.run_id,
            m=request.mode,
            n=request.expected_rows,
            c=state.get("column"),
            v=state.get("value"),
            y=state.get("type"),
            b=boundary_text(state),
        )

    def _transaction(self, script: str, **params: Any) -> None:
        """Run a transaction script, again when BigQuery aborted it for a concurrent one: loads of
        other tables update the shared state table too, and an aborted script changed nothing."""
        from google.api_core.exceptions import BadRequest  # pylint: disable=import-error,no-name-in-module

        for delay in (*_CONFLICT_DELAYS_SECONDS, None):
            try:
                self._query(script, **params)
                return
            except BadRequest as exc:
                if delay is None or _CONFLICT not in str(exc):
                    raise
                time.sleep(delay * random.uniform(1, 2))

    def _ensure_meta(self) -> None:
        """Create or migrate the meta tables; once they are in place this only reads two schemas
        (each DDL is a query job, and an ALTER counts against a table's metadata-update quota)."""
        meta = f"{self.project}.{META_DATASET}"
        if self._columns(f"{meta}.{LOADS_TABLE}") and "watermark_boundary" in self._columns(
            f"{meta}.{STATE_TABLE}"
        ):
            return
        self.client.create_dataset(META_DATASET, exists_ok=True)
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

    def _query(self, sql: str, **params: Any) -> list[tuple]:
        bigquery = _bigquery()
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(
                    name, "INT64" if isinstance(value, int) else "STRING", value
                )
                for name, value in params.items()
            ]
        )
        return [tuple(row.values()) for row in self.client.query(sql, job_config=config).result()]

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
        from google.api_core.exceptions import NotFound  # pylint: disable=import-error,no-name-in-module

        try:
            return self.client.get_table(self._id(dataset_id, table_id)).num_rows
        except NotFound:
            return None


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
    import fsspec

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
