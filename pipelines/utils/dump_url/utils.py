"""
Helpers of the dump_url flow: share links turned into download links, auth headers, readers that
turn a downloaded file into a stream of Arrow batches without loading it whole.
"""

import bz2
import codecs
import csv
import gzip
import json
import lzma
import re
import shutil
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import ijson
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

BLOCK_SIZE = 1 << 20
# pyarrow's streaming CSV reader reads up to 32 blocks ahead of its consumer, so its memory is about
# 40 blocks: 256 KiB blocks held ~10 MB on a 2M-row file where 1 MiB ones held ~40 MB, and parsed
# as fast. Types are still inferred from the first BLOCK_SIZE bytes.
_CSV_STREAM_BLOCK_SIZE = 256 << 10
# JSON lines are typed by a first pass over the whole file, this much at a time.
_JSON_SCAN_CHUNK = 8 << 20
_DUCKDB_JSON_MEMORY = "128MB"
_DUCKDB_JSON_BATCH_ROWS = 64 * 1024
_COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
_UNPACK_CHUNK = 1 << 20
FILE_FORMATS = ("csv", "json", "jsonl", "parquet")
BAD_LINE_POLICIES = ("error", "skip")

_SHEET = re.compile(r"https://docs\.google\.com/spreadsheets/d/([\w-]+)")
_DRIVE = re.compile(r"https://drive\.google\.com/(?:file/d/([\w-]+)|open\?id=([\w-]+))")
_GID = re.compile(r"[#&?]gid=(\d+)")


class DumpUrlError(ValueError):
    """A file we cannot read as asked (malformed row, wrong format, bad parameters)."""


class CsvTypeError(DumpUrlError):
    """A value further into a CSV that the type inferred from its start cannot hold."""

    def __init__(self, message: str, column: str, inferred: pa.DataType, value: str):
        super().__init__(message)
        self.column, self.inferred, self.value = column, inferred, value

    def wider_type(self) -> pa.DataType:
        """Whole numbers that meet a decimal become double; anything else becomes text."""
        if pa.types.is_integer(self.inferred):
            try:
                float(self.value)
                return pa.float64()
            except ValueError:
                pass
        return pa.string()


_CONVERSION = re.compile(
    r"In CSV column #(\d+): CSV conversion error to \S+: invalid value '(.*)'", re.S
)


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
            # pyarrow numbers rows only when it can count lines (None once a value may span them)
            line = "" if row.number is None else f"linha {row.number}, "
            self.examples.append(
                f"{line}tem {row.actual_columns} coluna(s), o cabeçalho {row.expected_columns}: "
                f"{row.text[:120]!r}"
            )
        return "skip"


def _encoding_hint(encoding: str) -> str:
    return (
        f"o arquivo não é texto {encoding}: informe a codificação dele no parâmetro encoding "
        "(por exemplo encoding='latin-1')"
    )


def _invalid_csv(exc: Exception, encoding: str) -> DumpUrlError:
    """A reader's error as ours, suggesting `encoding` when the bytes are not text in it."""
    if isinstance(exc, UnicodeDecodeError) or "invalid UTF8" in str(exc):
        return DumpUrlError(f"CSV inválido: {exc}; {_encoding_hint(encoding)}")
    return DumpUrlError(f"CSV inválido: {exc}")


def _header(path: Path, encoding: str, separator: str) -> list[str]:
    try:
        with open(path, encoding=encoding, newline="") as handle:
            return next(csv.reader(handle, delimiter=separator), [])
    except LookupError as exc:
        raise DumpUrlError(f"encoding {encoding!r} desconhecido") from exc
    except UnicodeDecodeError as exc:
        raise _invalid_csv(exc, encoding) from exc


def csv_batches(
    path: Path,
    *,
    encoding: str = "utf-8",
    separator: str = ",",
    on_bad_lines: str = "error",
    infer_types: bool = False,
    widened: Mapping[str, pa.DataType] | None = None,
    skipped: SkippedRows | None = None,
) -> tuple[pa.Schema | None, Iterator[pa.RecordBatch]]:
    """Stream a CSV in small blocks. Columns are text unless `infer_types` (then pyarrow infers
    them from the first 1 MiB, `widened` overriding some); a later value that does not fit its
    column's type raises `CsvTypeError`. An empty unquoted field is NULL, a quoted one is ''."""
    if on_bad_lines not in BAD_LINE_POLICIES:
        raise DumpUrlError(f"on_bad_lines {on_bad_lines!r} inválido; use um de {BAD_LINE_POLICIES}")
    header = _header(path, encoding, separator)
    if not header:
        raise DumpUrlError("o CSV está vazio: nem cabeçalho ele tem")
    options = _CsvOptions(encoding, separator, skip=on_bad_lines == "skip")
    try:
        if infer_types:
            sampled = _sampled_types(path, options)
            column_types = {f.name: (widened or {}).get(f.name, f.type) for f in sampled}
        else:
            column_types = {name: pa.string() for name in header}
        reader = options.open(path, column_types, _CSV_STREAM_BLOCK_SIZE, skipped)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _invalid_csv(exc, encoding) from exc
    return reader.schema, _typed_csv(reader, encoding)


