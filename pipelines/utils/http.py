"""
HTTP helpers for tasks: one timeout policy, errors that name the URL without its secrets, a retry
rule for transient failures, and downloads that are complete or fail.

With `PIPELINES_HTTP_TIMEOUT` = T seconds, one attempt waits at most T to connect and T for each
read, and ends by T plus the time `MIN_BYTES_PER_SECOND` needs for what it received: a hung or
trickling source stops near T, a large file that keeps arriving faster is never cut. Tasks that
retry (`RETRY_DELAYS_SECONDS`) make 4 attempts, so a hung source fails after about 4T + 7 s.
Name resolution is the system resolver's and not bounded here.
"""

import socket
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from prefect.states import State

from pipelines.framework.config import get_settings

RETRY_DELAYS_SECONDS = [1, 2, 4]
MIN_BYTES_PER_SECOND = 64 << 10
_GZIP = ("gzip", "x-gzip")


class HttpError(httpx.HTTPError):
    """A failed request, its message naming scheme, host and path only (userinfo and query
    strings carry credentials); `transient` says whether trying again may help. (Defaults let
    pickle rebuild it, as Prefect does when it stores a result.)"""

    def __init__(self, message: str, *, transient: bool = False, status_code: int | None = None):
        super().__init__(message)
        self.transient, self.status_code = transient, status_code


class HttpTimeoutError(HttpError):
    """An attempt that ran out of time (`PIPELINES_HTTP_TIMEOUT`); trying again may help."""

    def __init__(self, message: str):
        super().__init__(message, transient=True)


def is_transient_http_error(exc: BaseException) -> bool:
    """True for errors worth retrying: network failures, timeouts and 5xx answers."""
    if isinstance(exc, HttpError):
        return exc.transient
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)


def retry_on_transient_http_error(_task: Any, _task_run: Any, state: State) -> bool:
    """Prefect `retry_condition_fn`: retry a task only when its failure is transient."""
    exc = state.data if isinstance(state.data, BaseException) else None
    return exc is not None and is_transient_http_error(exc)


def public_url(url: str | httpx.URL) -> str:
    """The URL as logs and errors may show it: without userinfo, query string or fragment."""
    parts = urlsplit(str(url))
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def get(url: str, params: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
    """GET `url` whole, raising `HttpError` for any non-2xx answer or network failure."""
    with stream(url, params=params, **kwargs) as response:
        response.read()
    return response


@contextmanager
def stream(url: str, **kwargs: Any) -> Iterator[httpx.Response]:
    """GET `url` as a stream within the module's time bounds, raising `HttpError` (naming the
    URL, see `public_url`) for any non-2xx answer or network failure."""
    timeout = get_settings().http_timeout
    with (
        _Watchdog(timeout) as watchdog,
        httpx.Client(timeout=timeout, follow_redirects=True) as client,
    ):
        try:
            extensions = {"trace": watchdog.trace}
            with client.stream("GET", url, extensions=extensions, **kwargs) as response:
                watchdog.watch(response)
                response.raise_for_status()
                yield response
        except httpx.HTTPError as exc:
            if watchdog.expired:  # whatever broke, it broke because the time was up
                raise watchdog.error(url) from None
            if isinstance(exc, HttpError):
                raise
            raise _named(exc, url, timeout) from None
        if watchdog.expired:  # a body without length ends when we cut it: that is no end
            raise watchdog.error(url)


@dataclass(frozen=True)
class Download:
    """What `download` wrote; `end_checked` is False when the server declared no length and
    ended the body only by closing the connection, so a cut cannot be told from the end."""

    size: int
    seconds: float
    end_checked: bool


def download(url: str, target: Path, headers: Mapping[str, str] | None = None) -> Download:
    """Stream `url` to `target` (never whole in memory), complete only when the body ended as
    the protocol says: its Content-Length (of the bytes sent, compressed or not), the chunked
    terminator or a gzip body's own end. Gzip bodies are decoded here: httpx takes a cut gzip
    stream for a whole one."""
    started = time.monotonic()
    with (
        stream(url, headers={**(headers or {}), "Accept-Encoding": "gzip"}) as response,
        open(target, "wb") as handle,
    ):
        body = _Body.of(response, url)
        for chunk in response.iter_raw():
            handle.write(body.decode(chunk))
        end_checked = body.check_end()
        size = handle.tell()
    return Download(size, time.monotonic() - started, end_checked)


@dataclass
class _Body:
    """A response body as it arrives: decoded when gzip, and whether its end could be checked."""

    response: httpx.Response
    url: str
    gzip: "zlib._Decompress | None"

    @classmethod
    def of(cls, response: httpx.Response, url: str) -> "_Body":
        """Refuses encodings other than gzip, the only one `download` asks for."""
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", *_GZIP):
            raise HttpError(
                f"{public_url(url)}: o servidor respondeu com Content-Encoding {encoding!r}, "
                "que não foi pedido (só gzip)",
                transient=False,
            )
        return cls(response, url, _gzip_decoder() if encoding in _GZIP else None)

    def decode(self, data: bytes) -> bytes:
        """The bytes of `data` once decoded; gzip members that follow one another are joined."""
        if self.gzip is None:
            return data
        decoded = []
        while data:
            if self.gzip.eof:
                self.gzip = _gzip_decoder()
            try:
                decoded.append(self.gzip.decompress(data))
            except zlib.error as exc:
                raise self._incomplete(f"o corpo gzip é inválido ({exc})") from None
            data = self.gzip.unused_data
        return b"".join(decoded)

    def check_end(self) -> bool:
        """Raises when the body is shorter than declared; False when nothing declared its end."""
        declared = self.response.headers.get("content-length")
        received = self.response.num_bytes_downloaded
        if declared is not None and int(declared) != received:
            raise self._incomplete(f"{received} de {declared} bytes")
        if self.gzip is not None and not self.gzip.eof:
            raise self._incomplete("o corpo gzip acabou antes do seu fim")
        chunked = "chunked" in self.response.headers.get("transfer-encoding", "").lower()
        return declared is not None or chunked or self.gzip is not None

    def _incomplete(self, detail: str) -> HttpError:
        return HttpError(f"{public_url(self.url)}: download incompleto: {detail}", transient=True)


def _gzip_decoder() -> "zlib._Decompress":
    return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)


