"""Pure helpers of the dump flows and the warehouse's schema-drift rules."""

from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from pipelines.framework.storage.lake import PartitionError, partitioning_for
from pipelines.framework.storage.warehouse import SchemaDriftError, check_drift, is_compatible
from pipelines.utils.dump_db.dialects import dialect_for
from pipelines.utils.dump_db.incremental import (
    Identity,
    WatermarkTracker,
    is_nan_state,
    row_hash,
    row_identity,
    watermark_text,
)
from pipelines.utils.dump_db.utils import DumpConfigError, connection_for
from pipelines.utils.dump_url.utils import DumpUrlError, auth_headers, download_url
from pipelines.utils.loading.utils import artifact_key

POSTGRES, MYSQL, SQLSERVER, ORACLE = map(dialect_for, ("postgres", "mysql", "sqlserver", "oracle"))


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
    assert POSTGRES.select(None, "s.t") == 'SELECT * FROM "s"."t"'
    assert POSTGRES.select(None, "t", "ctid >= '(8,0)'::tid") == (
        "SELECT * FROM \"t\" WHERE ctid >= '(8,0)'::tid"
    )
    assert ORACLE.select(None, "HR.EMP") == 'SELECT * FROM "HR"."EMP"'
    assert MYSQL.select(None, "t") == "SELECT * FROM `t`"
    assert POSTGRES.select("SELECT 1;", None) == "SELECT 1"
    with pytest.raises(DumpConfigError):
        POSTGRES.select("SELECT 1", "t")
    assert POSTGRES.watermark_query("SELECT 1", "id", None, repr) == "SELECT 1"
    state = {"value": "5", "boundary": ["ab"]}
    assert POSTGRES.watermark_query("Q", "id", state, repr) == (
        "SELECT * FROM (Q) dump_rows WHERE \"id\" >= '5'"
    )
    legacy = {"value": "5", "boundary": None}  # saved before boundary rows were kept
    assert MYSQL.watermark_query("Q", "id", legacy, repr) == (
        "SELECT * FROM (Q) dump_rows WHERE `id` > '5'"
    )


def _events(*rows: tuple, **extra) -> list[pa.RecordBatch]:
    """One batch of (hour, name) events on 2024-01-01, plus constant `extra` columns."""
    fields = [("at", pa.timestamp("us", tz="UTC")), ("name", pa.string())]
    schema = pa.schema(fields + [(column, pa.string()) for column in extra])
    utc = timezone.utc
    return [
        pa.RecordBatch.from_pylist(
            [{"at": datetime(2024, 1, 1, h, tzinfo=utc), "name": n, **extra} for h, n in rows],
            schema=schema,
        )
    ]


BY_CONTENT = Identity(("at", "name"))
BY_NAME = Identity(("name",), by_key=True)


def _run(previous, batches, identity=BY_CONTENT) -> tuple[list[str], dict]:
    tracker = WatermarkTracker("at", previous, identity)
    names = [n for b in tracker.track(batches) for n in b.column("name").to_pylist()]
    return names, tracker.state()


def _identities(state) -> list[str]:
    return state["boundary"][0]["rows"]


def test_rows_late_on_the_boundary_load_once_and_reruns_add_nothing():
    names, state = _run(None, _events((9, "a"), (10, "b"), (10, "c")))
    assert names == ["a", "b", "c"]
    assert state["value"] == "2024-01-01 10:00:00" and len(_identities(state)) == 2
    assert state["boundary"][0]["columns"] == ["at", "name"]
    # the source returns rows >= 10:00: b and c again, d arrived late with the same time
    names, state = _run(state, _events((10, "b"), (10, "d"), (10, "c")))
    assert names == ["d"]
    assert len(_identities(state)) == 3  # b, c and d all sit on 10:00
    names, again = _run(state, _events((10, "b"), (10, "c"), (10, "d")))
    assert names == [] and again == state
    names, state = _run(state, _events((10, "c"), (11, "e")))
    assert names == ["e"] and state["value"] == "2024-01-01 11:00:00"
    assert len(_identities(state)) == 1


def test_a_column_added_at_the_source_is_not_a_new_boundary_row():
    """Content identities cover the columns the state knew; the next state knows the new one."""
    _, state = _run(None, _events((9, "a"), (10, "b")))
    wider = _events((10, "b"), (10, "c"), extra="x")
    names, state = _run(state, wider, row_identity(None, wider[0].schema.names))
    assert names == ["c"]
    assert state["boundary"][0]["columns"] == ["at", "name", "extra"]
    names, _ = _run(state, _events((10, "b"), (10, "c"), extra="x"))
    assert names == []


def test_by_key_an_edited_boundary_row_is_the_same_row():
    _, state = _run(None, _events((9, "a"), (10, "b")), BY_NAME)
    assert state["boundary"][0] == {
        "by": "key",
        "columns": ["name"],
        "rows": [row_hash({"name": "b"})],
    }
    names, _ = _run(state, _events((10, "b"), extra="edited"), BY_NAME)
    assert names == []
    names, _ = _run(state, _events((10, "b"), extra="edited"))  # a content rule now: still by key
    assert names == []


