"""
A manual smoke test of the BigQuery warehouse against a real project, for what the local
stand-in (tests/support/bigquery_api.py) cannot prove: BigQuery's own SQL, partitioning,
clustering, labels, locations and job retry. No test runs it; run it by hand after changing
the adapter, with credentials that may create and delete a dataset:

    gcloud auth application-default login          # or GOOGLE_APPLICATION_CREDENTIALS=key.json
    PIPELINES_GCP_PROJECT=my-project PIPELINES_BIGQUERY_LOCATION=southamerica-east1 \\
    PIPELINES_GCS_STAGING_URL=gs://my-bucket/pipelines-smoke \\
        .venv/bin/python benchmarks/bigquery_smoke.py

It makes the dataset `pipelines_smoke_<random>` in the configured location and stages under
the GCS URL, then: an overwrite partitioned by a date column and clustered, a second overwrite
(the table replaced, labelled with its run), a retried run (loads nothing again), an append
with an incremental watermark and a stale one refused, a shrink refused. It prints each check
and deletes the dataset and the staged files at the end (also on failure). The meta dataset
`_pipelines` (run records, watermarks, leases) stays, as in production; the smoke's rows in it
name the smoke's dataset.
"""

import datetime as dt
import sys
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
from google.cloud import bigquery

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# pylint: disable=wrong-import-position  # after the path, as a script run from anywhere
from pipelines.framework.config.settings import get_settings  # noqa: E402
from pipelines.framework.storage.lake import Lake  # noqa: E402
from pipelines.framework.storage.warehouse import (  # noqa: E402
    LoadRequest,
    ShrinkError,
    StateMovedError,
)
from pipelines.framework.storage.warehouse.bigquery import RUN_LABEL, BigQueryWarehouse  # noqa: E402


def _rows(count: int, first: int = 0) -> pa.Table:
    ids = list(range(first, first + count))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "dia": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i % 30) for i in ids]),
            "nome": pa.array([f"nome {i % 7}" for i in ids]),
        }
    )


def _request(lake: Lake, dataset: str, table: pa.Table, run: str, mode: str, **options):
    staged = lake.write(
        table.to_batches(), table.schema, run_id=run, dataset_id=dataset, table_id="t"
    )
    return LoadRequest(
        dataset,
        "t",
        staged.files,
        mode,
        run,
        staged.rows,
        hive_types=staged.partitioning.hive_types,
        **options,
    )


def _check(what: str, ok: bool) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        raise SystemExit(1)


def main() -> None:
    settings = get_settings()
    if not settings.gcs_staging_url:
        raise SystemExit("set PIPELINES_GCS_STAGING_URL=gs://bucket/prefix (where loads stage)")
    warehouse = BigQueryWarehouse(project=settings.gcp_project)
    client: bigquery.Client = warehouse.client
    dataset = f"pipelines_smoke_{uuid.uuid4().hex[:8]}"
    print(f"project {warehouse.project}, location {warehouse.location}, dataset {dataset}")
    with tempfile.TemporaryDirectory() as folder:
        lake = Lake(folder)
        try:
            declared = {"partition_column": "dia", "cluster_columns": ("nome",)}
            warehouse.load(_request(lake, dataset, _rows(1000), "smoke-1", "overwrite", **declared))
            table = client.get_table(f"{warehouse.project}.{dataset}.t")
            _check(
                "dataset in the configured location",
                client.get_dataset(f"{warehouse.project}.{dataset}").location.lower()
                == warehouse.location.lower(),
            )
            _check(
                "partitioned by day on dia",
                table.time_partitioning is not None and table.time_partitioning.field == "dia",
            )
            _check("clustered by nome", table.clustering_fields == ["nome"])
            second = _request(lake, dataset, _rows(990, 5000), "smoke-2", "overwrite", **declared)
            result = warehouse.load(second)
            table = client.get_table(f"{warehouse.project}.{dataset}.t")
            _check("overwrite replaced the table", result.table_rows == 990)
            _check("labelled with its run", table.labels.get(RUN_LABEL) == "smoke-2")
            _check("a retried run loads nothing again", warehouse.load(second).already_loaded)
            try:
                warehouse.load(_request(lake, dataset, _rows(10), "smoke-3", "overwrite"))
                _check("shrink refused", False)
            except ShrinkError:
                _check("shrink refused", True)
            state = {"column": "id", "value": "5989", "type": "int", "boundary": None}
            newer = {**state, "value": "6099"}
            warehouse.load(
                _request(
                    lake,
                    dataset,
                    _rows(100, 6000),
                    "smoke-4",
                    "append",
                    state=newer,
                    read_state=warehouse.read_state(dataset, "t"),
                )
            )
            _check("append with its watermark", warehouse.read_state(dataset, "t") == newer)
            try:
                warehouse.load(
                    _request(
                        lake,
                        dataset,
                        _rows(5, 7000),
                        "smoke-5",
                        "append",
                        state=newer,
                        read_state=state,
                    )
                )
                _check("a stale watermark is refused", False)
            except StateMovedError:
                _check("a stale watermark is refused", True)
            _check("rows", warehouse.count_rows(dataset, "t") == 1090)
        finally:
            client.delete_dataset(
                f"{warehouse.project}.{dataset}", delete_contents=True, not_found_ok=True
            )
            print(f"deleted {dataset}")


if __name__ == "__main__":
    main()
