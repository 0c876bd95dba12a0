"""
Many tables in one run: `dump_tables` over 20 PostgreSQL tables, one at a time on threads
(`max_parallel=1`) against 4 at once, on threads and on a real dask.distributed cluster (a
scheduler and two worker processes of 2 threads started here), into the embedded DuckDB
warehouse and a local lake. Prints each way's wall time (median of `--runs`), the rows and the
ratio to the serial run, as a Markdown table.

    .venv/bin/python benchmarks/dump_tables.py                 # 20 tables of 100k rows
    .venv/bin/python benchmarks/dump_tables.py --tables 8 --rows 20000 --runs 1

Needs PostgreSQL on 127.0.0.1:5432 (PGHOST/PGPORT to change it; trust auth, database `test`):
without it, it says so and exits 0. Needs the `dask` extra (in `dev`). Starts its own Prefect
server and cluster under a temporary folder, stops them, and drops the schema it created.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# pylint: disable=wrong-import-position  # after the path, as a script run from anywhere
from report import Row, heading, markdown, skip  # noqa: E402

from pipelines.framework.config.settings import Settings, get_settings  # noqa: E402
from pipelines.framework.stack import free_port, start_server, stop_process_group  # noqa: E402
from tests.support.dask_cluster import dask_cluster  # noqa: E402

PG = {
    "host": os.environ.get("PGHOST", "127.0.0.1"),
    "port": int(os.environ.get("PGPORT", "5432")),
    "user": "postgres",
    "dbname": "test",
}
TITLE = "Many tables in one run: dump_tables"
SCHEMA = "bench_dump_tables"
CREATE = """
CREATE UNLOGGED TABLE {schema}.t{index} AS
SELECT g::bigint AS id, (g % 1000)::int AS grupo, round((g * 1.37)::numeric % 100000, 2) AS valor,
       date '2020-01-01' + (g % 1500) AS data, md5(g::text) AS codigo,
       'São João ' || (g % 97) AS nome
FROM generate_series(1, {rows}) g
"""


def _create_tables(count: int, rows: int) -> dict[str, dict]:
    with psycopg.connect(**PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        for index in range(count):
            conn.execute(CREATE.format(schema=SCHEMA, index=index, rows=rows))
    return {f"t{i}": {"table": f"{SCHEMA}.t{i}"} for i in range(count)}


def _require_postgres() -> None:
    """A machine without the PostgreSQL this needs gets one plain line, not a traceback."""
    try:
        psycopg.connect(**PG, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0]
        skip(TITLE, f"no PostgreSQL at {PG['host']}:{PG['port']} (database `test`): {reason}")


def _drop_tables() -> None:
    with psycopg.connect(**PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


@contextmanager
def _prefect_server(home: Path) -> Iterator[str]:
    state = start_server(Settings(home=home, server_start_timeout=600), "127.0.0.1", free_port())
    try:
        yield state.url
    finally:
        stop_process_group(state.pid)


def _timed(tables: dict, dataset: str, max_parallel: int, address: str | None) -> tuple[float, int]:
    """One dump_tables run in this process: its wall time and rows."""
    if address:
        os.environ["PIPELINES_DASK_ADDRESS"] = address
    else:
        os.environ.pop("PIPELINES_DASK_ADDRESS", None)
    get_settings.cache_clear()
    from pipelines.utils.dump_tables.flows import dump_tables  # after PREFECT_API_URL is set

    common = {"db_type": "postgres", "db_host": PG["host"], "db_port": PG["port"]}
    common |= {"db_database": PG["dbname"], "dataset_id": dataset, "batch_size": 50_000}
    started = time.monotonic()
    result = dump_tables(tables, common, max_parallel=max_parallel)
    return time.monotonic() - started, result["rows"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    _require_postgres()
    load = os.getloadavg()[0]
    tables = _create_tables(args.tables, args.rows)
    with tempfile.TemporaryDirectory(prefix="bench-dump-tables-") as folder, ExitStack() as stack:
        stack.callback(_drop_tables)
        home = Path(folder) / "home"
        os.environ |= {"PIPELINES_HOME": str(home), "PIPELINES_ENV": "local", "PGUSER": "postgres"}
        os.environ["PREFECT_API_URL"] = stack.enter_context(_prefect_server(home))
        cluster = stack.enter_context(dask_cluster(Path(folder) / "dask", dict(os.environ)))
        ways = {
            "serial": (1, None),
            "4 at once, threads": (4, None),
            "4 at once, dask (2 workers x 2 threads)": (4, cluster.address),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        for run in range(args.runs):  # round-robin: every way sees the same machine load
            for index, (name, (parallel, address)) in enumerate(ways.items()):
                seconds, loaded = _timed(tables, f"bench_{index}", parallel, address)
                if loaded != args.tables * args.rows:
                    raise SystemExit(
                        f"{name} loaded {loaded:,} rows, not {args.tables * args.rows:,}"
                    )
                times[name].append(seconds)
                print(f"run {run + 1} {name}: {seconds:.1f} s", file=sys.stderr)
    serial = statistics.median(times["serial"])
    how = f"{args.tables} tables x {args.rows:,} rows, medians of {args.runs} round(s)"
    print(heading(TITLE, how, load))
    parallel = [n for n in ways if n != "serial"]
    rows = [Row(n, statistics.median(times[n]), "one table at a time", serial) for n in parallel]
    print(markdown([Row("serial", serial, note="max_parallel=1"), *rows]))


if __name__ == "__main__":
    main()
