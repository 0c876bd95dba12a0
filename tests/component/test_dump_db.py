# ruff: noqa: F811  (pytest fixtures are imported by name)
"""dump_db against real PostgreSQL / MariaDB servers and a real DuckDB warehouse."""

import json
import math
import threading
import time
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.framework.config.settings import get_settings
from pipelines.framework.storage.lake import Lake
from pipelines.utils.dump_db.dialects import dialect_for, postgres
from pipelines.utils.dump_db.flows import dump_db
from pipelines.utils.dump_db.utils import Connection, SourceError, connection_for
from tests.support.databases import mysql_server, mysql_table, pg_schema, postgres_server  # noqa: F401
from tests.support.dumps import place  # noqa: F401

pytestmark = pytest.mark.component
POSTGRES, MYSQL = dialect_for("postgres"), dialect_for("mysql")

TYPES_TABLE = """
CREATE TABLE {schema}.tipos (
    id bigint PRIMARY KEY, i int, s smallint, n numeric(14, 4), nu numeric, f4 real,
    f8 double precision, b boolean, d date, ts timestamp, tz timestamptz, t text, j jsonb, js json
);
INSERT INTO {schema}.tipos VALUES
 (1, 2147483647, -32768, 1234567890.1234, 3.141592653, 1.5, 1e300, true, '2024-01-31',
  '2024-01-31 23:59:59.123456', '2024-01-31 23:59:59.5-03',
  E'São João "aspas", vírgula\\nnova linha 😀 中文 ‮', '{{"a": [1, 2], "ç": null}}', '{{"b":  1}}'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL),
 (3, -1, 0, -0.0001, 0, -2.25, -1e-300, false, '1900-01-01', '1900-01-01 00:00:00',
  '1970-01-01 00:00:00+00', NULL, 'null', '[]'),
 (4, 0, 1, 99999.9999, 12345678901234567890.123456789, 0, 0, true, '2262-04-11',
  '2262-04-11 23:47:16', '2038-01-19 03:14:08+00', E'\\\\N', '"texto"', '{{}}')
"""


def _pg(postgres_server, **overrides):
    params = {
        "db_type": "postgres",
        "db_host": postgres_server.host,
        "db_port": postgres_server.port,
        "db_database": postgres_server.database,
    }
    return {**params, **overrides}


@pytest.fixture(autouse=True)
def _pg_user(monkeypatch, request):
    if "postgres_server" in request.fixturenames:
        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("PGUSER", server.user)


def _same(left, right) -> bool:
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    return left == right


def test_every_type_survives_the_round_trip(prefect_api, postgres_server, pg_schema, place):
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(TYPES_TABLE.format(schema=pg_schema))
        conn.execute("SET TimeZone = 'UTC'")
        source = conn.execute(f"SELECT * FROM {pg_schema}.tipos ORDER BY id").fetchall()
    result = dump_db(
        **_pg(postgres_server, table=f"{pg_schema}.tipos"), dataset_id="br", table_id="tipos"
    )
    assert result["rows"] == 4
    loaded = place.query(f"SELECT * FROM {place.dataset('br')}.tipos ORDER BY id")
    types = dict(
        place.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'tipos'"
        )
    )
    assert types["n"] == "DECIMAL(14,4)" and types["nu"] == "DECIMAL(38,9)"
    assert types["tz"] == "TIMESTAMP WITH TIME ZONE" and types["j"] == "JSON"
    for src, dst in zip(source, loaded, strict=True):
        for column, (a, b) in enumerate(zip(src, dst, strict=True)):
            if column in (12, 13):  # json: same document
                assert (None if b is None else json.loads(b)) == a
            elif column == 5 and a is not None:  # real: float32 both sides
                assert b == pytest.approx(a, rel=1e-7)
            else:
                assert _same(a, b), (column, a, b)
    assert isinstance(loaded[0][3], Decimal)
    assert loaded[0][10].utcoffset().total_seconds() == 0  # UTC instant
    assert loaded[1][11] == "" and loaded[2][11] is None  # empty string is not NULL


CHECKSUM_PG = """
SELECT count(*), sum(('x' || substr(md5(concat_ws('|', id, valor::text, ativo::text, data::text,
    to_char(criado_em, 'YYYY-MM-DD HH24:MI:SS.US'), nome)), 1, 15))::bit(60)::bigint)
FROM {table}
"""
CHECKSUM_DUCKDB = """
SELECT count(*), sum(('0x' || substr(md5(concat_ws('|', id, valor::varchar, ativo::varchar,
    data::varchar, strftime(criado_em, '%Y-%m-%d %H:%M:%S.%f'), nome)), 1, 15))::bigint)
FROM {table}
"""