def test_a_state_saved_as_a_list_of_row_hashes_still_drops_its_rows():
    loaded = _events((10, "b"))[0].to_pylist()  # the rows as the old version hashed them
    legacy = {
        "column": "at",
        "value": "2024-01-01 10:00:00",
        "type": "timestamp[us, tz=UTC]",
        "boundary": [row_hash(row) for row in loaded],
    }
    names, state = _run(legacy, _events((10, "b"), (10, "c")), BY_NAME)
    assert names == ["c"]
    assert state["boundary"][0]["by"] == "key" and len(_identities(state)) == 2


def _measures(*rows: tuple[int, float | None]) -> list[pa.RecordBatch]:
    """One batch of (id, m) rows, m a double."""
    ids, values = zip(*rows, strict=True) if rows else ((), ())
    return [pa.RecordBatch.from_pydict({"id": list(ids), "m": pa.array(values, pa.float64())})]


def _measured(previous, batches) -> tuple[list[int], WatermarkTracker]:
    tracker = WatermarkTracker("m", previous, Identity(("id",), by_key=True))
    ids = [i for b in tracker.track(batches) for i in b.column("id").to_pylist()]
    return ids, tracker


NAN = float("nan")


def test_nan_and_null_watermarks_load_once_and_are_never_followed():
    first = [*_measures((1, NAN), (2, NAN)), *_measures((3, 1.5), (4, None), (5, NAN), (6, 2.0))]
    ids, tracker = _measured(None, first)
    assert ids == [1, 2, 3, 4, 5, 6] and tracker.unusable == 4
    state = tracker.state()
    assert (state["value"], state["type"]) == ("2.0", "double")
    # NaN and NULL rows, were a source to send them again, are dropped; 6 was loaded
    ids, tracker = _measured(state, _measures((1, NAN), (6, 2.0), (4, None), (7, 3.0)))
    assert ids == [7] and tracker.unusable == 2 and tracker.dropped == 1


def test_a_first_load_without_a_usable_watermark_is_not_read_again():
    ids, tracker = _measured(None, _measures((1, NAN), (2, None)))
    state = tracker.state()
    assert ids == [1, 2] and state["value"] is None and state["type"] == "double"
    query = POSTGRES.watermark_query("Q", "m", state, repr)
    assert query == 'SELECT * FROM (Q) dump_rows WHERE "m" IS NOT NULL AND "m" <> \'NaN\''
    ids, tracker = _measured(state, _measures((1, NAN), (3, 4.0)))
    assert ids == [3] and tracker.state()["value"] == "4.0"
    _, empty = _measured(None, _measures())
    assert empty.state() is None


def test_float_watermarks_exclude_nan_where_the_dialect_has_it():
    state = {"value": "2.5", "type": "double", "boundary": []}
    assert ORACLE.watermark_query("Q", "M", state, repr) == (
        'SELECT * FROM (Q) dump_rows WHERE "M" >= \'2.5\' AND "M" IS NOT NAN'
    )
    assert MYSQL.watermark_query("Q", "m", state, repr) == (
        "SELECT * FROM (Q) dump_rows WHERE `m` >= '2.5'"
    )
    as_text = {**state, "type": "string"}
    assert "NaN" not in POSTGRES.watermark_query("Q", "m", as_text, repr)
    assert is_nan_state({"value": "nan", "type": "double"})
    assert not is_nan_state({"value": "nan", "type": "string"})
    assert not is_nan_state({"value": None, "type": "double"})


def test_row_identity_prefers_the_key_and_checks_it():
    assert row_identity(["id"], ["id", "v"]) == Identity(("id",), by_key=True)
    assert row_identity(None, ["id", "v"]) == Identity(("id", "v"))
    with pytest.raises(DumpConfigError, match="codigo"):
        row_identity(["codigo"], ["id", "v"])


def test_primary_key_catalog_queries():
    sql, params = MYSQL.primary_key_query("outro.t")
    assert params == ["outro", "t"] and "CONSTRAINT_NAME = 'PRIMARY'" in sql
    assert MYSQL.primary_key_query("t")[1] == [None, "t"]
    sql, params = SQLSERVER.primary_key_query("dbo.Pe]dido")
    assert params == ("[dbo].[Pe]]dido]",)
    assert "is_primary_key = 1" in sql and sql.endswith("ORDER BY ic.key_ordinal")
    sql, params = ORACLE.primary_key_query("HR.EMP")
    assert params == {"owner": "HR", "name": "EMP"}
    assert "constraint_type = 'P'" in sql and ":owner" in sql and ":name" in sql
    assert ORACLE.primary_key_query("EMP")[1] == {"owner": None, "name": "EMP"}


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
    from pipelines.framework.config.settings import get_settings
    from pipelines.framework.storage.warehouse import UnknownWarehouseError, get_warehouse
    from pipelines.framework.storage.warehouse.duckdb import DuckDBWarehouse

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
    monkeypatch.setenv("PIPELINES_SECRET_BACKENDS", "env")
    monkeypatch.setenv("PIPELINES_SECRET_DB_EXEMPLO", '{"username": "leitor", "password": "pw"}')
    conn = connection_for(POSTGRES, "db", 5432, "dados", "db/exemplo")
    assert (conn.user, conn.password) == ("leitor", "pw")
    assert "pw" not in repr(conn)
    assert connection_for(MYSQL, "db", 3306, "dados", None).user is None


def test_db_types_accept_the_original_systems_spelling():
    assert connection_for(dialect_for("sql_server"), "h", "1433", "db", None).db_type == "sqlserver"
    with pytest.raises(DumpConfigError, match="db2"):
        connection_for(dialect_for("db2"), "h", 1, "db", None)
