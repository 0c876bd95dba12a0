"""
Helpers of the dump_url flow: share links turned into download links, auth headers, readers that
turn a downloaded file into a stream of Arrow batches without loading it whole.
"""

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

BLOCK_SIZE = 1 << 20
FILE_FORMATS = ("csv", "json", "jsonl", "parquet")
BAD_LINE_POLICIES = ("error", "skip")

_SHEET = re.compile(r"https://docs\.google\.com/spreadsheets/d/([\w-]+)")
_DRIVE = re.compile(r"https://drive\.google\.com/(?:file/d/([\w-]+)|open\?id=([\w-]+))")
_GID = re.compile(r"[#&?]gid=(\d+)")


class DumpUrlError(ValueError):
    """A file we cannot read as asked (malformed row, wrong format, bad parameters)."""


def download_url(url: str) -> str:
    """Google Sheets and Drive share links become their export links, as the original system did;
    other URLs are returned unchanged."""
    sheet = _SHEET.match(url)
    if sheet:
        gid = _GID.search(url)
        suffix = f"&gid={gid.group(1)}" if gid else ""
        return f"https://docs.google.com/spreadsheets/d/{sheet.group(1)}/export?format=csv{suffix}"
    drive = _DRIVE.match(url)
    if drive:
        file_id = drive.group(1) or drive.group(2)
        return f"https://drive.google.com/uc?export=download&id={file_id}"
    return url


def auth_headers(secret: dict[str, str] | None) -> dict[str, str]:
    """An Authorization header from a secret holding `authorization` (the full value) or
    `token` (sent as a bearer token)."""
    if not secret:
        return {}
    lowered = {key.lower(): value for key, value in secret.items()}
    if "authorization" in lowered:
        return {"Authorization": lowered["authorization"]}
    if "token" in lowered:
        return {"Authorization": f"Bearer {lowered['token']}"}
    raise DumpUrlError(f"o segredo precisa de 'authorization' ou 'token'; tem {sorted(secret)}")


@dataclass
class SkippedRows:
    """Counts malformed CSV rows skipped under `on_bad_lines='skip'`, keeping a few examples."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def __call__(self, row: pcsv.InvalidRow) -> str:
        self.count += 1
        if len(self.examples) < 5:
            self.examples.append(f"linha {row.number}: {row.text[:120]!r}")
        return "skip"


def _header(path: Path, encoding: str, separator: str) -> list[str]:
    with open(path, encoding=encoding, newline="") as handle:
        return next(csv.reader(handle, delimiter=separator), [])


def csv_batches(
    path: Path,
    *,
    encoding: str = "utf-8",
    separator: str = ",",
    on_bad_lines: str = "error",
    infer_types: bool = False,
    skipped: SkippedRows | None = None,
) -> tuple[pa.Schema | None, Iterator[pa.RecordBatch]]:
    """Stream a CSV in 1 MiB blocks. Columns are text unless `infer_types` (then pyarrow infers
    them from the first block); an empty unquoted field is NULL, a quoted one is ''."""
    if on_bad_lines not in BAD_LINE_POLICIES:
        raise DumpUrlError(f"on_bad_lines {on_bad_lines!r} inválido; use um de {BAD_LINE_POLICIES}")
    header = _header(path, encoding, separator)
    if not header:
        raise DumpUrlError("o CSV está vazio: nem cabeçalho ele tem")
    column_types = {} if infer_types else {name: pa.string() for name in header}
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=BLOCK_SIZE, encoding=encoding),
            parse_options=pcsv.ParseOptions(
                delimiter=separator,
                newlines_in_values=True,
                invalid_row_handler=skipped if on_bad_lines == "skip" else None,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=column_types,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise DumpUrlError(f"CSV inválido: {exc}") from exc
    return reader.schema, _guarded(reader, "CSV")


def _guarded(reader, kind: str) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        raise DumpUrlError(f"{kind} inválido: {exc}") from exc


def json_lines_batches(path: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Stream JSON lines in 1 MiB blocks (types inferred from the first block)."""
    try:
        reader = pjson.open_json(path, read_options=pjson.ReadOptions(block_size=BLOCK_SIZE))
    except pa.ArrowInvalid as exc:
        raise DumpUrlError(f"JSON lines inválido: {exc}") from exc
    return reader.schema, _guarded(reader, "JSON lines")


def json_array_to_lines(path: Path, target: Path) -> Path:
    """Rewrite a top-level JSON array as JSON lines, one item at a time (ijson), so it streams."""
    import ijson

    with open(path, "rb") as source, open(target, "w", encoding="utf-8") as lines:
        try:
            for item in ijson.items(source, "item", use_float=True):
                if not isinstance(item, dict):
                    raise DumpUrlError("o JSON deve ser uma lista de objetos")
                lines.write(json.dumps(item, ensure_ascii=False) + "\n")
        except ijson.JSONError as exc:
            raise DumpUrlError(f"JSON inválido: {exc}") from exc
    return target


def parquet_batches(path: Path, batch_size: int) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Stream a Parquet file's row groups as batches."""
    try:
        parquet = pq.ParquetFile(path)
    except pa.ArrowInvalid as exc:
        raise DumpUrlError(f"Parquet inválido: {exc}") from exc
    return parquet.schema_arrow, parquet.iter_batches(batch_size=batch_size)
