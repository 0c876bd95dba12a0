"""
Where data goes: the lake (Parquet files under each environment's lake URL, staged per run and
published after the load), local files written atomically, and `storage.warehouse`, the
warehouse adapters behind one interface (a face of its own).
"""

from typing import TYPE_CHECKING

from pipelines.framework import lazy_names
from pipelines.framework.storage.files import (
    LOCAL_PROTOCOLS,
    NotARegularFileError,
    atomic_write,
    is_local_filesystem,
    storage_options,
    url_to_fs,
)

if TYPE_CHECKING:  # pyarrow, imported on first use
    from pipelines.framework.storage.lake import (
        STAGING_FOLDER,
        TRASH_FOLDER,
        Lake,
        PartitionError,
        StagedTable,
    )

__all__ = [
    "LOCAL_PROTOCOLS",
    "STAGING_FOLDER",
    "TRASH_FOLDER",
    "Lake",
    "NotARegularFileError",
    "PartitionError",
    "StagedTable",
    "atomic_write",
    "is_local_filesystem",
    "storage_options",
    "url_to_fs",
]
__getattr__ = lazy_names(__name__)
