"""The one place where the platform reads its configuration (`PIPELINES_*` variables)."""

from functools import cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

import pipelines

REPO_ROOT = Path(pipelines.__file__).resolve().parent.parent
PACKAGE_ROOT = REPO_ROOT / "pipelines"


class Settings(BaseSettings):
    """Platform settings; every field can be set as `PIPELINES_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="PIPELINES_", env_file=".env", extra="ignore")

    home: Path = REPO_ROOT / ".pipelines"
    """State folder: the local server's database, logs, code storage and warehouse."""
    env: str = "local"
    """Environment of this process: local, staging or prod (workers get it from registration)."""
    storage_url: str = ""
    """Root for code and lake files: a folder (default `<home>/storage`) or `gs://`, `s3://`."""
    git_branch: str | None = Field(default=None, validation_alias="GITHUB_REF_NAME")
    """Branch that decides the registration environment; CI's `GITHUB_REF_NAME` when set."""
    host: str = "127.0.0.1"
    port: int = 4200
    server_start_timeout: float = 120.0
    http_timeout: float = 30.0
    """Seconds a flow's HTTP request may wait for a server before it counts as failed."""
    database_url: str | None = None
    """PostgreSQL URL for the Prefect server (`postgresql+asyncpg://...`); SQLite when unset."""

    @model_validator(mode="after")
    def _default_storage(self) -> "Settings":
        if not self.storage_url:
            self.storage_url = str(self.home / "storage")
        return self

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