def _named(exc: httpx.HTTPError, url: str, timeout: float) -> HttpError:
    """`exc` as an HttpError naming the URL (and where a redirect led); httpx's own message of
    a status error holds the whole URL, query string and all."""
    where = public_url(url)
    failed = _request_url(exc)
    if failed is not None and public_url(failed) != where:
        where += f" (redirecionado para {public_url(failed)})"
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return HttpError(
            f"{where}: o servidor respondeu {status} {exc.response.reason_phrase}",
            transient=status >= 500,
            status_code=status,
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return HttpTimeoutError(f"{where}: sem conexão em {timeout:g}s (PIPELINES_HTTP_TIMEOUT)")
    if isinstance(exc, httpx.TimeoutException):
        return HttpTimeoutError(
            f"{where}: o servidor ficou {timeout:g}s sem responder (PIPELINES_HTTP_TIMEOUT)"
        )
    if isinstance(exc, httpx.ConnectError):
        detail = f"falha ao conectar ({exc})"
    elif isinstance(exc, httpx.RemoteProtocolError):
        detail = f"a conexão terminou antes do fim da resposta ({exc})"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return HttpError(f"{where}: {detail}", transient=is_transient_http_error(exc))


def _request_url(exc: httpx.HTTPError) -> httpx.URL | None:
    try:
        return exc.request.url
    except RuntimeError:  # raised before a request was built
        return None


class _Watchdog:
    """Cuts the connection of an attempt that outlasts its time: httpx's timeouts bound each
    connect and read, not the whole, so a source trickling bytes would hold it forever."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.started = time.monotonic()
        self.expired = False
        self._response: httpx.Response | None = None
        self._socket: socket.socket | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="http-watchdog", daemon=True)

    def __enter__(self) -> "_Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: keeps the socket of each new connection (TLS or not)."""
        if event.endswith(("connect_tcp.complete", "start_tls.complete")):
            self._socket = info["return_value"].get_extra_info("socket")
            if self.expired:
                self._cut()

    def watch(self, response: httpx.Response) -> None:
        """Counts the body of `response` toward the attempt's time (see the module's doc)."""
        self._response = response

    def error(self, url: str) -> HttpTimeoutError:
        """The error of an expired attempt."""
        received = self._received()
        pace = f"{received} bytes, menos de {MIN_BYTES_PER_SECOND >> 10} KiB/s"
        seconds = time.monotonic() - self.started
        return HttpTimeoutError(
            f"{public_url(url)}: a resposta não terminou em {seconds:.0f}s "
            f"({pace if received else 'nenhum byte do corpo'}; "
            f"PIPELINES_HTTP_TIMEOUT={self.timeout:g})"
        )

    def _received(self) -> int:
        return 0 if self._response is None else self._response.num_bytes_downloaded

    def _deadline(self) -> float:
        return self.started + self.timeout + self._received() / MIN_BYTES_PER_SECOND

    def _watch(self) -> None:
        while not self._done.wait(max(self._deadline() - time.monotonic(), 0)):
            if time.monotonic() >= self._deadline():
                self.expired = True
                self._cut()
                return

    def _cut(self) -> None:
        """Shut the socket down: a read blocked on it in another thread returns at once."""
        if self._socket is not None:
            with suppress(OSError):  # already closed
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)
