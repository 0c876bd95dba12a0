"""GoogleSQL and BigQuery's types as the BigQuery stand-in (bigquery_api.py) runs them on DuckDB:
the statements the adapter sends, translated to DuckDB SQL (anything else is refused with
BigQuery's error shape), the REST schema of a DuckDB column, and rows encoded as tabledata.list
and getQueryResults return them."""

import base64
import datetime as dt
import decimal
import re
from collections.abc import Callable
from typing import Any

# GoogleSQL type names accepted in DDL -> DuckDB storage type. REST schemas use the legacy names.
DDL_TYPES = {
    "STRING": "VARCHAR",
    "BYTES": "BLOB",
    "INT64": "BIGINT",
    "INT": "BIGINT",
    "INTEGER": "BIGINT",
    "BIGINT": "BIGINT",
    "SMALLINT": "BIGINT",
    "TINYINT": "BIGINT",
    "BYTEINT": "BIGINT",
    "FLOAT64": "DOUBLE",
    "BOOL": "BOOLEAN",
    "BOOLEAN": "BOOLEAN",
    "NUMERIC": "DECIMAL(38, 9)",
    "DECIMAL": "DECIMAL(38, 9)",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "TIMESTAMP": "TIMESTAMPTZ",
    "TIME": "TIME",
    "JSON": "JSON",
}
LEGACY = {"BIGINT": "INTEGER", "DOUBLE": "FLOAT", "BOOLEAN": "BOOLEAN", "VARCHAR": "STRING"}
LEGACY |= {"BLOB": "BYTES", "DATE": "DATE", "TIMESTAMP": "DATETIME", "TIME": "TIME"}
LEGACY |= {"TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "DECIMAL(38,9)": "NUMERIC", "JSON": "JSON"}
RESERVED = frozenset(  # GoogleSQL's reserved keywords: identifiers only when quoted
    re.findall(
        r"\w+",
        """
        ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE CONTAINS
        CREATE CROSS CUBE CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE
        EXISTS EXTRACT FALSE FETCH FOLLOWING FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF
        IGNORE IN INNER INTERSECT INTERVAL INTO IS JOIN LATERAL LEFT LIKE LIMIT LOOKUP MERGE NATURAL
        NEW NO NOT NULL NULLS OF ON OR ORDER OUTER OVER PARTITION PRECEDING PROTO QUALIFY RANGE
        RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT TABLESAMPLE THEN TO TREAT TRUE
        UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN
        """,
    )
)
_TOKENS = re.compile(r"'(?:[^'\\]|\\.)*'|`[^`]*`|@\w+|;|[^'`@;]+|.", re.S)


class BigQueryError(Exception):
    """An error BigQuery would report: HTTP status, reason and message."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message

    def body(self) -> dict:
        error = {"message": self.message, "domain": "global", "reason": self.reason}
        return {"error": {"code": self.status, "message": self.message, "errors": [error]}}


def invalid(message: str) -> BigQueryError:
    return BigQueryError(400, "invalidQuery", message)


def rest_field(name: str, duck_type: str) -> dict:
    """A REST schema field for a DuckDB column: legacy type name, REPEATED for lists."""
    element = duck_type.removesuffix("[]").replace(", ", ",")
    if element not in LEGACY:
        raise BigQueryError(400, "invalid", f"{name}: type {duck_type} not in the stand-in")
    mode = "REPEATED" if duck_type.endswith("[]") else "NULLABLE"
    return {"name": name, "type": LEGACY[element], "mode": mode}


# --- query translation ------------------------------------------------------------------------


class Statement:
    """One GoogleSQL statement of a script and its DuckDB translation."""

    def __init__(self, kind: str, text: str, duckdb_sql: str, parameters: list[str]):
        self.kind, self.text, self.duckdb, self.parameters = kind, text, duckdb_sql, parameters
        self.like: tuple[tuple[str, str], tuple[str, str], bool] | None = None
        """CREATE TABLE ... LIKE: (target, source, whether OPTIONS cleared the expiration)."""
        self.replaced: tuple[str, str] | None = None
        """CREATE OR REPLACE TABLE ... AS SELECT: the new table (it has no expiration)."""
        self.error: str | None = None
        """SELECT IF(condition, TRUE, ERROR('message')): the job's error unless it holds."""
        self.layout: dict[str, Any] | None = None
        """CREATE (OR REPLACE) TABLE's `partition` expression, `cluster` columns, `labels` and
        the `source` table whose `columns` it takes (None: all)."""

    def __str__(self) -> str:
        return self.text


_SHAPES = [  # (kind, GoogleSQL statement the adapter sends, after names became "d"."t")
    ("BEGIN", r"BEGIN(?: TRANSACTION)?"),
    ("COMMIT", r"COMMIT(?: TRANSACTION)?"),
    ("DDL", r"CREATE TABLE (?:IF NOT EXISTS )?\S+ \((?P<columns>[^()]+)\)"),
    (
        "DDL",
        r"CREATE TABLE (?P<target>\S+) LIKE (?P<source>\S+)(?: PARTITION BY (?P<partition>.+?))?"
        r"(?: CLUSTER BY (?P<cluster>[^()]+?))?(?: OPTIONS ?\((?P<options>[^()]*)\))?",
    ),
    (
        "DDL",
        r"CREATE OR REPLACE TABLE (?P<replaced>\S+)(?: PARTITION BY (?P<partition>.+?))?"
        r"(?: CLUSTER BY (?P<cluster>[^()]+?))?(?: OPTIONS ?\((?P<roptions>.*?)\))?"
        r" AS SELECT (?P<columns_of>.+?) FROM (?P<rsource>\S+)",
    ),
    ("DDL", r"ALTER TABLE \S+ ADD COLUMN (?:IF NOT EXISTS )?\S+ (?P<type>\w+|ARRAY<\w+>)"),
    ("DELETE", r"DELETE FROM \S+ WHERE .+"),
    ("INSERT", r"INSERT INTO \S+ (?:\([^()]+\) )?(?:SELECT .+ FROM \S+|VALUES \(.+\))"),
    ("UPDATE", r"UPDATE \S+ SET .+ WHERE .+"),
    ("MERGE", r"MERGE (?P<merge>\S+ \w+ USING \(SELECT .+\) \w+ ON .+ WHEN (?:NOT )?MATCHED .+)"),
    ("CHECK", r"SELECT IF\((?P<check>.+), TRUE, ERROR\('(?P<error>[^'\\]*)'\)\)"),
    ("SELECT", r"SELECT (?P<select>.+?) FROM \S+(?: WHERE .+)?(?: ORDER BY .+)?"),
]


def parse_script(config: dict, project: str) -> list[Statement]:
    """The script's statements in DuckDB SQL; 400 for anything the stand-in does not support."""
    if config.get("useLegacySql", True):
        raise invalid("legacy SQL is not supported by the stand-in")
    statements, current = [], []
    for token in _TOKENS.findall(config["query"]):
        if token == ";":
            statements.append(current)
            current = []
        else:
            current.append(token)
    statements.append(current)
    return [_translate(tokens, project) for tokens in statements if "".join(tokens).strip()]


def _translate(tokens: list[str], project: str) -> Statement:
    text = " ".join("".join(tokens).split())
    parameters: list[str] = []
    out = []
    for token in tokens:
        if token.startswith("`"):
            out.append(_name(token[1:-1], project))
        elif token.startswith("@"):
            parameters.append(token[1:])
            out.append("$" + token[1:])
        elif token.startswith("'"):
            out.append(token)
        else:
            out.append(re.sub(r"CURRENT_TIMESTAMP\(\)", "CURRENT_TIMESTAMP", token, flags=re.I))
    duck = _timestamp_add(" ".join("".join(out).split()))
    for kind, shape in _SHAPES:
        found = re.fullmatch(shape, duck, re.I | re.S)
        if found:
            statement = Statement(kind, text, _adapt(found, duck), sorted(set(parameters)))
            groups = found.groupdict()
            if groups.get("target"):
                statement.like = _like(found)
                statement.layout = _layout(found, groups["source"], None, None)
            if groups.get("replaced"):
                dataset, table = groups["replaced"].replace('"', "").split(".")
                statement.replaced = (dataset, table)
                statement.layout = _layout(
                    found, groups["rsource"], groups["columns_of"], groups.get("roptions")
                )
            statement.error = groups.get("error")
            return statement
    raise invalid(f"statement not supported by the stand-in: {text}")


def _timestamp_add(duck: str) -> str:
    """`TIMESTAMP_ADD(t, INTERVAL n SECOND)` (GoogleSQL) as DuckDB's `(t + to_seconds(n))`; other
    parts than SECOND are refused."""
    for part in re.findall(r"TIMESTAMP_ADD\(.+?, INTERVAL \S+ (\w+)\)", duck, re.I):
        if part.upper() != "SECOND":
            raise invalid(f"the stand-in supports TIMESTAMP_ADD by SECOND only, not {part}")
    return re.sub(
        r"TIMESTAMP_ADD\((.+?), INTERVAL (\S+) SECOND\)", r"(\1 + to_seconds(\2))", duck, flags=re.I
    )


def _name(quoted: str, project: str) -> str:
    """`project.dataset.table` as "dataset"."table"; a quoted column as "column"."""
    parts = quoted.split(".")
    if len(parts) == 1:
        return f'"{quoted}"'
    if len(parts) != 3 or parts[0] != project:
        raise BigQueryError(404, "notFound", f"Not found: {quoted} (the stand-in has {project})")
    return f'"{parts[1]}"."{parts[2]}"'


def _layout(found: re.Match, source: str, columns: str | None, options: str | None) -> dict:
    """The partitioning, clustering and labels a CREATE declares (checked against the source's
    columns when it runs)."""
    labels: dict[str, str] = {}
    if options:
        listed = re.fullmatch(r"labels ?= ?\[(?P<pairs>.*)\]", " ".join(options.split()), re.I)
        if not listed:
            raise invalid(f"the stand-in supports OPTIONS(labels=[...]) only here: {options}")
        labels = dict(
            re.findall(r"\('([a-z0-9_-]{1,63})', ?'([a-z0-9_-]{0,63})'\)", listed["pairs"])
        )
    cluster = [c.strip().strip('"') for c in (found.group("cluster") or "").split(",") if c.strip()]
    selected = (
        None if columns in (None, "*") else [c.strip().strip('"') for c in columns.split(",")]
    )
    return {
        "partition": found.group("partition"),
        "cluster": cluster,
        "labels": labels,
        "source": tuple(source.replace('"', "").split(".")),
        "columns": selected,
    }


def partition_spec(expression: str | None, types: dict[str, str]) -> dict:
    """The REST partitioning of a PARTITION BY expression over columns of `types` (REST type
    names), or BigQuery's error for one it does not take."""
    if expression is None:
        return {}
    column = re.fullmatch(r'"(\w+)"', expression)
    day = re.fullmatch(r'DATE\("(\w+)"\)', expression, re.I)
    ranged = re.fullmatch(
        r'RANGE_BUCKET\("(\w+)", ?GENERATE_ARRAY\((-?\d+), ?(-?\d+), ?(\d+)\)\)', expression, re.I
    )
    if column and types.get(column[1]) == "DATE":
        return {"timePartitioning": {"type": "DAY", "field": column[1]}}
    if day and types.get(day[1]) in ("TIMESTAMP", "DATETIME"):
        return {"timePartitioning": {"type": "DAY", "field": day[1]}}
    if ranged and types.get(ranged[1]) == "INTEGER":
        bounds = {"start": ranged[2], "end": ranged[3], "interval": ranged[4]}
        return {"rangePartitioning": {"field": ranged[1], "range": bounds}}
    raise invalid(
        "PARTITION BY expression must be DATE(<timestamp_column>), DATE(<datetime_column>), "
        "DATETIME_TRUNC(<datetime_column>, DAY/HOUR/MONTH/YEAR), a DATE column, "
        "TIMESTAMP_TRUNC(<timestamp_column>, DAY/HOUR/MONTH/YEAR), DATE_TRUNC(<date_column>, "
        "MONTH/YEAR), or RANGE_BUCKET(<int64_column>, GENERATE_ARRAY(<int64_value>, "
        f"<int64_value>[, <int64_value>])): {expression}"
    )


def clustering_spec(columns: list[str], types: dict[str, str]) -> dict:
    """The REST clustering of CLUSTER BY `columns`, or BigQuery's error."""
    if not columns:
        return {}
    if len(columns) > 4:
        raise invalid(f"Too many clustering columns: {len(columns)}, limit is 4")
    for name in columns:
        if name not in types:
            raise invalid(f"Unrecognized name: {name}")
        if types[name] in ("FLOAT", "JSON", "REPEATED"):
            raise invalid(f"Clustering is not supported on fields of type {types[name]}")
    return {"clustering": {"fields": list(columns)}}


def _like(found: re.Match) -> tuple[tuple[str, str], tuple[str, str], bool]:
    """LIKE copies the source's table options, its expiration included (BigQuery's
    documentation); the stand-in supports only `OPTIONS(expiration_timestamp = NULL)`."""
    options = " ".join((found.group("options") or "").split())
    if options and not re.fullmatch(r"expiration_timestamp ?= ?NULL", options, re.I):
        raise invalid(f"the stand-in supports OPTIONS(expiration_timestamp = NULL) only: {options}")
    target, source = (
        tuple(found.group(g).replace('"', "").split(".")) for g in ("target", "source")
    )
    return target, source, bool(options)  # type: ignore[return-value]


def _adapt(found: re.Match, duck: str) -> str:
    """GoogleSQL -> DuckDB where they differ; reject what BigQuery would reject."""
    groups = found.groupdict()
    if groups.get("columns"):
        definitions = []
        for column in groups["columns"].split(","):
            name, kind = column.split()
            _check_identifier(name)
            definitions.append(f"{name} {ddl_type(kind)}")
        return duck[: found.start("columns")] + ", ".join(definitions) + ")"
    if groups.get("target"):
        return f"CREATE TABLE {groups['target']} AS SELECT * FROM {groups['source']} LIMIT 0"
    if groups.get("replaced"):
        return (
            f"CREATE OR REPLACE TABLE {groups['replaced']} AS SELECT {groups['columns_of']} "
            f"FROM {groups['rsource']}"
        )
    if groups.get("type"):
        return duck[: found.start("type")] + ddl_type(groups["type"])
    if groups.get("merge"):
        return "MERGE INTO " + groups["merge"]
    if groups.get("check"):
        return f"SELECT ({groups['check']})"
    if groups.get("select"):
        for item in groups["select"].split(","):
            _check_identifier(item.split()[0])
    return duck


def ddl_type(name: str) -> str:
    element = re.fullmatch(r"ARRAY<(\w+)>", name, re.I)
    if element:
        return ddl_type(element.group(1)) + "[]"
    if name.upper() not in DDL_TYPES:
        raise invalid(f"Type not found: {name}")
    return DDL_TYPES[name.upper()]


def _check_identifier(word: str) -> None:
    if word.upper() in RESERVED:
        raise invalid(f"Syntax error: Unexpected keyword {word.upper()}")


def parameters(declared: list[dict]) -> dict[str, Any]:
    """Named query parameters as Python values (INT64 and STRING, what the adapter sends)."""
    values = {}
    for parameter in declared:
        kind = parameter["parameterType"]["type"]
        value = parameter.get("parameterValue", {}).get("value")
        if kind not in ("INT64", "STRING"):
            raise invalid(f"parameter type {kind} is not supported by the stand-in")
        if value is not None and kind == "INT64":
            value = int(value)
        values[parameter["name"]] = value
    return values


# --- row encoding -----------------------------------------------------------------------------


def encode_rows(fields: list[dict], rows: list[tuple], query: dict) -> list[dict]:
    flag = query.get("formatOptions.useInt64Timestamp", ["false"])[0]
    int64_timestamps = flag.lower() == "true"
    return [
        {"f": [_cell(v, f, int64_timestamps) for v, f in zip(row, fields, strict=True)]}
        for row in rows
    ]


def _cell(value: Any, field: dict, int64_timestamps: bool) -> dict:
    if field["mode"] == "REPEATED":  # never NULL in BigQuery: rows before an ADD COLUMN read []
        return {"v": [{"v": _encode(v, field["type"], int64_timestamps)} for v in value or []]}
    return {"v": _encode(value, field["type"], int64_timestamps)}


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_ENCODERS: dict[str, Callable[[Any], str]] = {
    "BOOLEAN": lambda value: "true" if value else "false",
    "BYTES": lambda value: base64.b64encode(value).decode(),
    "NUMERIC": lambda value: format(decimal.Decimal(value).normalize(), "f"),
    "DATE": dt.date.isoformat,
    "DATETIME": dt.datetime.isoformat,
    "TIME": dt.time.isoformat,
}


def _encode(value: Any, kind: str, int64_timestamps: bool) -> str | None:
    """A value as BigQuery's JSON rows carry it (always a string, or null)."""
    if value is None:
        return None
    if kind == "TIMESTAMP":  # microseconds, or seconds without the client's format option
        micros = (value - _EPOCH) // dt.timedelta(microseconds=1)
        return str(micros) if int64_timestamps else str(micros / 1e6)
    return _ENCODERS.get(kind, str)(value)