def _typed_csv(reader: pcsv.CSVStreamingReader, encoding: str) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except UnicodeDecodeError as exc:
        raise _invalid_csv(exc, encoding) from exc
    except pa.ArrowInvalid as exc:
        found = _CONVERSION.search(str(exc))
        if found is None:
            raise _invalid_csv(exc, encoding) from exc
        column = reader.schema.field(int(found.group(1)))
        raise CsvTypeError(
            f"CSV inválido: {exc}", column.name, column.type, found.group(2)
        ) from exc


def _sampled_types(path: Path, options: "_CsvOptions") -> pa.Schema:
    """The types pyarrow infers from the first BLOCK_SIZE bytes, read from the first two blocks
    only: a reader over the whole file would read 32 MiB ahead just to be closed."""
    with open(path, "rb") as handle:
        head = pa.BufferReader(handle.read(2 * BLOCK_SIZE))
    with options.open(head, {}, BLOCK_SIZE, _skip_uncounted) as sample:
        return sample.schema


def _skip_uncounted(_row: pcsv.InvalidRow) -> str:
    """Skip a malformed row while sampling types; the streaming read counts it."""
    return "skip"


@dataclass(frozen=True)
class _CsvOptions:
    """How to parse one CSV, shared by the type sample and the streaming read."""

    encoding: str
    separator: str
    skip: bool

    def open(
        self,
        source: Path | pa.BufferReader,
        column_types: pa.Schema | dict,
        block_size: int,
        on_invalid: Callable[[pcsv.InvalidRow], str] | None,
    ) -> pcsv.CSVStreamingReader:
        """A streaming reader; malformed rows go to `on_invalid` only under `skip`."""
        return pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(block_size=block_size, encoding=self.encoding),
            parse_options=pcsv.ParseOptions(
                delimiter=self.separator,
                newlines_in_values=True,
                invalid_row_handler=on_invalid if self.skip else None,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=column_types,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )


def _guarded(reader, kind: str) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        raise DumpUrlError(f"{kind} inválido: {exc}") from exc


class _MixedTypesError(Exception):
    """A field holds values of kinds pyarrow cannot read as one type (a number, then text)."""


