# ruff: noqa: F811  (pytest fixtures are imported by name)
# pylint: disable=redefined-outer-name,unused-import
"""The BigQuery warehouse through the real google-cloud-bigquery client, against a local BigQuery
REST stand-in (tests/support/bigquery_api.py), loading files the real Lake staged on a local GCS
emulator. Every check reads the data back through the client."""

import dataclasses
import datetime as dt
import decimal
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pyarrow as pa
import pytest
from google.api_core.exceptions import BadRequest, NotFound
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from pipelines.framework.config.settings import get_settings
from pipelines.framework.storage.lake import Lake, StagedTable
from pipelines.framework.storage.warehouse import (
    LoadRequest,
    LoadVerificationError,
    SchemaDriftError,
    ShrinkError,
    StateMovedError,
    TableBusyError,
    WarehouseBusyError,
)
from pipelines.framework.storage.warehouse import bigquery as adapter
from pipelines.framework.storage.warehouse.bigquery import BigQueryWarehouse
from tests.support.bigquery_api import BigQueryAPI
from tests.support.gcs import GCS, gcs, gcs_emulator  # noqa: F401

pytestmark = pytest.mark.component

NAMES = ["Ana Conceição", "José", "Łukasz", "山田", None]
TYPES = [
    ("id", "INTEGER"),
    ("valor", "NUMERIC"),
    ("taxa", "FLOAT"),
    ("ativo", "BOOLEAN"),
    ("dia", "DATE"),
    ("criado_em", "TIMESTAMP"),
    ("registrado_em", "DATETIME"),
    ("nome", "STRING"),
    ("extra", "JSON"),
]
TYPES_BY_NAME = dict(TYPES)


def make_table(rows: int, first_id: int = 0) -> pa.Table:
    """Every type dump_db produces, nulls included."""
    ids = list(range(first_id, first_id + rows))
    start = dt.datetime(2024, 1, 30, 12, 30, 15, 123456)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "valor": pa.array(
                [None if i % 6 == 0 else decimal.Decimal(i * 125) / 100 for i in ids],
                pa.decimal128(12, 2),
            ),
            "taxa": pa.array([None if i % 7 == 0 else i / 3 for i in ids], pa.float64()),
            "ativo": pa.array([None if i % 5 == 0 else i % 2 == 0 for i in ids], pa.bool_()),
            "dia": pa.array(
                [dt.date(2024, 1, 30) + dt.timedelta(days=i % 4) for i in ids], pa.date32()
            ),
            "criado_em": pa.array(
                [start.replace(tzinfo=dt.timezone.utc) + dt.timedelta(hours=i) for i in ids],
                pa.timestamp("us", tz="UTC"),
            ),
            "registrado_em": pa.array(
                [start + dt.timedelta(minutes=i) for i in ids], pa.timestamp("us")
            ),
            "nome": pa.array([NAMES[i % len(NAMES)] for i in ids], pa.string()),
            "extra": pa.array(
                [None if i % 4 == 0 else json.dumps({"n": i, "tag": "ç"}) for i in ids],
                pa.json_(pa.string()),
            ),
        }
    )


def expected_rows(table: pa.Table) -> list[dict]:
    """The rows as the client returns them: JSON parsed, timestamps aware in UTC."""
    rows = table.to_pylist()
    for row in rows:
        row["extra"] = None if row["extra"] is None else json.loads(row["extra"])
    return rows


@pytest.fixture
def api(gcs_emulator) -> Iterator[BigQueryAPI]:
    with BigQueryAPI(gcs_emulator.endpoint) as stand_in:
        yield stand_in


@pytest.fixture
def client(api) -> bigquery.Client:
    return bigquery.Client(
        project=api.project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": api.base_url},
    )


@pytest.fixture
def warehouse(client) -> BigQueryWarehouse:
    return BigQueryWarehouse(client=client)


def stage(gcs: GCS, table: pa.Table, run_id: str, **kwargs) -> StagedTable:
    """The run's Parquet files, as the real lake stages them on gs://."""
    lake = Lake(gcs.url("lake"))
    return lake.write(
        table.to_batches(max_chunksize=50),
        table.schema,
        run_id=run_id,
        dataset_id="br",
        table_id="t",
        rows_per_group=40,
        **kwargs,
    )


