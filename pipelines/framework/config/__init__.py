"""
Configuration, read in one place: the `PIPELINES_*` settings, and the environment (local, staging,
prod) with everything that follows from it (datasets, warehouse file, lake and code locations, dbt
target, work queue). Also `UsageError`, the base of every user mistake the packages above report.
"""

from pipelines.framework.config.environments import (
    ENVIRONMENTS,
    Environment,
    UnknownEnvironmentError,
    current_branch,
    current_environment,
    environment_for_branch,
)
from pipelines.framework.config.errors import UsageError
from pipelines.framework.config.settings import PACKAGE_ROOT, REPO_ROOT, Settings, get_settings

__all__ = [
    "ENVIRONMENTS",
    "PACKAGE_ROOT",
    "REPO_ROOT",
    "Environment",
    "Settings",
    "UnknownEnvironmentError",
    "UsageError",
    "current_branch",
    "current_environment",
    "environment_for_branch",
    "get_settings",
]
