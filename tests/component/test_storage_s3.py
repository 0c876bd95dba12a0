# ruff: noqa: F811  (pytest fixtures are imported by name)
# pylint: disable=redefined-outer-name,unused-import
"""The lake and the code storage on `s3://` (the `s3` extra: s3fs), against a moto server started
on a loopback port, reached only through `PIPELINES_S3_ENDPOINT_URL`."""

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.framework.config.environments import Environment
from pipelines.framework.config.settings import REPO_ROOT
from pipelines.framework.deploy.code_closure import closure_files
from pipelines.framework.deploy.discovery import FlowInfo
from pipelines.framework.deploy.registration import DeploymentSpec, code_location, upload_code
from pipelines.framework.storage import storage_options
from pipelines.framework.storage.lake import STAGING_FOLDER, TRASH_FOLDER, Lake, StagedTable
from pipelines.framework.storage.warehouse.duckdb import _register_filesystems, _staged_bytes
from pipelines.utils.dump_url.flows import dump_url
from tests.component.test_lake_gcs import COLUMNS, as_rows, make_table
from tests.support.s3 import CREDENTIALS, moto_server, s3  # noqa: F401

pytestmark = pytest.mark.component


def write(lake: Lake, table: pa.Table, run_id: str, **kwargs) -> StagedTable:
    return lake.write(
        table.to_batches(max_chunksize=700),
        table.schema,
        run_id=run_id,
        dataset_id="br",
        table_id="t",
        **kwargs,
    )


def read_files(s3, files: list[str]) -> pa.Table:
    """The files as a reader outside the platform reads them (its own s3fs, no caches)."""
    tables = [pq.read_table(f.removeprefix("s3://"), filesystem=s3.fs) for f in files]
    return pa.concat_tables(t.select(COLUMNS) for t in tables).sort_by("id")


def objects(s3, path: str) -> list[str]:
    return sorted(s3.fs.find(f"{s3.bucket}/{path}"))


def test_the_endpoint_setting_is_given_to_s3_urls_only(s3):
    assert storage_options(s3.url("lake")) == {"endpoint_url": s3.endpoint}
    assert storage_options("gs://bucket/lake") == {}
    assert storage_options("/srv/lake") == {}


def test_overwrite_replaces_the_table_and_duckdb_reads_it(s3):
    lake = Lake(s3.url("lake"))
    older = make_table(2_000)
    lake.publish(write(lake, older, "run-1", partition_columns=["dia"]), "overwrite")
    assert read_files(s3, lake.files("br", "t")).equals(older)

    newer = make_table(300, first_id=10_000, days=3)  # fewer days: old partitions must go
    staged = write(lake, newer, "run-2", partition_columns=["dia"])
    assert _staged_bytes(staged.files) == staged.bytes
    with duckdb.connect() as con:  # the DuckDB warehouse's way to read staged s3:// files
        _register_filesystems(con, staged.files)
        listed = "[" + ", ".join(f"'{f}'" for f in staged.files) + "]"
        loaded = con.execute(
            f"SELECT {', '.join(COLUMNS)} FROM read_parquet({listed}) ORDER BY id"
        ).fetchall()
    assert loaded == as_rows(newer)

    assert lake.publish(staged, "overwrite") == s3.url("lake/br/t")
    files = lake.files("br", "t")
    assert len(files) == 3 and all("/run-2-" in f for f in files)
    assert read_files(s3, files).equals(newer)
    assert objects(s3, f"lake/{STAGING_FOLDER}") == []
    assert objects(s3, f"lake/{TRASH_FOLDER}") == []


def test_append_adds_runs_and_a_retried_run_does_not_duplicate(s3):
    lake = Lake(s3.url("lake"))
    first, second = make_table(1_000), make_table(500, first_id=1_000)
    lake.publish(write(lake, first, "run-1"), "append")
    lake.publish(write(lake, second, "run-2"), "append")
    retried = write(lake, second, "run-2")  # the whole run again, then its publish again
    lake.publish(retried, "append")
    lake.publish(retried, "append")
    assert [Path(f).name for f in lake.files("br", "t")] == ["run-1-0.parquet", "run-2-0.parquet"]
    assert read_files(s3, lake.files("br", "t")).equals(pa.concat_tables([first, second]))


