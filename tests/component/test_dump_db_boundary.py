# ruff: noqa: F811  (pytest fixtures are imported by name)
"""Incremental dump_db at its boundary: the rows on the last loaded watermark value are told apart
by the table's key (declared, or read from the source's catalog), a column added at the source is
a schema change and not new rows, NaN and NULL watermarks are loaded once; real PostgreSQL and
MariaDB sources, a real DuckDB warehouse, through the real flow."""

import json

import duckdb
import pytest

from pipelines.utils.dump_db.flows import dump_db
from pipelines.utils.dump_db.incremental import row_hash
from tests.component.test_dump_db import _pg, _pg_user  # noqa: F401
from tests.support.databases import mysql_server, mysql_table, pg_schema, postgres_server  # noqa: F401
from tests.support.dumps import place  # noqa: F401
from tests.support.prefect_api import client_for, run_log_messages

pytestmark = pytest.mark.component

# 500 rows on 2024-01-01, 500 on the 2nd, 1,100 on the 3rd: a date watermark's boundary is the
# whole last day.
DAYS = [(i, f"2024-01-0{1 + (i > 500) + (i > 1000)}", f"v{i}") for i in range(1, 2101)]


def _counts(place, table_id: str) -> tuple[int, int]:
    """Rows and distinct ids of br.`table_id` in the warehouse."""
    table = f"{place.dataset('br')}.{table_id}"
    return place.query(f"SELECT count(*), count(DISTINCT id) FROM {table}")[0]


def _saved_boundary(place, table_id: str) -> dict:
    """The boundary of the table's saved incremental state (one item: rule and identities)."""
    rows = place.query(
        "SELECT watermark_boundary FROM _pipelines_state WHERE table_id = ?", [table_id]
    )
    return json.loads(rows[0][0])[0]


def _messages(prefect_api, state, expect: str) -> list[str]:
    """The log lines of the flow run that ended in `state`, once `expect` arrived."""
    with client_for(prefect_api) as client:
        return run_log_messages(client, state.state_details.flow_run_id, expect)


def _pg_days(server, schema: str) -> str:
    """`schema.pedidos` (id key, dia, valor) holding DAYS; its name."""
    table = f"{schema}.pedidos"
    with server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, dia date, valor text)")
        cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", DAYS)
    return table


def _pg_execute(server, *statements: str) -> None:
    with server.connect(autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.mark.parametrize("read", ["table", "execute_query"])
def test_a_column_added_at_the_source_adds_no_row_with_an_id_watermark(
    prefect_api, postgres_server, pg_schema, place, read
):
    """By the catalog's key (table) or, without one, by the columns the state knew (query)."""
    table = f"{pg_schema}.eventos"
    _pg_execute(
        postgres_server,
        f"CREATE TABLE {table} (id bigint PRIMARY KEY, valor text)",
        f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, 1000) g",
    )
    source = {"table": table} if read == "table" else {"execute_query": f"SELECT * FROM {table}"}
    params = _pg(
        postgres_server, **source, dataset_id="br", table_id="eventos", incremental_column="id"
    )
    dump_db(**params)
    _pg_execute(
        postgres_server,
        f"ALTER TABLE {table} ADD COLUMN extra numeric(5,1) DEFAULT 1.5",
        f"INSERT INTO {table} (id, valor) SELECT g, 'v' || g FROM generate_series(1001, 1005) g",
    )
    assert dump_db(**params)["rows"] == 5
    state = dump_db(**params, return_state=True)
    assert state.result()["rows"] == 0
    assert _counts(place, "eventos") == (1005, 1005)
    extra = place.query(f"SELECT count(extra) FROM {place.dataset('br')}.eventos")
    assert extra == [(5,)]
    if read == "execute_query":
        messages = _messages(prefect_api, state, "sem chave primária")
        assert any("sem chave primária (informe primary_key)" in m for m in messages), messages


