# ruff: noqa: F811  (pytest fixtures are imported by name)
"""dump_url against sources that cut, hang or trickle their answers, or send another encoding:
the download is complete or the run fails, the previous table intact and the message naming the
host and path, never the credentials."""

import gzip
import socket
import time

import pytest
from prefect import get_client

from pipelines.framework.config.settings import get_settings
from pipelines.utils import http
from pipelines.utils.dump_url import flows
from pipelines.utils.dump_url.flows import dump_url
from pipelines.utils.dump_url.tasks import download_file
from tests.support.dumps import place  # noqa: F401
from tests.support.file_server import Fault, FaultServer, FileServer
from tests.support.prefect_api import run_log_messages

pytestmark = pytest.mark.component

ROWS = 50_000
CSV = ("id,v\n" + "".join(f"{i},{i}\n" for i in range(ROWS))).encode()
HALF = CSV[: CSV.index(b"\n", len(CSV) // 2) + 1]  # cut at a row end, as in the issue
PACKED = gzip.compress(CSV)


def _chunked(body: bytes, size: int = 8192) -> bytes:
    """`body` in chunked transfer encoding, without the terminating chunk."""
    pieces = (body[i : i + size] for i in range(0, len(body), size))
    return b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces)


def _with_secrets(url: str) -> str:
    """`url` carrying a password and a token, as operators paste them."""
    return url.replace("http://", "http://operador:s3nh4@", 1) + "?token=t0k3n"


def _no_secret(*texts: str) -> bool:
    return not any(secret in text for text in texts for secret in ("s3nh4", "t0k3n", "operador"))


@pytest.fixture
def quick_retries(monkeypatch):
    """The download's three retries without their 1, 2 and 4 s pauses."""
    monkeypatch.setattr(flows, "download_file", download_file.with_options(retry_delay_seconds=0))


@pytest.fixture
def http_timeout(monkeypatch, place):
    """PIPELINES_HTTP_TIMEOUT=1 for this test (settings are read once per process)."""
    monkeypatch.setenv("PIPELINES_HTTP_TIMEOUT", "1")
    get_settings.cache_clear()


def _load_the_whole_table(place) -> None:
    with FileServer({"/dados.csv": CSV}) as server:
        dump_url(url=server.url("/dados.csv"), dataset_id="br", table_id="t")
    assert _rows(place) == ROWS


def _rows(place) -> int:
    return place.query(f"SELECT count(*) FROM {place.dataset('br')}.t")[0][0]


def _failure(state) -> str:
    assert state.is_failed(), state
    return str(state.result(raise_on_failure=False))


def _logs(state, expect: str) -> list[str]:
    with get_client(sync_client=True) as client:
        return run_log_messages(client, state.state_details.flow_run_id, expect)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param(
            Fault(_chunked(HALF), {"Transfer-Encoding": "chunked"}),
            "a conexão terminou antes do fim da resposta",
            id="chunked-without-terminator",
        ),
        pytest.param(
            Fault(
                PACKED[: len(PACKED) // 2],
                {"Content-Encoding": "gzip", "Content-Length": str(len(PACKED))},
            ),
            "a conexão terminou antes do fim da resposta",
            id="gzip-shorter-than-content-length",
        ),
        pytest.param(
            Fault(PACKED[: len(PACKED) // 2], {"Content-Encoding": "gzip"}),
            "o corpo gzip acabou antes do seu fim",
            id="gzip-without-length-cut",
        ),
        pytest.param(
            Fault(
                PACKED[: len(PACKED) // 2],
                {"Content-Encoding": "gzip", "Content-Length": str(len(PACKED) // 2)},
            ),
            "o corpo gzip acabou antes do seu fim",
            id="gzip-cut-with-matching-length",
        ),
    ],
)
def test_a_body_cut_short_fails_and_keeps_the_table(
    prefect_api, place, quick_retries, fault, message
):
    _load_the_whole_table(place)
    with FaultServer({"/dados.csv": fault}) as server:
        state = dump_url(
            url=server.url("/dados.csv"), dataset_id="br", table_id="t", return_state=True
        )
    error = _failure(state)
    assert error.startswith(f"{server.url('/dados.csv')}: ") and message in error, error
    assert len(server.requests) == 4  # a cut is worth trying again
    assert _rows(place) == ROWS


def test_a_body_without_length_closed_by_the_server_loads_with_a_warning(prefect_api, place):
    """Nothing in HTTP tells such a body's end from a cut: it loads (the overwrite's volume guard
    judges the count) and the log says its completeness could not be checked."""
    with FaultServer({"/dados.csv": Fault(HALF, {})}) as server:
        state = dump_url(
            url=server.url("/dados.csv"), dataset_id="br", table_id="t", return_state=True
        )
    assert state.is_completed(), state
    logs = _logs(state, "o servidor não informou o tamanho")
    assert any("o servidor não informou o tamanho do arquivo" in line for line in logs), logs
    assert _rows(place) == HALF.count(b"\n") - 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("fault", "message", "attempts"),
    [
        pytest.param(Fault(headers=None), "PIPELINES_HTTP_TIMEOUT", 4, id="no-answer"),
        pytest.param(
            Fault(CSV[:100], {"Content-Length": str(len(CSV))}, "hang"),
            "PIPELINES_HTTP_TIMEOUT",
            4,
            id="body-stalls",
        ),
        pytest.param(Fault(CSV[:100], {}, "trickle"), "PIPELINES_HTTP_TIMEOUT=1", 4, id="trickle"),
        pytest.param(None, "o servidor respondeu 404 Not Found", 1, id="404"),
    ],
)
def test_a_failing_source_fails_in_bounded_time_naming_the_url_not_its_secrets(
    prefect_api, place, http_timeout, quick_retries, fault, message, attempts
):
    _load_the_whole_table(place)
    with FaultServer({} if fault is None else {"/dados.csv": fault}) as server:
        started = time.monotonic()
        state = dump_url(
            url=_with_secrets(server.url("/dados.csv")),
            dataset_id="br",
            table_id="t",
            return_state=True,
        )
        seconds = time.monotonic() - started
    error = _failure(state)
    assert f"{server.url('/dados.csv')}: " in error and message in error, error
    assert len(server.requests) == attempts
    assert seconds < 20, seconds  # before: 60 s per attempt whatever the timeout
    assert _no_secret(error, *_logs(state, "Finished in state Failed")), error
    assert _rows(place) == ROWS


def test_a_refused_connection_names_the_url_not_its_secrets(prefect_api, place, quick_retries):
    url = f"http://127.0.0.1:{_closed_port()}/dados.csv"
    state = dump_url(url=_with_secrets(url), dataset_id="br", table_id="t", return_state=True)
    error = _failure(state)
    assert f"{url}: falha ao conectar" in error and _no_secret(error), error


def test_http_get_bounds_its_time_and_names_the_url(http_timeout):
    """The helper other flows call directly: the same bounds and messages."""
    with FaultServer({"/api": Fault(b"{", {}, "trickle")}) as server:
        started = time.monotonic()
        with pytest.raises(http.HttpTimeoutError) as raised:
            http.get(_with_secrets(server.url("/api")))
    assert time.monotonic() - started < 10
    assert str(raised.value).startswith(f"{server.url('/api')}: a resposta não terminou em ")
    assert _no_secret(str(raised.value)) and http.is_transient_http_error(raised.value)


LATIN1_CSV = "código,município\n1,Niterói\n2,São Gonçalo\n".encode("latin-1")
LATIN1_JSONL = '{"id": 1, "municipio": "Niterói"}\n{"id": 2, "municipio": "São Gonçalo"}\n'


@pytest.mark.parametrize(
    ("path", "body", "file_format"),
    [
        ("/a.csv", LATIN1_CSV, "csv"),
        # the header in ASCII: the error is pyarrow's, not Python's
        ("/a.csv", b"id,municipio\n1,Niter\xf3i\n2,S\xe3o Gon\xe7alo\n", "csv"),
        ("/a.jsonl", LATIN1_JSONL.encode("latin-1"), "jsonl"),
        ("/a.json", f"[{LATIN1_JSONL.strip().replace(chr(10), ',')}]".encode("latin-1"), "json"),
    ],
)
def test_a_file_in_another_encoding_fails_suggesting_encoding_which_then_works(
    prefect_api, place, path, body, file_format
):
    """pyarrow would load a latin-1 JSON as "Niter\ufffdi" without a word; a CSV fails."""
    with FileServer({path: body}) as server:
        options = {"url": server.url(path), "dataset_id": "br", "file_format": file_format}
        state = dump_url(**options, table_id="t", return_state=True)
        assert "encoding='latin-1'" in _failure(state)
        dump_url(**options, table_id="t", encoding="latin-1")
    loaded = place.query(f"SELECT * FROM {place.dataset('br')}.t ORDER BY 1")
    assert [row[1] for row in loaded] == ["Niterói", "São Gonçalo"]


def test_the_skipped_rows_warning_says_what_is_wrong_with_each(prefect_api, place):
    bad = b"a,b\n1,2\n3,4,5\n6,7\n8\n"
    with FileServer({"/bad.csv": bad}) as server:
        state = dump_url(
            url=server.url("/bad.csv"),
            dataset_id="br",
            table_id="t",
            on_bad_lines="skip",
            return_state=True,
        )
    assert state.is_completed(), state
    [warning] = [line for line in _logs(state, "malformada") if "malformada" in line]
    assert warning == (
        "2 linha(s) malformada(s) ignorada(s): tem 3 coluna(s), o cabeçalho 2: '3,4,5'; "
        "tem 1 coluna(s), o cabeçalho 2: '8'"
    )
    assert place.query(f"SELECT * FROM {place.dataset('br')}.t ORDER BY a") == [
        ("1", "2"),
        ("6", "7"),
    ]
