"""
The office monorepo's secret helpers on the platform's secret backends (Vault when `VAULT_ADDR`
is set, else Prefect Secret blocks, else `PIPELINES_SECRET_*` variables), masked like every
secret the platform reads. `pipelines migrate` points imports of these names from the old
`pipelines.utils.utils` here; the rest of that module runs as it is from `pipelines.legacy`.
"""

from typing import Any

from pipelines.utils.secrets import get_secret

REDIRECTED = ("get_vault_secret", "get_username_and_password_from_secret")
"""Names `pipelines migrate` imports from here instead of the old `pipelines.utils.utils`."""


def get_vault_secret(secret_path: str, client: Any = None) -> dict[str, Any]:
    """The secret at `secret_path` as the old helper returned it: `{"data": {key: value}}`."""
    return {"data": get_secret(secret_path), "metadata": {}}


def get_username_and_password_from_secret(secret_path: str, client: Any = None) -> tuple[str, str]:
    """`(username, password)` of the secret at `secret_path`."""
    secret = get_vault_secret(secret_path, client)["data"]
    return secret["username"], secret["password"]


__all__ = ["get_username_and_password_from_secret", "get_vault_secret"]
