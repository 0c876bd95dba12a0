"""
The lake: Parquet files under `Environment.lake_url` (a folder or any fsspec URL), laid out in
Hive-style partitions as the original system wrote them (`ano_particao=2024/mes_particao=01/...`).

A run writes under its own staging prefix; `publish` moves the files into the table's folder only
after the warehouse load succeeded, so a failed run never leaves half a table behind.

Several writers may stage at once: the tables of one run (each under its own folder) and the
slices of one large table (`write(part=...)`: each names its files after its part and replaces
only those, in the table's folder), in threads or in other processes sharing the lake; `combine`
makes the slices one staged table. Nothing a writer removes is another's.
"""

# pyarrow.compute builds its functions at import time, out of pylint's sight.
# pylint: disable=no-member

import contextlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.framework.storage.files import is_local_filesystem, url_to_fs

STAGING_FOLDER = "_staging"
TRASH_FOLDER = "_trash"
_DATE_PARTITION_ARROW = {  # the folders a date column gives, typed as the warehouse reads them
    "ano_particao": pa.int64(),
    "mes_particao": pa.int64(),
    "data_particao": pa.date32(),
}
DATE_PARTITIONS = tuple(_DATE_PARTITION_ARROW)
_ROWS_PER_FILE = 2_000_000
_MAX_OPEN_FILES = 1024
_GROUP_BYTES = 64 << 20
# A row group of the 12-column benchmark table is ~9 MB of Arrow data at 64k rows; wider rows
# end their groups at this size instead, so memory does not grow with the width.
_ROW_GROUP_BYTES = 16 << 20


@cache
def use_returning_allocator() -> None:
    """From now on in this process, allocate Arrow memory from jemalloc, which hands freed memory
    back to the system, unless `ARROW_DEFAULT_MEMORY_POOL` chose an allocator. Once per process,
    when a dump starts writing (`Lake.write`): importing the lake changes nothing.

    pyarrow's default (mimalloc) kept ~50 MB more after a 2M-row dump, at the same speed
    (BENCHMARKS.md, "Dumps"). jemalloc returns memory over its decay time, not on
    `release_unused` (pyarrow 26 asks jemalloc to purge "arena.MALLCTL_ARENAS_ALL", a name the
    macro was never expanded into); at 100 ms instead of the default 1 s, the extract's freed
    batches are gone before the warehouse load peaks: 262-270 MB instead of 286-304 for a
    2M-row dump_db, as fast. Buffers allocated before keep their own pool.
    """
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    with contextlib.suppress(NotImplementedError):  # a pyarrow built without jemalloc
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(100)


class PartitionError(ValueError):
    """A partition column the data does not have, or cannot be partitioned by."""


