"""
Helpers shared by every flow, where the guide's flows import them:

    from pipelines.utils.utils import atomic_write, log

`log` writes into the run's log (shown in the UI); `atomic_write` replaces a file only when the
block writing it succeeds. Both belong to the framework (`pipelines.framework.runtime`,
`pipelines.framework.storage`); this module is their flow authors' address.
"""

from pipelines.framework.runtime import log
from pipelines.framework.storage import NotARegularFileError, atomic_write

__all__ = ["NotARegularFileError", "atomic_write", "log"]
