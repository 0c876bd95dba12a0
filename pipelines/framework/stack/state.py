"""
What the local stack is running, read without Prefect: `pipelines status` answers from the state
files and a health check alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.framework.stack.server import ServerError, is_healthy, pid_alive, running_server


@dataclass
class StackState:
    """Workers started by `up`, kept beside the server's state so `down` can stop them."""

    url: str
    env: str
    workers: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def path(home: Path) -> Path:
        return home / "stack.json"

    def save(self, home: Path) -> None:
        self.path(home).write_text(json.dumps(self.__dict__))

    @classmethod
    def load(cls, home: Path) -> StackState | None:
        try:
            return cls(**json.loads(cls.path(home).read_text()))
        except (OSError, ValueError, TypeError):
            return None


def status(home: Path) -> dict[str, object]:
    """What runs from the state folder `home`: the server's URL and health, each worker's pid
    and whether it lives."""
    state = StackState.load(home)
    server = running_server(home)
    if not state and not server:
        raise ServerError("the local stack is not running; start it with `pipelines up`")
    url = server.url if server else (state.url if state else "")
    return {
        "server": url,
        "healthy": bool(server) or (bool(url) and is_healthy(url)),  # running_server checked
        "ui": url.removesuffix("/api"),
        "env": state.env if state else None,
        "workers": {
            label: {"pid": pid, "alive": pid_alive(pid)}
            for label, pid in (state.workers if state else {}).items()
        },
    }
