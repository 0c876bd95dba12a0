"""The one place where the platform reads its configuration (`PIPELINES_*` variables)."""

from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

import pipelines

REPO_ROOT = Path(pipelines.__file__).resolve().parent.parent
PACKAGE_ROOT = REPO_ROOT / "pipelines"


class Settings(BaseSettings):
    """Platform settings; every field can be set as `PIPELINES_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="PIPELINES_", env_file=".env", extra="ignore")

    home: Path = REPO_ROOT / ".pipelines"
    """State folder: the local server's database, logs, code storage and warehouse."""
    host: str = "127.0.0.1"
    port: int = 4200
    server_start_timeout: float = 120.0
    http_timeout: float = 30.0
    """Seconds a flow's HTTP request may wait for a server before it counts as failed."""
    database_url: str | None = None
    """PostgreSQL URL for the Prefect server (`postgresql+asyncpg://...`); SQLite when unset."""

    @property
    def server_state_file(self) -> Path:
        return self.home / "server.json"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


@cache
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