def test_text_with_tabs_newlines_and_backslashes_survives(
    prefect_api, postgres_server, pg_schema, place
):
    values = ["", None, "a\tb", "l1\nl2\r\n", "\\N", "c:\\dir\\n", "\\\\", "\b\f\v", "fim"]
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.textos (t text)")  # one column: '' is an empty line
        with conn.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {pg_schema}.textos VALUES (%s)", [[v] for v in values])
    dump_db(**_pg(postgres_server, table=f"{pg_schema}.textos"), dataset_id="br", table_id="t")
    loaded = [row[0] for row in place.query(f"SELECT t FROM {place.dataset('br')}.t")]
    assert sorted(loaded, key=repr) == sorted(values, key=repr)


def test_a_million_rows_match_by_count_and_checksum(prefect_api, postgres_server, pg_schema, place):
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(
            f"""CREATE TABLE {pg_schema}.grande AS SELECT g AS id,
            round((g * 1.37)::numeric % 100000, 2)::numeric(12,2) AS valor, g % 3 = 0 AS ativo,
            date '2020-01-01' + g / 10000 AS data,
            timestamp '2020-01-01' + g * interval '1.5 second' AS criado_em,
            CASE WHEN g % 10 = 0 THEN NULL ELSE 'Conceição nº ' || g END AS nome
            FROM generate_series(1, 1000000) g"""
        )
        expected = conn.execute(CHECKSUM_PG.format(table=f"{pg_schema}.grande")).fetchone()
    dump_db(
        **_pg(postgres_server, table=f"{pg_schema}.grande"),
        dataset_id="br",
        table_id="grande",
        partition_columns=["data"],
    )
    got = place.query(CHECKSUM_DUCKDB.format(table=f"{place.dataset('br')}.grande"))[0]
    assert (got[0], int(got[1])) == (expected[0], int(expected[1]))
    months = place.query(
        f"SELECT count(DISTINCT (ano_particao, mes_particao)) FROM {place.dataset('br')}.grande"
    )
    assert months[0][0] == 4
    files = list(
        (place.home / "storage" / "lake" / "local" / place.dataset("br") / "grande").rglob(
            "*.parquet"
        )
    )
    assert any(
        "ano_particao=2020/mes_particao=01/data_particao=2020-01-02" in str(f) for f in files
    )


def test_mysql_types_survive_the_round_trip(prefect_api, mysql_server, mysql_table, place):
    with mysql_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            f"""CREATE TABLE `{mysql_table}` (id BIGINT PRIMARY KEY, i INT, u INT UNSIGNED,
            n DECIMAL(14,4), f DOUBLE, b TINYINT(1), d DATE, ts DATETIME(6), tz TIMESTAMP(6) NULL,
            t TEXT, j JSON)"""
        )
        cursor.execute(
            f"""INSERT INTO `{mysql_table}` VALUES
            (1, -2147483648, 4294967295, 1234567890.1234, 1e300, 1, '2024-01-31',
             '2024-01-31 23:59:59.123456', '2024-01-31 23:59:59.500000', 'São João 😀 "x",\\n',
             '{{"a": [1, 2]}}'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', NULL)"""
        )
    dump_db(
        db_type="mysql",
        db_host=mysql_server.host,
        db_port=mysql_server.port,
        db_database=mysql_server.database,
        table=mysql_table,
        dataset_id="br",
        table_id="mysql_tipos",
        batch_size=1,
    )
    rows = place.query(f"SELECT * FROM {place.dataset('br')}.mysql_tipos ORDER BY id")
    first = rows[0]
    assert first[:5] == (1, -2147483648, 4294967295, Decimal("1234567890.1234"), 1e300)
    assert str(first[6]) == "2024-01-31" and str(first[7]) == "2024-01-31 23:59:59.123456"
    assert first[8].isoformat() == "2024-01-31T23:59:59.500000+00:00"
    assert first[9] == 'São João 😀 "x",\n' and json.loads(first[10]) == {"a": [1, 2]}
    assert rows[1] == (2, *([None] * 8), "", None)


