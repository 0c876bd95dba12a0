"""The one place where the platform reads its configuration (`PIPELINES_*` variables)."""

import sys
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.framework.config.home import DEFAULT_HOME, REPO_ROOT, server_state_file

PACKAGE_ROOT = REPO_ROOT / "pipelines"


class WorkerSettings(BaseModel):
    """How one agent label's flow runs start (an entry of `PIPELINES_WORKERS`): a local process,
    or a Kubernetes job with this image, resources, identity and placement."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key fails, not silently defaults

    type: str = "process"
    """`process` (a worker on this machine, started by `pipelines up`) or `kubernetes`."""
    image: str | None = None
    """The job's container image; `PIPELINES_IMAGE` when unset (`pipelines image` prints it)."""
    cpu: str | None = None
    """CPU request in Kubernetes quantities (`500m`, `2`)."""
    cpu_limit: str | None = None
    """CPU limit; none when unset (a limit throttles a load that bursts)."""
    memory: str | None = None
    """Memory request (`2Gi`); also the limit unless `memory_limit` says otherwise."""
    memory_limit: str | None = None
    service_account: str | None = None
    """Kubernetes service account of the job's pod (e.g. bound to a cloud identity)."""
    namespace: str = "default"
    node_selector: dict[str, str] = {}
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    secret_env: str | None = None
    """A Kubernetes Secret whose keys become the pod's environment variables: credentials
    (Vault token, cloud keys) reach the run without passing through Prefect."""
    finished_job_ttl: int | None = 86_400
    """Seconds Kubernetes keeps a finished job (and its pod's logs) before deleting it."""