@dataclass(frozen=True)
class Partitioning:
    """How a table's rows map to Hive folders, and the warehouse types of the folder keys."""

    keys: tuple[str, ...] = ()
    hive_types: dict[str, str] = field(default_factory=dict)
    date_column: str | None = None

    @property
    def declared_column(self) -> str | None:
        """The first partition column the dump declared (the warehouse may partition by it)."""
        return self.date_column or (self.keys[0] if self.keys else None)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Add the derived `ano/mes/data_particao` columns the folders are named after."""
        if self.date_column is None:
            return batch
        day = pc.cast(batch.column(self.date_column), pa.date32())
        derived = {
            "ano_particao": pc.cast(pc.year(day), pa.string()),
            "mes_particao": pc.utf8_lpad(pc.cast(pc.month(day), pa.string()), 2, "0"),
            "data_particao": pc.cast(day, pa.string()),
        }
        arrays = list(batch.columns) + list(derived.values())
        return pa.RecordBatch.from_arrays(arrays, names=[*batch.schema.names, *derived])

    def folder_schema(self, schema: pa.Schema) -> pa.Schema:
        """Arrow schema of the folder keys, as the writer sees them."""
        if self.date_column is not None:
            return pa.schema([(name, pa.string()) for name in DATE_PARTITIONS])
        return pa.schema([schema.field(name) for name in self.keys])


def partitioning_for(schema: pa.Schema, partition_columns: Sequence[str] | None) -> Partitioning:
    """The original rule: a date/timestamp first column gives `ano/mes/data_particao` folders;
    other columns partition by their own values."""
    columns = list(partition_columns or [])
    if not columns:
        return Partitioning()
    missing = [name for name in columns if name not in schema.names]
    if missing:
        raise PartitionError(f"colunas de partição ausentes nos dados: {missing}")
    first = schema.field(columns[0]).type
    if pa.types.is_date(first) or pa.types.is_timestamp(first):
        if len(columns) > 1:
            raise PartitionError("a coluna de data já gera ano/mes/data_particao: use só ela")
        return Partitioning(
            DATE_PARTITIONS,
            {name: _hive_type(t) for name, t in _DATE_PARTITION_ARROW.items()},
            columns[0],
        )
    return Partitioning(
        tuple(columns), {name: _hive_type(schema.field(name).type) for name in columns}
    )


def _hive_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    raise PartitionError(f"não sei particionar por uma coluna do tipo {arrow_type}")


@dataclass(frozen=True)
class StagedTable:  # pylint: disable=too-many-instance-attributes
    """What one run wrote under its staging prefix, ready to load."""

    run_id: str
    dataset_id: str
    table_id: str
    url: str
    files: tuple[str, ...]
    rows: int
    bytes: int
    schema: pa.Schema
    partitioning: Partitioning


class Lake:
    """Parquet tables under one root URL; every write goes through a run's staging prefix."""

    def __init__(self, root_url: str):
        self.root_url = root_url.rstrip("/")
        self.fs, self._root = url_to_fs(self.root_url)

    def table_url(self, dataset_id: str, table_id: str) -> str:
        return f"{self.root_url}/{dataset_id}/{table_id}"

    def staging_url(self, run_id: str, dataset_id: str, table_id: str) -> str:
        return f"{self.root_url}/{STAGING_FOLDER}/{run_id}/{dataset_id}/{table_id}"

    def _path(self, url: str) -> str:
        return url_to_fs(url)[1]

    def _url(self, path: str) -> str:
        if is_local_filesystem(self.fs):
            return path
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{path}"

    def write(  # pylint: disable=too-many-locals
        self,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        *,
        run_id: str,
        dataset_id: str,
        table_id: str,
        partition_columns: Sequence[str] | None = None,
        rows_per_group: int = 64 * 1024,
        group_bytes: int = _ROW_GROUP_BYTES,
        part: str | None = None,
    ) -> StagedTable:
        """Stream `batches` into Parquet under the run's staging prefix (replacing any earlier
        attempt of the same run); memory holds about one row group per open file: a group ends
        at `rows_per_group` rows or `group_bytes` of Arrow data, whichever comes first, so wide
        rows (long text, hundreds of columns) do not hold 64k rows in memory.

        With a `part` (one slice of a table written in parallel), the files are
        `<run_id>-<part>-<n>.parquet` and only an earlier attempt of the same part is replaced:
        the other parts, written at the same time, stay (`combine` joins them)."""
        use_returning_allocator()
        partitioning = partitioning_for(schema, partition_columns)
        url = self.staging_url(run_id, dataset_id, table_id)
        path = self._path(url)
        stem = run_id if part is None else _part_prefix(run_id, part)[:-1]
        self._clear_staging(path, None if part is None else _part_prefix(run_id, part))
        counter = _Counter()
        if partitioning.keys:
            written = self._write_partitioned(
                _grouped(
                    (partitioning.apply(batch) for batch in counter.count(batches)),
                    partitioning.keys,
                ),
                path,
                _with_folders(schema, partitioning),
                partitioning.folder_schema(schema),
                stem,
            )
        else:
            written = self._write_unpartitioned(
                counter.count(batches), f"{path}/{stem}", schema, rows_per_group, group_bytes
            )
        pa.default_memory_pool().release_unused()  # the writer's buffers (jemalloc: see above)
        if not written:  # no rows: one empty file with the columns a load of rows would have
            written = [self._write_empty(f"{path}/{stem}-0.parquet", schema, partitioning)]
            partitioning = Partitioning()
        return StagedTable(
            run_id=run_id,
            dataset_id=dataset_id,
            table_id=table_id,
            url=url,
            files=tuple(sorted(self._url(p) for p, _ in written)),
            rows=counter.rows,
            bytes=sum(size for _, size in written),
            schema=schema,
            partitioning=partitioning,
        )

    def _clear_staging(self, path: str, own_prefix: str | None) -> None:
        """Make the table's staging folder ready for a writer: empty for the table's only writer
        (`own_prefix` None), or without the files named `own_prefix...` for one part of it. A
        sibling's cleanup may remove an empty parent folder at the same instant (see
        `discard_table`): making the folders is tried again then."""
        if own_prefix is None and self.fs.exists(path):
            self.fs.rm(path, recursive=True)
        elif own_prefix is not None and self.fs.exists(path):
            own = [p for p in self.fs.find(path) if p.rsplit("/", 1)[-1].startswith(own_prefix)]
            if own:
                self.fs.rm(own)
        for attempt in range(3):
            try:
                self.fs.makedirs(path, exist_ok=True)
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise

    def combine(self, parts: Sequence[StagedTable]) -> StagedTable:
        """One staged table from the parts its slices wrote in parallel (`write(part=...)`): their
        files, rows and bytes. A part that read no rows wrote an empty file beside the others'
        folders; it goes when another part has rows, so the load and the lake see only data."""
        with_rows = [part for part in parts if part.rows]
        kept = with_rows or list(parts[:1])
        dropped = [f for part in parts if all(part is not k for k in kept) for f in part.files]
        if dropped:
            self.fs.rm([self._path(f) for f in dropped])
        first = kept[0]
        return StagedTable(
            run_id=first.run_id,
            dataset_id=first.dataset_id,
            table_id=first.table_id,
            url=first.url,
            files=tuple(sorted(f for part in kept for f in part.files)),
            rows=sum(part.rows for part in kept),
            bytes=sum(part.bytes for part in kept),
            schema=first.schema,
            partitioning=first.partitioning,
        )

    def _write_empty(
        self, path: str, schema: pa.Schema, partitioning: Partitioning
    ) -> tuple[str, int]:
        with self.fs.open(path, "wb") as handle:
            pq.write_table(_loaded_schema(schema, partitioning).empty_table(), handle)
        return path, self.fs.size(path)

    def _write_unpartitioned(  # pylint: disable=too-many-arguments
        self,
        batches: Iterable[pa.RecordBatch],
        prefix: str,
        schema: pa.Schema,
        rows_per_group: int,
        group_bytes: int,
    ) -> list[tuple[str, int]]:
        """One Parquet file at a time, a row group per `rows_per_group` rows or `group_bytes` of
        Arrow data, whichever comes first (the lightest path: memory holds one row group);
        returns each file written with its size."""
        files = _ParquetFiles(self.fs, prefix, schema)
        with contextlib.closing(files):
            for group in _row_groups(batches, rows_per_group, group_bytes):
                files.write(pa.Table.from_batches(group, schema=schema))
        return files.written

    def _write_partitioned(  # pylint: disable=too-many-arguments
        self,
        batches: Iterable[pa.RecordBatch],
        path: str,
        schema: pa.Schema,
        folders: pa.Schema,
        run_id: str,
    ) -> list[tuple[str, int]]:
        """Hive folders through pyarrow's dataset writer (bounded open files); returns each file
        written with its size."""
        import pyarrow.dataset as ds  # pylint: disable=import-outside-toplevel  # imports pandas: 1.5 s

        written: list[tuple[str, int]] = []

        ds.write_dataset(
            batches,
            path,
            schema=schema,
            format="parquet",
            file_options=ds.ParquetFileFormat().make_write_options(
                compression="snappy", use_dictionary=dictionary_columns(schema)
            ),
            filesystem=self.fs,
            partitioning=ds.partitioning(folders, flavor="hive"),
            basename_template=f"{run_id}-{{i}}.parquet",
            max_rows_per_group=128 * 1024,
            min_rows_per_group=0,
            max_rows_per_file=_ROWS_PER_FILE,
            max_open_files=_MAX_OPEN_FILES,
            existing_data_behavior="overwrite_or_ignore",
            file_visitor=lambda f: written.append((f.path, f.size)),
        )
        return written

    def publish(self, staged: StagedTable, mode: str) -> str:
        """Move a loaded run's files into the table folder: `overwrite` swaps the folder,
        `append` adds the run's files (named by run id, so a retry replaces, never duplicates)."""
        return self.publish_run(staged.run_id, staged.dataset_id, staged.table_id, mode)

    def publish_run(self, run_id: str, dataset_id: str, table_id: str, mode: str) -> str:
        """`publish` by the run's id: what a retry of a run that died after its load publishes."""
        source = self._path(self.staging_url(run_id, dataset_id, table_id))
        target_url = self.table_url(dataset_id, table_id)
        target = self._path(target_url)
        if not self.fs.exists(source):  # an earlier attempt of this run already published
            return target_url
        if mode == "overwrite" and self._renames:
            self._swap(source, target, run_id)
        elif mode == "overwrite":
            self._replace(source, target)
        else:
            for file_path in self.fs.find(source):
                destination = target + file_path[len(source) :]
                self.fs.makedirs(destination.rsplit("/", 1)[0], exist_ok=True)
                self.fs.mv(file_path, destination)
        self.discard_table(run_id, dataset_id, table_id)
        return target_url

    def _swap(self, source: str, target: str, run_id: str) -> None:
        trash = f"{self._root}/{TRASH_FOLDER}/{run_id}"
        if self.fs.exists(target):
            self.fs.makedirs(trash, exist_ok=True)
            self.fs.mv(target, f"{trash}/table", recursive=True)
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        try:
            self.fs.mv(source, target, recursive=True)
        except BaseException:
            if self.fs.exists(f"{trash}/table"):
                self.fs.mv(f"{trash}/table", target, recursive=True)
            raise
        if self.fs.exists(trash):
            self.fs.rm(trash, recursive=True)

    @property
    def _renames(self) -> bool:
        """A local folder renames in one step; object storage "moves" by copy then delete."""
        return is_local_filesystem(self.fs)

    def _replace(self, source: str, target: str) -> None:
        """Overwrite on object storage, where a folder move copies object by object and a failure
        midway would leave half a table: copy the run's files in beside the previous ones, and
        delete those only once every new file is in place. A failed copy deletes what it had
        copied, so the previous files stay as they were; a retry of the run copies again (same
        names) and then deletes the previous files, so nothing is duplicated."""
        previous = set(self.fs.find(target))
        sources = sorted(self.fs.find(source))
        destinations = [target + path[len(source) :] for path in sources]
        try:
            self.fs.copy(sources, destinations, on_error="raise")
        except BaseException:
            copied = [path for path in destinations if path not in previous]
            with contextlib.suppress(FileNotFoundError):  # none was copied
                self.fs.rm(copied)
            raise
        stale = sorted(previous - set(destinations))
        if stale:
            self.fs.rm(stale)

    def discard(self, run_id: str) -> None:
        """Remove a run's staging prefix (after publishing, or after a failure)."""
        run_root = f"{self._root}/{STAGING_FOLDER}/{run_id}"
        if self.fs.exists(run_root):
            self.fs.rm(run_root, recursive=True)

    def discard_part(self, run_id: str, dataset_id: str, table_id: str, part: str) -> None:
        """Remove the files one part of a table wrote (`write(part=...)`), none of the others'."""
        path = self._path(self.staging_url(run_id, dataset_id, table_id))
        self._clear_staging(path, _part_prefix(run_id, part))

    def discard_table(self, run_id: str, dataset_id: str, table_id: str) -> None:
        """Remove what a run staged for one table, and the run's prefix once nothing is left.
        Other tables of the run may be staging meanwhile (`dump_tables`): only empty folders
        go, each by a removal that fails when another writer has put something in it."""
        path = self._path(self.staging_url(run_id, dataset_id, table_id))
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
        run_root = f"{self._root}/{STAGING_FOLDER}/{run_id}"
        for folder in (f"{run_root}/{dataset_id}", run_root):
            with contextlib.suppress(OSError):  # not empty, gone, or no folders (object storage)
                if is_local_filesystem(self.fs):
                    self.fs.rmdir(folder)

    def _staged_run_roots(self) -> list[str]:
        staging = f"{self._root}/{STAGING_FOLDER}"
        if not self.fs.exists(staging):
            return []
        return [entry.rstrip("/") for entry in self.fs.ls(staging, detail=False)]

    def staged_runs(self, dataset_id: str, table_id: str) -> list[str]:
        """Ids of the runs whose staging holds files of `dataset_id.table_id`."""
        return sorted(
            run_root.rsplit("/", 1)[1]
            for run_root in self._staged_run_roots()
            if self.fs.exists(f"{run_root}/{dataset_id}/{table_id}")
        )

    def sweep_staging(self, older_than_seconds: float) -> list[str]:
        """Remove every run's staging whose newest file is older than `older_than_seconds` (a
        run killed before it could clean up, of a table no run loads again); return them.

        Live runs stage and clean up meanwhile (the other tables of a `dump_tables` run, whose
        tables each sweep when they start): a file or folder gone by the time it is looked at
        was not abandoned, and a run's staging another sweep removed first is not removed
        twice."""
        removed = []
        now = time.time()
        for run_root in self._staged_run_roots():
            newest = self._newest_file_time(run_root)
            if newest is None:  # only folders: a writer that is about to write, or was killed
                newest = self._folder_time(run_root)
            if now - newest > older_than_seconds:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(run_root, recursive=True)
                    removed.append(self._url(run_root))
        return removed

    def _newest_file_time(self, path: str) -> float | None:
        """When the newest file under `path` was written; files removed while looking skipped."""
        newest = None
        for file in self.fs.find(path):
            try:
                modified = self.fs.modified(file).timestamp()
            except FileNotFoundError:  # its writer removed it since `find` listed it
                continue
            newest = modified if newest is None else max(newest, modified)
        return newest

    def _folder_time(self, path: str) -> float:
        """When a folder was made (local), or now where folders have no time of their own."""
        try:
            return self.fs.modified(path).timestamp()
        except (OSError, NotImplementedError, ValueError):
            return time.time()

    def files(self, dataset_id: str, table_id: str) -> list[str]:
        """The published Parquet files of a table."""
        path = self._path(self.table_url(dataset_id, table_id))
        if not self.fs.exists(path):
            return []
        return sorted(self._url(p) for p in self.fs.find(path) if p.endswith(".parquet"))


