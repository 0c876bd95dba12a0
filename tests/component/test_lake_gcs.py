# ruff: noqa: F811  (pytest fixtures are imported by name)
# pylint: disable=redefined-outer-name,unused-import
"""The lake and the code storage on `gs://`, through gcsfs, against a local GCS emulator."""

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from prefect.deployments.steps.pull import pull_from_remote_storage

from pipelines.framework.config.environments import Environment
from pipelines.framework.config.settings import REPO_ROOT, get_settings
from pipelines.framework.deploy.code_closure import closure_files
from pipelines.framework.deploy.discovery import FlowInfo
from pipelines.framework.deploy.registration import DeploymentSpec, code_location, upload_code
from pipelines.framework.storage.lake import STAGING_FOLDER, TRASH_FOLDER, Lake, StagedTable
from pipelines.utils.dump_url.flows import dump_url
from tests.support.gcs import gcs, gcs_emulator  # noqa: F401

pytestmark = pytest.mark.component

START = dt.date(2024, 1, 30)
CITIES = ["Rio de Janeiro", "Niterói", "São Gonçalo", None]


def make_table(rows: int, first_id: int = 0, days: int = 8, start: dt.date = START) -> pa.Table:
    """Text with accents and nulls, numbers, flags, dates (from January into February)."""
    ids = range(first_id, first_id + rows)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "cidade": pa.array([CITIES[i % len(CITIES)] for i in ids], pa.string()),
            "valor": pa.array([None if i % 7 == 0 else i * 1.25 for i in ids], pa.float64()),
            "ativo": pa.array([i % 3 == 0 for i in ids], pa.bool_()),
            "dia": pa.array([start + dt.timedelta(days=i % days) for i in ids], pa.date32()),
        }
    )


def write(lake: Lake, table: pa.Table, run_id: str, **kwargs) -> StagedTable:
    return lake.write(
        table.to_batches(max_chunksize=700),
        table.schema,
        run_id=run_id,
        dataset_id="br",
        table_id="t",
        **kwargs,
    )


def read_back(gcs, lake: Lake, columns: list[str], folders: pa.Schema | None = None) -> pa.Table:
    """The published table as pyarrow reads it through gcsfs (Hive `folders` too), in id order."""
    paths = [url.removeprefix("gs://") for url in lake.files("br", "t")]
    dataset = ds.dataset(
        paths,
        filesystem=gcs.fs,
        format="parquet",
        partitioning=ds.partitioning(folders, flavor="hive") if folders else None,
        partition_base_dir=f"{gcs.bucket}/lake/br/t",
    )
    return dataset.to_table(columns=columns).sort_by("id")


def duckdb_rows(gcs, files: list[str], hive: bool = False) -> list[tuple]:
    """The files as DuckDB reads them through gcsfs (as the DuckDB warehouse does)."""
    with duckdb.connect() as con:
        con.register_filesystem(gcs.fs)
        listed = "[" + ", ".join(f"'{f}'" for f in files) + "]"
        return con.execute(
            "SELECT id, cidade, valor, ativo, dia FROM "
            f"read_parquet({listed}, hive_partitioning = {str(hive).lower()}) ORDER BY id"
        ).fetchall()


def as_rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(table.column(name).to_pylist() for name in table.column_names), strict=True))


def objects(gcs, path: str) -> list[str]:
    return sorted(gcs.fs.find(f"{gcs.bucket}/{path}"))


COLUMNS = ["id", "cidade", "valor", "ativo", "dia"]


def test_unpartitioned_write_and_overwrite_read_back(gcs):
    source = make_table(5_000)
    lake = Lake(gcs.url("lake"))
    staged = write(lake, source, "run-1", rows_per_group=1_000)
    assert staged.rows == 5_000
    assert staged.files == (gcs.url("lake/_staging/run-1/br/t/run-1-0.parquet"),)
    assert staged.bytes == gcs.fs.size(staged.files[0])
    assert duckdb_rows(gcs, list(staged.files)) == as_rows(source)  # what the warehouse loads

    assert lake.publish(staged, "overwrite") == gcs.url("lake/br/t")
    assert lake.files("br", "t") == [gcs.url("lake/br/t/run-1-0.parquet")]
    assert read_back(gcs, lake, COLUMNS).equals(source)
    assert duckdb_rows(gcs, lake.files("br", "t")) == as_rows(source)
    assert objects(gcs, f"lake/{STAGING_FOLDER}") == []
    assert objects(gcs, f"lake/{TRASH_FOLDER}") == []


