"""A local stand-in for the BigQuery REST API (v2), backed by DuckDB, for the BigQuery warehouse.

It answers exactly what google-cloud-bigquery sends for
`pipelines/framework/storage/warehouse/bigquery.py` and for tests reading tables back; anything
else gets BigQuery's error shape (HTTP 400/404 with `{"error": {"code", "message", "errors":
[...]}}`), so a new statement fails loudly.
- datasets insert/get; tables list/get (BigQuery field types, numRows), patch (expirationTime
  only), delete, tabledata.list.
- jobs insert/get/getQueryResults. Jobs run at insert and are DONE at once.
  - load: Parquet objects read from the GCS emulator's JSON API; write disposition; the schema
    from Parquet as BigQuery converts it (isAdjustedToUTC timestamps are TIMESTAMP, others
    DATETIME; decimals that fit are NUMERIC); Hive partitioning in CUSTOM mode.
  - query: GoogleSQL scripts of the statements the adapter sends, translated to DuckDB SQL
    (bigquery_sql.py).
    A failing statement inside BEGIN/COMMIT TRANSACTION rolls back the whole transaction, DDL on
    permanent tables inside one is refused, and one still open when the script ends is rolled back,
    as in BigQuery. `CREATE TABLE ... LIKE` copies the source's expiration unless its OPTIONS clear
    it, as BigQuery copies table options; `CREATE OR REPLACE TABLE ... AS SELECT` makes a table
    without any. UPDATE, and MERGE with only `WHEN NOT MATCHED`, run as in BigQuery (one request
    at a time, so mutating statements are serialized as BigQuery serializes them on a table).
    `SELECT IF(condition, TRUE, ERROR('message'))` fails the job with the message unless the
    condition is TRUE.
    `PARTITION BY` (a DATE column, `DATE(<timestamp or datetime column>)`, or
    `RANGE_BUCKET(<int64 column>, GENERATE_ARRAY(start, end, interval))`) and `CLUSTER BY` (up
    to 4 columns of clusterable types) on `CREATE OR REPLACE TABLE ... AS SELECT` and `CREATE
    TABLE ... LIKE`, reported by tables.get as `timePartitioning` / `rangePartitioning` /
    `clustering`; `OPTIONS(labels=[...])` as `labels`. Replacing a table with another
    partitioning is refused ("Cannot replace a table with a different partitioning spec"), as
    BigQuery refuses it. The rows are not stored by partition: only the declarations are kept.
  - locations: a dataset keeps the location it was created with (default US); a job runs in
    its `jobReference.location` (default US) and fails with notFound for a dataset of another
    location it loads into or names in its SQL.
    `inject_failure` makes statements matching a regex fail (failure injection).
"""

import functools
import json
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import duckdb
import httpx

from tests.support.bigquery_sql import (
    DDL_TYPES,
    LEGACY,
    BigQueryError,
    Statement,
    clustering_spec,
    encode_rows,
    invalid,
    parameters,
    parse_script,
    partition_spec,
    rest_field,
)
from tests.support.loopback import LoopbackServer, QuietHandler

PREFIX = "/bigquery/v2/projects/"

# A Parquet column as DuckDB reads it -> its BigQuery type when loaded (BigQuery's conversions).
PARQUET = {"TINYINT": "INTEGER", "SMALLINT": "INTEGER", "INTEGER": "INTEGER", "UTINYINT": "INTEGER"}
PARQUET |= {"USMALLINT": "INTEGER", "UINTEGER": "INTEGER", "FLOAT": "FLOAT"}
PARQUET |= {f"TIMESTAMP_{unit}": "DATETIME" for unit in ("S", "MS", "NS")}
PARQUET |= {k: v for k, v in LEGACY.items() if not k.startswith("DECIMAL")}
LOAD_OPTIONS = {"sourceUris", "destinationTable", "sourceFormat", "writeDisposition"}
LOAD_OPTIONS |= {"createDisposition", "hivePartitioningOptions", "parquetOptions"}


