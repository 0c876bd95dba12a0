"""
What the local stack is running, read without Prefect: `pipelines status` answers from the state
files and a health check alone.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.framework.config import Settings
from pipelines.framework.stack.server import ServerError, is_healthy, pid_alive, running_server


@dataclass
class StackState:
    """Workers started by `up`, kept beside the server's state so `down` can stop them."""

    url: str
    env: str
    workers: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def path(settings: Settings) -> Path:
        return settings.home / "stack.json"

    def save(self, settings: Settings) -> None:
        self.path(settings).write_text(json.dumps(self.__dict__))

    @classmethod
    def load(cls, settings: Settings) -> "StackState | None":
        try:
            return cls(**json.loads(cls.path(settings).read_text()))
        except (OSError, ValueError, TypeError):
            return None


def status(settings: Settings) -> dict[str, object]:
    """What runs: the server's URL and health, each worker's pid and whether it lives."""
    state = StackState.load(settings)
    server = running_server(settings)
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
