"""
Tasks of the dump_url flow: download the file to disk, then convert it into the lake's staging.
"""

from pathlib import Path

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from pipelines.framework.storage import Lake, StagedTable
from pipelines.utils import http
from pipelines.utils.dump_url.utils import (
    FILE_FORMATS,
    CsvTypeError,
    DumpUrlError,
    SkippedRows,
    as_utf8,
    auth_headers,
    csv_batches,
    download_url,
    json_array_to_lines,
    json_lines_batches,
    parquet_batches,
    unpacked,
)
from pipelines.utils.loading.utils import stage_batches
from pipelines.utils.secrets import get_secret
from pipelines.utils.utils import log


@task(
    retries=len(http.RETRY_DELAYS_SECONDS),
    retry_delay_seconds=http.RETRY_DELAYS_SECONDS,
    retry_condition_fn=http.retry_on_transient_http_error,
    cache_policy=NO_CACHE,
)
def download_file(url: str, target: Path, vault_secret_path: str | None = None) -> Path:
    """Stream the URL to `target`, complete or failed (see `http.download`); a transfer whose
    end cannot be checked is kept, with a warning, for the load's volume guard to judge."""
    secret = None
    if vault_secret_path:
        secret = get_secret(vault_secret_path)
    source = download_url(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    done = http.download(source, target, headers=auth_headers(secret))
    if not done.end_checked:
        log(
            "o servidor não informou o tamanho do arquivo (sem Content-Length, chunked ou gzip) e "
            "só fechou a conexão: não há como saber se o download veio inteiro",
            level="warning",
        )
    log(f"Baixados {done.size / 1e6:.1f} MB de {http.public_url(source)} em {done.seconds:.1f}s")
    return target


@task(cache_policy=NO_CACHE)
def convert_to_lake(  # pylint: disable=too-many-locals
    lake: Lake,
    path: Path,
    *,
    file_format: str,
    run_id: str,
    dataset: str,
    table_id: str,
    encoding: str = "utf-8",
    separator: str = ",",
    on_bad_lines: str = "error",
    infer_types: bool = False,
    batch_size: int = 100_000,
    partition_columns: list[str] | None = None,
    zip_member: str | None = None,
) -> StagedTable:
    """Turn the downloaded file (decompressed first, if it is) into Parquet under the run's
    staging prefix, streaming. `dataset` is the environment's name of the dataset
    (`DumpRun.dataset`)."""
    if file_format not in FILE_FORMATS:
        raise DumpUrlError(f"file_format {file_format!r} inválido; use um de {FILE_FORMATS}")
    data = unpacked(path, file_format, zip_member)
    if data != path:
        log(f"Descompactado: {data.stat().st_size / 1e6:.1f} MB de {file_format}")
    path = data
    if file_format in ("json", "jsonl"):
        path = as_utf8(path, encoding)
    if file_format == "json":
        path = json_array_to_lines(path, path.with_suffix(".jsonl"))
    widened: dict[str, pa.DataType] = {}
    while True:
        skipped = SkippedRows()
        if file_format == "csv":
            schema, batches = csv_batches(
                path,
                encoding=encoding,
                separator=separator,
                on_bad_lines=on_bad_lines,
                infer_types=infer_types,
                widened=widened,
                skipped=skipped,
            )
        elif file_format == "parquet":
            schema, batches = parquet_batches(path, batch_size)
        else:
            schema, batches = json_lines_batches(path)
        try:
            staged = stage_batches(
                lake,
                batches,
                schema,
                run_id=run_id,
                dataset=dataset,
                table_id=table_id,
                partition_columns=partition_columns,
                every_rows=batch_size,
            )
            break
        except CsvTypeError as late:
            wider = late.wider_type()
            if widened.get(late.column) == wider:
                raise
            widened[late.column] = wider
            log(
                f"coluna {late.column!r}: o valor {late.value[:40]!r} não cabe em {late.inferred}, "
                f"o tipo inferido do início do arquivo; relendo-o com {wider}"
            )
    if skipped.count:
        log(
            f"{skipped.count} linha(s) malformada(s) ignorada(s): {'; '.join(skipped.examples)}",
            level="warning",
        )
    return staged