class BigQueryAPI(LoopbackServer):
    """Serve the stand-in for one project on a free loopback port; use as a context manager."""

    def __init__(self, gcs_endpoint: str, project: str = "test-project"):
        self.project = project
        self.gcs_endpoint = gcs_endpoint
        self.failures: list[list] = []  # [regex, message, times left or None for always]
        self.db = duckdb.connect()
        self.db.execute("SET TimeZone = 'UTC'")
        self.lock = threading.Lock()
        self._jobs: dict[str, dict] = {}
        self._results: dict[str, tuple[list[dict], list[tuple]]] = {}
        self.expirations: dict[tuple[str, str], str] = {}  # (dataset, table) -> ms since epoch
        self.layouts: dict[tuple[str, str], dict] = {}  # partitioning, clustering, labels
        self.locations: dict[str, str] = {}  # dataset -> its location
        self.statements: list[str] = []
        """Every statement of every query job, as sent (what the adapter asked BigQuery)."""
        super().__init__()

    def handler(self):
        api = self

        class Handler(QuietHandler):
            """One REST call at a time: DuckDB's connection and the jobs are shared."""

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                try:
                    with api.lock:
                        status, answer = api.route(method, url.path, parse_qs(url.query), body)
                except BigQueryError as exc:
                    status, answer = exc.status, exc.body()
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    # a 400, not a 5xx the client would retry for ten minutes
                    error = BigQueryError(400, "invalid", f"stand-in failed: {exc!r}")
                    status, answer = 400, error.body()
                data = b"" if answer is None else json.dumps(answer).encode()
                self.reply(status, data, "application/json" if data else None)

            def do_GET(self):  # noqa: N802  (http.server names)
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def do_DELETE(self):  # noqa: N802
                self._serve("DELETE")

            def do_PATCH(self):  # noqa: N802
                self._serve("PATCH")

        return Handler

    # --- REST routing -------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict, body: dict) -> tuple[int, Any]:
        """Dispatch one REST call: (HTTP status, JSON answer or None)."""
        parts = path.removeprefix(PREFIX).strip("/").split("/")
        if not path.startswith(PREFIX) or parts[0] != self.project:
            raise BigQueryError(404, "notFound", f"Not found: {method} {path}")
        routes: dict[tuple, Callable] = {
            ("POST", "datasets"): lambda: self._insert_dataset(body),
            ("GET", "datasets", 1): lambda: self._get_dataset(parts[2]),
            ("GET", "datasets", 1, "tables"): lambda: self._list_tables(parts[2]),
            ("GET", "datasets", 1, "tables", 1): lambda: self._get_table(parts[2], parts[4]),
            ("DELETE", "datasets", 1, "tables", 1): lambda: self._delete_table(parts[2], parts[4]),
            ("PATCH", "datasets", 1, "tables", 1): lambda: self._patch_table(
                parts[2], parts[4], body
            ),
            ("GET", "datasets", 1, "tables", 1, "data"): lambda: self._list_rows(
                parts[2], parts[4], query
            ),
            ("POST", "jobs"): lambda: self._insert_job(body),
            ("GET", "jobs", 1): lambda: (200, self._job(parts[2])),
            ("GET", "queries", 1): lambda: self._query_results(parts[2], query),
        }
        shape = (method, *(p if i % 2 else 1 for i, p in enumerate(parts[1:], 1)))
        if shape not in routes:
            raise BigQueryError(400, "invalid", f"not supported by the stand-in: {method} {path}")
        return routes[shape]()

    def _insert_dataset(self, body: dict) -> tuple[int, dict]:
        dataset = body["datasetReference"]["datasetId"]
        if self._dataset_exists(dataset):
            raise BigQueryError(
                409, "duplicate", f"Already Exists: Dataset {self.project}:{dataset}"
            )
        self.db.execute(f'CREATE SCHEMA "{dataset}"').fetchall()
        self.locations[dataset] = body.get("location") or "US"
        return 200, self._dataset_resource(dataset)

    def _get_dataset(self, dataset: str) -> tuple[int, dict]:
        if not self._dataset_exists(dataset):
            raise BigQueryError(404, "notFound", f"Not found: Dataset {self.project}:{dataset}")
        return 200, self._dataset_resource(dataset)

    def _dataset_resource(self, dataset: str) -> dict:
        reference = {"projectId": self.project, "datasetId": dataset}
        return {
            "kind": "bigquery#dataset",
            "id": f"{self.project}:{dataset}",
            "datasetReference": reference,
            "location": self.locations.get(dataset, "US"),
        }

    def _dataset_exists(self, dataset: str) -> bool:
        found = "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = ? AND NOT internal"
        return self.db.execute(found, [dataset]).fetchall()[0][0] > 0

    def _get_table(self, dataset: str, table: str) -> tuple[int, dict]:
        schema = self.schema(dataset, table)
        rows = self.db.execute(f'SELECT count(*) FROM "{dataset}"."{table}"').fetchall()[0][0]
        reference = {"projectId": self.project, "datasetId": dataset, "tableId": table}
        return 200, {
            "kind": "bigquery#table",
            "id": f"{self.project}:{dataset}.{table}",
            "tableReference": reference,
            "schema": {"fields": schema},
            "numRows": str(rows),
            "type": "TABLE",
            "location": self.locations.get(dataset, "US"),
            **self.layouts.get((dataset, table), {}),
            **(
                {"expirationTime": self.expirations[dataset, table]}
                if (dataset, table) in self.expirations
                else {}
            ),
        }

    def _patch_table(self, dataset: str, table: str, body: dict) -> tuple[int, dict]:
        """tables.patch: only the expiration (what the adapter sets on its temporary tables)."""
        self.schema(dataset, table)  # 404 when missing
        if set(body) - {"expirationTime", "tableReference"}:
            raise invalid(f"the stand-in patches expirationTime only, not {sorted(body)}")
        self.expirations[dataset, table] = body["expirationTime"]
        return self._get_table(dataset, table)

    def _list_tables(self, dataset: str) -> tuple[int, dict]:
        self._get_dataset(dataset)  # 404 when missing
        names = self.db.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? ORDER BY 1", [dataset]
        ).fetchall()
        tables = [
            {
                "kind": "bigquery#table",
                "type": "TABLE",
                "tableReference": {
                    "projectId": self.project,
                    "datasetId": dataset,
                    "tableId": name,
                },
            }
            for (name,) in names
        ]
        return 200, {"kind": "bigquery#tableList", "tables": tables, "totalItems": len(tables)}

    def _delete_table(self, dataset: str, table: str) -> tuple[int, None]:
        self.schema(dataset, table)  # 404 when missing
        self.db.execute(f'DROP TABLE "{dataset}"."{table}"').fetchall()
        self.expirations.pop((dataset, table), None)
        self.layouts.pop((dataset, table), None)
        return 204, None

    def _list_rows(self, dataset: str, table: str, query: dict) -> tuple[int, dict]:
        fields = self.schema(dataset, table)
        rows = self.db.execute(f'SELECT * FROM "{dataset}"."{table}"').fetchall()
        return 200, {
            "kind": "bigquery#tableDataList",
            "totalRows": str(len(rows)),
            "rows": encode_rows(fields, rows, query),
        }

    def schema(self, dataset: str, table: str) -> list[dict]:
        """A table's REST schema (legacy type names, as BigQuery returns them); 404 if missing."""
        columns = self.db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [dataset, table],
        ).fetchall()
        if not columns:
            raise BigQueryError(
                404, "notFound", f"Not found: Table {self.project}:{dataset}.{table}"
            )
        return [rest_field(name, kind) for name, kind in columns]

    # --- jobs ---------------------------------------------------------------------------------

    def _insert_job(self, body: dict) -> tuple[int, dict]:
        reference = body.get("jobReference") or {}
        job_id = reference.get("jobId") or uuid.uuid4().hex
        if job_id in self._jobs:
            raise BigQueryError(409, "duplicate", f"Already Exists: Job {self.project}:{job_id}")
        config = body.get("configuration", {})
        location = reference.get("location") or "US"
        if "query" in config:
            script = parse_script(config["query"], self.project)  # unsupported SQL: 400 here
            datasets = re.findall(
                rf"`{re.escape(self.project)}\.([^.`]+)\.", config["query"]["query"]
            )
            run = functools.partial(self._run_script, job_id, script, config["query"])
        elif "load" in config:
            datasets = [config["load"]["destinationTable"]["datasetId"]]
            run = functools.partial(self._run_load, config["load"])
        else:
            raise BigQueryError(400, "invalid", f"not supported by the stand-in: job {config}")
        run = functools.partial(self._in_location, location, datasets, run)
        now = str(int(time.time() * 1000))
        job = {
            "kind": "bigquery#job",
            "id": f"{self.project}:US.{job_id}",
            "jobReference": {"projectId": self.project, "jobId": job_id, "location": location},
            "configuration": config,
            "statistics": {"creationTime": now, "startTime": now},
            "status": {"state": "DONE"},
        }
        try:
            job["statistics"].update(run())
        except BigQueryError as exc:
            error = exc.body()["error"]["errors"][0]
            job["status"] |= {"errorResult": error, "errors": [error]}
        except duckdb.Error as exc:
            error = {"reason": "invalidQuery", "message": str(exc), "domain": "global"}
            job["status"] |= {"errorResult": error, "errors": [error]}
        job["statistics"]["endTime"] = str(int(time.time() * 1000))
        self._jobs[job_id] = job
        return 200, job

    def _in_location(self, location: str, datasets: list[str], run: Callable[[], dict]) -> dict:
        """`run()`, unless a dataset the job names is in another location than the job's."""
        for dataset in datasets:
            found = self.locations.get(dataset)
            if found is not None and found.lower() != location.lower():
                raise BigQueryError(
                    404,
                    "notFound",
                    f"Not found: Dataset {self.project}:{dataset} was not found in location "
                    f"{location}",
                )
        return run()

    def jobs(self) -> list[dict]:
        """Every job inserted so far, as jobs.get returns it."""
        with self.lock:
            return list(self._jobs.values())

    def _job(self, job_id: str) -> dict:
        if job_id not in self._jobs:
            raise BigQueryError(404, "notFound", f"Not found: Job {self.project}:US.{job_id}")
        return self._jobs[job_id]

    def _query_results(self, job_id: str, query: dict) -> tuple[int, dict]:
        job = self._job(job_id)
        if "errorResult" in job["status"]:
            error = job["status"]["errorResult"]
            raise BigQueryError(400, error["reason"], error["message"])
        answer = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobComplete": True,
            "jobReference": job["jobReference"],
        }
        if job_id in self._results:
            fields, rows = self._results[job_id]
            answer |= {"schema": {"fields": fields}, "totalRows": str(len(rows))}
            if query.get("maxResults") != ["0"]:
                answer["rows"] = encode_rows(fields, rows, query)
        return 200, answer

    def _run_script(self, job_id: str, script: list[Statement], config: dict) -> dict:
        params = parameters(config.get("queryParameters", []))
        in_transaction = False
        try:
            for statement in script:
                self.statements.append(statement.text)
                self._maybe_fail(statement)
                if statement.kind == "BEGIN":
                    if in_transaction:
                        raise invalid("Nested transactions are not supported")
                    self.db.begin()
                    in_transaction = True
                elif statement.kind == "COMMIT":
                    if not in_transaction:
                        raise invalid("COMMIT TRANSACTION without BEGIN TRANSACTION")
                    self.db.commit()
                    in_transaction = False
                else:
                    if in_transaction and statement.kind == "DDL":
                        raise invalid(f"DDL on a permanent table in a transaction: {statement}")
                    self._execute(job_id, statement, params)
            if in_transaction:  # the script ended inside it: BigQuery rolls it back, no error
                self.db.rollback()
                in_transaction = False
        except Exception:
            if in_transaction:
                self.db.rollback()
            raise
        kind = script[0].kind if len(script) == 1 else "SCRIPT"
        return {"query": {"statementType": kind}}

    def inject_failure(self, pattern: str, message: str = "injected failure", times=None) -> None:
        """Statements matching `pattern` fail with `message` (the next `times` ones, or all)."""
        self.failures.append([pattern, message, times])

    def _maybe_fail(self, statement: Statement) -> None:
        for failure in self.failures:
            pattern, message, times = failure
            if re.search(pattern, statement.text) and times != 0:
                failure[2] = None if times is None else times - 1
                raise invalid(f"{message}: {statement.text}")

    def _execute(self, job_id: str, statement: Statement, params: dict[str, Any]) -> None:
        missing = set(statement.parameters) - set(params)
        if missing:
            raise invalid(f"Query parameter '{sorted(missing)[0]}' not found")
        used = {name: params[name] for name in statement.parameters}
        if statement.kind == "CHECK":  # FALSE or NULL: IF takes the ERROR branch
            if self.db.execute(statement.duckdb, used).fetchall()[0][0] is not True:
                raise invalid(statement.error)
            return
        if statement.kind != "SELECT":
            layout = self._check_layout(statement)
            self.db.execute(statement.duckdb, used).fetchall()
            if layout is not None:
                target = statement.replaced or statement.like[0]  # type: ignore[index]
                self.layouts[target] = layout
            if statement.like:
                target, source, cleared = statement.like
                if source in self.expirations and not cleared:
                    self.expirations[target] = self.expirations[source]
            if statement.replaced:  # a new table: no options of the one it replaced
                self.expirations.pop(statement.replaced, None)
            return
        result = self.db.sql(statement.duckdb, params=used)
        fields = [rest_field(n, str(k)) for n, k in zip(result.columns, result.types, strict=True)]
        self._results[job_id] = (fields, result.fetchall())

    def _check_layout(self, statement: Statement) -> dict | None:
        """The REST partitioning, clustering and labels a CREATE gives its table, checked as
        BigQuery checks them; a replacement keeps the table's partitioning or fails."""
        if statement.layout is None:
            return None
        layout = statement.layout
        fields = self.schema(*layout["source"])
        types = {f["name"]: ("REPEATED" if f["mode"] == "REPEATED" else f["type"]) for f in fields}
        if layout["columns"] is not None:
            types = {name: types[name] for name in layout["columns"] if name in types}
        spec = partition_spec(layout["partition"], types)
        spec |= clustering_spec(layout["cluster"], types)
        target = statement.replaced
        if target is not None and self._table_exists(*target):
            current = self.layouts.get(target, {})
            new_part = {k: v for k, v in spec.items() if k.endswith("Partitioning")}
            old_part = {k: v for k, v in current.items() if k.endswith("Partitioning")}
            if new_part != old_part:
                raise invalid(
                    "Cannot replace a table with a different partitioning spec. Instead, DROP "
                    "the table, and then recreate it. New partitioning spec is "
                    f"{new_part or 'none'} and existing spec is {old_part or 'none'}."
                )
        return spec | ({"labels": layout["labels"]} if layout["labels"] else {})

    def _table_exists(self, dataset: str, table: str) -> bool:
        found = "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?"
        return self.db.execute(found, [dataset, table]).fetchall()[0][0] > 0

    def _run_load(self, config: dict) -> dict:
        unknown = set(config) - LOAD_OPTIONS
        if unknown or config.get("sourceFormat") != "PARQUET":
            raise BigQueryError(400, "invalid", f"load options not supported: {sorted(unknown)}")
        destination = config["destinationTable"]
        dataset, table = destination["datasetId"], destination["tableId"]
        if not self._dataset_exists(dataset):
            raise BigQueryError(404, "notFound", f"Not found: Dataset {self.project}:{dataset}")
        hive = _hive_layout(config.get("hivePartitioningOptions"))
        lists = config.get("parquetOptions", {}).get("enableListInference", False)
        with tempfile.TemporaryDirectory() as folder:
            selects = [
                self._parquet_select(uri, Path(folder) / f"{i}.parquet", hive, lists)
                for i, uri in enumerate(config["sourceUris"])
            ]
            source = " UNION ALL BY NAME ".join(selects)
            self.db.execute(f"CREATE TEMP TABLE _load AS {source}").fetchall()
        try:
            rows = self._write_loaded(dataset, table, config.get("writeDisposition"))
        finally:
            self.db.execute("DROP TABLE IF EXISTS temp._load").fetchall()
        return {"load": {"outputRows": str(rows), "inputFiles": str(len(config["sourceUris"]))}}

    def _parquet_select(
        self, uri: str, local: Path, hive: tuple[str, list] | None, lists: bool
    ) -> str:
        """Download one object; the SELECT that reads it as BigQuery converts it."""
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        if not uri.startswith("gs://") or "*" in uri:
            raise BigQueryError(400, "invalid", f"URI not supported by the stand-in: {uri}")
        url = f"{self.gcs_endpoint}/storage/v1/b/{bucket}/o/{quote(name, safe='')}"
        answer = httpx.get(url, params={"alt": "media"}, timeout=60)
        if answer.status_code == 404:
            raise BigQueryError(404, "notFound", f"Not found: URI {uri}")
        answer.raise_for_status()
        local.write_bytes(answer.content)
        described = self.db.execute(f"DESCRIBE SELECT * FROM read_parquet('{local}')").fetchall()
        columns = [_loaded_column(name, duck_type, lists) for name, duck_type, *_ in described]
        columns += _hive_columns(uri, hive)
        return f"SELECT {', '.join(columns)} FROM read_parquet('{local}')"

    def _write_loaded(self, dataset: str, table: str, disposition: str | None) -> int:
        name = f'"{dataset}"."{table}"'
        exists = self.db.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [dataset, table],
        ).fetchall()[0][0]
        disposition = disposition or "WRITE_APPEND"
        if not exists or disposition == "WRITE_TRUNCATE":
            self.db.execute(
                f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM temp._load"
            ).fetchall()
        elif disposition == "WRITE_APPEND":
            loaded = self.db.execute("DESCRIBE temp._load").fetchall()
            current = self.db.execute(f"DESCRIBE {name}").fetchall()
            if [r[:2] for r in loaded] != [r[:2] for r in current]:
                raise BigQueryError(400, "invalid", f"Provided Schema does not match Table {table}")
            self.db.execute(f"INSERT INTO {name} SELECT * FROM temp._load").fetchall()
        else:
            raise BigQueryError(400, "invalid", f"writeDisposition not supported: {disposition}")
        return self.db.execute("SELECT count(*) FROM temp._load").fetchall()[0][0]


