"""The DuckDB warehouse: atomic loads, idempotent retries, and many writers at once."""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.framework.lake import Lake
from pipelines.framework.warehouse import LoadRequest, LoadVerificationError, SchemaDriftError
from pipelines.framework.warehouse.duckdb import DuckDBWarehouse, WarehouseBusyError, connect

pytestmark = pytest.mark.component

LOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipelines.framework.warehouse import LoadRequest
    from pipelines.framework.warehouse.duckdb import DuckDBWarehouse
    path, table, run_id, file, rows = sys.argv[1:6]
    result = DuckDBWarehouse(Path(path)).load(LoadRequest(
        dataset_id="br", table_id=table, files=[file], mode="append", run_id=run_id,
        expected_rows=int(rows)))
    print(result.rows_loaded)
    """
)


def _parquet(folder: Path, name: str, ids: range, extra: dict | None = None) -> str:
    path = folder / f"{name}.parquet"
    pq.write_table(pa.table({"id": list(ids), **(extra or {})}), path)
    return str(path)


def _request(file: str, rows: int, run_id: str, mode: str = "append", **kwargs) -> LoadRequest:
    return LoadRequest("br", "t", [file], mode, run_id, rows, **kwargs)


def test_parallel_processes_all_load_without_lock_errors(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    files = [_parquet(tmp_path, f"p{i}", range(i * 1000, (i + 1) * 1000)) for i in range(6)]
    holder = subprocess.Popen(  # another program holding DuckDB's own lock for a while
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(warehouse)!r}); "
            "time.sleep(2); c.close()",
        ]
    )
    time.sleep(0.5)
    loaders = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                LOADER,
                str(warehouse),
                "t" if i % 2 else "u",
                f"run{i}",
                file,
                "1000",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, file in enumerate(files)
    ]
    outputs = [loader.communicate(timeout=300) for loader in loaders]
    holder.wait(timeout=60)
    assert [loader.returncode for loader in loaders] == [0] * 6, outputs
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM br.t").fetchone() == (
            3000,
            3000,
        )
        assert con.execute("SELECT count(*) FROM br.u").fetchone() == (3000,)


def test_a_file_held_past_the_timeout_is_busy_which_the_load_task_retries(tmp_path):
    """dbt holding the file longer than the wait is a WarehouseBusyError (retried by the load
    task), not DuckDB's lock error (which failed the run at once)."""
    warehouse = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(warehouse)!r}); "
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusyError, match="ocupado por outro programa"):
            connect(warehouse, timeout=0.5)
    finally:
        holder.kill()
        holder.wait()


def test_a_retry_of_the_same_run_never_duplicates(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    file = _parquet(tmp_path, "a", range(10))
    state = {"column": "id", "value": "9", "type": "int64", "boundary": ["5e1f", "77aa"]}
    first = warehouse.load(_request(file, 10, "run-1", state=state))
    again = warehouse.load(_request(file, 10, "run-1", state=state))
    assert (first.rows_loaded, first.already_loaded) == (10, False)
    assert (again.rows_loaded, again.already_loaded, again.table_rows) == (10, True, 10)
    assert warehouse.count_rows("br", "t") == 10
    assert warehouse.read_state("br", "t") == state


def test_a_failed_load_leaves_table_and_state_as_they_were(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    warehouse.load(
        _request(_parquet(tmp_path, "a", range(5)), 5, "r1", state={"column": "id", "value": "4"})
    )
    with pytest.raises(LoadVerificationError):
        warehouse.load(
            _request(
                _parquet(tmp_path, "b", range(5, 10)),
                99,
                "r2",
                state={"column": "id", "value": "9"},
            )
        )
    retyped = _parquet(tmp_path, "c", range(3), {"v": ["x", "y", "z"]})
    pq.write_table(pa.table({"id": ["a", "b"]}), tmp_path / "d.parquet")
    with pytest.raises(SchemaDriftError, match="id"):
        warehouse.load(_request(str(tmp_path / "d.parquet"), 2, "r3", mode="overwrite"))
    assert warehouse.count_rows("br", "t") == 5
    assert warehouse.read_state("br", "t")["value"] == "4"
    added = warehouse.load(_request(retyped, 3, "r4"))
    assert added.added_columns == ("v",) and added.table_rows == 8


def test_text_partition_values_round_trip_through_the_lake_folders(tmp_path):
    """Hive folders %-encode what a path cannot hold and name NULL __HIVE_DEFAULT_PARTITION__:
    the warehouse and readers of the lake get every value back as it was."""
    values = ["São Paulo", "a/b", None, "x=y%z", "", "Rio de Janeiro"]
    table = pa.table({"id": list(range(len(values))), "cidade": values})
    lake = Lake(str(tmp_path / "lake"))
    staged = lake.write(
        table.to_batches(),
        table.schema,
        run_id="r1",
        dataset_id="br",
        table_id="t",
        partition_columns=["cidade"],
    )
    folders = {Path(f).parent.name for f in staged.files}
    assert {"cidade=a%2Fb", "cidade=__HIVE_DEFAULT_PARTITION__"} <= folders
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    warehouse.load(
        LoadRequest(
            "br",
            "t",
            list(staged.files),
            "overwrite",
            "r1",
            staged.rows,
            hive_types=staged.partitioning.hive_types,
        )
    )
    lake.publish(staged, "overwrite")

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert con.execute("SELECT id, cidade FROM br.t ORDER BY id").fetchall() == list(
            enumerate(values)
        )
    read_back = pq.read_table(lake.files("br", "t")).to_pylist()
    assert sorted((row["id"], row["cidade"]) for row in read_back) == list(enumerate(values))
