"""
Prefect 1 secret tasks on the platform's secret backends (Vault, Secret blocks, environment):
`PrefectSecret("NAME")` returns the secret at that path (its only value, when it has one key).
"""

from typing import Any

from pipelines.compat.prefect1.core.task import Task
from pipelines.utils.secrets import get_secret


def _value(name: str) -> Any:
    secret = get_secret(name)
    return next(iter(secret.values())) if len(secret) == 1 else secret


class PrefectSecret(Task):
    def __init__(self, name: str | None = None, **kwargs: Any):
        self.secret_name = name
        kwargs.setdefault("name", name)
        kwargs.setdefault("checkpoint", False)
        super().__init__(**kwargs)

    def run(self, name: str | None = None) -> Any:  # type: ignore[override]
        return _value(name or self.secret_name)


class EnvVarSecret(PrefectSecret):
    pass


class Secret:
    """`Secret("NAME").get()`."""

    def __init__(self, name: str):
        self.name = name

    def get(self) -> Any:
        return _value(self.name)


SecretBase = PrefectSecret

__all__ = ["EnvVarSecret", "PrefectSecret", "Secret", "SecretBase"]