# --- load helpers -----------------------------------------------------------------------------


def _loaded_column(name: str, duck_type: str, lists: bool) -> str:
    """A Parquet column as loaded. A LIST is an ARRAY (REPEATED field) with list inference,
    NULL becoming []; without it BigQuery nests RECORDs the stand-in does not implement."""
    if not duck_type.endswith("[]"):
        return f'CAST("{name}" AS {_loaded_type(name, duck_type)}) AS "{name}"'
    if not lists:
        raise BigQueryError(400, "invalid", f"{name}: LIST without enableListInference")
    element = _loaded_type(name, duck_type[:-2])
    return f'coalesce(CAST("{name}" AS {element}[]), []) AS "{name}"'


def _loaded_type(column: str, duck_type: str) -> str:
    """DuckDB storage type of a Parquet column once BigQuery loads it (its REST type's)."""
    found = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duck_type)
    if found:
        precision, scale = map(int, found.groups())
        if scale <= 9 and precision - scale <= 29:
            return DDL_TYPES["NUMERIC"]
        raise BigQueryError(400, "invalid", f"{column}: BIGNUMERIC is not in the stand-in")
    if duck_type not in PARQUET:
        raise BigQueryError(400, "invalid", f"{column}: Parquet type {duck_type} not supported")
    return DDL_TYPES[PARQUET[duck_type].replace("FLOAT", "FLOAT64")]


