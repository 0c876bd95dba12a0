"""The DuckDB warehouse: atomic loads, idempotent retries, and many writers at once."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.framework.storage.lake import Lake
from pipelines.framework.storage.warehouse import (
    LoadRequest,
    LoadVerificationError,
    SchemaDriftError,
    ShrinkError,
    StateMovedError,
    TableBusyError,
    WarehouseBusyError,
)
from pipelines.framework.storage.warehouse.duckdb import DuckDBWarehouse, connect, warehouse_lock

pytestmark = pytest.mark.component

LOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipelines.framework.storage.warehouse import LoadRequest
    from pipelines.framework.storage.warehouse.duckdb import DuckDBWarehouse
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


def test_a_step_holding_the_writer_slot_keeps_loads_waiting(tmp_path):
    """A dbt build holds the warehouse's writer slot, the one every load and state read takes:
    the load waits for it, and past its wait it is busy, which the load task retries."""
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    file = _parquet(tmp_path, "a", range(10))
    with (
        warehouse.writer_slot(),
        pytest.raises(WarehouseBusyError, match="ocupado"),
        warehouse_lock(warehouse.path, timeout=0.3),
    ):
        pass
    assert warehouse.load(_request(file, 10, "run-1")).rows_loaded == 10


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
                read_state=warehouse.read_state("br", "t"),
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


def test_a_run_whose_watermark_another_run_moved_loads_nothing(tmp_path):
    """Two incremental runs that both read the watermark: the second to commit would append
    the same rows again; the saved state no longer being the one it read stops it."""
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    first = {"column": "id", "value": "4", "type": "int64", "boundary": None}
    warehouse.load(_request(_parquet(tmp_path, "a", range(5)), 5, "r1", state=first))
    read_by_both = warehouse.read_state("br", "t")
    newer = {**first, "value": "9"}
    rows = _parquet(tmp_path, "b", range(5, 10))
    warehouse.load(_request(rows, 5, "r2", state=newer, read_state=read_by_both))

    with pytest.raises(StateMovedError, match=r"lido: id = 4; salvo agora: id = 9") as moved:
        warehouse.load(_request(rows, 5, "r3", state=newer, read_state=read_by_both))
    assert "Nada foi gravado" in str(moved.value)
    assert warehouse.count_rows("br", "t") == 10
    assert warehouse.read_state("br", "t") == newer
    assert warehouse.committed_load("br", "t", "r3") is None


def test_a_first_incremental_load_refuses_when_another_run_saved_a_state_first(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    rows = _parquet(tmp_path, "a", range(5))
    state = {"column": "id", "value": "4", "type": "int64", "boundary": None}
    warehouse.load(_request(rows, 5, "r1", state=state))  # both read "no state yet"
    with pytest.raises(StateMovedError, match="lido: nenhum; salvo agora: id = 4"):
        warehouse.load(_request(rows, 5, "r2", state=state))
    assert warehouse.count_rows("br", "t") == 5


def test_an_overwrite_that_would_shrink_the_table_past_the_limit_keeps_it(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    warehouse.load(_request(_parquet(tmp_path, "a", range(100)), 100, "r1", "overwrite"))
    cut_short = _parquet(tmp_path, "b", range(40))
    with pytest.raises(ShrinkError, match="tem 40 linhas e a tabela tem 100") as shrink:
        warehouse.load(_request(cut_short, 40, "r2", "overwrite"))
    assert "allow_shrink=True" in str(shrink.value)
    assert warehouse.count_rows("br", "t") == 100

    empty = str(tmp_path / "empty.parquet")
    pq.write_table(pa.table({"id": pa.array([], pa.int64())}), empty)
    with pytest.raises(ShrinkError, match="tem 0 linhas e a tabela tem 100"):
        warehouse.load(_request(empty, 0, "r3", "overwrite"))
    assert warehouse.count_rows("br", "t") == 100

    within = warehouse.load(_request(_parquet(tmp_path, "c", range(95)), 95, "r4", "overwrite"))
    assert within.table_rows == 95  # 5% fewer: within the default (PIPELINES_MAX_SHRINK) 10%
    wider = _request(_parquet(tmp_path, "d", range(60)), 60, "r5", "overwrite", max_shrink=0.5)
    assert warehouse.load(wider).table_rows == 60
    allowed = warehouse.load(_request(empty, 0, "r6", "overwrite", allow_shrink=True))
    assert allowed.table_rows == 0 == warehouse.count_rows("br", "t")


def test_schema_change_replace_lets_an_overwrite_retype_and_drop_columns(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    before = {"v": ["a", "b", "c"], "gone": [1.5, 2.5, 3.5]}
    warehouse.load(_request(_parquet(tmp_path, "a", range(3), before), 3, "r1", "overwrite"))
    retyped = str(tmp_path / "b.parquet")
    pq.write_table(pa.table({"id": ["x", "y", "z"], "v": ["d", "e", "f"]}), retyped)

    with pytest.raises(SchemaDriftError, match="removidas: gone") as drift:
        warehouse.load(_request(retyped, 3, "r2", "overwrite"))
    assert 'schema_change="replace"' in str(drift.value)
    with pytest.raises(SchemaDriftError, match="removidas: gone") as drift:
        warehouse.load(_request(retyped, 3, "r3", schema_change="replace"))  # append: never
    assert "schema_change" not in str(drift.value)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT * FROM br.t ORDER BY id").fetchall() == [
            (0, "a", 1.5),
            (1, "b", 2.5),
            (2, "c", 3.5),
        ]

    result = warehouse.load(_request(retyped, 3, "r4", "overwrite", schema_change="replace"))
    assert result.table_rows == 3
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("DESCRIBE br.t").fetchall()[0][:2] == ("id", "VARCHAR")
        assert con.execute("SELECT * FROM br.t ORDER BY id").fetchall() == [
            ("x", "d"),
            ("y", "e"),
            ("z", "f"),
        ]


LEASE_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipelines.framework.storage.warehouse.duckdb import DuckDBWarehouse
    with DuckDBWarehouse(Path(sys.argv[1])).writer("br", "t", "run-a", wait=5):
        print("held", flush=True)
        time.sleep(120)
    """
)


