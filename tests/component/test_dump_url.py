# ruff: noqa: F811  (pytest fixtures are imported by name)
"""dump_url against a local HTTP server and a real DuckDB warehouse."""

import datetime as dt
import gzip
import io
import json
import threading
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.framework.config.settings import get_settings
from pipelines.framework.storage.warehouse.duckdb import warehouse_lock
from pipelines.utils.dump_url.flows import dump_url
from tests.support.dumps import place  # noqa: F401
from tests.support.file_server import FileServer

pytestmark = pytest.mark.component

CSV = (
    "id,nome,endereco,valor\n"
    '1,João,"Rua São João, 10\nFundos",1.50\n'
    '2,Zoë 😀,"",\n'
    '3,"Aspas ""duplas""",Av. Brasil,-3\n'
)


def test_csv_lands_as_exact_text(prefect_api, place):
    with FileServer({"/dados.csv": CSV.encode()}) as server:
        result = dump_url(url=server.url("/dados.csv"), dataset_id="br", table_id="csv")
    assert result["rows"] == 3
    rows = place.query(f"SELECT * FROM {place.dataset('br')}.csv ORDER BY id")
    assert rows == [
        ("1", "João", "Rua São João, 10\nFundos", "1.50"),
        ("2", "Zoë 😀", "", None),
        ("3", 'Aspas "duplas"', "Av. Brasil", "-3"),
    ]


def test_latin1_semicolon_csv_with_inferred_types(prefect_api, place):
    body = "código;município;valor\n1;Niterói;2,5\n2;São Gonçalo;3\n".encode("latin-1")
    with FileServer({"/x.csv": body}) as server:
        dump_url(
            url=server.url("/x.csv"),
            dataset_id="br",
            table_id="latin",
            encoding="latin-1",
            separator=";",
            infer_types=True,
        )
    rows = place.query(f"SELECT * FROM {place.dataset('br')}.latin ORDER BY 1")
    assert rows == [(1, "Niterói", "2,5"), (2, "São Gonçalo", "3")]


def test_inferred_csv_types_widen_when_a_later_value_does_not_fit(prefect_api, place):
    """Types come from the file's first MiB; a code that turns into text or a count that turns
    into a decimal 6 MB further makes the file be read again with the wider type, once."""
    rows = [f"{i},{i % 97},{i},2024-01-{i % 28 + 1:02d}" for i in range(300_000)]
    lines = ["id,codigo,valor,data", *rows]
    lines.append("300000,A-12,1.5,2024-02-01")
    with FileServer({"/a.csv": "\n".join(lines).encode()}) as server:
        dump_url(url=server.url("/a.csv"), dataset_id="br", table_id="t", infer_types=True)
    table = f"{place.dataset('br')}.t"
    assert place.query(f"SELECT count(*), count(DISTINCT id), sum(valor) FROM {table}") == [
        (300_001, 300_001, sum(range(300_000)) + 1.5)
    ]
    assert place.query(f"SELECT codigo, valor, data FROM {table} WHERE id = 300000") == [
        ("A-12", 1.5, dt.date(2024, 2, 1))
    ]
    types = f"SELECT typeof(id), typeof(codigo), typeof(valor) FROM {table} LIMIT 1"
    assert place.query(types) == [("BIGINT", "VARCHAR", "DOUBLE")]