def request(staged: StagedTable, mode: str = "overwrite", **kwargs) -> LoadRequest:
    return LoadRequest(
        "br",
        "t",
        staged.files,
        mode,
        staged.run_id,
        staged.rows,
        hive_types=staged.partitioning.hive_types,
        **kwargs,
    )


def read_rows(client: bigquery.Client, table: str = "br.t") -> list[dict]:
    rows = [dict(row.items()) for row in client.list_rows(f"{client.project}.{table}")]
    return sorted(rows, key=lambda row: row["id"])


def schema(client: bigquery.Client, table: str = "br.t") -> list[tuple[str, str]]:
    return [(f.name, f.field_type) for f in client.get_table(f"{client.project}.{table}").schema]


def test_overwrite_loads_every_type_and_replaces_the_rows(gcs, client, warehouse):
    first = make_table(120)
    result = warehouse.load(request(stage(gcs, first, "run-1")))
    assert (result.table, result.rows_loaded, result.table_rows) == ("br.t", 120, 120)
    assert schema(client) == TYPES
    assert read_rows(client) == expected_rows(first)

    second = make_table(30, first_id=1_000)
    result = warehouse.load(request(stage(gcs, second, "run-2"), allow_shrink=True))
    assert (result.rows_loaded, result.table_rows) == (30, 30)
    assert read_rows(client) == expected_rows(second)
    assert warehouse.count_rows("br", "t") == 30
    assert warehouse.count_rows("br", "nenhuma") is None


def test_append_adds_runs_and_a_retried_run_does_not_duplicate(gcs, client, warehouse):
    first, second = make_table(100), make_table(60, first_id=100)
    warehouse.load(request(stage(gcs, first, "run-1"), "append"))
    retried = request(stage(gcs, second, "run-2"), "append")
    assert warehouse.load(retried).table_rows == 160

    again = warehouse.load(retried)
    assert again.already_loaded
    assert (again.rows_loaded, again.table_rows) == (60, 160)
    assert read_rows(client) == expected_rows(pa.concat_tables([first, second]))


def test_incremental_state_is_saved_with_the_rows_and_read_back(gcs, client, warehouse):
    assert warehouse.read_state("br", "t") is None
    state = {"column": "criado_em", "value": "2024-02-03 11:30:15", "type": "timestamp"}
    state |= {"boundary": ["a1b2", "c3d4"]}
    warehouse.load(request(stage(gcs, make_table(50), "run-1"), "append", state=state))
    assert warehouse.read_state("br", "t") == state

    newer = {"column": "criado_em", "value": "2024-02-05 13:30:15", "type": "timestamp"}
    newer |= {"boundary": None}
    warehouse.load(
        request(stage(gcs, make_table(20, 50), "run-2"), "append", state=newer, read_state=state)
    )
    assert warehouse.read_state("br", "t") == newer
    assert warehouse.read_state("br", "outra") is None
    assert len(read_rows(client)) == 70


def test_a_new_column_is_added_and_old_rows_get_null(gcs, client, warehouse):
    first = make_table(40)
    warehouse.load(request(stage(gcs, first, "run-1"), "append"))
    second = make_table(10, first_id=40)
    second = second.append_column("novo", pa.array([i * 0.5 for i in range(10)], pa.float64()))
    result = warehouse.load(request(stage(gcs, second, "run-2"), "append"))

    assert result.added_columns == ("novo",)
    assert schema(client) == [*TYPES, ("novo", "FLOAT")]
    rows = read_rows(client)
    assert [row["novo"] for row in rows] == [None] * 40 + [i * 0.5 for i in range(10)]
    assert rows[:40] == [{**row, "novo": None} for row in expected_rows(first)]


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda t: t.set_column(0, "id", pa.array([str(i) for i in t["id"].to_pylist()])), "id"),
        (lambda t: t.drop_columns(["taxa"]), "taxa"),
    ],
    ids=["retyped", "removed"],
)
def test_a_retyped_or_removed_column_stops_the_load(gcs, client, warehouse, change, column):
    first = make_table(40)
    warehouse.load(request(stage(gcs, first, "run-1"), "append"))
    with pytest.raises(SchemaDriftError, match=column):
        warehouse.load(request(stage(gcs, change(make_table(10, 40)), "run-2"), "append"))
    assert schema(client) == TYPES
    assert read_rows(client) == expected_rows(first)
    assert [t.table_id for t in client.list_tables(f"{client.project}.br")] == ["t"]