def test_partitioned_by_date_writes_hive_folders(gcs):
    source = make_table(3_000)
    lake = Lake(gcs.url("lake"))
    staged = write(lake, source, "run-1", partition_columns=["dia"])
    lake.publish(staged, "overwrite")

    files = lake.files("br", "t")
    assert len(files) == 8  # one per day
    first_day = "lake/br/t/ano_particao=2024/mes_particao=01/data_particao=2024-01-30"
    assert gcs.url(f"{first_day}/run-1-0.parquet") in files
    assert read_back(gcs, lake, COLUMNS).equals(source)
    assert duckdb_rows(gcs, files, hive=True) == as_rows(source)
    with duckdb.connect() as con:
        con.register_filesystem(gcs.fs)
        listed = "[" + ", ".join(f"'{f}'" for f in files) + "]"
        per_month = con.execute(
            f"SELECT mes_particao, count(*) FROM read_parquet({listed}, hive_partitioning = true) "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert per_month == [("01", 750), ("02", 2_250)]  # 375 rows a day


def test_append_adds_runs_and_a_retried_run_does_not_duplicate(gcs):
    lake = Lake(gcs.url("lake"))
    first, second = make_table(1_000), make_table(500, first_id=1_000)
    lake.publish(write(lake, first, "run-1", partition_columns=["cidade"]), "append")
    lake.publish(write(lake, second, "run-2", partition_columns=["cidade"]), "append")
    both = pa.concat_tables([first, second])
    city = pa.schema([("cidade", pa.string())])
    assert read_back(gcs, lake, COLUMNS, city).equals(both)

    # the whole run again (write + publish), and its publish task again on its own
    retried = write(lake, second, "run-2", partition_columns=["cidade"])
    lake.publish(retried, "append")
    lake.publish(retried, "append")
    assert read_back(gcs, lake, COLUMNS, city).equals(both)
    assert {Path(f).name for f in lake.files("br", "t")} == {"run-1-0.parquet", "run-2-0.parquet"}
    folders = {f.rsplit("/", 2)[1] for f in lake.files("br", "t")}
    assert folders == {  # pyarrow's Hive folders: values URI-encoded, null as Hive's default
        "cidade=Rio%20de%20Janeiro",
        "cidade=Niter%C3%B3i",
        "cidade=S%C3%A3o%20Gon%C3%A7alo",
        "cidade=__HIVE_DEFAULT_PARTITION__",
    }
    assert duckdb_rows(gcs, lake.files("br", "t"), hive=True) == as_rows(both)


def test_overwrite_replaces_every_previous_file(gcs):
    lake = Lake(gcs.url("lake"))
    lake.publish(write(lake, make_table(2_000), "run-1", partition_columns=["dia"]), "overwrite")
    newer = make_table(300, first_id=10_000, days=3)  # fewer days: old partitions must go
    lake.publish(write(lake, newer, "run-2", partition_columns=["dia"]), "overwrite")

    assert read_back(gcs, lake, COLUMNS).equals(newer)
    assert len(lake.files("br", "t")) == 3
    assert all("/run-2-" in f for f in lake.files("br", "t"))
    assert objects(gcs, f"lake/{STAGING_FOLDER}") == []
    assert objects(gcs, f"lake/{TRASH_FOLDER}") == []


def test_failed_overwrite_keeps_the_previous_files_and_the_retry_replaces_them(gcs, monkeypatch):
    lake = Lake(gcs.url("lake"))
    older = make_table(2_000)
    lake.publish(write(lake, older, "run-1", partition_columns=["dia"]), "overwrite")
    before = {path: gcs.fs.cat_file(path) for path in objects(gcs, "lake/br/t")}
    newer = make_table(900, first_id=5_000, days=12)
    staged = write(lake, newer, "run-2", partition_columns=["dia"])

    copy = lake.fs._cp_file  # pylint: disable=protected-access
    calls, copied = [], []

    async def fail_after_some(path1, path2, **kwargs):
        """Copies into the table folder fail after the 4th (anywhere else they work)."""
        into_table = path2.startswith(f"{gcs.bucket}/lake/br/t/")
        if into_table:
            calls.append(path2)
            if len(calls) > 4:
                raise OSError("injected: connection reset during copy")
        await copy(path1, path2, **kwargs)
        if into_table:
            copied.append(path2)

    monkeypatch.setattr(lake.fs, "_cp_file", fail_after_some)
    with pytest.raises(OSError, match="injected"):
        lake.publish(staged, "overwrite")
    assert {path: gcs.fs.cat_file(path) for path in objects(gcs, "lake/br/t")} == before
    assert (len(calls), len(copied)) == (12, 4)  # 4 new files were in place when it failed
    assert read_back(gcs, lake, COLUMNS).equals(older)
    assert len(objects(gcs, f"lake/{STAGING_FOLDER}/run-2")) == 12  # kept for the retry

    monkeypatch.setattr(lake.fs, "_cp_file", copy)
    lake.publish(staged, "overwrite")
    assert read_back(gcs, lake, COLUMNS).equals(newer)
    assert len(lake.files("br", "t")) == 12
    assert objects(gcs, f"lake/{STAGING_FOLDER}") == []


def test_failure_after_the_copy_is_repaired_by_the_retry(gcs, monkeypatch):
    """The new files are all in place but deleting the previous ones fails: the retry finishes
    the job (same file names, so no duplicates)."""
    lake = Lake(gcs.url("lake"))
    lake.publish(write(lake, make_table(1_000), "run-1", partition_columns=["dia"]), "overwrite")
    newer = make_table(400, first_id=5_000, days=3)
    staged = write(lake, newer, "run-2", partition_columns=["dia"])

    remove = lake.fs.rm

    def fail_once(*_args, **_kwargs):
        monkeypatch.setattr(lake.fs, "rm", remove)
        raise OSError("injected: delete failed")

    monkeypatch.setattr(lake.fs, "rm", fail_once)
    with pytest.raises(OSError, match="injected"):
        lake.publish(staged, "overwrite")
    assert len(lake.files("br", "t")) == 8 + 3  # both versions, until the retry

    lake.publish(staged, "overwrite")
    assert read_back(gcs, lake, COLUMNS).equals(newer)
    assert len(lake.files("br", "t")) == 3


def test_failed_first_overwrite_leaves_no_table(gcs, monkeypatch):
    lake = Lake(gcs.url("lake"))
    staged = write(lake, make_table(500), "run-1", partition_columns=["dia"])

    async def fail(*_args, **_kwargs):
        raise OSError("injected")

    monkeypatch.setattr(lake.fs, "_cp_file", fail)
    with pytest.raises(OSError, match="injected"):
        lake.publish(staged, "overwrite")
    assert lake.files("br", "t") == []


def test_empty_run_publishes_an_empty_file(gcs):
    lake = Lake(gcs.url("lake"))
    empty = make_table(0)
    staged = write(lake, empty, "run-1", partition_columns=["dia"])
    assert staged.rows == 0
    lake.publish(staged, "overwrite")
    assert lake.files("br", "t") == [gcs.url("lake/br/t/run-1-0.parquet")]
    assert read_back(gcs, lake, COLUMNS).num_rows == 0


@pytest.fixture
def gcs_storage(gcs, monkeypatch):
    """PIPELINES_STORAGE_URL on the emulator's bucket."""
    monkeypatch.setenv("PIPELINES_STORAGE_URL", gcs.url("storage"))
    get_settings.cache_clear()
    try:
        yield gcs
    finally:
        get_settings.cache_clear()


def test_environment_lake_on_gcs(gcs_storage):
    lake = Lake(Environment("staging").lake_url)
    source = make_table(100)
    lake.publish(write(lake, source, "run-1"), "overwrite")
    assert lake.files("br", "t") == [gcs_storage.url("storage/lake/staging/br/t/run-1-0.parquet")]


def test_registration_uploads_the_code_closure_once(gcs_storage, monkeypatch):
    spec = _spec()
    fingerprint = spec.fingerprint()
    code = upload_code(spec, fingerprint)
    assert code == gcs_storage.url(f"storage/code/staging/{fingerprint}")

    files = closure_files(spec.info.module)
    root = code.removeprefix("gs://")
    stored = {path[len(root) + 1 :] for path in gcs_storage.fs.find(root)}
    assert stored == {str(path) for path in files} | {".complete"}
    for relative in files:
        assert gcs_storage.fs.cat_file(f"{root}/{relative}") == (REPO_ROOT / relative).read_bytes()

    # stored once per fingerprint: a second registration uploads nothing
    monkeypatch.setattr(gcs_storage.fs, "put_file", None)
    assert upload_code(spec, fingerprint) == code


@pytest.mark.usefixtures("gcs_storage")
def test_a_worker_pulls_the_uploaded_code_and_imports_the_flow(tmp_path, monkeypatch):
    spec = _spec()
    code = upload_code(spec, spec.fingerprint())

    # the pull step registration gives the deployment, run as a worker runs it
    steps, env = code_location(code)
    assert not env
    [(step, arguments)] = steps[0].items()
    assert step == "prefect.deployments.steps.pull_from_remote_storage"
    monkeypatch.chdir(tmp_path)
    pulled = tmp_path / asyncio.run(pull_from_remote_storage(**arguments))["directory"]
    for relative in closure_files(spec.info.module):
        assert (pulled / relative).read_bytes() == (REPO_ROOT / relative).read_bytes()
    check = subprocess.run(
        [sys.executable, "-c", f"import {spec.info.module}, pipelines; print(pipelines.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(pulled)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == str(pulled / "pipelines" / "__init__.py")


def _spec() -> DeploymentSpec:
    """The dump_url flow's deployment in staging (code storage from PIPELINES_STORAGE_URL)."""
    return DeploymentSpec(
        FlowInfo(dump_url, "pipelines.utils.dump_url.flows", "dump_url"), Environment("staging")
    )


def stage_for_bigquery(gcs, folder: Path, table: pa.Table, monkeypatch) -> tuple[tuple, list]:
    """A local lake's run, and the gs:// URIs the BigQuery adapter uploads it to for its load
    job (byte for byte, then deleted once the job is done)."""
    from pipelines.framework.storage.warehouse.bigquery import _on_gcs

    lake = Lake(str(folder / "lake"))
    staged = write(lake, table, "run-1", partition_columns=["dia"])
    monkeypatch.setenv("PIPELINES_GCS_STAGING_URL", gcs.url("bq-staging"))
    get_settings.cache_clear()
    try:
        keys = list(staged.partitioning.hive_types)
        with _on_gcs(staged.files, "run-1/br/t", keys) as uris:
            for local, uri in zip(staged.files, uris, strict=True):
                assert gcs.fs.cat_file(uri) == Path(local).read_bytes()
            with _on_gcs(uris, "run-1/br/t", keys) as in_place:
                assert in_place == uris  # files on gs:// are loaded in place
    finally:
        get_settings.cache_clear()
    gcs.fs.invalidate_cache()
    assert gcs.fs.find(gcs.url("bq-staging")) == []  # deleted after the load job
    return staged.files, uris


def test_bigquery_staging_uploads_a_local_lake_run_with_its_hive_folders(
    gcs, tmp_path, monkeypatch
):
    across_years = make_table(1_000, start=dt.date(2023, 12, 30), days=4)
    _, uris = stage_for_bigquery(gcs, tmp_path, across_years, monkeypatch)
    assert uris[0] == gcs.url(
        "bq-staging/run-1/br/t/ano_particao=2023/mes_particao=12/data_particao=2023-12-30/"
        "run-1-0.parquet"
    )


def test_bigquery_staging_keeps_the_hive_folders_of_a_run_within_one_year(
    gcs, tmp_path, monkeypatch
):
    _, uris = stage_for_bigquery(gcs, tmp_path, make_table(1_000, days=4), monkeypatch)
    assert uris[0] == gcs.url(
        "bq-staging/run-1/br/t/ano_particao=2024/mes_particao=01/data_particao=2024-01-30/"
        "run-1-0.parquet"
    )
