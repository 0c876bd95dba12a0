"""The source dialects of dump_db: one chosen from the declared db_type, each quoting names and
literals and writing the watermark query as the dumps always have."""

import re
from pathlib import Path

import pytest

import pipelines
from pipelines.utils.dump_db.dialects import DB_TYPES, Extract, dialect_for
from pipelines.utils.dump_db.dialects.oracle import Oracle
from pipelines.utils.dump_db.utils import DumpConfigError

FLOAT_STATE = {"value": "2.5", "type": "double", "boundary": []}


def test_each_db_type_has_one_dialect_and_sql_server_is_sqlserver():
    assert DB_TYPES == ("postgres", "mysql", "sqlserver", "oracle")
    for db_type in DB_TYPES:
        assert dialect_for(db_type).name == db_type
        assert dialect_for(db_type) is dialect_for(db_type)
    assert dialect_for("sql_server") is dialect_for("sqlserver")


def test_an_unknown_db_type_is_refused_naming_the_supported_ones():
    with pytest.raises(DumpConfigError) as error:
        dialect_for("db2")
    assert str(error.value) == (
        "db_type 'db2' não suportado; use um de ('postgres', 'mysql', 'sqlserver', 'oracle')"
    )


@pytest.mark.parametrize(
    ("db_type", "name", "expected"),
    [
        ("postgres", 'esquema.ta"bela', '"esquema"."ta""bela"'),
        ("mysql", "banco.ta`bela", "`banco`.`ta``bela`"),
        ("sqlserver", "dbo.Pedido", '"dbo"."Pedido"'),
        ("oracle", "HR.EMP", '"HR"."EMP"'),
    ],
)
def test_names_are_quoted_per_dialect(db_type, name, expected):
    dialect = dialect_for(db_type)
    assert dialect.quote(name) == expected
    assert dialect.select(None, name) == f"SELECT * FROM {expected}"
    assert dialect.select(" SELECT 1; ", None) == "SELECT 1"


@pytest.mark.parametrize(
    ("db_type", "expected"),
    [
        ("postgres", 'SELECT * FROM (Q) dump_rows WHERE "m" >= <2.5> AND "m" <> \'NaN\''),
        ("mysql", "SELECT * FROM (Q) dump_rows WHERE `m` >= <2.5>"),
        ("sqlserver", 'SELECT * FROM (Q) dump_rows WHERE "m" >= <2.5>'),
        ("oracle", 'SELECT * FROM (Q) dump_rows WHERE "m" >= <2.5> AND "m" IS NOT NAN'),
    ],
)
def test_the_watermark_query_excludes_nan_only_where_the_dialect_has_it(db_type, expected):
    assert dialect_for(db_type).watermark_query("Q", "m", FLOAT_STATE, "<{}>".format) == expected


@pytest.mark.parametrize("db_type", DB_TYPES)
def test_the_watermark_query_past_each_kind_of_state(db_type):
    dialect = dialect_for(db_type)
    m = dialect.quote("m")
    assert dialect.watermark_query("Q", None, FLOAT_STATE, repr) == "Q"
    assert dialect.watermark_query("Q", "m", None, repr) == "Q"
    legacy = {"value": "7", "boundary": None}  # saved before boundary rows were kept
    assert dialect.watermark_query("Q", "m", legacy, "<{}>".format) == (
        f"SELECT * FROM (Q) dump_rows WHERE {m} > <7>"
    )
    empty = {"value": None, "type": "string", "boundary": []}  # a first load without a value
    assert dialect.watermark_query("Q", "m", empty, repr) == (
        f"SELECT * FROM (Q) dump_rows WHERE {m} IS NOT NULL"
    )


@pytest.mark.parametrize(
    ("db_type", "value", "expected"),
    [
        ("sqlserver", "O'Brien", "N'O''Brien'"),
        ("sqlserver", "2024-01-31 23:59:59", "N'2024-01-31T23:59:59'"),
        ("sqlserver", "2024-01-31 23:59:59.5", "CAST(N'2024-01-31 23:59:59.5' AS datetime2(7))"),
        ("oracle", "O'Brien", "'O''Brien'"),
        (
            "oracle",
            "2024-01-31 23:59:59",
            "TO_DATE('2024-01-31 23:59:59', 'YYYY-MM-DD HH24:MI:SS')",
        ),
        ("oracle", "2024-01-31 23:59:59.5", "TIMESTAMP '2024-01-31 23:59:59.5'"),
    ],
)
def test_literals_that_need_no_server(db_type, value, expected):
    assert dialect_for(db_type).literal(None, value) == expected


class _CountingOracle(Oracle):
    """Oracle's SQL, counting the literals it quotes."""

    def __init__(self):
        self.quoted: list[str] = []

    def literal(self, conn, value):
        self.quoted.append(value)
        return super().literal(conn, value)


def test_an_extract_reads_past_its_watermark_quoted_once_for_every_slice():
    dialect = _CountingOracle()
    previous = {"value": "2024-01-31 23:59:59.5", "type": "timestamp[us]", "boundary": []}
    extract = Extract(None, "HR.EMP", 10, incremental_column="AT", previous=previous)
    queries = dialect.queries(None, extract, ["ROWNUM < 5", None])
    past = """dump_rows WHERE "AT" >= TIMESTAMP '2024-01-31 23:59:59.5'"""
    assert queries == [
        f'SELECT * FROM (SELECT * FROM "HR"."EMP" WHERE ROWNUM < 5) {past}',
        f'SELECT * FROM (SELECT * FROM "HR"."EMP") {past}',
    ]
    assert dialect.quoted == ["2024-01-31 23:59:59.5"]
    assert dialect.queries(None, Extract("SELECT 1", None, 10)) == ["SELECT 1"]


def test_only_the_dialects_tell_databases_apart():
    root = Path(pipelines.__file__).parent
    dialects = root / "utils" / "dump_db" / "dialects"
    tests = re.compile(r"db_type\s*(==|!=|\bin\b)|\[[^\]]*db_type\s*\]")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.py")
        if dialects not in path.parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if tests.search(line)
    ]
    assert offenders == []