def _zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_gzip_and_zip_downloads_are_unpacked(prefect_api, place):
    """Open data portals ship .csv.gz and .zip (often with a readme beside the data)."""
    csv_text = "id,bairro\n1,Méier\n2,Tijuca\n"
    files = {
        "/dados.csv.gz": gzip.compress(csv_text.encode()),
        "/dados.zip": _zipped({"LEIAME.txt": "dicionário", "dados/bairros.csv": csv_text}),
        "/dois.zip": _zipped({"a.csv": csv_text, "b.csv": "id,bairro\n3,Centro\n"}),
    }
    with FileServer(files) as server:
        dump_url(url=server.url("/dados.csv.gz"), dataset_id="br", table_id="gz")
        dump_url(url=server.url("/dados.zip"), dataset_id="br", table_id="zip")
        state = dump_url(
            url=server.url("/dois.zip"), dataset_id="br", table_id="dois", return_state=True
        )
        assert state.is_failed()
        assert "a.csv, b.csv" in str(state.result(raise_on_failure=False))
        dump_url(url=server.url("/dois.zip"), dataset_id="br", table_id="dois", zip_member="b.csv")
    ds = place.dataset("br")
    for table in ("gz", "zip"):
        assert place.query(f"SELECT * FROM {ds}.{table} ORDER BY id") == [
            ("1", "Méier"),
            ("2", "Tijuca"),
        ]
    assert place.query(f"SELECT * FROM {ds}.dois") == [("3", "Centro")]


def test_a_truncated_gzip_fails_and_keeps_the_table(prefect_api, place):
    packed = gzip.compress(("id,v\n" + "".join(f"{i},{i}\n" for i in range(50_000))).encode())
    files = {"/ok.csv.gz": packed, "/cortado.csv.gz": packed[: len(packed) // 2]}
    with FileServer(files) as server:
        dump_url(url=server.url("/ok.csv.gz"), dataset_id="br", table_id="t")
        state = dump_url(
            url=server.url("/cortado.csv.gz"), dataset_id="br", table_id="t", return_state=True
        )
    assert state.is_failed()
    assert "arquivo compactado inválido" in str(state.result(raise_on_failure=False))
    assert place.query(f"SELECT count(*) FROM {place.dataset('br')}.t") == [(50_000,)]


def test_a_load_that_finds_the_warehouse_busy_is_tried_again(prefect_api, place, monkeypatch):
    """Another load holds the warehouse longer than this one waits (1 s here, 15 min by
    default): the load task fails with WarehouseBusyError and Prefect runs it again 10 s later."""
    monkeypatch.setenv("PIPELINES_WAREHOUSE_LOCK_TIMEOUT", "1")
    get_settings.cache_clear()
    with FileServer({"/a.csv": b"id\n1\n2\n"}) as server:
        dump_url(url=server.url("/a.csv"), dataset_id="br", table_id="t")
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with warehouse_lock(place.warehouse_path, timeout=10):
                held.set()
                release.wait(5)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(10)
        try:
            result = dump_url(
                url=server.url("/a.csv"), dataset_id="br", table_id="t", dump_mode="append"
            )
        finally:
            release.set()
            holder.join()
    assert result["rows"] == 2
    assert place.query(f"SELECT count(*) FROM {place.dataset('br')}.t") == [(4,)]


def test_malformed_row_fails_naming_it_or_is_skipped(prefect_api, place):
    good = "a,b\n1,2\n"
    bad = "a,b\n1,2\n3,4,5\n6,7\n"
    with FileServer({"/good.csv": good.encode(), "/bad.csv": bad.encode()}) as server:
        dump_url(url=server.url("/good.csv"), dataset_id="br", table_id="t")
        state = dump_url(
            url=server.url("/bad.csv"), dataset_id="br", table_id="t", return_state=True
        )
        assert state.is_failed()
        message = str(state.result(raise_on_failure=False))
        assert "3,4,5" in message and "Expected 2 columns" in message, message
        assert place.query(f"SELECT * FROM {place.dataset('br')}.t") == [("1", "2")]
        dump_url(url=server.url("/bad.csv"), dataset_id="br", table_id="t", on_bad_lines="skip")
    assert place.query(f"SELECT * FROM {place.dataset('br')}.t ORDER BY a") == [
        ("1", "2"),
        ("6", "7"),
    ]


def test_json_jsonl_and_parquet(prefect_api, place):
    items = [{"id": 1, "nome": "Ana", "tags": ["a"]}, {"id": 2, "nome": "Çá", "tags": []}]
    parquet = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2], "v": [1.5, None]}), parquet)
    files = {
        "/a.json": json.dumps(items).encode(),
        "/a.jsonl": "\n".join(json.dumps(i) for i in items).encode(),
        "/a.parquet": parquet.getvalue(),
    }
    with FileServer(files) as server:
        dump_url(url=server.url("/a.json"), dataset_id="br", table_id="js", file_format="json")
        dump_url(url=server.url("/a.jsonl"), dataset_id="br", table_id="jl", file_format="jsonl")
        dump_url(
            url=server.url("/a.parquet"), dataset_id="br", table_id="pq", file_format="parquet"
        )
    ds = place.dataset("br")
    for table in ("js", "jl"):
        assert place.query(f"SELECT id, nome, tags FROM {ds}.{table} ORDER BY id") == [
            (1, "Ana", ["a"]),
            (2, "Çá", []),
        ]
    assert place.query(f"SELECT * FROM {ds}.pq ORDER BY id") == [(1, 1.5), (2, None)]