def test_a_failure_inside_the_swap_keeps_the_previous_table_and_state(gcs, api, client, warehouse):
    first = make_table(40)
    state = {"column": "id", "value": "39", "type": "int", "boundary": None}
    warehouse.load(request(stage(gcs, first, "run-1"), "append", state=state))
    # the append's INSERT into the target runs; the run record's INSERT fails
    api.inject_failure(r"^INSERT INTO `[\w-]+\._pipelines\._pipelines_loads`")
    newer = request(
        stage(gcs, make_table(25, 100), "run-2"),
        "append",
        state={**state, "value": "124"},
        read_state=state,
    )
    with pytest.raises(BadRequest, match="injected failure"):
        warehouse.load(newer)
    assert read_rows(client) == expected_rows(first)
    assert warehouse.read_state("br", "t") == state
    assert [t.table_id for t in client.list_tables(f"{client.project}.br")] == ["t"]

    api.failures.clear()  # the retry of the same run goes through
    assert warehouse.load(newer).table_rows == 65
    assert read_rows(client) == expected_rows(pa.concat_tables([first, make_table(25, 100)]))
    assert warehouse.read_state("br", "t")["value"] == "124"


def test_an_overwrite_replaces_the_table_in_one_statement_labelled_with_its_run(
    gcs, api, client, warehouse
):
    """No DML over the whole table: CREATE OR REPLACE ... AS SELECT, whose run label commits
    with the rows. A failed replacement keeps the previous table; a failure after it (the run
    record) leaves a load the label says is committed, which a retry does not load again."""
    first = make_table(40)
    warehouse.load(request(stage(gcs, first, "run-1")))
    assert client.get_table(f"{client.project}.br.t").labels == {"pipelines_run": "run-1"}

    api.inject_failure(r"^CREATE OR REPLACE TABLE `[\w-]+\.br\.t`", times=1)
    second = request(stage(gcs, make_table(38, 100), "run-2"))
    with pytest.raises(BadRequest, match="injected failure"):
        warehouse.load(second)
    assert read_rows(client) == expected_rows(first)
    assert warehouse.committed_load("br", "t", "run-2") is None

    api.inject_failure(r"^INSERT INTO `[\w-]+\._pipelines\._pipelines_loads`", times=1)
    with pytest.raises(BadRequest, match="injected failure"):
        warehouse.load(second)
    assert read_rows(client) == expected_rows(make_table(38, 100))
    committed = warehouse.committed_load("br", "t", "run-2")
    assert (committed.rows_loaded, committed.mode, committed.already_loaded) == (
        38,
        "overwrite",
        True,
    )
    assert warehouse.load(second).already_loaded  # the retry loads nothing again
    statements = [" ".join(s.split()) for s in api.statements]
    assert not any(s.startswith(("DELETE", "UPDATE `test-project.br")) for s in statements)


def test_an_incremental_overwrite_is_refused(gcs, warehouse):
    state = {"column": "id", "value": "9", "type": "int", "boundary": None}
    with pytest.raises(ValueError, match="incremental anexa"):
        warehouse.load(request(stage(gcs, make_table(10), "run-1"), state=state))


def layout(client: bigquery.Client, table: str = "br.t") -> dict:
    found = client.get_table(f"{client.project}.{table}")
    timed, ranged = found.time_partitioning, found.range_partitioning
    return {
        "time": None if timed is None else (timed.type_, timed.field),
        "range": None
        if ranged is None
        else (ranged.field, ranged.range_.start, ranged.range_.end, ranged.range_.interval),
        "cluster": found.clustering_fields,
    }


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ({"partition_column": "dia"}, {"time": ("DAY", "dia"), "range": None, "cluster": None}),
        (
            {"partition_column": "criado_em", "cluster_columns": ("nome", "ativo")},
            {"time": ("DAY", "criado_em"), "range": None, "cluster": ["nome", "ativo"]},
        ),
        (
            {"partition_column": "id", "partition_range": (0, 1000, 10)},
            {"time": None, "range": ("id", 0, 1000, 10), "cluster": None},
        ),
        ({"partition_column": "id"}, {"time": None, "range": None, "cluster": ["id"]}),
        ({"partition_column": "nome"}, {"time": None, "range": None, "cluster": ["nome"]}),
    ],
    ids=["date", "timestamp-clustered", "integer-range", "integer-no-range", "text"],
)
@pytest.mark.parametrize("mode", ["overwrite", "append"])
def test_a_table_is_partitioned_and_clustered_as_declared(
    gcs, client, warehouse, declared, expected, mode
):
    source = make_table(60)
    warehouse.load(request(stage(gcs, source, "run-1"), mode, **declared))
    assert layout(client) == expected
    warehouse.load(request(stage(gcs, make_table(60, 60), "run-2"), mode, **declared))
    assert layout(client) == expected
    assert len(read_rows(client)) == (120 if mode == "append" else 60)


