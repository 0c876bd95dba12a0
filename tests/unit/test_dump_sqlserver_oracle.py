"""SQL Server and Oracle sources without a server: type mapping from the drivers' own type
objects and description values, rows to Arrow, literal quoting and connection errors."""

import socket
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import oracledb
import pyarrow as pa
import pytest

from pipelines.utils.dump_db.dialects import dialect_for, oracle, sqlserver
from pipelines.utils.dump_db.utils import Connection, SourceError

UTC = pa.timestamp("us", tz="UTC")
NAIVE = pa.timestamp("us")
JSON = pa.json_(pa.string())


@pytest.fixture(name="closed_port")
def fixture_closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# sys.dm_exec_describe_first_result_set: (system_type_name, precision, scale) as it reports them.
@pytest.mark.parametrize(
    ("type_name", "precision", "scale", "expected"),
    [
        ("bit", 1, 0, pa.bool_()),
        ("tinyint", 3, 0, pa.int16()),
        ("smallint", 5, 0, pa.int16()),
        ("int", 10, 0, pa.int32()),
        ("bigint", 19, 0, pa.int64()),
        ("real", 24, 0, pa.float32()),
        ("float", 53, 0, pa.float64()),
        ("decimal(18,2)", 18, 2, pa.decimal128(18, 2)),
        ("numeric(38,0)", 38, 0, pa.decimal128(38, 0)),
        ("money", 19, 4, pa.decimal128(19, 4)),
        ("smallmoney", 10, 4, pa.decimal128(10, 4)),
        ("date", 10, 0, pa.date32()),
        ("time(7)", 16, 7, pa.time64("us")),
        ("datetime", 23, 3, NAIVE),
        ("smalldatetime", 16, 0, NAIVE),
        ("datetime2(7)", 27, 7, NAIVE),
        ("datetimeoffset(7)", 34, 7, UTC),
        ("nvarchar(max)", 0, 0, pa.string()),
        ("varchar(50)", 0, 0, pa.string()),
        ("nchar(2)", 0, 0, pa.string()),
        ("ntext", 0, 0, pa.string()),
        ("uniqueidentifier", 0, 0, pa.string()),
        ("xml", 0, 0, pa.string()),
        ("sql_variant", 0, 0, pa.string()),
        ("json", 0, 0, JSON),
        ("varbinary(max)", 0, 0, pa.binary()),
        ("binary(16)", 0, 0, pa.binary()),
        ("image", 0, 0, pa.binary()),
        ("timestamp", 0, 0, pa.binary()),
        ("geography", 0, 0, pa.binary()),
    ],
)
def test_sqlserver_types(type_name, precision, scale, expected):
    assert sqlserver.arrow_type(type_name, precision, scale) == expected


def test_sqlserver_projection_casts_only_what_freetds_cannot_decode():
    assert sqlserver.select_list([("id", "int"), ("name", "nvarchar(10)")]) is None
    columns = [("id", "int"), ("doc]x", "xml"), ("geo", "geography")]
    assert sqlserver.select_list(columns) == ", ".join(
        [
            "[id]",
            "CAST([doc]]x] AS nvarchar(max)) AS [doc]]x]",
            "CAST([geo] AS varbinary(max)) AS [geo]",
        ]
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", "N'42'"),
        ("O'Brien", "N'O''Brien'"),
        ("São Paulo 🚌", "N'São Paulo 🚌'"),
        ("2024-01-31", "N'2024-01-31'"),
        ("2024-01-31 23:59:59", "N'2024-01-31T23:59:59'"),
        ("2024-01-31 23:59:59.123456", "CAST(N'2024-01-31 23:59:59.123456' AS datetime2(7))"),
    ],
)
def test_sqlserver_literal(value, expected):
    assert dialect_for("sqlserver").literal(None, value) == expected