@pytest.mark.parametrize("client", ["psql", "psycopg"])
def test_a_table_read_in_parallel_slices_sees_one_snapshot(
    postgres_server, pg_schema, monkeypatch, client, small_slices
):
    """Four COPYs over block ranges return every row once, as of the moment the read began:
    rows committed or deleted while the slices are read are not seen."""
    _create_events(postgres_server, pg_schema, 50_000)
    if client == "psycopg":
        monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    conn = connection_for(
        POSTGRES, postgres_server.host, postgres_server.port, postgres_server.database, None
    )
    table = f"{pg_schema}.eventos"
    with postgres.table_slices(conn, table, 4) as (slices, snapshot):
        assert len(slices) == 4 and snapshot
        with postgres_server.connect(autocommit=True) as other:
            other.execute(f"DELETE FROM {table} WHERE id <= 100")
        _create_events(postgres_server, pg_schema, 1_000, start=50_001)
        queries = [POSTGRES.select(None, table, where) for where in slices]
        schema = postgres.describe(conn, queries[0])
        ids = pa.concat_arrays(
            [b.column("id") for b in postgres.read_batches(conn, queries, schema, snapshot)]
        )
    assert len(ids) == 50_000
    assert pc.count_distinct(ids).as_py() == 50_000
    assert (pc.min(ids).as_py(), pc.max(ids).as_py()) == (1, 50_000)


def test_a_failing_slice_fails_the_whole_read_and_stops_the_others(
    postgres_server, pg_schema, small_slices
):
    _create_events(postgres_server, pg_schema, 20_000)
    conn = connection_for(
        POSTGRES, postgres_server.host, postgres_server.port, postgres_server.database, None
    )
    table = f"{pg_schema}.eventos"
    with postgres.table_slices(conn, table, 3) as (slices, snapshot):
        queries = [POSTGRES.select(None, table, where) for where in slices]
        schema = postgres.describe(conn, queries[0])
        queries[1] = f"SELECT id, (1 / (id - id))::text AS valor FROM {table}"
        with pytest.raises(SourceError, match="division by zero"):
            list(postgres.read_batches(conn, queries, schema, snapshot))
    with postgres_server.connect(autocommit=True) as other:
        left = other.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
            [f"COPY (%{table}%"],
        ).fetchone()[0]
    assert left == 0


def test_postgres_and_mysql_quote_on_the_server_and_read_keys_from_their_catalogs(
    postgres_server, pg_schema, mysql_server, mysql_table
):
    """The two dialects whose literals and primary keys need the server, against real ones."""
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.chaves (a int, b int, v text, PRIMARY KEY (b, a))")
    with mysql_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE `{mysql_table}` (a INT, b INT, v TEXT, PRIMARY KEY (b, a))")
    server = postgres_server
    pg = Connection("postgres", server.host, server.port, server.database)
    my = Connection(
        "mysql", mysql_server.host, mysql_server.port, mysql_server.database, mysql_server.user
    )
    assert POSTGRES.literal(pg, "O'Brien") == "'O''Brien'"
    assert MYSQL.literal(my, "O'Brien") == "'O\\'Brien'"
    assert POSTGRES.primary_key(pg, f"{pg_schema}.chaves") == ["b", "a"]
    assert MYSQL.primary_key(my, mysql_table) == ["b", "a"]
    assert POSTGRES.primary_key(pg, f"{pg_schema}.nenhuma") == []


@pytest.fixture
def small_slices(monkeypatch):
    """A slice per 8 KiB of heap (`PIPELINES_READ_SLICE_MB`), so small tables split too."""
    monkeypatch.setenv("PIPELINES_READ_SLICE_MB", str(8192 / 2**20))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _create_events(server, schema, rows, start=1):
    with server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.eventos (id bigint, valor text)")
        conn.execute(
            f"INSERT INTO {schema}.eventos SELECT g, 'v' || g "
            "FROM generate_series(%s::bigint, %s::bigint) g",
            [start, start + rows - 1],
        )


def _incremental_events(server, schema) -> dict:
    """dump_db's parameters for an incremental dump of `eventos` into br.eventos."""
    return _pg(
        server,
        dataset_id="br",
        table_id="eventos",
        incremental_column="id",
        execute_query=f"SELECT * FROM {schema}.eventos",
    )