def _hive_layout(options: dict | None) -> tuple[str, list[tuple[str, str]]] | None:
    """(URI prefix, [(key, BigQuery type)]) of CUSTOM Hive partitioning, or None."""
    if not options:
        return None
    found = re.fullmatch(r"(gs://.+?)/((?:\{\w+:\w+\}/?)+)", options.get("sourceUriPrefix", ""))
    if options.get("mode") != "CUSTOM" or not found:
        raise BigQueryError(400, "invalid", f"Hive partitioning not in the stand-in: {options}")
    return found[1], re.findall(r"\{(\w+):(\w+)\}", found[2])


def _hive_columns(uri: str, hive: tuple[str, list[tuple[str, str]]] | None) -> list[str]:
    """The typed partition columns of one file, from its `key=value` folders."""
    if hive is None:
        return []
    prefix, keys = hive
    if not uri.startswith(prefix + "/"):
        raise BigQueryError(400, "invalid", f"{uri} does not start with {prefix}")
    folders = uri[len(prefix) + 1 :].split("/")[:-1]
    if len(folders) != len(keys):
        raise BigQueryError(400, "invalid", f"{uri}: partition keys {keys} do not match")
    columns = []
    for folder, (key, kind) in zip(folders, keys, strict=True):
        name, _, value = folder.partition("=")
        if name != key or "%" in value or value == "__HIVE_DEFAULT_PARTITION__":
            raise BigQueryError(400, "invalid", f"{uri}: folder {folder} not in the stand-in")
        columns.append(f"CAST('{value}' AS {DDL_TYPES[kind]}) AS \"{key}\"")
    return columns
