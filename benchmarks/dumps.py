"""
Dumps side by side: a PostgreSQL table (generate_series, 12 columns) and a CSV of the same rows,
moved into Parquet / DuckDB by raw COPY, our dump_db and dump_url, the original system's pandas
way, dlt (connectorx backend) and DuckDB's own CSV reader. Each runs in its own subprocess; we
print wall time, rows/s, peak RSS (the child's own, from wait4) and the ratios.

    .venv/bin/python benchmarks/dumps.py            # 2M rows (the issue's size)
    .venv/bin/python benchmarks/dumps.py --rows 200000 --skip pandas,dlt
    .venv/bin/python benchmarks/dumps.py --runs 3 --skip pandas   # round-robin, medians

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`), `psql` and, for dlt, the
`bench` extra (`uv pip install -e '.[bench]'`). Writes only under a temporary folder and drops
the table it created. `--read-parallelism N` (default 2, as dump_db's) sets how many COPYs
dump_db runs at once; raw COPY is also timed that way.

The dump_db flow against its data path, as a user runs it: `pipelines run "EMD: utils - Dump
database" -p ...` in a terminal, on a Prefect server that is up, through the warm runner an
untimed run of a 1,000-row table started (it has imported Prefect and the dump's libraries, as a
user's earlier runs leave it). Its figure is that command's wall time: the CLI process's start,
the hand-over, finding the flow, the flow run's records and round trips to the server, its task
runs, logs and artifacts, the body, and the exit once logs and events are shipped. The data path
(`DUMP_DB`: the same functions the flow calls, no Prefect) is charged its own clock, started
after its imports (pyarrow, duckdb, psycopg: the runner's are imported before the flow's run
too), so neither side pays imports the other does not; its wall time, imports and all, is in the
table beside the others.
"""

import argparse
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from report import Row, heading, markdown, skip  # benchmarks/ is the script's first sys.path entry

REPO = Path(__file__).resolve().parent.parent
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres", "dbname": "test"}

CREATE = """
DROP TABLE IF EXISTS {table};
CREATE UNLOGGED TABLE {table} AS
SELECT g::bigint AS id, (g % 1000)::int AS grupo, (g % 100)::smallint AS pequeno,
       round((g * 1.37)::numeric % 100000, 2)::numeric(12,2) AS valor,
       (g * 0.001)::double precision AS medida, (g % 2 = 0) AS ativo,
       date '2020-01-01' + (g % 1500) AS data,
       timestamp '2020-01-01' + g * interval '1 second' AS criado_em,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second' AS atualizado_em,
       md5(g::text) AS codigo, 'São João ' || (g % 97) AS nome,
       jsonb_build_object('k', g % 10, 'v', 'ç') AS extra
FROM generate_series(1, {rows}) g;
"""

DUMP_DB = """
import json, sys, time, uuid
from pathlib import Path
from pipelines.framework.storage import Lake
from pipelines.framework.storage.warehouse import LoadRequest
from pipelines.framework.storage.warehouse.duckdb import DuckDBWarehouse
from pipelines.utils.dump_db.dialects import dialect_for, postgres
from pipelines.utils.dump_db.utils import connection_for
folder, table, parallelism = sys.argv[1], sys.argv[2], int(sys.argv[3])
started = time.monotonic()
lake, warehouse = Lake(folder + "/lake"), DuckDBWarehouse(Path(folder) / "w.duckdb")
POSTGRES = dialect_for("postgres")
conn = connection_for(POSTGRES, "127.0.0.1", 5432, "test", None)
with postgres.table_slices(conn, table, parallelism) as (slices, snapshot):
    queries = [POSTGRES.select(None, table, where) for where in slices]
    schema = postgres.describe(conn, queries[0])
    batches = postgres.read_batches(conn, queries, schema, snapshot)
    staged = lake.write(batches, schema, run_id=uuid.uuid4().hex, dataset_id="bench",
                        table_id="t")
extracted = time.monotonic()
result = warehouse.load(LoadRequest("bench", "t", staged.files, "overwrite", staged.run_id,
                                    staged.rows))
lake.publish(staged, "overwrite")
print(json.dumps({"rows": result.table_rows, "extract_s": extracted - started,
                  "load_s": time.monotonic() - extracted}))
"""

