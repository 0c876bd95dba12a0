"""
Helpers shared by the dump flows: staging a stream of Arrow batches with its progress, and the
run's summary.
"""

import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from pipelines.framework.storage import Lake, StagedTable
from pipelines.utils.utils import log


@dataclass
class Progress:
    """Counts rows and bytes of a stream and logs every `every_rows` rows with the rate."""

    table: str
    every_rows: int = 100_000
    rows: int = 0
    bytes: int = 0
    batches: int = 0
    started: float = 0.0

    def track(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Pass `batches` through, logging progress as they go."""
        self.started = time.monotonic()
        pending_rows = pending_bytes = 0
        for batch in batches:
            pending_rows += batch.num_rows
            pending_bytes += batch.nbytes
            yield batch
            if pending_rows >= self.every_rows:
                self._log(pending_rows, pending_bytes)
                pending_rows = pending_bytes = 0
        if pending_rows:
            self._log(pending_rows, pending_bytes)

    def _log(self, rows: int, size: int) -> None:
        self.batches += 1
        self.rows += rows
        self.bytes += size
        log(
            f"{self.table}: lote {self.batches}: {rows:,} linhas, {size / 1e6:.1f} MB "
            f"({self.rows:,} linhas no total, {self.rate:,.0f} linhas/s)"
        )

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started if self.started else 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def stage_batches(  # pylint: disable=too-many-arguments
    lake: Lake,
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    *,
    run_id: str,
    dataset: str,
    table_id: str,
    partition_columns: Sequence[str] | None,
    every_rows: int,
    part: str | None = None,
) -> StagedTable:
    """Stream `batches` into the run's staging prefix, logging progress every `every_rows` rows;
    a failure (source, disk, partitioning) removes what the run had staged (with a `part`, one
    slice of a table written in parallel, only that part's files). `dataset` is the
    environment's name of the dataset (`DumpRun.dataset`)."""
    name = f"{dataset}.{table_id}" if part is None else f"{dataset}.{table_id} [{part}]"
    progress = Progress(name, every_rows=every_rows)
    try:
        return lake.write(
            progress.track(batches),
            schema,
            run_id=run_id,
            dataset_id=dataset,
            table_id=table_id,
            partition_columns=partition_columns,
            part=part,
        )
    except BaseException:
        if part is None:
            lake.discard_table(run_id, dataset, table_id)
        else:
            lake.discard_part(run_id, dataset, table_id, part)
        raise


@dataclass(frozen=True)
class DumpSummary:  # pylint: disable=too-many-instance-attributes
    """What a dump did, for the log and the UI's artifact."""

    table: str
    source: str
    mode: str
    rows: int
    table_rows: int
    lake_bytes: int | None = None
    """None when a retried run only published what an earlier attempt had written."""
    seconds: float = 0.0
    lake_url: str = ""
    added_columns: tuple[str, ...] = ()
    watermark: str | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One log line."""
        return (
            f"Dump concluído: {self.rows:,} linhas em {self.seconds:.1f}s "
            f"({self.rate:,.0f} linhas/s) -> {self.table} ({self.table_rows:,} linhas na tabela)"
        )

    def markdown(self) -> str:
        """The summary as the markdown artifact the UI shows."""
        rows = [
            ("Tabela", f"`{self.table}`"),
            ("Origem", self.source),
            ("Modo", self.mode),
            ("Linhas carregadas", f"{self.rows:,}"),
            ("Linhas na tabela", f"{self.table_rows:,}"),
            ("Segundos", f"{self.seconds:.1f}"),
            ("Linhas/s", f"{self.rate:,.0f}"),
            ("Lake", f"`{self.lake_url}`"),
        ]
        if self.lake_bytes is not None:
            rows.insert(-1, ("Parquet (MB)", f"{self.lake_bytes / 1e6:.1f}"))
        if self.added_columns:
            rows.append(("Colunas novas", ", ".join(self.added_columns)))
        if self.watermark is not None:
            rows.append(("Watermark", f"`{self.watermark}`"))
        body = "\n".join(f"| {name} | {value} |" for name, value in rows)
        return f"# Dump {self.table}\n\n| | |\n|---|---|\n{body}\n"


def slug(text: str) -> str:
    """`text` in lowercase ASCII letters, digits and dashes (`Órgãos Públicos` ->
    `orgaos-publicos`): the names Prefect accepts for artifact keys."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = "".join(c if c.isalnum() else "-" for c in ascii_text.lower())
    return "-".join(part for part in cleaned.split("-") if part)


def artifact_key(table: str) -> str:
    """The key of a table's dump summary: every run of the table adds a version of it."""
    return f"dump-{slug(table)}"
