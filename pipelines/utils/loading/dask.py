"""
The dask cluster's side of `parallel.DumpTaskRunner` (the `dask` extra: prefect-dask and
dask.distributed): Prefect's `DaskTaskRunner` that first tells every worker of the cluster the
secrets this process registered, so a worker masks them in whatever it logs or prints.
"""

import hashlib
from typing import Any

from distributed import WorkerPlugin
from prefect.logging.configuration import ensure_logging_setup
from prefect_dask import DaskTaskRunner

from pipelines.framework.secrets import mask_in_this_process, registered_secrets

PLUGIN_PREFIX = "pipelines-secret-"


class SecretMasking(WorkerPlugin):
    """Masks one secret value in a worker: on every worker of the cluster now, and on every one
    that joins later (the scheduler keeps the plugin for them)."""

    idempotent = True
    """Registered once per value: a second registration of the same name changes nothing."""

    def __init__(self, value: str):
        self.value = value

    def setup(self, worker: Any) -> None:
        """Prefect's logging first (its configuration replaces handlers), then the masking."""
        ensure_logging_setup()
        mask_in_this_process([self.value])

    def __repr__(self) -> str:  # never the value, wherever dask names the plugin
        return f"SecretMasking({plugin_name(self.value)})"


def plugin_name(value: str) -> str:
    """The plugin's name for a value: a digest of it, never the value."""
    return PLUGIN_PREFIX + hashlib.sha256(value.encode()).hexdigest()[:20]


class MaskingDaskTaskRunner(DaskTaskRunner):
    """`DaskTaskRunner` on the cluster at `address`; before each submission, the secrets that
    this process registered since the last one go to every worker (`SecretMasking`), so the
    task never runs on a worker that does not mask them."""

    def __init__(self, address: str):
        super().__init__(address=address)
        self._shared: set[str] = set()

    def duplicate(self) -> "MaskingDaskTaskRunner":
        return type(self)(self.address or "")

    def submit(self, task: Any, parameters: Any, wait_for: Any = None, dependencies: Any = None):
        self._share_secrets()
        return super().submit(task, parameters, wait_for, dependencies)

    def _share_secrets(self) -> None:
        for value in registered_secrets():
            if value not in self._shared:
                self.client.register_plugin(SecretMasking(value), name=plugin_name(value))
                self._shared.add(value)