def test_sqlserver_rows_become_exact_arrow_columns():
    schema = pa.schema(
        [
            ("id", sqlserver.arrow_type("bigint", 19, 0)),
            ("amount", sqlserver.arrow_type("decimal(12,2)", 12, 2)),
            ("paid", sqlserver.arrow_type("bit", 1, 0)),
            ("at", sqlserver.arrow_type("datetimeoffset(7)", 34, 7)),
            ("local", sqlserver.arrow_type("datetime2(7)", 27, 7)),
            ("day", sqlserver.arrow_type("date", 10, 0)),
            ("clock", sqlserver.arrow_type("time(7)", 16, 7)),
            ("name", sqlserver.arrow_type("nvarchar(100)", 0, 0)),
            ("guid", sqlserver.arrow_type("uniqueidentifier", 0, 0)),
            ("doc", sqlserver.arrow_type("json", 0, 0)),
            ("blob", sqlserver.arrow_type("varbinary(max)", 0, 0)),
        ]
    )
    minus_three = timezone(timedelta(hours=-3))
    guid = UUID("12345678-1234-5678-1234-567812345678")
    rows = [
        (
            2**62,
            Decimal("1234567890.12"),
            True,
            datetime(2024, 1, 31, 21, 30, 0, 123456, tzinfo=minus_three),
            datetime(2024, 1, 31, 21, 30, 0, 999999),
            date(2024, 2, 29),
            time(23, 59, 59, 999999),
            "Ação 🚌 \t\n\\ \x00",
            guid,
            '{"a": [1, 2.5, "é"]}',
            b"\x00\xff",
        ),
        (None,) * 11,
    ]
    batch = sqlserver.to_batch(rows, schema)
    assert batch.schema == schema
    first, second = batch.to_pylist()
    assert first["at"] == datetime(2024, 2, 1, 0, 30, 0, 123456, tzinfo=timezone.utc)
    assert first["guid"] == str(guid)
    expected = dict(zip(schema.names, rows[0], strict=True))
    assert {k: v for k, v in first.items() if k not in ("at", "guid")} == {
        k: v for k, v in expected.items() if k not in ("at", "guid")
    }
    assert set(second.values()) == {None}


def test_sqlserver_text_that_arrives_as_bytes_is_decoded():
    schema = pa.schema([("x", pa.string())])
    assert sqlserver.to_batch([("é".encode(),)], schema).column(0).to_pylist() == ["é"]


def test_sqlserver_value_out_of_its_type_names_the_column():
    schema = pa.schema([("amount", sqlserver.arrow_type("decimal(4,2)", 4, 2))])
    with pytest.raises(SourceError, match="'amount'"):
        sqlserver.to_batch([(Decimal("123.45"),)], schema)


def test_sqlserver_connection_error_names_the_server_not_the_password(closed_port):
    conn = Connection("sqlserver", "127.0.0.1", closed_port, "dados", "sa", "s3gr3d0!")
    with pytest.raises(SourceError) as error:
        dialect_for("sqlserver").read_batches(conn, "SELECT 1", 10)
    message = str(error.value)
    assert f"127.0.0.1:{closed_port}/dados" in message
    assert "s3gr3d0" not in message
    assert "b'" not in message  # pymssql's bytes made readable


