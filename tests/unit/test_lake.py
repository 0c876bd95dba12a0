"""The lake's Parquet files on a local folder, and which filesystems are local."""

import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.framework.storage import is_local_filesystem, lake
from pipelines.framework.storage.lake import Lake


def test_wide_rows_end_their_row_groups_by_size_not_by_count(tmp_path):
    """Rows of ~1 KB: a group of 64k rows would hold ~64 MB in memory; 8 MB ends it at 8000 rows."""
    text = "ç" * 500
    batches = [
        pa.record_batch(
            {"id": pa.array(range(i * 1000, (i + 1) * 1000), pa.int64()), "texto": [text] * 1000}
        )
        for i in range(40)
    ]
    staged = Lake(str(tmp_path)).write(
        batches, batches[0].schema, run_id="r1", dataset_id="d", table_id="t", group_bytes=8_000_000
    )

    parquet = pq.ParquetFile(staged.files[0])
    groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert groups == [8000] * 5
    assert parquet.read().equals(pa.Table.from_batches(batches))


def test_a_run_past_the_rows_of_a_file_goes_on_in_a_new_one(tmp_path, monkeypatch):
    monkeypatch.setattr(lake, "_ROWS_PER_FILE", 25)
    batches = [
        pa.record_batch({"id": pa.array(range(i, i + 10), pa.int64())}) for i in range(0, 100, 10)
    ]

    staged = Lake(str(tmp_path)).write(
        batches, batches[0].schema, run_id="r1", dataset_id="d", table_id="t", rows_per_group=10
    )

    assert [Path(f).name for f in staged.files] == [f"r1-{n}.parquet" for n in range(4)]
    assert [pq.ParquetFile(f).metadata.num_rows for f in staged.files] == [30, 30, 30, 10]
    assert pa.concat_tables(pq.read_table(f) for f in staged.files).equals(
        pa.Table.from_batches(batches)
    )
    assert staged.rows == 100


ALLOCATOR = """
import os, sys
import pyarrow as pa
before = pa.default_memory_pool().backend_name
from pipelines.framework.storage.lake import Lake
imported = pa.default_memory_pool().backend_name
batch = pa.record_batch({"id": pa.array([1, 2, 3])})
Lake(sys.argv[1]).write([batch], batch.schema, run_id="r1", dataset_id="d", table_id="t")
print(before, imported, pa.default_memory_pool().backend_name)
"""