def test_json_fields_are_typed_by_the_whole_file(prefect_api, place):
    """APIs send a field null (or whole numbers) for thousands of records and then text (or
    decimals), or add a field late; a field of mixed kinds keeps each value's JSON text."""
    late = [{"id": i, "obs": None, "valor": i, "endereco": {"rua": "A"}} for i in range(30_000)] + [
        {
            "id": 30_000,
            "obs": "atrasado",
            "valor": 1.5,
            "endereco": {"rua": "B", "numero": 7},
            "novo": True,
        }
    ]
    mixed = [{"id": 1, "codigo": 10}, {"id": 2, "codigo": "A-3"}, {"id": 3, "codigo": None}]
    files = {
        "/late.jsonl": "\n".join(json.dumps(item) for item in late).encode(),
        "/mixed.json": json.dumps(mixed).encode(),
    }
    with FileServer(files) as server:
        dump_url(
            url=server.url("/late.jsonl"), dataset_id="br", table_id="late", file_format="jsonl"
        )
        dump_url(
            url=server.url("/mixed.json"), dataset_id="br", table_id="mixed", file_format="json"
        )
    ds = place.dataset("br")
    assert place.query(f"SELECT count(*), count(obs), sum(valor) FROM {ds}.late") == [
        (30_001, 1, sum(range(30_000)) + 1.5)
    ]
    assert place.query(
        f"SELECT obs, valor, endereco.rua, endereco.numero, novo FROM {ds}.late WHERE id = 30000"
    ) == [("atrasado", 1.5, "B", 7, True)]
    assert place.query(f"SELECT id, codigo FROM {ds}.mixed ORDER BY id") == [
        (1, "10"),
        (2, '"A-3"'),
        (3, None),
    ]


def test_auth_header_comes_from_the_secret(prefect_api, place, monkeypatch):
    monkeypatch.setenv("PIPELINES_SECRET_BACKENDS", "env")
    monkeypatch.setenv("PIPELINES_SECRET_API_DADOS", json.dumps({"token": "s3cr3t-token"}))
    with FileServer({"/p.csv": b"a\n1\n"}, token="s3cr3t-token") as server:
        state = dump_url(url=server.url("/p.csv"), dataset_id="br", table_id="p", return_state=True)
        assert state.is_failed() and "401" in str(state.result(raise_on_failure=False))
        dump_url(
            url=server.url("/p.csv"), dataset_id="br", table_id="p", vault_secret_path="api/dados"
        )
    assert place.query(f"SELECT * FROM {place.dataset('br')}.p") == [("1",)]


def test_a_dump_then_materialize_builds_the_dbt_model(prefect_api, place):
    pytest.importorskip("pipelines.utils.materialize.flows")
    from pipelines.framework.stack.dev import users_csv
    from pipelines.utils.loading.tasks import materialize_table

    with FileServer({"/users.csv": users_csv(30).encode()}) as server:
        dump_url(url=server.url("/users.csv"), dataset_id="tutorial", table_id="users")
    materialize_table.fn("tutorial", "users_by_city", "dev", {"min_users_per_city": 1})
    by_city = place.query(f"SELECT sum(users) FROM {place.dataset('tutorial')}.users_by_city")
    assert by_city == [(30,)]
