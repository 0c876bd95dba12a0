"""A local S3 for component tests: moto's server (`moto[server]`, S3 API over plain HTTP, in
memory) in a subprocess on a free loopback port, reached by s3fs through the platform's own
setting, `PIPELINES_S3_ENDPOINT_URL`.

Nothing else points s3fs at it: no `fsspec.config` entry, no `FSSPEC_S3_*` variable, so a test
that passes proves the setting reaches every place that opens `s3://` (the lake, code upload,
the pull step a worker runs, DuckDB's reads). Credentials are moto's dummy keys, given as boto's
standard variables, as a pod's Secret would give real ones.
"""

# pylint: disable=redefined-outer-name  # pytest fixtures take each other by name

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
import httpx
import pytest

from pipelines.framework.config.settings import get_settings
from pipelines.framework.stack.server import free_port

START_TIMEOUT = 60.0
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class MotoServer:
    """The running server."""

    endpoint: str
    process: subprocess.Popen
    log: Path


@dataclass(frozen=True)
class S3:
    """A fresh bucket on the server, and an s3fs filesystem that reaches it (no caches)."""

    endpoint: str
    bucket: str
    fs: fsspec.AbstractFileSystem

    def url(self, path: str = "") -> str:
        return f"s3://{self.bucket}/{path}".rstrip("/")


def start_moto(folder: Path) -> MotoServer:
    """Start moto's server on a free loopback port and wait until it answers."""
    port = free_port()
    log = folder / "moto.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped by stop_moto
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = MotoServer(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(f"{server.endpoint}/moto-api/", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_moto(server)
            raise RuntimeError(f"the moto server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def stop_moto(server: MotoServer) -> None:
    """Terminate the server (kill it if it lingers)."""
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    """One server for the session; each test gets its own bucket from `s3`."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        stop_moto(server)


@pytest.fixture
def s3(moto_server, monkeypatch) -> Iterator[S3]:
    """`PIPELINES_S3_ENDPOINT_URL` names the server, with dummy credentials, and a new bucket."""
    import s3fs  # the `s3` extra

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIPELINES_S3_ENDPOINT_URL", moto_server.endpoint)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        fs = s3fs.S3FileSystem(
            endpoint_url=moto_server.endpoint, skip_instance_cache=True, use_listings_cache=False
        )
        bucket = f"test-{uuid.uuid4().hex[:12]}"
        fs.mkdir(bucket)
        yield S3(moto_server.endpoint, bucket, fs)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        get_settings.cache_clear()