@pytest.mark.parametrize("read", ["table", "execute_query"])
def test_a_column_added_at_the_source_adds_no_row_with_a_date_watermark(
    prefect_api, postgres_server, pg_schema, place, read
):
    """The whole last day (1,100 rows) comes back on the next run: none of it is loaded again."""
    table = _pg_days(postgres_server, pg_schema)
    source = {"table": table} if read == "table" else {"execute_query": f"SELECT * FROM {table}"}
    params = _pg(
        postgres_server, **source, dataset_id="br", table_id="pedidos", incremental_column="dia"
    )
    dump_db(**params)
    _pg_execute(
        postgres_server,
        f"ALTER TABLE {table} ADD COLUMN canal text DEFAULT 'site'",
        f"INSERT INTO {table} VALUES (3001, '2024-01-03', 'atrasado', 'loja'), "
        "(3002, '2024-01-04', 'novo', 'loja')",
    )
    assert dump_db(**params)["rows"] == 2
    assert dump_db(**params)["rows"] == 0
    assert _counts(place, "pedidos") == (2102, 2102)


def test_mariadb_date_watermark_with_a_column_added_adds_no_row(
    prefect_api, mysql_server, mysql_table, place
):
    """The key comes from MariaDB's information_schema."""
    with mysql_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE `{mysql_table}` (id BIGINT PRIMARY KEY, dia DATE, valor TEXT)"
        )
        cursor.executemany(f"INSERT INTO `{mysql_table}` VALUES (%s, %s, %s)", DAYS)
    params = {
        "db_type": "mysql",
        "db_host": mysql_server.host,
        "db_port": mysql_server.port,
        "db_database": mysql_server.database,
        "table": mysql_table,
        "dataset_id": "br",
        "table_id": "pedidos",
        "incremental_column": "dia",
    }
    dump_db(**params)
    assert _saved_boundary(place, "pedidos")["columns"] == ["id"]
    with mysql_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"ALTER TABLE `{mysql_table}` ADD COLUMN canal TEXT")
        cursor.execute(f"INSERT INTO `{mysql_table}` VALUES (3001, '2024-01-03', 'atrasado', 'x')")
    assert dump_db(**params)["rows"] == 1
    assert dump_db(**params)["rows"] == 0
    assert _counts(place, "pedidos") == (2101, 2101)


@pytest.mark.parametrize("key", ["catalog", "declared"])
def test_an_edited_boundary_row_is_not_loaded_again(
    prefect_api, postgres_server, pg_schema, place, key
):
    table = _pg_days(postgres_server, pg_schema)
    source = (
        {"table": table}
        if key == "catalog"
        else {"execute_query": f"SELECT * FROM {table}", "primary_key": ["id"]}
    )
    params = _pg(
        postgres_server, **source, dataset_id="br", table_id="pedidos", incremental_column="dia"
    )
    dump_db(**params)
    _pg_execute(
        postgres_server,
        f"UPDATE {table} SET valor = 'editado' WHERE id IN (1500, 2100)",
        f"INSERT INTO {table} VALUES (3001, '2024-01-03', 'atrasado')",
    )
    assert dump_db(**params)["rows"] == 1
    assert _counts(place, "pedidos") == (2101, 2101)


def test_the_key_is_read_from_the_catalog_or_taken_as_declared(
    prefect_api, postgres_server, pg_schema, place
):
    table = f"{pg_schema}.vendas"
    _pg_execute(
        postgres_server,
        f"CREATE TABLE {table} (valor int, id int, uf text, PRIMARY KEY (uf, id))",
        f"INSERT INTO {table} VALUES (10, 1, 'RJ'), (10, 1, 'SP'), (5, 2, 'RJ')",
    )
    common = {"dataset_id": "br", "incremental_column": "valor"}
    state = dump_db(**_pg(postgres_server, table=table, table_id="pelo_catalogo", **common))
    assert state["rows"] == 3
    assert _saved_boundary(place, "pelo_catalogo")["columns"] == ["uf", "id"]
    query = f"SELECT uf || '-' || id AS codigo, valor FROM {table}"
    declared = _pg(
        postgres_server,
        execute_query=query,
        primary_key=["codigo"],
        table_id="declarada",
        **common,
    )
    dump_db(**declared)
    assert _saved_boundary(place, "declarada") == {
        "by": "key",
        "columns": ["codigo"],
        "rows": sorted(row_hash({"codigo": c}) for c in ("RJ-1", "SP-1")),
    }
    wrong = dump_db(**{**declared, "primary_key": ["id"]}, return_state=True)
    assert wrong.is_failed()
    assert "a chave primária ['id'] não está na consulta" in str(
        wrong.result(raise_on_failure=False)
    )


