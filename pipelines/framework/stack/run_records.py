"""
The records `pipelines run` leaves in the state folder while its runs last: read without Prefect,
so `pipelines status` pays Prefect's import only when a record names a dead process.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

from pipelines.framework.storage import atomic_write

if TYPE_CHECKING:  # pydantic-settings (0.1 s): `pipelines status` reads the state folder without it
    from pipelines.framework.config import Settings


@dataclass(frozen=True)
class LocalRunRecord:
    """A `pipelines run` process and the tag of its runs: enough to tell later that it died."""

    tag: str
    url: str
    host: str
    pid: int
    started: str | None
    """The process's start time (clock ticks since boot): a reused pid is another process."""

    def is_alive(self) -> bool:
        return self.host != socket.gethostname() or process_start(self.pid) == self.started

    def crash_message(self) -> str:
        return (
            f"The `pipelines run` process running this run (pid {self.pid} on {self.host}) "
            "ended without reporting its end (killed, out of memory or its machine stopped): "
            "marked Crashed by the next `pipelines` command."
        )


def records_dir(home: Path) -> Path:
    return home / "local-runs"


@contextmanager
def recorded(settings: Settings, url: str, pid: int | None = None) -> Iterator[str]:
    """A record of process `pid` (default: this one) for as long as its runs last; yields the
    tag they carry. A warm runner's child names its caller: the runs die with that process.

    Without /proc (not Linux) a dead process cannot be told from a live one: no record then.
    """
    key = uuid4().hex[:12]
    pid = os.getpid() if pid is None else pid
    started = process_start(pid)
    record = LocalRunRecord(f"pipelines-run:{key}", url, socket.gethostname(), pid, started)
    path = records_dir(settings.home) / f"{key}.json"
    if started:
        with atomic_write(path, encoding="utf-8") as handle:
            json.dump(asdict(record), handle)
    try:
        yield record.tag
    finally:
        path.unlink(missing_ok=True)


def dead_records(home: Path, url: str) -> list[tuple[Path, LocalRunRecord]]:
    """Records of runs on `url` whose process is gone (records of other servers wait), in the
    state folder `home`."""
    found = []
    for path in sorted(records_dir(home).glob("*.json")):
        try:
            record = LocalRunRecord(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if record.url == url and not record.is_alive():
            found.append((path, record))
    return found


def process_start(pid: int) -> str | None:
    """When `pid` started, from /proc; None when it is gone or a zombie (dead, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name in (...) may hold spaces
    return None if fields[0] in ("Z", "X") else fields[19]