FLOW = "EMD: utils - Dump database"
FLOW_RUN = "dump_db flow (`pipelines run`, warm)"
PIPELINES = str(Path(sys.executable).parent / "pipelines")
STOP_RUNNERS = """
import sys
from pathlib import Path
from pipelines.framework.cli.runner import stop_runners
stop_runners(Path(sys.argv[1]))
print("{}")
"""
DONE = re.compile(r"Dump concluído: ([\d,]+) linhas em ([\d.]+)s")
"""The flow's own summary line: rows loaded and the seconds of its body."""
FLOW_GOAL = 1.2
"""The flow run may take at most this many times its own data path (issue 16)."""

PANDAS = """
import json, sys, glob
import duckdb, pandas as pd, sqlalchemy
folder, table = sys.argv[1], sys.argv[2]
engine = sqlalchemy.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
with engine.connect() as conn:
    for i, chunk in enumerate(pd.read_sql(f"SELECT * FROM {table}", conn, chunksize=100_000)):
        chunk.to_csv(f"{folder}/chunk_{i:05d}.csv", index=False)
con = duckdb.connect(f"{folder}/w.duckdb")
con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv_auto('{folder}/chunk_*.csv')")
print(json.dumps({"rows": con.execute("SELECT count(*) FROM t").fetchone()[0]}))
"""

DLT = """
import json, sys
import dlt
from dlt.sources.sql_database import sql_table
folder, table = sys.argv[1], sys.argv[2]
schema, name = table.split(".")
source = sql_table(credentials="postgresql://postgres@127.0.0.1:5432/test", schema=schema,
                   table=name, backend="connectorx")
pipeline = dlt.pipeline(pipeline_name="bench", pipelines_dir=f"{folder}/dlt",
                        destination=dlt.destinations.duckdb(f"{folder}/w.duckdb"),
                        dataset_name="bench")
pipeline.run(source, write_disposition="replace")
import duckdb
with duckdb.connect(f"{folder}/w.duckdb") as con:
    print(json.dumps({"rows": con.execute(f"SELECT count(*) FROM bench.{name}").fetchone()[0]}))
"""

DUMP_URL = """
import json, sys, time, uuid
from pathlib import Path
import httpx
from pipelines.framework.storage import Lake
from pipelines.framework.storage.warehouse import LoadRequest
from pipelines.framework.storage.warehouse.duckdb import DuckDBWarehouse
from pipelines.utils.dump_url.utils import csv_batches
folder, url = sys.argv[1], sys.argv[2]
started = time.monotonic()
path = Path(folder) / "download.csv"
path.parent.mkdir(parents=True, exist_ok=True)
with httpx.stream("GET", url) as response, open(path, "wb") as handle:
    for chunk in response.iter_bytes(1 << 20):
        handle.write(chunk)
downloaded = time.monotonic()
lake, warehouse = Lake(folder + "/lake"), DuckDBWarehouse(Path(folder) / "w.duckdb")
schema, batches = csv_batches(path, infer_types=True)
staged = lake.write(batches, schema, run_id=uuid.uuid4().hex, dataset_id="bench", table_id="csv")
converted = time.monotonic()
result = warehouse.load(LoadRequest("bench", "csv", staged.files, "overwrite", staged.run_id,
                                    staged.rows))
print(json.dumps({"rows": result.table_rows, "download_s": downloaded - started,
                  "convert_s": converted - downloaded, "load_s": time.monotonic() - converted}))
"""