# (type_code, precision, scale) as oracledb's FetchInfo reports them; the numbers follow the
# driver's own test suite, e.g. ("INTCOL", DB_TYPE_NUMBER, 10, None, 9, 0, False).
@pytest.mark.parametrize(
    ("type_code", "precision", "scale", "expected"),
    [
        (oracledb.DB_TYPE_NUMBER, 9, 0, pa.int64()),
        (oracledb.DB_TYPE_NUMBER, 18, 0, pa.int64()),
        (oracledb.DB_TYPE_NUMBER, 38, 0, pa.decimal128(38, 0)),  # INTEGER
        (oracledb.DB_TYPE_NUMBER, 10, 2, pa.decimal128(10, 2)),
        (oracledb.DB_TYPE_NUMBER, 5, -2, pa.decimal128(7, 0)),
        (oracledb.DB_TYPE_NUMBER, 3, 5, pa.decimal128(5, 5)),
        (oracledb.DB_TYPE_NUMBER, 38, -5, pa.string()),
        (oracledb.DB_TYPE_NUMBER, 0, -127, oracle.UNCONSTRAINED_NUMBER),
        (oracledb.DB_TYPE_NUMBER, None, None, oracle.UNCONSTRAINED_NUMBER),
        (oracledb.DB_TYPE_NUMBER, 126, -127, pa.float64()),  # FLOAT
        (oracledb.DB_TYPE_BINARY_FLOAT, None, None, pa.float32()),
        (oracledb.DB_TYPE_BINARY_DOUBLE, None, None, pa.float64()),
        (oracledb.DB_TYPE_BOOLEAN, None, None, pa.bool_()),
        (oracledb.DB_TYPE_DATE, None, None, NAIVE),
        (oracledb.DB_TYPE_TIMESTAMP, 0, 6, NAIVE),
        (oracledb.DB_TYPE_TIMESTAMP_TZ, 0, 6, UTC),
        (oracledb.DB_TYPE_TIMESTAMP_LTZ, 0, 9, UTC),
        (oracledb.DB_TYPE_VARCHAR, None, None, pa.string()),
        (oracledb.DB_TYPE_NVARCHAR, None, None, pa.string()),
        (oracledb.DB_TYPE_CHAR, None, None, pa.string()),
        (oracledb.DB_TYPE_CLOB, None, None, pa.string()),
        (oracledb.DB_TYPE_NCLOB, None, None, pa.string()),
        (oracledb.DB_TYPE_LONG, None, None, pa.string()),
        (oracledb.DB_TYPE_ROWID, None, None, pa.string()),
        (oracledb.DB_TYPE_INTERVAL_DS, 2, 6, pa.string()),
        (oracledb.DB_TYPE_RAW, None, None, pa.binary()),
        (oracledb.DB_TYPE_LONG_RAW, None, None, pa.binary()),
        (oracledb.DB_TYPE_BLOB, None, None, pa.binary()),
        (oracledb.DB_TYPE_JSON, None, None, JSON),
    ],
)
def test_oracle_types(type_code, precision, scale, expected):
    assert oracle.arrow_type(type_code, precision, scale) == expected


def test_oracle_is_json_text_is_json():
    assert oracle.arrow_type(oracledb.DB_TYPE_CLOB, None, None, is_json=True) == JSON


@pytest.mark.parametrize("type_code", [oracledb.DB_TYPE_OBJECT, oracledb.DB_TYPE_BFILE])
def test_oracle_types_without_a_faithful_arrow_form_are_refused(type_code):
    with pytest.raises(SourceError, match=type_code.name):
        oracle.arrow_type(type_code, None, None)


def test_oracle_projection_reads_time_zones_as_utc_and_intervals_as_text():
    assert oracle.select_list([("ID", oracledb.DB_TYPE_NUMBER)]) is None
    columns = [
        ("ID", oracledb.DB_TYPE_NUMBER),
        ("at", oracledb.DB_TYPE_TIMESTAMP_TZ),
        ("GAP", oracledb.DB_TYPE_INTERVAL_DS),
    ]
    expected = '"ID", SYS_EXTRACT_UTC("at") "at", TO_CHAR("GAP") "GAP"'
    assert oracle.select_list(columns) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", "'42'"),
        ("12.50", "'12.50'"),
        ("O'Brien", "'O''Brien'"),
        ("São Paulo 🚌", "'São Paulo 🚌'"),
        ("2024-01-31 23:59:59", "TO_DATE('2024-01-31 23:59:59', 'YYYY-MM-DD HH24:MI:SS')"),
        ("2024-01-31 23:59:59.123456", "TIMESTAMP '2024-01-31 23:59:59.123456'"),
        ("2024-01-31 23:59:59' OR 1=1", "'2024-01-31 23:59:59'' OR 1=1'"),
    ],
)
def test_oracle_literal(value, expected):
    assert dialect_for("oracle").literal(None, value) == expected


