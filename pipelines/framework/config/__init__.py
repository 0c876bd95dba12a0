"""
Configuration, read in one place: the `PIPELINES_*` settings, and the environment (local, staging,
prod) with everything that follows from it (datasets, warehouse file, lake and code locations, dbt
target, work queue). Also `UsageError`, the base of every user mistake the packages above report.
"""

from typing import TYPE_CHECKING

from pipelines.framework import lazy_names
from pipelines.framework.config.errors import UsageError

if TYPE_CHECKING:  # pydantic-settings (0.1 s), imported on first use: `pipelines --help` needs none
    from pipelines.framework.config.environments import (
        ENV_TAG,
        ENVIRONMENTS,
        Environment,
        UnknownEnvironmentError,
        current_environment,
        resolve_environment,
    )
    from pipelines.framework.config.home import plain_home, server_state_file, state_home
    from pipelines.framework.config.settings import (
        PACKAGE_ROOT,
        REPO_ROOT,
        Settings,
        WorkerSettings,
        get_settings,
    )

__all__ = [
    "ENVIRONMENTS",
    "ENV_TAG",
    "PACKAGE_ROOT",
    "REPO_ROOT",
    "Environment",
    "Settings",
    "UnknownEnvironmentError",
    "UsageError",
    "WorkerSettings",
    "current_environment",
    "get_settings",
    "plain_home",
    "resolve_environment",
    "server_state_file",
    "state_home",
]
__getattr__ = lazy_names(__name__)