DUCKDB_CSV = """
import json, sys, time
from pathlib import Path
import duckdb, httpx
folder, url = sys.argv[1], sys.argv[2]
started = time.monotonic()
path = Path(folder) / "download.csv"
with httpx.stream("GET", url) as response, open(path, "wb") as handle:
    for chunk in response.iter_bytes(1 << 20):
        handle.write(chunk)
downloaded = time.monotonic()
con = duckdb.connect(f"{folder}/w.duckdb")
con.execute(f"COPY (SELECT * FROM read_csv_auto('{path}')) TO '{folder}/x.parquet'")
converted = time.monotonic()
con.execute(f"CREATE TABLE t AS SELECT * FROM '{folder}/x.parquet'")
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
print(json.dumps({"rows": rows, "download_s": downloaded - started,
                  "convert_s": converted - downloaded, "load_s": time.monotonic() - converted}))
"""


@dataclass
class Result:
    name: str
    seconds: float
    peak_mb: float
    rows: int | None
    detail: dict


def _require_postgres() -> None:
    """A machine without the PostgreSQL or the `psql` this needs gets one plain line, not a
    traceback (make bench goes on with the other benchmarks)."""
    if shutil.which("psql") is None:
        skip("Dumps", "no `psql` on PATH (Debian: apt-get install postgresql-client)")
    probe = subprocess.run(
        ["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", PG["dbname"],
         "-XAtc", "SELECT 1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no answer"])[0]
        skip("Dumps", f"no PostgreSQL at {PG['host']}:{PG['port']} (database `test`): {reason}")


def _psql(sql: str, **kwargs) -> subprocess.CompletedProcess:
    args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PG["host"], "-p", PG["port"]]
    args += ["-U", PG["user"], "-d", PG["dbname"], "-c", sql]
    return subprocess.run(args, check=True, **kwargs)


def _json_detail(output: str) -> dict:
    """A script's last line: the JSON of its figures."""
    return json.loads(output.strip().splitlines()[-1]) if output.strip() else {}


def measure(
    name: str,
    command: list[str],
    env: dict | None = None,
    detail_of: Callable[[str], dict] = _json_detail,
    **popen,
) -> Result:
    """Run one contender in a child process: wall time and the child's own peak RSS."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, **popen)  # pylint: disable=consider-using-with
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    output = process.stdout.read().decode() if process.stdout else ""
    if process.returncode:
        raise SystemExit(f"{name} failed ({process.returncode}): {output[-2000:]}")
    detail = detail_of(output)
    result = Result(name, seconds, usage.ru_maxrss / 1024, detail.pop("rows", None), detail)
    print(f"# {name}: {seconds:.1f} s, peak {result.peak_mb:.0f} MB, {detail}", flush=True)
    return result


def python(name: str, script: str, *args: str, env: dict | None = None) -> Result:
    command = [sys.executable, "-c", textwrap.dedent(script), *args]
    return measure(name, command, env=env, stdout=subprocess.PIPE, cwd=REPO)


def _psql_copy(query: str, options: str = "") -> str:
    args = ["psql", "-X", "-q", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d"]
    return " ".join([*args, PG["dbname"], "-c", shlex.quote(f"COPY {query} TO STDOUT{options}")])


def raw_copy(table: str, fmt: str) -> Result:
    options = "" if fmt == "text" else f" (FORMAT {fmt})"
    command = shlex.split(_psql_copy(table, options))
    return measure(f"raw psql COPY {fmt} > /dev/null", command, stdout=subprocess.DEVNULL)


def _in_child(code: str, *args: str) -> Any:
    """Run setup code in a child process and return the JSON it prints: the measuring process
    keeps nothing but the standard library, since a child's peak RSS counts what it inherited
    until it execs."""
    command = [sys.executable, "-c", textwrap.dedent(code), *args]
    done = subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


SLICES = """
import json, sys
from pipelines.utils.dump_db.dialects import dialect_for, postgres
from pipelines.utils.dump_db.utils import connection_for
table, count = sys.argv[1], int(sys.argv[2])
POSTGRES = dialect_for("postgres")
conn = connection_for(POSTGRES, "127.0.0.1", 5432, "test", None)
with postgres.table_slices(conn, table, count) as (slices, _):
    print(json.dumps([POSTGRES.select(None, table, where) for where in slices]))
