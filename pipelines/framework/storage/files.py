"""
Files on this machine and on fsspec filesystems: which filesystems are local folders, the
platform's options for a URL's filesystem (`url_to_fs`: the S3 endpoint), and writing a local file
atomically.
"""

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pipelines.framework import config

if TYPE_CHECKING:  # fsspec, imported on first use: `status` writes run records, not URLs
    import fsspec

LOCAL_PROTOCOLS = frozenset({"file", "local"})
S3_PROTOCOLS = frozenset({"s3", "s3a"})


def storage_options(url: str) -> dict[str, Any]:
    """fsspec options the platform's settings give `url`'s filesystem: `PIPELINES_S3_ENDPOINT_URL`
    for `s3://` (credentials stay with boto's own chain: variables, a pod's identity)."""
    endpoint = config.get_settings().s3_endpoint_url
    if endpoint and url.split("://", 1)[0] in S3_PROTOCOLS:
        return {"endpoint_url": endpoint}
    return {}


def url_to_fs(url: str) -> "tuple[fsspec.AbstractFileSystem, str]":
    """The filesystem of `url` with the platform's options, and the path inside it."""
    import fsspec  # pylint: disable=import-outside-toplevel

    return fsspec.core.url_to_fs(url, **storage_options(url))


def is_local_filesystem(fs: Any) -> bool:
    """Whether an fsspec filesystem is this machine's own (a folder renames in one step and a
    worker imports from it; object storage copies object by object)."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return bool(LOCAL_PROTOCOLS & set(protocols))


class NotARegularFileError(OSError):
    """`atomic_write` was given a path that exists and is a device, FIFO, socket or folder."""


_KINDS = {
    stat.S_IFCHR: "um dispositivo de caracteres",
    stat.S_IFBLK: "um dispositivo de blocos",
    stat.S_IFIFO: "uma FIFO",
    stat.S_IFSOCK: "um socket",
    stat.S_IFDIR: "uma pasta",
}


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside `path` and move it over `path` only if the block succeeds.

    A failure leaves an older file at `path` byte-for-byte as it was and no temporary behind.
    A symlink is followed: its target is replaced and the link stays a link. A path that exists
    and is not a regular file (a device such as /dev/null, a FIFO, a socket, a folder) is refused
    before the block runs: renaming over it would destroy what is not ours, and writing straight
    through would not be atomic.
    """
    target = Path(path).resolve()
    existing = _regular_file_stat(target, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            if existing is not None:  # a replaced file keeps its permissions, not mkstemp's 0600
                os.fchmod(handle.fileno(), stat.S_IMODE(existing.st_mode))
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _regular_file_stat(target, path)  # the block may have run for minutes
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _regular_file_stat(target: Path, asked: str | os.PathLike) -> os.stat_result | None:
    """The stat of the regular file at `target`, None if nothing is there; refuse anything else."""
    try:
        found = target.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(found.st_mode):
        kind = _KINDS.get(stat.S_IFMT(found.st_mode), "um arquivo especial")
        raise NotARegularFileError(
            f"{asked} não é um arquivo regular (é {kind}): a escrita atômica só substitui "
            "arquivos regulares e não mexe no que não é nosso. Indique o caminho de um arquivo "
            "(por exemplo, um arquivo temporário)."
        )
    return found
