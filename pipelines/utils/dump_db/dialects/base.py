"""
What every source database does for a dump, and the SQL they write alike: a `Dialect` object per
database owns its connection, its read, its watermark query, its primary-key catalog query,
quoting of names and literals, and (in its module) the mapping of its types to Arrow.
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, ClassVar, NamedTuple

import pyarrow as pa

from pipelines.utils.dump_db.incremental import FLOAT_TYPES, comparison
from pipelines.utils.dump_db.utils import Connection, DumpConfigError, SourceError


@dataclass(frozen=True)
class Extract:
    """What a dump reads: `execute_query`, or every row of `table`; with an
    `incremental_column`, only the rows at or past the `previous` state's watermark;
    `batch_size` rows at a time, in up to `parallelism` reads where the dialect can."""

    execute_query: str | None
    table: str | None
    batch_size: int
    parallelism: int = 1
    incremental_column: str | None = None
    previous: dict[str, Any] | None = None


class Stream(NamedTuple):
    """A read under way: its columns, its batches, and how many reads feed them at once."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    slices: int = 1


class SlicePlan(NamedTuple):
    """A table split for reads that may run anywhere (other threads, other processes): its
    columns, one query per slice, and the snapshot every slice reads (all see one instant)."""

    schema: pa.Schema
    queries: tuple[str, ...]
    snapshot: str | None = None


def quote_identifier(name: str, mark: str = '"') -> str:
    """A possibly schema-qualified name, each part quoted with `mark` (doubled inside)."""
    return ".".join(mark + part.replace(mark, mark * 2) + mark for part in name.split("."))


class Dialect:
    """One source database: the SQL every dialect writes alike is here, what differs in each
    subclass (those that read through a DB-API cursor are `fetch.CursorDialect`s)."""

    name: ClassVar[str]
    """The `db_type` a dump declares."""
    label: ClassVar[str]
    """The database as error messages name it."""
    driver_error: ClassVar[type[Exception]]
    quote_mark: ClassVar[str] = '"'
    not_nan: ClassVar[str | None] = None
    """The condition that excludes a float column's NaN (`{}`: the column), for a database
    that orders NaN above every number; None where floats have no NaN."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def connect(self, conn: Connection) -> Any:
        """An open driver connection, or a `SourceError` naming the server."""
        raise NotImplementedError

    def literal(self, conn: Connection, value: str) -> str:
        """A watermark as a SQL literal the server compares correctly."""
        raise NotImplementedError

    def primary_key_query(self, table: str) -> tuple[str, Any]:
        """The catalog query for `table`'s primary key columns in key order, and its
        parameters."""
        raise NotImplementedError

    def message(self, exc: Exception) -> str:
        """A driver error as readable text."""
        return str(exc)

    def quote(self, name: str) -> str:
        """A possibly schema-qualified name, quoted for this dialect."""
        return quote_identifier(name, self.quote_mark)

    def select(self, execute_query: str | None, table: str | None, where: str | None = None) -> str:
        """The query that reads the data: `execute_query` as given, or every row of `table`
        (those matching `where`, for one slice of a parallel read)."""
        if bool(execute_query) == bool(table):
            raise DumpConfigError("informe exatamente um de execute_query ou table")
        if execute_query:
            return execute_query.strip().rstrip(";")
        query = f"SELECT * FROM {self.quote(table or '')}"
        return f"{query} WHERE {where}" if where else query

    def watermark_query(
        self,
        query: str,
        column: str | None,
        previous: dict[str, Any] | None,
        literal: Callable[[str], str],
    ) -> str:
        """`query` wrapped to return only rows at or past the last loaded watermark, without
        the NaNs of a float column where this dialect has them."""
        if not column or previous is None:
            return query
        quoted = self.quote(column)
        if previous["value"] is None:  # a first load found no usable value
            conditions = [f"{quoted} IS NOT NULL"]
        else:
            conditions = [f"{quoted} {comparison(previous)} {literal(previous['value'])}"]
        if self.not_nan and previous.get("type") in FLOAT_TYPES:
            conditions.append(self.not_nan.format(quoted))
        # an alias without AS, starting with a letter: the form Oracle accepts too
        return f"SELECT * FROM ({query}) dump_rows WHERE {' AND '.join(conditions)}"

    def queries(
        self, conn: Connection, extract: Extract, wheres: list[str | None] | None = None
    ) -> list[str]:
        """The statements that read `extract`, one per `where` (a slice of a parallel read);
        the watermark is quoted once, by the server where quoting needs it."""
        literal = cache(partial(self.literal, conn))
        return [
            self.watermark_query(
                self.select(extract.execute_query, extract.table, where),
                extract.incremental_column,
                extract.previous,
                literal,
            )
            for where in wheres or [None]
        ]

    def read(self, conn: Connection, extract: Extract) -> AbstractContextManager[Stream]:
        """The rows of `extract`, streaming while the block is open."""
        raise NotImplementedError

    def slices(
        self, conn: Connection, extract: Extract
    ) -> AbstractContextManager[SlicePlan | None]:
        """`extract` split into slices that separate tasks read (`read_slice`) while the block
        is open, or None when this dialect, or this extract, reads as one stream."""
        return nullcontext(None)

    def read_slice(self, conn: Connection, plan: SlicePlan, index: int) -> Iterator[pa.RecordBatch]:
        """The rows of one slice of `plan`, in a snapshot another connection holds open."""
        raise NotImplementedError

    def primary_key(self, conn: Connection, table: str) -> list[str]:
        """`table`'s primary key columns in key order, read from the catalog; [] without one
        (a view, a table without a key)."""
        with closing(self.connect(conn)) as db:
            try:
                with closing(db.cursor()) as cursor:
                    cursor.execute(*self.primary_key_query(table))
                    rows = cursor.fetchall()
            except self.driver_error as exc:
                raise SourceError(
                    f"a leitura da chave primária falhou no {self.label}: {self.message(exc)}"
                ) from exc
        return [name for (name,) in rows]