def test_a_table_made_unpartitioned_keeps_its_partitioning_when_one_is_declared(
    gcs, client, warehouse, caplog
):
    """BigQuery refuses to replace a table with another partitioning: the overwrite keeps the
    table's own and says how to change it."""
    warehouse.load(request(stage(gcs, make_table(40), "run-1")))
    with caplog.at_level("WARNING"):
        warehouse.load(request(stage(gcs, make_table(40, 40), "run-2"), partition_column="dia"))
    assert layout(client) == {"time": None, "range": None, "cluster": None}
    assert read_rows(client) == expected_rows(make_table(40, 40))
    assert "apague a tabela" in caplog.text


def test_too_many_or_unknown_cluster_columns_stop_the_load_before_it(gcs, client, warehouse):
    first = make_table(20)
    warehouse.load(request(stage(gcs, first, "run-1")))
    five = ("id", "nome", "dia", "ativo", "valor")
    with pytest.raises(ValueError, match="até 4 colunas"):
        warehouse.load(request(stage(gcs, make_table(20), "run-2"), cluster_columns=five))
    with pytest.raises(ValueError, match="ausentes: \\['nenhuma'\\]"):
        warehouse.load(request(stage(gcs, make_table(20), "run-3"), cluster_columns=("nenhuma",)))
    assert read_rows(client) == expected_rows(first)


def test_datasets_are_made_in_the_configured_location_and_jobs_run_there(gcs, api, client):
    eu = BigQueryWarehouse(client=client, location="EU")
    eu.load(request(stage(gcs, make_table(10), "run-1")))
    assert client.get_dataset(f"{client.project}.br").location == "EU"
    assert client.get_dataset(f"{client.project}._pipelines").location == "EU"
    assert {job["jobReference"]["location"] for job in api.jobs()} == {"EU"}

    legacy = bigquery.Dataset(f"{client.project}.legado")
    legacy.location = "US"
    client.create_dataset(legacy)  # made before, elsewhere
    elsewhere = dataclasses.replace(
        request(stage(gcs, make_table(10), "run-2")), dataset_id="legado"
    )
    with pytest.raises(ValueError, match="legado está em US, não em EU"):
        eu.load(elsewhere)
    us = BigQueryWarehouse(client=client, location="US")  # BigQuery's own answer to a job there
    with pytest.raises(NotFound, match="was not found in location US"):
        us.load(request(stage(gcs, make_table(10), "run-3")))


def test_hive_partitioned_files_load_with_their_folder_columns(gcs, client, warehouse):
    source = make_table(80)
    staged = stage(gcs, source, "run-1", partition_columns=["dia"])
    assert len(staged.files) == 4 and "/ano_particao=2024/" in staged.files[0]
    warehouse.load(request(staged))

    folders = [("ano_particao", "INTEGER"), ("mes_particao", "INTEGER")]
    folders.append(("data_particao", "DATE"))
    assert sorted(schema(client)) == sorted(TYPES + folders)
    rows = read_rows(client)
    for row in rows:
        day = row.pop("data_particao")
        assert (row.pop("ano_particao"), row.pop("mes_particao"), day) == (
            row["dia"].year,
            row["dia"].month,
            row["dia"],
        )
    assert rows == expected_rows(source)


def test_the_stand_in_refuses_what_it_does_not_implement(client):
    client.create_dataset("br")
    with pytest.raises(BadRequest, match="not supported by the stand-in"):
        client.query("DROP TABLE `test-project.br.t`").result()
    with pytest.raises(BadRequest, match="Unexpected keyword ROWS"):
        client.query("CREATE TABLE `test-project.br.t` (rows INT64)").result()


@pytest.fixture
def gcs_staging(gcs, monkeypatch) -> Iterator[GCS]:
    """PIPELINES_GCS_STAGING_URL on the emulator's bucket: where local runs go for load jobs."""
    monkeypatch.setenv("PIPELINES_GCS_STAGING_URL", gcs.url("bq-staging"))
    get_settings.cache_clear()
    try:
        yield gcs
    finally:
        get_settings.cache_clear()