class Settings(BaseSettings):
    """Platform settings; every field can be set as `PIPELINES_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="PIPELINES_", env_file=".env", extra="ignore", populate_by_name=True
    )

    home: Path = DEFAULT_HOME
    """State folder: the local server's database, logs, code storage and warehouse."""
    env: str = "local"
    """Environment of this process and of the commands run without `--env`: local, staging or
    prod (workers get it from registration, CI's registration from the branch)."""
    storage_url: str = ""
    """Root for code and lake files: a folder (default `<home>/storage`) or `gs://`, `s3://`."""
    host: str = "127.0.0.1"
    port: int = 4200
    server_start_timeout: float = 120.0
    cache_dir: Path = Path(sys.prefix) / "var" / "pipelines"
    """What is built once per installation and shared by every state folder: the local server's
    migrated empty database, per Prefect version. Inside the virtualenv, which fixes the version."""
    worker_poll_seconds: float = 2.0
    """How often local workers ask the server for due runs."""
    work_pool_types: dict[str, str] = {}
    """Worker type per agent label, e.g. `{"rj-escritorio": "kubernetes"}`; `process` otherwise.
    Older form of `workers` (which wins for a label it names)."""
    workers: dict[str, WorkerSettings] = {}
    """Per agent label, how its runs start, e.g. `{"rj-escritorio": {"type": "kubernetes",
    "cpu": "500m", "memory": "2Gi", "namespace": "pipelines"}}` (fields: `WorkerSettings`)."""
    image: str | None = None
    """Container image of every Kubernetes label that names none (`pipelines image`)."""
    image_repository: str = "pipelines"
    """Repository `pipelines image` tags the image in (e.g. `ghcr.io/org/pipelines`)."""
    http_timeout: float = 30.0
    """Seconds an HTTP attempt may wait to connect and for each read; one attempt of a download
    ends after this plus 1 s per 64 KiB received (a trickling source cannot hold a run)."""
    database_url: str | None = None
    """PostgreSQL URL for the Prefect server (`postgresql+asyncpg://...`); SQLite when unset."""
    redis_url: str | None = None
    """`redis://host:6379/0`: the server's messaging through Redis (prefect-redis, the `redis`
    extra), for API replicas and background services sharing one PostgreSQL database."""
    warehouse: str = "duckdb"
    """Warehouse adapter for loads: `duckdb` (embedded file per environment) or `bigquery`."""
    warehouse_lock_timeout: float = 900.0
    """Seconds a load waits for the embedded warehouse's single writer slot before failing."""
    table_lease_wait: float = 600.0
    """Seconds a dump waits while another run of the same table holds it, before it ends
    Skipped (never two writers of one table)."""
    max_shrink: float = 0.1
    """Fraction of a table's rows an overwrite may remove unless the dump sets `allow_shrink`."""
    gcp_project: str | None = None
    """Google Cloud project of the BigQuery warehouse (default: the client's own)."""
    gcs_staging_url: str | None = None
    """`gs://bucket/prefix` where BigQuery loads stage Parquet when the lake is not on GCS."""
    s3_endpoint_url: str | None = None
    """Endpoint of `s3://` storage (MinIO, Ceph, a moto server); AWS's own when unset."""
    bigquery_location: str = "US"
    """BigQuery location (`US`, `EU`, `southamerica-east1`) of the adapter's jobs and of every
    dataset it creates; dbt's prod target reads the same `PIPELINES_BIGQUERY_LOCATION`."""
    dask_address: str | None = None
    """Scheduler (`tcp://host:8786`) of the dask.distributed cluster that runs the parallel
    parts of a dump (tables of `dump_tables`, slices of a large table); threads when unset."""
    dask_addresses: dict[str, str] = {}
    """A scheduler per agent label, e.g. `{"rj-escritorio": "tcp://dask:8786"}`: runs of that
    label's work pool use it instead of `dask_address`."""
    read_slice_mb: float = 32
    """A whole PostgreSQL table is read in one slice per this many MB of heap, up to the dump's
    `read_parallelism`."""
    dbt_project_dir: Path = REPO_ROOT / "queries"
    """The dbt project (with its profiles.yml) that the materialize flow builds."""
    auth_string: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PIPELINES_AUTH_STRING", "PREFECT_API_AUTH_STRING"),
    )
    """`user:password` for the server's basic auth; required to listen beyond loopback."""
    run_retention_days: float = 30
    """Flow runs older than this are deleted by the server's DB vacuum (0 keeps them)."""
    vault_addr: str | None = Field(default=None, validation_alias="VAULT_ADDR")
    """HashiCorp Vault address; when set, secrets are read from Vault KV v2 first."""
    vault_token: SecretStr | None = Field(default=None, validation_alias="VAULT_TOKEN")
    vault_role_id: str | None = Field(default=None, validation_alias="VAULT_ROLE_ID")
    vault_secret_id: SecretStr | None = Field(default=None, validation_alias="VAULT_SECRET_ID")
    vault_mount: str = "secret"
    """Mount point of the KV v2 engine in Vault."""
    secret_backends: str = ""
    """Comma list of secret backends in order (vault, prefect, env); empty: what is configured."""
    alert_webhook_path: str = "alerts/webhook"
    """Secret path holding the chat webhook (`{"url": ...}`) that failure alerts go to."""
    alert_webhook_path_staging: str | None = None
    """Staging's own webhook secret path; unset: staging alerts go to the main one, marked."""
    alert_timeout: float = 5.0

    @model_validator(mode="after")
    def _default_storage(self) -> "Settings":
        if not self.storage_url:
            self.storage_url = str(self.home / "storage")
        return self

    def worker(self, label: str) -> WorkerSettings:
        """How `label`'s runs start: its `workers` entry (else `work_pool_types`' type), with
        `image` as the image when it names none."""
        worker = self.workers.get(label) or WorkerSettings(
            type=self.work_pool_types.get(label, "process")
        )
        if worker.image is None and self.image:
            worker = worker.model_copy(update={"image": self.image})
        return worker

    @property
    def server_state_file(self) -> Path:
        return server_state_file(self.home)

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


@cache
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