def test_nan_and_null_watermarks_are_loaded_once_and_never_again(
    prefect_api, postgres_server, pg_schema, place
):
    """PostgreSQL orders NaN above every number: without care, each run would append them."""
    table = f"{pg_schema}.medidas"
    _pg_execute(
        postgres_server,
        f"CREATE TABLE {table} (id int PRIMARY KEY, valor double precision)",
        f"INSERT INTO {table} SELECT g, CASE WHEN g <= 3846 THEN 'NaN' WHEN g <= 3900 THEN NULL "
        "ELSE g / 10.0 END FROM generate_series(1, 10000) g",
    )
    params = _pg(
        postgres_server,
        table=table,
        dataset_id="br",
        table_id="medidas",
        incremental_column="valor",
    )
    first = dump_db(**params, return_state=True)
    assert first.result()["rows"] == 10_000
    messages = _messages(prefect_api, first, "NULL ou NaN")
    assert any("3,900 linha(s) com valor NULL ou NaN carregada(s)" in m for m in messages), messages
    assert dump_db(**params)["rows"] == 0
    _pg_execute(
        postgres_server,
        f"INSERT INTO {table} VALUES (10001, 'NaN'), (10002, NULL), (10003, 1000.5)",
    )
    assert dump_db(**params)["rows"] == 1  # 10003; later NaN/NULL rows are documented as skipped
    assert dump_db(**params)["rows"] == 0
    assert _counts(place, "medidas") == (10_001, 10_001)
    watermark = place.query("SELECT watermark_value FROM _pipelines_state")
    assert watermark == [("1000.5",)]


def test_a_state_saved_as_row_hashes_by_the_previous_version_still_works(
    prefect_api, postgres_server, pg_schema, place
):
    table = _pg_days(postgres_server, pg_schema)
    params = _pg(
        postgres_server, table=table, dataset_id="br", table_id="pedidos", incremental_column="dia"
    )
    dump_db(**params)
    with postgres_server.connect() as conn:  # the last day's rows, hashed whole as it did
        last_day = conn.execute(f"SELECT id, dia, valor FROM {table} WHERE dia = '2024-01-03'")
        legacy = [row_hash({"id": i, "dia": d, "valor": v}) for i, d, v in last_day]
    with duckdb.connect(str(place.warehouse_path)) as warehouse:
        warehouse.execute(
            "UPDATE _pipelines_state SET watermark_boundary = ? WHERE table_id = 'pedidos'",
            [json.dumps(legacy)],
        )
    _pg_execute(postgres_server, f"INSERT INTO {table} VALUES (3001, '2024-01-03', 'atrasado')")
    assert dump_db(**params)["rows"] == 1
    assert _saved_boundary(place, "pedidos")["by"] == "key"  # saved in the new form
    assert len(_saved_boundary(place, "pedidos")["rows"]) == 1101
    assert dump_db(**params)["rows"] == 0
    assert _counts(place, "pedidos") == (2101, 2101)


def test_a_nan_watermark_saved_by_the_previous_version_is_refused(
    prefect_api, postgres_server, pg_schema, place
):
    """Nothing past NaN can be asked for: reading on would silently skip every new row."""
    table = f"{pg_schema}.medidas"
    _pg_execute(
        postgres_server,
        f"CREATE TABLE {table} (id int PRIMARY KEY, valor double precision)",
        f"INSERT INTO {table} VALUES (1, 'NaN'), (2, 1.5)",
    )
    params = _pg(
        postgres_server,
        table=table,
        dataset_id="br",
        table_id="medidas",
        incremental_column="valor",
    )
    dump_db(**params)
    with duckdb.connect(str(place.warehouse_path)) as warehouse:
        warehouse.execute("UPDATE _pipelines_state SET watermark_value = 'nan'")
    _pg_execute(postgres_server, f"INSERT INTO {table} VALUES (3, 2.5)")
    state = dump_db(**params, return_state=True)
    assert state.is_failed()
    assert "tem valor = NaN (salvo por uma versão anterior)" in str(
        state.result(raise_on_failure=False)
    )
    assert _counts(place, "medidas") == (2, 2)