def json_lines_batches(path: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Stream JSON lines in 1 MiB blocks, typed as the whole file needs (see `json_schema`).

    A file with a field of mixed kinds (a number in one record, text or an object in another)
    is read by DuckDB instead, which keeps such a field as the JSON text of each value.
    """
    try:
        schema = json_schema(path)
    except _MixedTypesError:
        return _duckdb_json_batches(path)
    try:
        reader = pjson.open_json(
            path,
            read_options=pjson.ReadOptions(block_size=BLOCK_SIZE),
            parse_options=pjson.ParseOptions(explicit_schema=schema),
        )
    except pa.ArrowInvalid as exc:
        raise DumpUrlError(f"JSON lines inválido: {exc}") from exc
    return reader.schema, _guarded(reader, "JSON lines")


def json_schema(path: Path, chunk_bytes: int = _JSON_SCAN_CHUNK) -> pa.Schema:
    """The types of every field of a JSON lines file, from a first pass over all of it.

    APIs leave fields null or integral for thousands of records and then send text or decimals;
    types taken from the first block would stop the load there. Each chunk's inferred types are
    widened together (null -> the type seen later, int64 -> double); fields of types that do
    not fit one another, and fields null in the whole file, become text.
    """
    fields: dict[str, pa.DataType] = {}
    with open(path, "rb") as handle:
        rest = b""
        while True:
            block = handle.read(chunk_bytes)
            chunk, _, rest = (rest + block).rpartition(b"\n") if block else (rest, b"", b"")
            if chunk.strip():
                try:
                    found = pjson.read_json(pa.BufferReader(chunk)).schema
                except pa.ArrowInvalid as exc:
                    if "changed from" in str(exc):
                        raise _MixedTypesError() from exc
                    raise DumpUrlError(f"JSON lines inválido: {exc}") from exc
                for item in found:
                    known = fields.get(item.name)
                    fields[item.name] = item.type if known is None else _wider(known, item.type)
            if not block:
                break
    return pa.schema(
        [(name, pa.string() if pa.types.is_null(kind) else kind) for name, kind in fields.items()]
    )


def _duckdb_json_batches(path: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """JSON lines through DuckDB's reader, typed from every record (about 2.5x slower than
    pyarrow's, so only for files pyarrow cannot type)."""
    # here: every `pipelines` command imports the flows, and duckdb (0.2 s) serves only files
    # pyarrow cannot type
    import duckdb  # pylint: disable=import-outside-toplevel

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{_DUCKDB_JSON_MEMORY}'")
    source = "'" + str(path).replace("'", "''") + "'"
    try:
        reader = con.sql(
            f"SELECT * FROM read_json({source}, format = 'newline_delimited', sample_size = -1)"
        ).to_arrow_reader(_DUCKDB_JSON_BATCH_ROWS)
    except duckdb.Error as exc:
        con.close()
        raise DumpUrlError(f"JSON lines inválido: {exc}") from exc

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except (duckdb.Error, pa.ArrowInvalid) as exc:
            raise DumpUrlError(f"JSON lines inválido: {exc}") from exc
        finally:
            con.close()

    return reader.schema, batches()


def _wider(known: pa.DataType, found: pa.DataType) -> pa.DataType:
    try:
        return (
            pa.unify_schemas(
                [pa.schema([("f", known)]), pa.schema([("f", found)])], promote_options="permissive"
            )
            .field("f")
            .type
        )
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.string()


def unpacked(path: Path, file_format: str, zip_member: str | None = None) -> Path:
    """The data file inside a downloaded gzip, bzip2, xz or ZIP file (known by its first bytes, as
    open data portals name them loosely), decompressed beside it as a stream; any other file as
    it is. In a ZIP, `zip_member` names the file; without it, the only file, or the only one
    ending in `.{file_format}`."""
    with open(path, "rb") as handle:
        magic = handle.read(6)
    opener = next(
        (open_ for prefix, open_ in _COMPRESSED.items() if magic.startswith(prefix)), None
    )
    if opener is None and not magic.startswith(b"PK\x03\x04"):
        return path
    target = path.with_name(f"unpacked-{path.name}")
    try:
        if opener is not None:
            with opener(path, "rb") as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, _UNPACK_CHUNK)
        else:
            with zipfile.ZipFile(path) as archive:
                name = _zip_member(archive, file_format, zip_member)
                with archive.open(name) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, _UNPACK_CHUNK)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        target.unlink(missing_ok=True)
        raise DumpUrlError(f"arquivo compactado inválido: {exc}") from exc
    path.unlink()  # the disk holds one copy of the data at a time
    return target


def _zip_member(archive: zipfile.ZipFile, file_format: str, zip_member: str | None) -> str:
    names = [info.filename for info in archive.infolist() if not info.is_dir()]
    if zip_member is not None:
        if zip_member not in names:
            raise DumpUrlError(f"{zip_member!r} não está no zip; ele tem: {', '.join(names)}")
        return zip_member
    fitting = [n for n in names if n.lower().endswith(f".{file_format}")]
    if len(names) == 1:
        return names[0]
    if len(fitting) == 1:
        return fitting[0]
    raise DumpUrlError(
        f"o zip tem {len(names)} arquivos ({', '.join(names)}): escolha um com zip_member"
    )


def as_utf8(path: Path, encoding: str) -> Path:
    """The JSON file in UTF-8, as the JSON readers need it (pyarrow's turns bytes that are not
    UTF-8 into U+FFFD without a word): checked in place when `encoding` is UTF-8, otherwise
    transcoded beside it, streaming."""
    try:
        codec = codecs.lookup(encoding)
    except LookupError as exc:
        raise DumpUrlError(f"encoding {encoding!r} desconhecido") from exc
    blocks = _decoded(path, codec, encoding)
    if codec.name == "utf-8":
        deque(blocks, maxlen=0)
        return path
    target = path.with_name(f"utf8-{path.name}")
    with open(target, "w", encoding="utf-8", newline="") as out:
        out.writelines(blocks)
    path.unlink()  # the disk holds one copy of the data at a time
    return target


def _decoded(path: Path, codec: codecs.CodecInfo, encoding: str) -> Iterator[str]:
    decoder = codec.incrementaldecoder()
    with open(path, "rb") as source:
        try:
            while block := source.read(_UNPACK_CHUNK):
                yield decoder.decode(block)
            yield decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            hint = _encoding_hint(encoding)
            raise DumpUrlError(f"JSON inválido: byte {exc.object[exc.start]:#04x}; {hint}") from exc


def json_array_to_lines(path: Path, target: Path) -> Path:
    """Rewrite a top-level JSON array as JSON lines, one item at a time (ijson), so it streams."""
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