def test_a_run_of_a_local_lake_is_staged_on_gcs_loaded_and_its_staging_deleted(
    gcs_staging, client, warehouse, tmp_path
):
    source = make_table(60)
    local = Lake(str(tmp_path / "lake")).write(
        source.to_batches(),
        source.schema,
        run_id="run-1",
        dataset_id="br",
        table_id="t",
        partition_columns=["dia"],
    )
    warehouse.load(request(local))  # the stand-in's load jobs read from the emulator only
    assert gcs_staging.fs.find(f"{gcs_staging.bucket}/bq-staging") == []  # deleted once loaded
    rows = read_rows(client)
    assert [row["data_particao"] for row in rows] == [row["dia"] for row in rows]
    loaded = [{name: row[name] for name in TYPES_BY_NAME} for row in rows]
    assert loaded == expected_rows(source)


def test_a_row_count_mismatch_stops_the_load_before_the_swap(gcs, client, warehouse):
    first = make_table(40)
    warehouse.load(request(stage(gcs, first, "run-1")))
    staged = stage(gcs, make_table(10, 40), "run-2")
    short = LoadRequest("br", "t", staged.files[:1], "overwrite", "run-2", 11, allow_shrink=True)
    with pytest.raises(LoadVerificationError, match="10 linhas no load job, 11 extraídas"):
        warehouse.load(short)
    assert read_rows(client) == expected_rows(first)


def test_an_empty_partitioned_run_empties_the_table_and_keeps_its_columns(gcs, client, warehouse):
    warehouse.load(request(stage(gcs, make_table(80), "run-1", partition_columns=["dia"])))
    before = schema(client)
    empty = stage(gcs, make_table(0), "run-2", partition_columns=["dia"])
    assert [f.rsplit("/", 1)[-1] for f in empty.files] == ["run-2-0.parquet"]  # no Hive folder

    result = warehouse.load(request(empty, allow_shrink=True))
    assert (result.rows_loaded, result.table_rows, result.added_columns) == (0, 0, ())
    assert schema(client) == before
    assert read_rows(client) == []


def test_a_list_column_loads_as_an_array(gcs, client, warehouse):
    """Lists (as pyarrow infers them from JSON API records) load as REPEATED fields."""
    source = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "tags": pa.array([["a", "ção"], [], None], pa.list_(pa.string())),
        }
    )
    warehouse.load(request(stage(gcs, source, "run-1")))
    fields = client.get_table(f"{client.project}.br.t").schema
    assert [(f.name, f.field_type, f.mode) for f in fields][1] == ("tags", "STRING", "REPEATED")
    assert [row["tags"] for row in read_rows(client)] == [["a", "ção"], [], []]  # NULL is []


def test_a_new_list_column_is_added_as_an_array_and_cannot_become_text(gcs, client, warehouse):
    warehouse.load(request(stage(gcs, pa.table({"id": pa.array([1, 2], pa.int64())}), "run-1")))
    tags = pa.array([["a", "ção"]], pa.list_(pa.string()))
    second = pa.table({"id": pa.array([3], pa.int64()), "tags": tags})
    result = warehouse.load(request(stage(gcs, second, "run-2"), "append"))

    assert result.added_columns == ("tags",)
    fields = client.get_table(f"{client.project}.br.t").schema
    assert [(f.name, f.field_type, f.mode) for f in fields] == [
        ("id", "INTEGER", "NULLABLE"),
        ("tags", "STRING", "REPEATED"),
    ]
    assert [row["tags"] for row in read_rows(client)] == [[], [], ["a", "ção"]]
    as_text = pa.table({"id": pa.array([4], pa.int64()), "tags": pa.array(["a"], pa.string())})
    with pytest.raises(SchemaDriftError, match=r"tags \(ARRAY<STRING> -> STRING\)"):
        warehouse.load(request(stage(gcs, as_text, "run-3"), "append"))
    assert len(read_rows(client)) == 3