def test_source_down_fails_naming_it_and_keeps_the_table(
    prefect_api, postgres_server, pg_schema, place
):
    _create_events(postgres_server, pg_schema, 10)
    dump_db(
        **_pg(postgres_server, table=f"{pg_schema}.eventos"), dataset_id="br", table_id="eventos"
    )
    from pipelines.framework.stack.server import free_port

    state = dump_db(
        **_pg(postgres_server, db_port=free_port(), table=f"{pg_schema}.eventos"),
        dataset_id="br",
        table_id="eventos",
        return_state=True,
    )
    assert state.is_failed()
    assert "127.0.0.1" in str(state.result(raise_on_failure=False))
    assert place.query(f"SELECT count(*) FROM {place.dataset('br')}.eventos") == [(10,)]


def _terminate_dump_soon(server, delay: float, table: str) -> threading.Thread:
    """Kill the backend of the dump reading `table` (and only it: other dumps may share the
    server) after `delay` seconds."""

    def run():
        time.sleep(delay)
        with server.connect(autocommit=True) as conn:
            for _ in range(100):
                killed = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                    [f"COPY (%{table}%"],
                ).fetchall()
                if killed:
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_dropped_connection_then_incremental_rerun_loads_each_row_once(
    prefect_api, postgres_server, pg_schema, place
):
    _create_events(postgres_server, pg_schema, 1000)
    params = _incremental_events(postgres_server, pg_schema)
    dump_db(**params)
    _create_events(postgres_server, pg_schema, 300_000, start=1001)
    with postgres_server.connect(autocommit=True) as conn:  # same columns as the table, but slow
        conn.execute(
            f"CREATE VIEW {pg_schema}.lento AS SELECT e.* FROM {pg_schema}.eventos e "
            "WHERE pg_sleep(0.0001)::text = ''"
        )
    slow = {**params, "execute_query": f"SELECT * FROM {pg_schema}.lento"}
    killer = _terminate_dump_soon(postgres_server, 1.0, f"{pg_schema}.lento")
    state = dump_db(**slow, return_state=True)
    killer.join()
    assert state.is_failed()
    message = str(state.result(raise_on_failure=False))
    assert "terminat" in message or "closed" in message, message
    table = f"{place.dataset('br')}.eventos"
    assert place.query(f"SELECT count(*) FROM {table}") == [(1000,)]
    dump_db(**params)
    dump_db(**params)  # nothing new: no duplicates
    assert place.query(f"SELECT count(*), count(DISTINCT id), max(id) FROM {table}") == [
        (301_000, 301_000, 301_000)
    ]
    state_row = place.query("SELECT watermark_value FROM _pipelines_state")
    assert state_row == [("301000",)]


def _lake_ids(place, table_id: str) -> list[int]:
    files = Lake(place.lake_url).files(place.dataset("br"), table_id)
    return sorted(pq.read_table(files, columns=["id"]).column("id").to_pylist())


