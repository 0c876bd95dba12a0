"""
The one place that decides the environment (local, staging, prod) and what follows from it:
where data is written, which dbt target runs, which work queue and storage prefix are used.
Staging never resolves to a prod location.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines.constants import constants
from pipelines.framework.config.errors import UsageError
from pipelines.framework.config.settings import get_settings

ENVIRONMENTS = (constants.ENV_LOCAL.value, constants.ENV_STAGING.value, constants.ENV_PROD.value)
MATERIALIZATION_MODES = ("dev", "prod")
ENV_TAG = "env:"
"""The prefix of the tag that names a deployment's environment (registration tags every one, and
Prefect copies a deployment's tags onto its runs)."""


class UnknownEnvironmentError(UsageError, ValueError):
    """An environment name the platform does not know."""


@dataclass(frozen=True)
class Environment:
    """Everything that differs between local, staging and prod."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in ENVIRONMENTS:
            raise UnknownEnvironmentError(
                f"unknown environment {self.name!r}; use one of {ENVIRONMENTS}"
            )

    @property
    def is_prod(self) -> bool:
        return self.name == constants.ENV_PROD.value

    def dataset(self, dataset_id: str) -> str:
        """Warehouse dataset for `dataset_id`: prod keeps the name, others get a suffix."""
        return dataset_id if self.is_prod else f"{dataset_id}_{self.name}"

    @property
    def warehouse_path(self) -> Path:
        """The embedded DuckDB warehouse file of this environment."""
        return get_settings().home / "warehouse" / f"{self.name}.duckdb"

    @property
    def lake_url(self) -> str:
        """Root of this environment's lake files (local folder or any fsspec URL)."""
        return f"{get_settings().storage_url.rstrip('/')}/lake/{self.name}"

    @property
    def code_url(self) -> str:
        """Where registration uploads this environment's flow code."""
        return f"{get_settings().storage_url.rstrip('/')}/code/{self.name}"

    @property
    def dbt_target(self) -> str:
        """The dbt profile target that materializes this environment."""
        return self.name

    def materialization_target(self, mode: str) -> str:
        """The dbt target of the guide's `materialization_mode` (dev/prod) in this environment.

        The warehouse the dumps load (`Settings.warehouse`) decides the adapter: on BigQuery,
        `prod` (dbt-bigquery). On the embedded DuckDB file, `dev` mode runs the `dev` target and
        `prod` mode the environment's own (`local`, `staging`, `prod_duckdb`), so models can
        tell a dev run apart by `target.name`. Datasets always come from `dataset(...)`: the
        target never decides them, and staging never resolves to a prod dataset.
        """
        if mode not in MATERIALIZATION_MODES:
            raise ValueError(
                f"materialization_mode {mode!r} is not valid; use one of {MATERIALIZATION_MODES}"
            )
        if get_settings().warehouse == "bigquery":
            return "prod"
        if mode == "dev":
            return "dev"
        return f"{self.dbt_target}_duckdb" if self.is_prod else self.dbt_target

    @property
    def dataset_suffix(self) -> str:
        """What `dataset()` appends to a dataset_id here (dbt gets it as a var)."""
        return self.dataset("")

    def work_queue(self) -> str:
        """Each label's work pool has one queue per environment."""
        return self.name


def current_environment() -> Environment:
    """The environment of this process: `PIPELINES_ENV` (set on a run by our workers and by a
    Kubernetes job's variables); in a flow run without it (a plain `prefect worker start` on a
    process pool), the run's `env:` tag; else local."""
    settings = get_settings()
    if "env" not in settings.model_fields_set and (tagged := _flow_run_environment()):
        return Environment(tagged)
    return Environment(settings.env)


def _flow_run_environment() -> str | None:
    """The environment the current flow run's `env:` tag names, if any."""
    if "prefect.context" not in sys.modules:  # no flow run where Prefect was never imported
        return None
    from prefect.context import FlowRunContext  # pylint: disable=import-outside-toplevel

    context = FlowRunContext.get()
    tags = context.flow_run.tags if context and context.flow_run else []
    names = [tag.removeprefix(ENV_TAG) for tag in tags if tag.startswith(ENV_TAG)]
    return names[0] if names else None


def resolve_environment(name: str | None = None) -> Environment:
    """The environment a command acts in, by one rule for every command (`up`, `register`,
    `backfill`, a run): the one it was given (`--env`), else `PIPELINES_ENV`, else local.

    Nothing is guessed from git: a fresh clone of `main` is local like any other checkout. CI
    names the environment it registers in (.github/workflows/register.yml sets `PIPELINES_ENV`
    from the branch: `staging/*` -> staging, main -> prod).
    """
    return Environment(name or get_settings().env)