def _part_prefix(run_id: str, part: str) -> str:
    """How the names of a part's files begin: `<run_id>-<part>-`."""
    return f"{run_id}-{part}-"


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary-encoding: text and flags repeat; numbers and times rarely do,
    and trying a dictionary on them doubled the Parquet writer's CPU time."""
    return [
        f.name
        for f in schema
        if pa.types.is_string(f.type)
        or pa.types.is_large_string(f.type)
        or pa.types.is_boolean(f.type)
        or pa.types.is_binary(f.type)
    ]


def _loaded_schema(schema: pa.Schema, partitioning: Partitioning) -> pa.Schema:
    """The columns the warehouse sees, the derived date folders typed as it reads them."""
    if partitioning.date_column is None:
        return schema
    return pa.schema([*schema, *(pa.field(k, v) for k, v in _DATE_PARTITION_ARROW.items())])


def _with_folders(schema: pa.Schema, partitioning: Partitioning) -> pa.Schema:
    if partitioning.date_column is None:
        return schema
    return pa.schema([*schema, *partitioning.folder_schema(schema)])


def _grouped(batches: Iterable[pa.RecordBatch], keys: Sequence[str]) -> Iterator[pa.RecordBatch]:
    """Regroup ~64 MB of rows at a time sorted by partition, so unsorted data (every row a new
    day) still writes one row group per partition per group instead of one per tiny batch."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        pending.append(batch)
        size += batch.nbytes
        if size >= _GROUP_BYTES:
            yield _sorted(pending, keys)
            pending, size = [], 0
    if pending:
        yield _sorted(pending, keys)


def _sorted(batches: list[pa.RecordBatch], keys: Sequence[str]) -> pa.RecordBatch:
    table = pa.Table.from_batches(batches).sort_by([(key, "ascending") for key in keys])
    return table.combine_chunks().to_batches()[0]


def _row_groups(
    batches: Iterable[pa.RecordBatch], rows_per_group: int, group_bytes: int
) -> Iterator[list[pa.RecordBatch]]:
    """The batches in groups of `rows_per_group` rows or `group_bytes` of Arrow data, whichever
    comes first: a row group each, so memory holds one group at a time."""
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows >= rows_per_group or size >= group_bytes:
            yield pending
            pending, rows, size = [], 0, 0
    if pending:
        yield pending


@dataclass
class _OpenFile:
    """The Parquet file `_ParquetFiles` is writing."""

    path: str
    handle: Any
    writer: pq.ParquetWriter
    rows: int = 0


class _ParquetFiles:
    """An unpartitioned run's Parquet files, `<prefix>-<n>.parquet`: one open at a time, a new
    one past `_ROWS_PER_FILE` rows."""

    def __init__(self, fs: Any, prefix: str, schema: pa.Schema):
        self.fs = fs
        self.prefix = prefix
        self.schema = schema
        self.written: list[tuple[str, int]] = []
        """Each closed file with its size."""
        self._open: _OpenFile | None = None

    def write(self, group: pa.Table) -> None:
        """Write one row group, into a new file if the last one is full."""
        if self._open is None:
            path = f"{self.prefix}-{len(self.written)}.parquet"
            handle = self.fs.open(path, "wb")
            writer = pq.ParquetWriter(
                handle,
                self.schema,
                compression="snappy",
                use_dictionary=dictionary_columns(self.schema),
            )
            self._open = _OpenFile(path, handle, writer)
        self._open.writer.write_table(group)
        self._open.rows += group.num_rows
        if self._open.rows >= _ROWS_PER_FILE:
            self.close()

    def close(self) -> None:
        """Finish the open file, if any."""
        if self._open is None:
            return
        self._open.writer.close()
        self._open.handle.close()
        self.written.append((self._open.path, self.fs.size(self._open.path)))
        self._open = None


class _Counter:
    """Counts rows as batches stream past."""

    def __init__(self) -> None:
        self.rows = 0

    def count(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Pass `batches` through, counting them."""
        for batch in batches:
            self.rows += batch.num_rows
            yield batch