"""


def raw_copy_slices(table: str, count: int) -> Result:
    """`count` psql COPYs at once, over the block ranges dump_db reads in parallel."""
    queries = _in_child(SLICES, table, str(count))
    command = ["sh", "-c", " & ".join(_psql_copy(f"({query})") for query in queries) + "; wait"]
    name = f"raw psql COPY text, {len(queries)} slice(s) at once > /dev/null"
    return measure(name, command, stdout=subprocess.DEVNULL)


def _env(home: Path, api_url: str | None = None) -> dict:
    env = {**os.environ, "PGUSER": PG["user"], "PIPELINES_HOME": str(home)}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _serve(folder: Path) -> Iterator[str]:
    """`folder` over loopback HTTP, for the CSV contenders."""
    port = _free_port()
    server = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


PREFECT = """
import json, sys
from pathlib import Path
from pipelines.framework.stack import ServerError, free_port, start_server
from pipelines.framework.config import Settings
try:
    state = start_server(Settings(home=Path(sys.argv[1]), server_start_timeout=600), "127.0.0.1",
                         free_port())
except ServerError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({"url": state.url, "pid": state.pid}))
"""


@contextmanager
def _prefect(home: Path) -> Iterator[str | None]:
    """A Prefect server (in its own session) for the flow contender, or None, said, when it
    cannot start."""
    server = _in_child(PREFECT, str(home))
    if "error" in server:
        print(f"skipped the Prefect flow run: {server['error']}", flush=True)
        yield None
        return
    try:
        yield server["url"]
    finally:
        os.killpg(server["pid"], signal.SIGTERM)
        time.sleep(5)
        with suppress(ProcessLookupError):
            os.killpg(server["pid"], signal.SIGKILL)


Contender = tuple[str, Callable[[], Result]]


def db_contenders(
    table: str, work: Path, skip: set[str], parallelism: int, flow_api: str | None
) -> list[Contender]:
    """Every database contender on one table; `flow_api` is the Prefect server for the flow."""
    contenders: list[Contender] = [
        (f"raw {fmt}", lambda fmt=fmt: raw_copy(table, fmt)) for fmt in ("text", "binary", "csv")
    ]
    if parallelism > 1:
        contenders.append(("raw slices", lambda: raw_copy_slices(table, parallelism)))
    scripts = [
        ("dump_db (data path)", DUMP_DB, "dump_db"),
        ("pandas read_sql->CSV->DuckDB", PANDAS, "pandas"),
        ("dlt connectorx->DuckDB", DLT, "dlt"),
    ]
    for name, script, key in scripts:
        if key not in skip:
            contenders.append((name, _script(name, script, work, table, str(parallelism))))
    if flow_api:
        home = work / "home-flow"
        contenders.append((FLOW_RUN, lambda: flow_run(table, parallelism, _env(home, flow_api))))
    return contenders


def _flow_command(table: str, table_id: str, parallelism: int) -> list[str]:
    """`pipelines run` of the dump_db flow, with the data path's parameters."""
    parameters = {
        "db_type": "postgres",
        "db_host": PG["host"],
        "db_port": PG["port"],
        "db_database": PG["dbname"],
        "table": table,
        "dataset_id": "bench",
        "table_id": table_id,
        "batch_size": 500_000,
        "read_parallelism": parallelism,
    }
    pairs = [part for name, value in parameters.items() for part in ("-p", f"{name}={value}")]
    return [PIPELINES, "run", FLOW, *pairs]


def _flow_detail(output: str) -> dict:
    """The rows and the body's seconds from the flow's summary line in its log."""
    found = DONE.search(output)
    if found is None:
        return {}
    return {"rows": int(found[1].replace(",", "")), "body_s": float(found[2])}


