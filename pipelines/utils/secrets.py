"""
Secrets for flow authors: read them by path, never write their values in code.

    from pipelines.utils.secrets import get_secret, get_credentials

    token = get_secret("riomidia")["token"]
    user, password = get_credentials("db/sme")

Where the values come from (Vault, Prefect Secret blocks, the environment) is the framework's
business (`pipelines/framework/secrets/store.py`). Every value returned is masked (`****`) in logs,
exceptions, failed-state messages and printed output. Pass paths between tasks, not values.
"""

from pipelines.framework.secrets import (
    SecretAccessError,
    SecretError,
    SecretNotFoundError,
    read_secret,
)

__all__ = [
    "SecretAccessError",
    "SecretError",
    "SecretNotFoundError",
    "get_credentials",
    "get_secret",
    "get_vault_secret",
]


def get_secret(path: str) -> dict[str, str]:
    """The key/value dict stored at `path` (cached for the current flow run).

    Args:
        path: The secret's path, e.g. `"riomidia"` or `"db/sme"`.

    Returns:
        A new dict of the secret's keys and string values.

    Raises:
        SecretNotFoundError: no backend holds `path` (the message names the backends tried).
        SecretAccessError: a backend refused access (e.g. Vault 403) or could not be reached.
    """
    return read_secret(path)


def get_vault_secret(path: str) -> dict[str, str]:
    """The guide's name for `get_secret`: the key/value dict stored at `path`."""
    return get_secret(path)


def get_credentials(path: str) -> tuple[str, str]:
    """`(username, password)` of a database or service login stored at `path`.

    Args:
        path: A secret holding `username` (or `user`) and `password` keys.

    Returns:
        The username and the password.

    Raises:
        SecretError: the secret lacks one of the keys (the message names the keys it has).
    """
    secret = get_secret(path)
    username = secret.get("username", secret.get("user"))
    password = secret.get("password")
    if username is None or password is None:
        raise SecretError(
            f"o secret {path!r} precisa das chaves 'username' e 'password'; "
            f"ele tem {sorted(secret)}"
        )
    return username, password