def test_a_temporary_table_a_killed_load_leaves_behind_expires(gcs, client, warehouse, monkeypatch):
    monkeypatch.setattr(warehouse.client, "delete_table", lambda *_args, **_kwargs: None)
    warehouse.load(request(stage(gcs, make_table(10), "run-1")))  # its process dies before cleanup

    left = [t.table_id for t in client.list_tables(f"{client.project}.br") if t.table_id != "t"]
    assert [name.startswith("_tmp_t_") for name in left] == [True]
    expires = client.get_table(f"{client.project}.br.{left[0]}").expires
    lifetime = expires - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=23) < lifetime <= dt.timedelta(days=1)


def test_a_table_made_by_its_first_load_does_not_expire_with_its_temporary_table(
    gcs, client, warehouse
):
    """The target is created LIKE the run's temporary table, which copies its table options:
    without clearing the expiration, BigQuery would delete the new table after a day."""
    warehouse.load(request(stage(gcs, make_table(10), "run-1")))

    assert client.get_table(f"{client.project}.br.t").expires is None
    warehouse.load(request(stage(gcs, make_table(5), "run-2"), "append"))
    assert client.get_table(f"{client.project}.br.t").expires is None


def test_a_transaction_aborted_by_a_concurrent_one_is_run_again(gcs, api, client, warehouse):
    """Loads of other tables MERGE into the same state table; BigQuery cancels one of two
    concurrent transactions, and the cancelled one changed nothing, so it is run again."""
    first = make_table(40)
    state = {"column": "id", "value": "39", "type": "int", "boundary": None}
    warehouse.load(request(stage(gcs, first, "run-1"), "append", state=state))
    conflict = "Transaction is aborted due to concurrent update against table _pipelines_state"
    api.inject_failure(r"^MERGE", conflict, times=2)
    newer = make_table(25, 100)
    newer_state = {**state, "value": "124"}
    result = warehouse.load(
        request(stage(gcs, newer, "run-2"), "append", state=newer_state, read_state=state)
    )

    assert (result.rows_loaded, result.table_rows, result.already_loaded) == (25, 65, False)
    assert read_rows(client) == expected_rows(pa.concat_tables([first, newer]))
    assert warehouse.read_state("br", "t")["value"] == "124"
    loads = client.list_rows(f"{client.project}._pipelines._pipelines_loads")
    assert sorted((row["run_id"], row["rows"]) for row in loads) == [("run-1", 40), ("run-2", 25)]


def test_a_transaction_aborted_every_time_is_busy_which_the_load_task_retries(
    gcs, api, client, warehouse, monkeypatch
):
    """Concurrent loads aborting this one's transaction on every attempt: the warehouse is busy
    (the load task tries again later), and nothing was loaded."""
    monkeypatch.setattr(adapter, "_CONFLICT_RETRY_SECONDS", 1.0)
    monkeypatch.setattr(adapter, "_CONFLICT_FIRST_WAIT_SECONDS", 0.1)
    warehouse.load(request(stage(gcs, make_table(40), "run-1"), "append"))
    conflict = "Transaction is aborted due to concurrent update against table _pipelines_loads"
    api.inject_failure(r"^INSERT INTO `[^`]+_pipelines_loads`", conflict)

    with pytest.raises(WarehouseBusyError, match="transações concorrentes abortaram esta carga"):
        warehouse.load(request(stage(gcs, make_table(25, 100), "run-2"), "append"))
    assert read_rows(client) == expected_rows(make_table(40))
    attempts = [s for s in api.statements if "_pipelines_loads` VALUES" in s]
    assert len(attempts) >= 3  # the client's job retry ran the script again, then gave up


def test_a_state_table_of_before_boundaries_gets_the_column(gcs, client, warehouse):
    client.create_dataset("_pipelines")
    client.query(
        f"CREATE TABLE `{client.project}._pipelines._pipelines_state` (dataset_id STRING, "
        "table_id STRING, watermark_column STRING, watermark_value STRING, "
        "watermark_type STRING, updated_at TIMESTAMP)"
    ).result()
    state = {"column": "id", "value": "9", "type": "int", "boundary": ["e5f6"]}
    warehouse.load(request(stage(gcs, make_table(10), "run-1"), "append", state=state))
    assert warehouse.read_state("br", "t") == state


