"""Pure helpers of the dump flows and the warehouse's schema-drift rules."""

from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from pipelines.framework.lake import PartitionError, partitioning_for
from pipelines.framework.warehouse import SchemaDriftError, check_drift, is_compatible
from pipelines.utils.dump_db.incremental import (
    WatermarkTracker,
    incremental_query,
    watermark_text,
)
from pipelines.utils.dump_db.utils import DumpConfigError, base_query, connection_for
from pipelines.utils.dump_url.utils import DumpUrlError, auth_headers, download_url
from pipelines.utils.loading.utils import artifact_key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://docs.google.com/spreadsheets/d/1AbC-x_9/edit#gid=123",
            "https://docs.google.com/spreadsheets/d/1AbC-x_9/export?format=csv&gid=123",
        ),
        (
            "https://docs.google.com/spreadsheets/d/1AbC/edit?usp=sharing",
            "https://docs.google.com/spreadsheets/d/1AbC/export?format=csv",
        ),
        (
            "https://drive.google.com/file/d/0B_xyz/view?usp=sharing",
            "https://drive.google.com/uc?export=download&id=0B_xyz",
        ),
        (
            "https://drive.google.com/open?id=0B_q",
            "https://drive.google.com/uc?export=download&id=0B_q",
        ),
        ("https://example.org/a.csv", "https://example.org/a.csv"),
    ],
)
def test_share_links_become_download_links(url, expected):
    assert download_url(url) == expected


def test_auth_headers():
    assert auth_headers(None) == {}
    assert auth_headers({"token": "t"}) == {"Authorization": "Bearer t"}
    assert auth_headers({"Authorization": "Basic x"}) == {"Authorization": "Basic x"}
    with pytest.raises(DumpUrlError, match="token"):
        auth_headers({"user": "x"})


@pytest.mark.parametrize(
    ("new", "old", "ok"),
    [
        ("BIGINT", "BIGINT", True),
        ("INTEGER", "BIGINT", True),
        ("BIGINT", "INTEGER", False),
        ("VARCHAR", "DECIMAL(5,1)", False),
        ("DATE", "TIMESTAMP", False),
    ],
)
def test_compatible_types(new, old, ok):
    assert is_compatible(new, old) is ok


def test_drift_adds_new_columns_and_names_removed_and_retyped_ones():
    assert check_drift("d.t", {"a": "BIGINT", "b": "VARCHAR"}, {"a": "BIGINT"}) == ["b"]
    with pytest.raises(SchemaDriftError) as error:
        check_drift("d.t", {"a": "VARCHAR"}, {"a": "BIGINT", "gone": "DATE"})
    assert "gone" in str(error.value) and "a (BIGINT -> VARCHAR)" in str(error.value)


def test_queries():
    assert base_query("postgres", None, "s.t") == 'SELECT * FROM "s"."t"'
    assert base_query("postgres", None, "t", "ctid >= '(8,0)'::tid") == (
        "SELECT * FROM \"t\" WHERE ctid >= '(8,0)'::tid"
    )
    assert base_query("oracle", None, "HR.EMP") == 'SELECT * FROM "HR"."EMP"'
    assert base_query("mysql", None, "t") == "SELECT * FROM `t`"
    assert base_query("postgres", "SELECT 1;", None) == "SELECT 1"
    with pytest.raises(DumpConfigError):
        base_query("postgres", "SELECT 1", "t")
    assert incremental_query("postgres", "SELECT 1", "id", None, repr) == "SELECT 1"
    state = {"value": "5", "boundary": ["ab"]}
    assert incremental_query("postgres", "Q", "id", state, repr) == (
        "SELECT * FROM (Q) dump_rows WHERE \"id\" >= '5'"
    )
    legacy = {"value": "5", "boundary": None}  # saved before boundary rows were kept
    assert incremental_query("mysql", "Q", "id", legacy, repr) == (
        "SELECT * FROM (Q) dump_rows WHERE `id` > '5'"
    )


def _events(*rows: tuple) -> list[pa.RecordBatch]:
    schema = pa.schema([("at", pa.timestamp("us", tz="UTC")), ("name", pa.string())])
    utc = timezone.utc
    return [
        pa.RecordBatch.from_pylist(
            [{"at": datetime(2024, 1, 1, h, tzinfo=utc), "name": n} for h, n in rows],
            schema=schema,
        )
    ]