def test_a_table_another_process_is_writing_is_busy_until_it_dies(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    command = [sys.executable, "-c", LEASE_HOLDER, str(warehouse.path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "held"
            started = time.monotonic()
            busy = r"\(run-a\) está gravando br\.t; esperei 1s"
            with pytest.raises(TableBusyError, match=busy), warehouse.writer("br", "t", "b", 1):
                pytest.fail("two writers of one table")
            assert 1 <= time.monotonic() - started < 3
            with warehouse.writer("br", "u", "run-b", wait=0):  # another table: free
                pass
        finally:
            holder.kill()  # dies holding it
    with warehouse.writer("br", "t", "run-b", wait=5):  # the kernel released the dead holder's
        pass


FULL_DISK = textwrap.dedent(
    """
    import json, shutil, sys
    from pathlib import Path
    from pipelines.framework.storage.warehouse import LoadRequest
    from pipelines.framework.storage.warehouse.duckdb import DuckDBWarehouse, WarehouseFullError
    disk, small, big, big_rows = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    warehouse = DuckDBWarehouse(disk / "w.duckdb")
    warehouse.load(LoadRequest("br", "t", [small], "append", "r1", 1000))
    filler = disk / "filler"  # what else filled the disk: 4 MiB stay free
    filler.write_bytes(bytes(shutil.disk_usage(disk).free - 4 * 2**20))
    try:
        warehouse.load(LoadRequest("br", "t", [big], "append", "r2", big_rows))
        error = None
    except WarehouseFullError as exc:
        error = str(exc)
    rows = warehouse.count_rows("br", "t")
    filler.unlink()  # space is back
    result = warehouse.load(LoadRequest("br", "t", [big], "append", "r3", big_rows))
    print(json.dumps({"error": error, "rows": rows, "after": result.table_rows}))
    """
)


def _in_small_disk(disk: Path, size_mb: int, *args: str) -> subprocess.CompletedProcess:
    """Run `python *args` with a `size_mb` tmpfs on `disk`, mounted in a private mount namespace
    of its own: nobody else sees the mount, and the kernel removes it when the process ends,
    however it ends (no unmount to forget)."""
    disk.mkdir()
    mount = f"mount -t tmpfs -o size={size_mb}m tmpfs {disk}"
    private = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
    probe = subprocess.run(
        [*private, mount],
        capture_output=True,
        check=False,
    )
    if probe.returncode:
        pytest.skip(f"sem como montar um disco pequeno aqui: {probe.stderr.decode().strip()}")
    return subprocess.run(
        [*private, f'{mount} && exec "$@"', "sh", sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_load_that_fills_the_disk_says_how_much_it_needs_and_leaves_the_file_usable(tmp_path):
    """A real full disk (a 32 MiB tmpfs): the load rolls back, the message says how much space
    is needed and how to compact; once space is back the next load works."""
    small, big = tmp_path / "small.parquet", tmp_path / "big.parquet"
    with duckdb.connect() as con:  # ~11 MiB in the warehouse: more than is left
        con.execute(
            f"COPY (SELECT range AS id, md5(range::VARCHAR) AS v FROM range(1000)) TO '{small}'"
        )
        con.execute(
            f"COPY (SELECT range AS id, md5(range::VARCHAR) AS v FROM range(400000)) TO '{big}'"
        )
    run = _in_small_disk(
        tmp_path / "disk",
        32,
        "-c",
        FULL_DISK,
        str(tmp_path / "disk"),
        str(small),
        str(big),
        "400000",
    )
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout)
    assert outcome["rows"] == 1000  # the table as it was
    assert outcome["after"] == 401000
    error = outcome["error"]
    assert error is not None, "the load fitted in the small disk"
    needed = f"{2 * big.stat().st_size / 2**20:,.0f} MiB livres"
    assert "encheu ao carregar br.t (No space left on device); nada foi gravado" in error
    assert needed in error and "CHECKPOINT" in error and "COPY FROM DATABASE" in error