def test_a_reader_during_an_overwrite_always_finds_a_whole_version(s3, monkeypatch):
    """Object storage has no folder rename: the overwrite copies the new files in beside the old
    ones, then deletes the old ones. A reader that lists the folder meanwhile finds the whole old
    version or the whole new one, with part or all of the other (never a table missing rows);
    a file it listed may be gone when it reads it (it lists again). The overwrite is held in
    the middle of its copy and before its delete until the reader has looked three times."""
    lake = Lake(s3.url("lake"))
    older = make_table(3_000, days=20)
    newer = make_table(3_000, first_id=100_000, days=20)
    lake.publish(write(lake, older, "run-1", partition_columns=["dia"]), "overwrite")
    staged = write(lake, newer, "run-2", partition_columns=["dia"])
    old_ids, new_ids = set(older["id"].to_pylist()), set(newer["id"].to_pylist())
    seen: list[str] = []
    done = threading.Event()

    def look() -> str:
        listed = [f.removeprefix("s3://") for f in s3.fs.find(f"{s3.bucket}/lake/br/t")]
        try:
            ids = set(read_files(s3, listed)["id"].to_pylist())
        except FileNotFoundError:
            return "vanished"
        if ids in (old_ids, new_ids):
            return "old" if ids == old_ids else "new"
        if old_ids <= ids and new_ids <= ids:
            return "both"
        return "old+part" if old_ids <= ids else "new+part" if new_ids <= ids else "PARTIAL"

    def reader() -> None:
        while not done.is_set():
            seen.append(look())

    def wait_for_looks(count: int = 3) -> None:
        target = len(seen) + count
        while len(seen) < target and thread.is_alive():
            threading.Event().wait(0.02)

    copy, remove = lake.fs._cp_file, lake.fs.rm  # pylint: disable=protected-access
    started, copied, leader, release = [], [], threading.Lock(), threading.Event()

    def hold() -> None:
        """The first held copy waits for the reader's looks; the others, for it."""
        if leader.acquire(blocking=False):
            while len(copied) < 10 and thread.is_alive():
                threading.Event().wait(0.02)
            wait_for_looks()
            release.set()
        release.wait(120)

    async def copy_holding_halfway(path1, path2, **kwargs):
        started.append(path2)
        if len(started) > 10:  # of 20 files: the other half waits
            await asyncio.to_thread(hold)
        await copy(path1, path2, **kwargs)
        copied.append(path2)

    def remove_after_looks(*args, **kwargs):
        wait_for_looks()
        return remove(*args, **kwargs)

    monkeypatch.setattr(lake.fs, "_cp_file", copy_holding_halfway)
    monkeypatch.setattr(lake.fs, "rm", remove_after_looks)
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        lake.publish(staged, "overwrite")
    finally:
        done.set()
        thread.join(timeout=120)
    assert not [s for s in seen if s == "PARTIAL"], seen
    assert {"old+part", "both"} <= set(seen), seen  # held mid-copy, then before the delete
    assert look() == "new"


def test_environment_code_and_lake_urls_on_s3(s3, monkeypatch):
    monkeypatch.setenv("PIPELINES_STORAGE_URL", s3.url("storage"))
    from pipelines.framework.config.settings import get_settings

    get_settings.cache_clear()
    lake = Lake(Environment("staging").lake_url)
    lake.publish(write(lake, make_table(100), "run-1"), "overwrite")
    assert lake.files("br", "t") == [s3.url("storage/lake/staging/br/t/run-1-0.parquet")]
    assert Environment("staging").code_url == s3.url("storage/code/staging")


def test_registration_uploads_the_code_once_and_a_worker_pulls_and_imports_it(
    s3, tmp_path, monkeypatch
):
    monkeypatch.setenv("PIPELINES_STORAGE_URL", s3.url("storage"))
    from pipelines.framework.config.settings import get_settings

    get_settings.cache_clear()
    spec = DeploymentSpec(
        FlowInfo(dump_url, "pipelines.utils.dump_url.flows", "dump_url"), Environment("staging")
    )
    fingerprint = spec.fingerprint()
    code = upload_code(spec, fingerprint)
    assert code == s3.url(f"storage/code/staging/{fingerprint}")
    files = closure_files(spec.info.module)
    root = code.removeprefix("s3://")
    assert {p[len(root) + 1 :] for p in s3.fs.find(root)} == {str(p) for p in files} | {".complete"}
    monkeypatch.setattr("pipelines.framework.deploy.registration.closure_files", None)
    assert upload_code(spec, fingerprint) == code  # stored once: nothing is listed again

    # The pull step as a worker's flow-run process runs it: a fresh process with only the AWS
    # credentials, none of the platform's settings (the step runs before the flow's code).
    steps, env = code_location(code)
    assert not env
    [(step, arguments)] = steps[0].items()
    assert step == "prefect.deployments.steps.pull_from_remote_storage"
    assert arguments == {"url": code, "endpoint_url": s3.endpoint}
    bare = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINES_")}
    pull = (
        "import asyncio, json, sys\n"
        "from prefect.deployments.steps.pull import pull_from_remote_storage\n"
        "print(asyncio.run(pull_from_remote_storage(**json.loads(sys.argv[1])))['directory'])\n"
    )
    pulled = subprocess.run(
        [sys.executable, "-c", pull, json.dumps(arguments)],
        cwd=tmp_path,
        env={**bare, **CREDENTIALS},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert pulled.returncode == 0, pulled.stderr
    folder = tmp_path / pulled.stdout.strip().splitlines()[-1]
    for relative in files:
        assert (folder / relative).read_bytes() == (REPO_ROOT / relative).read_bytes()
    check = subprocess.run(
        [sys.executable, "-c", f"import {spec.info.module}, pipelines; print(pipelines.__file__)"],
        cwd=tmp_path,
        env={**bare, "PYTHONPATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == str(folder / "pipelines" / "__init__.py")