def _run(previous, batches) -> tuple[list[str], dict]:
    tracker = WatermarkTracker("at", previous)
    names = [n for b in tracker.track(batches) for n in b.column("name").to_pylist()]
    return names, tracker.state()


def test_rows_late_on_the_boundary_load_once_and_reruns_add_nothing():
    names, state = _run(None, _events((9, "a"), (10, "b"), (10, "c")))
    assert names == ["a", "b", "c"]
    assert state["value"] == "2024-01-01 10:00:00" and len(state["boundary"]) == 2
    # the source returns rows >= 10:00: b and c again, d arrived late with the same time
    names, state = _run(state, _events((10, "b"), (10, "d"), (10, "c")))
    assert names == ["d"]
    assert len(state["boundary"]) == 3  # b, c and d all sit on 10:00
    names, again = _run(state, _events((10, "b"), (10, "c"), (10, "d")))
    assert names == [] and again == state
    names, state = _run(state, _events((10, "c"), (11, "e")))
    assert names == ["e"] and state["value"] == "2024-01-01 11:00:00"
    assert len(state["boundary"]) == 1


def test_watermark_text_is_utc_without_offset():
    aware = datetime(2024, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=-3)))
    assert watermark_text(aware) == "2024-01-01 12:00:00"
    assert watermark_text(date(2024, 2, 3)) == "2024-02-03"
    assert watermark_text(42) == "42"
    assert watermark_text(None) is None


def test_partitioning_rules():
    schema = pa.schema([("d", pa.date32()), ("uf", pa.string()), ("x", pa.float64())])
    by_date = partitioning_for(schema, ["d"])
    assert by_date.keys == ("ano_particao", "mes_particao", "data_particao")
    assert partitioning_for(schema, ["uf"]).hive_types == {"uf": "VARCHAR"}
    with pytest.raises(PartitionError):
        partitioning_for(schema, ["nope"])
    with pytest.raises(PartitionError):
        partitioning_for(schema, ["x"])


def test_artifact_key():
    assert artifact_key("br_rj.Tabela_1") == "dump-br-rj-tabela-1"


def test_the_warehouse_is_chosen_by_one_setting(monkeypatch, tmp_path):
    from pipelines.framework.settings import get_settings
    from pipelines.framework.warehouse import UnknownWarehouseError, get_warehouse
    from pipelines.framework.warehouse.duckdb import DuckDBWarehouse

    monkeypatch.setenv("PIPELINES_HOME", str(tmp_path))
    monkeypatch.setenv("PIPELINES_ENV", "local")
    try:
        for kind, expected in (("duckdb", DuckDBWarehouse), ("nope", UnknownWarehouseError)):
            monkeypatch.setenv("PIPELINES_WAREHOUSE", kind)
            get_settings.cache_clear()
            if isinstance(expected, type) and issubclass(expected, Exception):
                with pytest.raises(expected):
                    get_warehouse()
            else:
                warehouse = get_warehouse()
                assert isinstance(warehouse, expected)
                assert warehouse.path == tmp_path / "warehouse" / "local.duckdb"
        monkeypatch.setenv("PIPELINES_WAREHOUSE", "bigquery")
        get_settings.cache_clear()
        try:
            import google.cloud.bigquery  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match="gcp"):
                get_warehouse()
    finally:
        get_settings.cache_clear()


def test_credentials_come_from_the_secret_path(monkeypatch):
    from pipelines.utils.dump_db.utils import connection_for

    monkeypatch.setenv("PIPELINES_SECRET_BACKENDS", "env")
    monkeypatch.setenv("PIPELINES_SECRET_DB_EXEMPLO", '{"username": "leitor", "password": "pw"}')
    conn = connection_for("postgres", "db", 5432, "dados", "db/exemplo")
    assert (conn.user, conn.password) == ("leitor", "pw")
    assert "pw" not in repr(conn)
    assert connection_for("mysql", "db", 3306, "dados", None).user is None


def test_db_types_accept_the_original_systems_spelling():
    assert connection_for("sql_server", "h", "1433", "db", None).db_type == "sqlserver"
    with pytest.raises(DumpConfigError, match="db2"):
        connection_for("db2", "h", 1, "db", None)