def test_a_retry_of_a_run_that_failed_after_its_load_publishes_what_it_loaded(
    prefect_api, postgres_server, pg_schema, place, monkeypatch
):
    """A retry keeps the run's id. After a failure between the committed load and the lake
    publish, the retry must publish what was loaded, not read the source again: the watermark
    has moved and new rows have arrived, so the lake would get other rows than the warehouse's."""
    _create_events(postgres_server, pg_schema, 10)
    params = _incremental_events(postgres_server, pg_schema)
    publish = Lake.publish_run
    attempts = []

    def fails_once(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            _create_events(postgres_server, pg_schema, 5, start=11)  # rows arrive meanwhile
            raise RuntimeError("o processo morreu")
        return publish(*args, **kwargs)

    monkeypatch.setattr(Lake, "publish_run", fails_once)
    retrying = dump_db.with_options(retries=1, retry_delay_seconds=0)
    assert retrying(**params)["rows"] == 10
    table = f"{place.dataset('br')}.eventos"
    assert len(attempts) == 2
    assert place.query(f"SELECT count(*) FROM {table}") == [(10,)]
    assert _lake_ids(place, "eventos") == list(range(1, 11))

    assert dump_db(**params)["rows"] == 5  # the next run reads the new rows once
    assert place.query(f"SELECT count(*), count(DISTINCT id) FROM {table}") == [(15, 15)]
    assert _lake_ids(place, "eventos") == list(range(1, 16))


def test_rows_committed_late_with_the_last_timestamp_are_loaded_once(
    prefect_api, postgres_server, pg_schema, place
):
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.pedidos (id int, criado_em timestamptz)")
        conn.execute(
            f"INSERT INTO {pg_schema}.pedidos VALUES "
            "(1, '2024-05-01 10:00:00+00'), (2, '2024-05-01 10:00:05+00'), "
            "(3, '2024-05-01 10:00:05+00')"
        )
    params = _pg(
        postgres_server,
        table=f"{pg_schema}.pedidos",
        dataset_id="br",
        table_id="pedidos",
        incremental_column="criado_em",
    )
    dump_db(**params)
    with postgres_server.connect(autocommit=True) as conn:  # a slow transaction commits late
        conn.execute(
            f"INSERT INTO {pg_schema}.pedidos VALUES "
            "(4, '2024-05-01 10:00:05+00'), (5, '2024-05-01 10:00:09+00')"
        )
    dump_db(**params)
    dump_db(**params)
    table = f"{place.dataset('br')}.pedidos"
    assert place.query(f"SELECT id FROM {table} ORDER BY id") == [(1,), (2,), (3,), (4,), (5,)]


def test_schema_drift_adds_new_columns_and_stops_on_removed_ones(
    prefect_api, postgres_server, pg_schema, place
):
    _create_events(postgres_server, pg_schema, 5)
    params = _pg(
        postgres_server,
        table=f"{pg_schema}.eventos",
        dataset_id="br",
        table_id="eventos",
        dump_mode="append",
    )
    dump_db(**params)
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {pg_schema}.eventos ADD COLUMN extra numeric(5,1) DEFAULT 1.5")
    dump_db(**params)
    table = f"{place.dataset('br')}.eventos"
    assert place.query(f"SELECT count(*), count(extra) FROM {table}") == [(10, 5)]
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {pg_schema}.eventos DROP COLUMN valor")
        conn.execute(f"ALTER TABLE {pg_schema}.eventos ALTER COLUMN extra TYPE text")
    state = dump_db(**params, return_state=True)
    assert state.is_failed()
    message = str(state.result(raise_on_failure=False))
    assert "valor" in message and "extra" in message, message
    assert place.query(f"SELECT count(*) FROM {table}") == [(10,)]


def test_a_write_error_in_the_lake_keeps_the_previous_table(
    prefect_api, postgres_server, pg_schema, place, monkeypatch, tmp_path
):
    from pipelines.framework.config.settings import get_settings

    _create_events(postgres_server, pg_schema, 5)
    params = _pg(postgres_server, table=f"{pg_schema}.eventos", dataset_id="br", table_id="eventos")
    dump_db(**params)
    _create_events(postgres_server, pg_schema, 5, start=6)
    warehouse = place.warehouse_path
    if __import__("os").geteuid() == 0:  # root ignores file modes; /sys refuses even root
        monkeypatch.setenv("PIPELINES_STORAGE_URL", "/sys/pipelines-lake")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        monkeypatch.setenv("PIPELINES_STORAGE_URL", str(locked))
    get_settings.cache_clear()
    state = dump_db(**params, return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), PermissionError)
    monkeypatch.delenv("PIPELINES_STORAGE_URL")
    get_settings.cache_clear()
    assert place.warehouse_path == warehouse
    assert place.query(f"SELECT count(*) FROM {place.dataset('br')}.eventos") == [(5,)]


def test_bad_query_names_the_database_error(prefect_api, postgres_server, place):
    state = dump_db(
        **_pg(postgres_server, execute_query="SELECT * FROM nao_existe"),
        dataset_id="br",
        table_id="x",
        return_state=True,
    )
    assert state.is_failed()
    assert "nao_existe" in str(state.result(raise_on_failure=False))


@pytest.mark.parametrize("db_type", ["sqlserver", "oracle"])
def test_a_sqlserver_or_oracle_source_down_fails_naming_it(prefect_api, place, db_type):
    """No such server runs here: this checks the flow reaches their drivers and reports the
    source it could not reach."""
    from pipelines.framework.stack.server import free_port

    port = free_port()
    state = dump_db(
        db_type=db_type,
        db_host="127.0.0.1",
        db_port=port,
        db_database="dados",
        table="dbo.t",
        dataset_id="br",
        table_id="t",
        return_state=True,
    )
    assert state.is_failed()
    assert f"127.0.0.1:{port}" in str(state.result(raise_on_failure=False))