def test_a_run_whose_watermark_another_run_moved_loads_nothing(gcs, client, warehouse):
    """Two incremental runs read the same watermark; the second to load is refused before its
    load job, and the table keeps the first one's rows."""
    state = {"column": "id", "value": "39", "type": "int", "boundary": ["a1"]}
    warehouse.load(request(stage(gcs, make_table(40), "run-1"), "append", state=state))
    read_by_both = warehouse.read_state("br", "t")
    newer = {**state, "value": "59", "boundary": None}
    rows = make_table(20, 40)
    warehouse.load(
        request(stage(gcs, rows, "run-2"), "append", state=newer, read_state=read_by_both)
    )

    late = request(stage(gcs, rows, "run-3"), "append", state=newer, read_state=read_by_both)
    with pytest.raises(StateMovedError, match="lido: id = 39; salvo agora: id = 59"):
        warehouse.load(late)
    assert read_rows(client) == expected_rows(make_table(60))
    assert warehouse.read_state("br", "t") == newer
    assert warehouse.committed_load("br", "t", "run-3") is None
    assert [t.table_id for t in client.list_tables(f"{client.project}.br")] == ["t"]


def test_a_state_moved_between_the_check_and_the_commit_fails_the_transaction(
    gcs, client, warehouse, monkeypatch
):
    """The last net: another run commits while this one's load job runs; the transaction's
    check sees the state moved and rolls the whole swap back."""
    state = {"column": "id", "value": "39", "type": "int", "boundary": None}
    warehouse.load(request(stage(gcs, make_table(40), "run-1"), "append", state=state))
    newer = {**state, "value": "59"}
    rows = make_table(20, 40)
    other = BigQueryWarehouse(client=client)
    other_run = request(stage(gcs, rows, "run-2"), "append", state=newer, read_state=state)
    load_temp = warehouse._load_temp  # pylint: disable=protected-access

    def load_temp_while_another_run_commits(*args):
        loaded = load_temp(*args)
        other.load(other_run)
        return loaded

    monkeypatch.setattr(warehouse, "_load_temp", load_temp_while_another_run_commits)
    late = request(stage(gcs, rows, "run-3"), "append", state=newer, read_state=state)
    with pytest.raises(StateMovedError, match="lido: id = 39; salvo agora: id = 59"):
        warehouse.load(late)
    assert read_rows(client) == expected_rows(make_table(60))
    assert warehouse.committed_load("br", "t", "run-3") is None


def test_an_overwrite_that_would_shrink_the_table_past_the_limit_keeps_it(gcs, client, warehouse):
    first = make_table(100)
    warehouse.load(request(stage(gcs, first, "run-1")))
    with pytest.raises(ShrinkError, match="tem 40 linhas e a tabela tem 100") as shrink:
        warehouse.load(request(stage(gcs, make_table(40), "run-2")))
    assert "allow_shrink=True" in str(shrink.value)
    with pytest.raises(ShrinkError, match="tem 0 linhas e a tabela tem 100"):
        warehouse.load(request(stage(gcs, make_table(0), "run-3")))
    assert read_rows(client) == expected_rows(first)
    assert [t.table_id for t in client.list_tables(f"{client.project}.br")] == ["t"]

    assert warehouse.load(request(stage(gcs, make_table(95), "run-4"))).table_rows == 95  # 5%
    wider = request(stage(gcs, make_table(60), "run-5"), max_shrink=0.5)
    assert warehouse.load(wider).table_rows == 60
    allowed = warehouse.load(request(stage(gcs, make_table(10), "run-6"), allow_shrink=True))
    assert allowed.table_rows == 10 == len(read_rows(client))


def test_schema_change_replace_lets_an_overwrite_retype_and_drop_columns(gcs, client, warehouse):
    first = make_table(40)
    warehouse.load(request(stage(gcs, first, "run-1")))

    def retyped_without_taxa(table: pa.Table) -> pa.Table:
        ids = pa.array([str(i) for i in table["id"].to_pylist()])
        return table.set_column(0, "id", ids).drop_columns(["taxa"])

    second = retyped_without_taxa(make_table(40, 40))
    with pytest.raises(SchemaDriftError, match="removidas: taxa") as drift:
        warehouse.load(request(stage(gcs, second, "run-2")))
    assert 'schema_change="replace"' in str(drift.value)
    with pytest.raises(SchemaDriftError, match="removidas: taxa"):  # append: never
        warehouse.load(request(stage(gcs, second, "run-3"), "append", schema_change="replace"))
    assert schema(client) == TYPES
    assert read_rows(client) == expected_rows(first)

    result = warehouse.load(request(stage(gcs, second, "run-4"), schema_change="replace"))
    assert (result.rows_loaded, result.table_rows) == (40, 40)
    assert schema(client) == [("id", "STRING")] + [c for c in TYPES[1:] if c[0] != "taxa"]
    assert read_rows(client) == sorted(expected_rows(second), key=lambda row: row["id"])
    assert client.get_table(f"{client.project}.br.t").expires is None  # not the temp's expiry
    assert [t.table_id for t in client.list_tables(f"{client.project}.br")] == ["t"]
    assert warehouse.committed_load("br", "t", "run-4").rows_loaded == 40