def flow_run(table: str, parallelism: int, env: dict) -> Result:
    """The flow as a user runs it: `pipelines run` in a terminal, its server and warm runner up
    (`_warm_runner`). Its peak RSS is the run's, in the runner's child, which this process does
    not see: none is given."""
    command = _flow_command(table, "t", parallelism)
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "cwd": REPO}
    result = measure(FLOW_RUN, command, env, _flow_detail, **popen)
    result.peak_mb = math.nan
    return result


@contextmanager
def _warm_runner(home: Path, api_url: str) -> Iterator[None]:
    """`pipelines run`'s warm runner for the flow contender, started and taught the dump's
    libraries by an untimed run of a small table, as a user's earlier runs would; stopped at
    the end."""
    small = "public.bench_dumps_warmup"
    _psql(CREATE.format(table=small, rows=1000), stdout=subprocess.DEVNULL)
    try:
        subprocess.run(
            _flow_command(small, "warmup", 1),
            env=_env(home, api_url),
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        yield
    finally:
        _psql(f"DROP TABLE IF EXISTS {small}", stdout=subprocess.DEVNULL)
        _in_child(STOP_RUNNERS, str(home))


def _script(name: str, script: str, work: Path, *args: str, env: dict | None = None):
    """A contender that runs `script` in a fresh folder each time."""
    return lambda: python(
        name, script, tempfile.mkdtemp(dir=work), *args, env=env or _env(work / "home")
    )


def csv_contenders(url: str, work: Path) -> list[Contender]:
    """dump_url over loopback HTTP vs DuckDB's own CSV reader on the same file."""
    return [
        ("dump_url", _script("dump_url (HTTP->Parquet->DuckDB)", DUMP_URL, work, url)),
        ("duckdb csv", _script("DuckDB (HTTP->read_csv->Parquet->table)", DUCKDB_CSV, work, url)),
    ]


def rounds(contenders: list[Contender], runs: int) -> list[Result]:
    """Each contender once per round, in turn, so a change in the machine's load hits them all;
    then each one's median run, with every run's time in its detail. The files a contender
    wrote reach the disk before the next one starts (`os.sync`): the kernel writes them back
    about 30 s later, in the middle of whichever contender runs then."""
    timed: dict[str, list[Result]] = {key: [] for key, _ in contenders}
    for _ in range(runs):
        for key, run in contenders:
            os.sync()
            timed[key].append(run())
    medians = []
    for results in timed.values():
        ordered = sorted(results, key=lambda r: r.seconds)
        median = ordered[(len(ordered) - 1) // 2]
        median.detail["runs_s"] = ", ".join(f"{r.seconds:.1f}" for r in results)
        medians.append(median)
    return medians


def table_markdown(results: list[Result], base: Result, rows: int) -> str:
    """Every contender moved the same `rows` (raw COPY's to /dev/null, the others checked)."""
    lines = [
        "| path | median s | rows/s | peak RSS MB | x raw COPY text | runs (s) | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        detail = ", ".join(f"{k} {v:.1f}" for k, v in r.detail.items() if isinstance(v, float))
        peak = "-" if math.isnan(r.peak_mb) else f"{r.peak_mb:.0f}"
        lines.append(
            f"| {r.name} | {r.seconds:.1f} | {rows / r.seconds:,.0f} | {peak} | "
            f"{r.seconds / base.seconds:.2f} | {r.detail.get('runs_s', '')} | {detail} |"
        )
    return "\n".join(lines)


def flow_ratio(flow: Result, data_path: Result, load_at_start: float, runs: int) -> str:
    """The flow run against its own data path (the same functions without Prefect), medians of
    the same rounds, as the table every benchmark prints (goal and met?): the `pipelines run`
    command's wall time against the data path's own clock, started after its imports."""
    row = Row(
        "2M-row dump_db, `pipelines run` (warm)" if flow.rows == 2_000_000 else FLOW_RUN,
        flow.seconds,
        "its data path after its imports (same functions, no Prefect)",
        data_path.detail["extract_s"] + data_path.detail["load_s"],
        ratio_below=FLOW_GOAL,
        note=", ".join(f"{k} {v:.1f}" for k, v in flow.detail.items() if isinstance(v, float)),
    )
    title = "dump_db: the flow run vs its data path"
    return "\n" + heading(title, f"medians of {runs} round(s)", load_at_start) + markdown([row])


def _check_rows(results: list[Result], rows: int) -> None:
    for result in results:
        if result.rows is not None and result.rows != rows:
            raise SystemExit(f"{result.name} loaded {result.rows} rows, expected {rows}")


def main() -> None:  # pylint: disable=too-many-locals
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--skip", default="", help="comma list: pandas, dlt, flow, csv, flat")
    parser.add_argument(
        "--read-parallelism", type=int, default=2, help="dump_db's COPYs at once (1: one stream)"
    )
    parser.add_argument("--runs", type=int, default=1, help="rounds; each figure is the median")
    args = parser.parse_args()
    os.environ.setdefault("PGUSER", PG["user"])
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    load_at_start = os.getloadavg()[0]
    _require_postgres()
    table = f"public.bench_dumps_{args.rows}"
    _psql(CREATE.format(table=table, rows=args.rows), stdout=subprocess.DEVNULL)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-dumps-") as folder, ExitStack() as stack:
            work = Path(folder)
            flow_api = None if "flow" in skip else stack.enter_context(_prefect(work / "prefect"))
            if flow_api:
                stack.enter_context(_warm_runner(work / "home-flow", flow_api))
            contenders = db_contenders(table, work, skip, args.read_parallelism, flow_api)
            if "csv" not in skip:
                csv_folder = work / "csv"
                csv_folder.mkdir()
                with open(csv_folder / "dados.csv", "wb") as handle:
                    _psql(f"COPY {table} TO STDOUT (FORMAT csv, HEADER)", stdout=handle)
                url = stack.enter_context(_serve(csv_folder)) + "/dados.csv"
                contenders += csv_contenders(url, work)
            results = rounds(contenders, args.runs)
            _check_rows(results, args.rows)
            by_name = {r.name: r for r in results}
            base = results[0]
            db_results = [r for r in results if not r.name.startswith(("dump_url", "DuckDB"))]
            print(f"\n## PostgreSQL -> DuckDB, {args.rows:,} rows x 12 columns\n")
            print(table_markdown(db_results, base, args.rows))
            ours = by_name.get("dump_db (data path)")
            flow = by_name.get(FLOW_RUN)
            if ours and flow:
                print(flow_ratio(flow, ours, load_at_start, args.runs))
            if ours:
                for other in ("pandas read_sql->CSV->DuckDB", "dlt connectorx->DuckDB"):
                    if other in by_name:
                        print(
                            f"\ndump_db is {by_name[other].seconds / ours.seconds:.1f}x faster "
                            f"than {other}"
                        )
            if "flat" not in skip and ours and args.rows >= 100_000:
                small_rows = args.rows // 10
                small = f"public.bench_dumps_{small_rows}"
                _psql(CREATE.format(table=small, rows=small_rows), stdout=subprocess.DEVNULL)
                try:
                    name = "dump_db (data path)"
                    run = _script(name, DUMP_DB, work, small, str(args.read_parallelism))
                    flat = rounds([(name, run)], args.runs)[0]
                finally:
                    _psql(f"DROP TABLE IF EXISTS {small}", stdout=subprocess.DEVNULL)
                print(
                    f"\nPeak RSS of dump_db: {flat.peak_mb:.0f} MB at {small_rows:,} rows, "
                    f"{ours.peak_mb:.0f} MB at {args.rows:,} rows"
                )
            csv_results = [r for r in results if r.name.startswith(("dump_url", "DuckDB"))]
            if csv_results:
                print(f"\n## CSV ({args.rows:,} rows) -> Parquet\n")
                print(table_markdown(csv_results, base, args.rows))
                print(
                    f"\ndump_url / DuckDB read_csv: "
                    f"{csv_results[0].seconds / csv_results[1].seconds:.2f}x"
                )
    finally:
        _psql(f"DROP TABLE IF EXISTS {table}", stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
