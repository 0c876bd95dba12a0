"""A local Google Cloud Storage for component tests: `gcp-storage-emulator` (JSON API over plain
HTTP, in memory) in a subprocess on a free loopback port, and gcsfs pointed at it anonymously.

How gcsfs is pointed at it, for this process and for any subprocess a test starts:
- `fsspec.config.conf["gs"]` gives every `gs://` filesystem `endpoint_url` and `token="anon"`
  (without `anon`, google-auth would look for credentials, the metadata server included);
  `STORAGE_EMULATOR_HOST` and `FSSPEC_GS_TOKEN` say the same to subprocesses.
- gcsfs's plain `GCSFileSystem` serves `gs://`. Its experimental subclass (chosen at import by
  `GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`: off by default in 2025.12, the release the project pins,
  on by default in 2026.10) first asks for the bucket's layout over gRPC, which the emulator does
  not speak. With 2026.10 each probe times out after 60 s and, the failure not being cached, is
  repeated by the next call (create a bucket, write and read one object: 149 s instead of 3 s);
  with 2025.12 it fails at once for want of credentials. So the variable is set to false, and the
  plain class is registered for `gs`/`gcs` while a test runs (gcsfs may be imported already).
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

from pipelines.framework.stack.server import free_port

START_TIMEOUT = 60.0


@dataclass(frozen=True)
class GCSEmulator:
    """The running emulator."""

    endpoint: str
    process: subprocess.Popen
    log: Path


@dataclass(frozen=True)
class GCS:
    """A fresh bucket on the emulator, and the gcsfs filesystem that reaches it."""

    endpoint: str
    bucket: str
    fs: fsspec.AbstractFileSystem

    def url(self, path: str = "") -> str:
        return f"gs://{self.bucket}/{path}".rstrip("/")


def start_emulator(folder: Path) -> GCSEmulator:
    """Start the emulator on a free loopback port and wait until it answers."""
    port = free_port()
    log = folder / "gcs-emulator.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped by stop_emulator
            [
                sys.executable,
                "-m",
                "gcp_storage_emulator",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--in-memory",
            ],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    emulator = GCSEmulator(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(f"{emulator.endpoint}/", timeout=2).text == "OK":
                return emulator
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_emulator(emulator)
            raise RuntimeError(f"the GCS emulator did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def stop_emulator(emulator: GCSEmulator) -> None:
    """Terminate the emulator (kill it if it lingers)."""
    emulator.process.terminate()
    try:
        emulator.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        emulator.process.kill()
        emulator.process.wait(timeout=10)


def plain_gcsfs() -> type:
    """gcsfs's JSON-over-HTTP filesystem class, never the gRPC-probing subclass."""
    import gcsfs.core

    return gcsfs.core.GCSFileSystem


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory) -> Iterator[GCSEmulator]:
    """One emulator for the session; each test gets its own bucket from `gcs`."""
    emulator = start_emulator(tmp_path_factory.mktemp("gcs-emulator"))
    try:
        yield emulator
    finally:
        stop_emulator(emulator)


@pytest.fixture
def gcs(gcs_emulator, monkeypatch) -> Iterator[GCS]:
    """`gs://` reaches the emulator, anonymously, in a new bucket for this test."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.endpoint)
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    monkeypatch.setenv("FSSPEC_GS_TOKEN", "anon")
    options = {"endpoint_url": gcs_emulator.endpoint, "token": "anon", "project": "test"}
    monkeypatch.setitem(fsspec.config.conf, "gs", options)
    monkeypatch.setitem(fsspec.config.conf, "gcs", options)
    plain = plain_gcsfs()
    previous = {name: fsspec.get_filesystem_class(name) for name in ("gs", "gcs")}
    for name in previous:
        fsspec.register_implementation(name, plain, clobber=True)
    plain.clear_instance_cache()
    try:
        fs = fsspec.filesystem("gs")
        bucket = f"test-{uuid.uuid4().hex[:12]}"
        fs.mkdir(bucket)
        yield GCS(gcs_emulator.endpoint, bucket, fs)
    finally:
        plain.clear_instance_cache()
        for name, cls in previous.items():
            fsspec.register_implementation(name, cls, clobber=True)