@pytest.mark.parametrize(("chosen", "writing"), [(None, "jemalloc"), ("system", "system")])
def test_the_allocator_changes_when_a_dump_writes_not_on_import(tmp_path, chosen, writing):
    """jemalloc returns freed memory to the system (BENCHMARKS.md); importing the lake leaves the
    process's allocator alone, and `ARROW_DEFAULT_MEMORY_POOL` keeps the one it chose."""
    if writing == "jemalloc" and not _has_jemalloc():
        pytest.skip("this pyarrow is built without jemalloc")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    result = subprocess.run(
        [sys.executable, "-c", ALLOCATOR, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    before, imported, after = result.stdout.split()

    assert imported == before
    assert after == writing


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.parametrize(
    ("fs", "local"),
    [
        (fsspec.filesystem("file"), True),
        (fsspec.filesystem("memory"), False),
        (SimpleNamespace(protocol=("gs", "gcs")), False),
        (SimpleNamespace(protocol="s3"), False),
        (SimpleNamespace(protocol="local"), True),
    ],
)
def test_a_local_filesystem_is_told_by_its_protocols(fs, local):
    assert is_local_filesystem(fs) is local


def _ids(start: int, stop: int) -> list[pa.RecordBatch]:
    return [pa.record_batch({"id": pa.array(range(start, stop), pa.int64())})]


def test_parts_written_at_once_keep_each_others_files_and_combine_into_one_table(tmp_path):
    """Slices of one table staged by writers in parallel: none clears another's files, a retried
    part replaces only its own, and an empty part's file goes when the others have rows."""
    store = Lake(str(tmp_path))
    schema = pa.schema([("id", pa.int64())])
    slices = [(0, 300), (300, 600), (600, 600), (600, 1000)]
    parts: dict[int, object] = {}
    barrier = threading.Barrier(len(slices))

    def write(index: int) -> None:
        barrier.wait()  # every writer enters `write` at the same instant
        low, high = slices[index]
        parts[index] = store.write(
            _ids(low, high), schema, run_id="r1", dataset_id="d", table_id="t", part=f"s{index}"
        )

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(slices))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    retried = store.write(
        _ids(0, 300), schema, run_id="r1", dataset_id="d", table_id="t", part="s0"
    )
    combined = store.combine([retried, parts[1], parts[2], parts[3]])

    assert combined.rows == 1000
    assert [Path(f).name for f in combined.files] == [
        "r1-s0-0.parquet",
        "r1-s1-0.parquet",
        "r1-s3-0.parquet",
    ]
    on_disk = sorted(p.name for p in Path(combined.url).iterdir())
    assert on_disk == [Path(f).name for f in combined.files]  # the empty part's file is gone
    ids = pa.concat_tables(pq.read_table(f) for f in combined.files)["id"].to_pylist()
    assert sorted(ids) == list(range(1000))


def test_parts_that_all_read_nothing_leave_one_empty_file(tmp_path):
    store = Lake(str(tmp_path))
    schema = pa.schema([("id", pa.int64())])
    parts = [
        store.write([], schema, run_id="r1", dataset_id="d", table_id="t", part=f"s{i}")
        for i in range(3)
    ]
    combined = store.combine(parts)
    assert (combined.rows, [Path(f).name for f in combined.files]) == (0, ["r1-s0-0.parquet"])
    assert sorted(p.name for p in Path(combined.url).iterdir()) == ["r1-s0-0.parquet"]


def test_discarding_one_table_of_a_run_keeps_a_sibling_that_is_staging(tmp_path):
    """Tables of one run (dump_tables): one's cleanup never takes the folder another just made,
    and the retention sweep leaves a run whose folders have no file yet."""
    store = Lake(str(tmp_path))
    schema = pa.schema([("id", pa.int64())])
    store.write(_ids(0, 10), schema, run_id="r1", dataset_id="d", table_id="a")
    sibling = Path(store.staging_url("r1", "d", "b"))
    sibling.mkdir(parents=True)  # `b` is about to write its first file

    store.discard_table("r1", "d", "a")
    assert sibling.is_dir()
    assert store.sweep_staging(older_than_seconds=3600) == []
    assert sibling.is_dir()

    sibling.rmdir()
    store.discard_table("r1", "d", "b")
    assert not (tmp_path / "_staging" / "r1").exists()


def test_the_retention_sweep_ignores_files_their_run_removes_while_it_looks(tmp_path):
    """Each table of a `dump_tables` run sweeps abandoned staging when it starts, while the
    run's other tables stage and clean up: a file listed, then removed by its writer before the
    sweep reads its time, failed the table (FileNotFoundError) in a 20-table run."""
    store = Lake(str(tmp_path))
    schema = pa.schema([("id", pa.int64())])
    staged = store.write(_ids(0, 10), schema, run_id="r1", dataset_id="d", table_id="a")
    modified = store.fs.modified

    def removed_first(path):
        store.discard_table("r1", "d", "a")  # its writer finished meanwhile
        return modified(path)

    store.fs.modified = removed_first
    assert store.sweep_staging(older_than_seconds=3600) == []
    assert not any(Path(f).exists() for f in staged.files)


def test_the_retention_sweep_removes_an_abandoned_run_once_when_another_sweep_went_first(
    tmp_path,
):
    store = Lake(str(tmp_path))
    schema = pa.schema([("id", pa.int64())])
    store.write(_ids(0, 10), schema, run_id="old", dataset_id="d", table_id="a")
    rm = store.fs.rm

    def removed_by_another_sweep(path, recursive=False):
        rm(path, recursive=recursive)  # the other table's sweep
        return rm(path, recursive=recursive)

    store.fs.rm = removed_by_another_sweep
    assert store.sweep_staging(older_than_seconds=-1) == []
    assert not (tmp_path / "_staging" / "old").exists()