def other_client(api: BigQueryAPI) -> bigquery.Client:
    """A client of its own, as another run's process has."""
    return bigquery.Client(
        project=api.project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": api.base_url},
    )


def lease_holders(client: bigquery.Client) -> list[str | None]:
    leases = client.list_rows(f"{client.project}._pipelines._pipelines_leases")
    return sorted((row["holder"] for row in leases), key=str)


def test_a_second_writer_of_a_table_waits_then_is_busy_and_gets_in_once_released(
    api, client, warehouse
):
    other = BigQueryWarehouse(client=other_client(api))
    entered: list[float] = []

    def wait_for_the_table() -> None:
        with other.writer("br", "t", "run-b", wait=30):
            entered.append(time.monotonic())

    with warehouse.writer("br", "t", "run-a", wait=0):
        assert lease_holders(client) == ["run-a"]
        started = time.monotonic()
        busy = r"\(run-a\) está gravando br\.t \(até .+ UTC, se não renovar\); esperei 1\.5s"
        with pytest.raises(TableBusyError, match=busy), other.writer("br", "t", "run-b", 1.5):
            pytest.fail("two writers of one table")
        assert time.monotonic() - started >= 1.5
        with other.writer("br", "u", "run-b", wait=0):  # another table: free
            pass
        waiter = threading.Thread(target=wait_for_the_table)
        waiter.start()
        time.sleep(2)
        assert not entered
        released = time.monotonic()
    waiter.join(timeout=30)
    assert entered and entered[0] > released
    assert lease_holders(client) == [None, None]  # both tables' leases free


LEASE_HOLDER = textwrap.dedent(
    """
    import sys, time
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery
    from pipelines.framework.storage.warehouse.bigquery import BigQueryWarehouse
    client = bigquery.Client(project=sys.argv[1], credentials=AnonymousCredentials(),
                             client_options={"api_endpoint": sys.argv[2]})
    warehouse = BigQueryWarehouse(client=client)
    warehouse.lease_seconds = 2
    with warehouse.writer("br", "t", "run-a", wait=0):
        print("held", flush=True)
        time.sleep(120)
    """
)


def test_the_lease_of_a_holder_that_died_expires_and_is_taken_over(api, warehouse):
    command = [sys.executable, "-c", LEASE_HOLDER, api.project, api.base_url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "held"
            time.sleep(3)  # past its 2 s: only its renewals keep it
            with pytest.raises(TableBusyError, match="run-a"), warehouse.writer("br", "t", "b", 0):
                pytest.fail("two writers of one table")
        finally:
            holder.kill()  # dies holding it
    started = time.monotonic()
    with warehouse.writer("br", "t", "run-b", wait=15):
        assert time.monotonic() - started < 10


def test_a_lease_split_over_two_rows_is_held_whole_or_given_back(client, warehouse):
    """Two first claims at once can insert the table's lease row twice: a run that takes only
    the free one holds nothing and gives it back."""
    warehouse.read_state("br", "t")  # the meta tables
    leases = f"`{client.project}._pipelines._pipelines_leases`"
    client.query(
        f"INSERT INTO {leases} VALUES ('br', 't', 'run-a', "
        "TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 60 SECOND))"
    ).result()
    client.query(f"INSERT INTO {leases} VALUES ('br', 't', NULL, CURRENT_TIMESTAMP())").result()
    with pytest.raises(TableBusyError, match="run-a"), warehouse.writer("br", "t", "run-b", 0):
        pytest.fail("two writers of one table")
    assert lease_holders(client) == [None, "run-a"]

    client.query(f"UPDATE {leases} SET expires_at = CURRENT_TIMESTAMP() WHERE TRUE").result()
    with warehouse.writer("br", "t", "run-b", wait=0):
        assert lease_holders(client) == ["run-b", "run-b"]
    assert lease_holders(client) == [None, None]