def test_oracle_rows_become_exact_arrow_columns():
    schema = pa.schema(
        [
            ("ID", oracle.arrow_type(oracledb.DB_TYPE_NUMBER, 18, 0)),
            ("AMOUNT", oracle.arrow_type(oracledb.DB_TYPE_NUMBER, 12, 2)),
            ("ANY_NUMBER", oracle.arrow_type(oracledb.DB_TYPE_NUMBER, 0, -127)),
            ("RATIO", oracle.arrow_type(oracledb.DB_TYPE_NUMBER, 126, -127)),
            ("AT", oracle.arrow_type(oracledb.DB_TYPE_TIMESTAMP_TZ, 0, 6)),
            ("DAY", oracle.arrow_type(oracledb.DB_TYPE_DATE, None, None)),
            ("NAME", oracle.arrow_type(oracledb.DB_TYPE_NVARCHAR, None, None)),
            ("DOC", oracle.arrow_type(oracledb.DB_TYPE_JSON, None, None)),
            ("BLOB", oracle.arrow_type(oracledb.DB_TYPE_BLOB, None, None)),
            ("OK", oracle.arrow_type(oracledb.DB_TYPE_BOOLEAN, None, None)),
        ]
    )
    rows = [
        (
            Decimal("999999999999999999"),  # fetch_decimals: every NUMBER is a Decimal
            Decimal("-1234567890.12"),
            Decimal("12345678901234567890.123456789"),
            Decimal("0.5"),
            datetime(2024, 2, 1, 0, 30, 0, 123456),  # SYS_EXTRACT_UTC's naive UTC instant
            datetime(2024, 2, 29, 23, 59, 59),
            "Ação 🚌 \t\n\\",
            {"a": [1, Decimal("2.5"), "é"], "d": datetime(2024, 1, 1)},
            b"\x00\xff",
            False,
        ),
        (None,) * 10,
    ]
    batch = oracle.to_batch(rows, schema)
    assert batch.schema == schema
    first, second = batch.to_pylist()
    assert first == {
        "ID": 999999999999999999,
        "AMOUNT": Decimal("-1234567890.12"),
        "ANY_NUMBER": Decimal("12345678901234567890.123456789"),
        "RATIO": 0.5,
        "AT": datetime(2024, 2, 1, 0, 30, 0, 123456, tzinfo=timezone.utc),
        "DAY": datetime(2024, 2, 29, 23, 59, 59),
        "NAME": "Ação 🚌 \t\n\\",
        "DOC": '{"a": [1, "2.5", "é"], "d": "2024-01-01 00:00:00"}',
        "BLOB": b"\x00\xff",
        "OK": False,
    }
    assert set(second.values()) == {None}


def test_oracle_json_scalar_stays_json():
    schema = pa.schema([("DOC", JSON)])
    assert oracle.to_batch([("texto",)], schema).column(0).storage.to_pylist() == ['"texto"']


def test_oracle_number_beyond_its_arrow_type_fails_naming_the_column():
    schema = pa.schema([("ANY_NUMBER", oracle.UNCONSTRAINED_NUMBER)])
    with pytest.raises(SourceError, match="'ANY_NUMBER'"):
        oracle.to_batch([(Decimal("0.0000000001"),)], schema)


def test_oracle_connection_error_names_the_server_not_the_password(closed_port):
    conn = Connection("oracle", "127.0.0.1", closed_port, "FREEPDB1", "system", "s3gr3d0!")
    with pytest.raises(SourceError) as error:
        dialect_for("oracle").read_batches(conn, "SELECT 1 FROM dual", 10)
    message = str(error.value)
    assert f"127.0.0.1:{closed_port}/FREEPDB1" in message
    assert "s3gr3d0" not in message
