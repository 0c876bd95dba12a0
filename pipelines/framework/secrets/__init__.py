"""
Secrets: read by path from Vault, Prefect Secret blocks or the environment (`store`), and kept out
of every log, exception and terminal once read (`masking`). Flow authors read them through
`pipelines.utils.secrets`; the `pipelines secrets` commands live in `cli`, since they need the
server.
"""

from typing import TYPE_CHECKING

from pipelines.framework import lazy_names

if TYPE_CHECKING:  # both modules import Prefect: imported on first use
    from pipelines.framework.secrets.masking import (
        MASK,
        mask,
        mask_exception,
        mask_in_this_process,
        register_secret,
        registered_secrets,
    )
    from pipelines.framework.secrets.store import (
        PrefectBlockBackend,
        SecretAccessError,
        SecretError,
        SecretNotFoundError,
        block_name,
        list_block_secrets,
        read_secret,
        write_block_secret,
    )

__all__ = [
    "MASK",
    "PrefectBlockBackend",
    "SecretAccessError",
    "SecretError",
    "SecretNotFoundError",
    "block_name",
    "list_block_secrets",
    "mask",
    "mask_exception",
    "mask_in_this_process",
    "read_secret",
    "register_secret",
    "registered_secrets",
    "write_block_secret",
]
__getattr__ = lazy_names(__name__)
