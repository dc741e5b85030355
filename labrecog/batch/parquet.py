"""Parquet in and out (``labrecog[parquet]``): cases and results from the files warehouses
hold, decisions to the file they query (docs/parquet.md).

In, a row becomes the JSON line the rest of the batch already reads (``records.evaluate_line``,
``join.ResultIndex.build``), numbered from 1 over the whole file: line N of every record and
error is row N, and a file is evaluated exactly as its JSONL would be. Out, one row per
decision item. pyarrow is imported only when a Parquet file is met, so ``import labrecog``
and JSONL runs never need it; without it, :class:`ParquetUnavailable` says what to install.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, BinaryIO, Final

import orjson

__all__ = [
    "PARQUET_MAGIC",
    "ROW_GROUP_ROWS",
    "DecisionWriter",
    "ParquetReadError",
    "ParquetUnavailable",
    "decision_records",
    "decision_schema",
    "decision_table",
    "encode_chunk",
    "is_parquet",
    "parquet_lines",
    "parquet_result_lines",
    "require",
    "row_groups",
    "schema_json",
    "write_decisions",
]

PARQUET_MAGIC: Final = b"PAR1"
ROW_GROUP_ROWS: Final = 65_536
"""Rows per written row group: large enough for fast scans, bounded memory while writing."""
_BATCH_ROWS: Final = 128  # rows converted at a time: 1,024 cost 60 MB more (cn-reference)


class ParquetUnavailable(ImportError):
    """pyarrow is not installed."""

    def __init__(self) -> None:
        super().__init__("Parquet needs pyarrow: pip install 'labrecog[parquet]'")


class ParquetReadError(OSError):
    """The file is not a readable Parquet file (truncated, corrupt, unreadable)."""


def _arrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ParquetUnavailable() from None
    return pyarrow


def require() -> None:
    """Raise :class:`ParquetUnavailable` now, before any work, if pyarrow is missing."""
    _arrow()


def is_parquet(path: str) -> bool:
    """A regular file starting with ``PAR1`` (never judged by its name; stdin and pipes
    are never Parquet: they cannot be read twice). A file that starts like Parquet but
    does not end like it is Parquet all the same: reading it says it is truncated."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as raw:
            return raw.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def _open(path: str) -> Any:
    _arrow()
    import pyarrow.parquet as pq

    try:
        with open(path, "rb") as raw:
            raw.seek(-4, os.SEEK_END)
            if raw.read(4) != PARQUET_MAGIC:
                raise ParquetReadError(f"{path}: truncated Parquet file (no PAR1 at its end)")
        return pq.ParquetFile(path)
    except ParquetReadError:
        raise
    except (OSError, ValueError) as exc:
        raise ParquetReadError(f"{path}: not a readable Parquet file: {exc}") from exc


def row_groups(path: str) -> list[tuple[int, int]]:
    """Per row group: (number of its first row, counted from 1 over the file, its rows)."""
    with contextlib.closing(_open(path)) as handle:
        return _groups(handle)


def _groups(handle: Any) -> list[tuple[int, int]]:
    meta = handle.metadata
    out: list[tuple[int, int]] = []
    first = 1
    for i in range(meta.num_row_groups):
        size = meta.row_group(i).num_rows
        out.append((first, size))
        first += size
    return out


def _rows(path: str, groups: Sequence[int] | None) -> Iterator[tuple[int, dict[str, Any] | Any]]:
    """(row number, the row as a JSON-ready dict, or an UnreadableRow), a batch at a time."""
    from labrecog.batch._parquet_values import convert

    with contextlib.closing(_open(path)) as handle:
        starts = _groups(handle)
        for group in range(len(starts)) if groups is None else groups:
            row = starts[group][0]
            try:
                batches = handle.iter_batches(
                    batch_size=_BATCH_ROWS, row_groups=[group], use_threads=False
                )
                for batch in batches:
                    # the row as one struct: its columns are the fields of the row's object
                    values, problems = convert(batch.to_struct_array())
                    for i, found in enumerate(values):
                        yield row, found if i not in problems else _unreadable(problems[i], found)
                        row += 1
            except (OSError, ValueError) as exc:
                raise ParquetReadError(f"{path}: cannot read row group {group}: {exc}") from exc


def _unreadable(problem: tuple[str, str], found: dict[str, Any]) -> Any:
    """The stand-in of a row JSON cannot hold. A results row that names its patient also
    carries an object no prior result validates as (an unknown field saying why), which
    joined mode attaches to that patient's orders: refused, never decided without it."""
    from labrecog.batch._parquet_row import UnreadableRow

    def text(key: str) -> str | None:
        value = found.get(key)
        return value if isinstance(value, str) else None

    path, message = problem
    body = orjson.dumps({**found, "unreadable": f"{path}: {message}"})
    return UnreadableRow(path, message, text("order_id"), text("patient_id"), body)


def _lines(path: str, groups: Sequence[int] | None) -> Iterator[tuple[int, bytes]]:
    from labrecog.batch._parquet_row import UnreadableRow

    for row, value in _rows(path, groups):
        if isinstance(value, UnreadableRow):
            yield row, value
            continue
        try:
            yield row, orjson.dumps(value)
        except (TypeError, ValueError) as exc:  # nothing Arrow holds should get here
            yield row, _unreadable(("", f"row cannot be written as JSON: {exc}"), {})


def parquet_lines(path: str, groups: Sequence[int] | None = None) -> Iterator[tuple[int, bytes]]:
    """Cases, one per row ("nested" layout: the columns are the case's top-level fields,
    structs and lists for its nested parts), as (row number from 1, the case as JSON);
    only the row groups ``groups`` if given. A row JSON cannot hold is an error line."""
    return _lines(path, groups)


def parquet_result_lines(
    path: str, groups: Sequence[int] | None = None
) -> Iterator[tuple[int, bytes]]:
    """Prior results, one per row ("flat" layout for joined mode: the columns are a prior
    result's fields, ``patient_id`` among them), as the JSON lines ``ResultIndex`` reads."""
    return _lines(path, groups)


def decision_schema() -> Any:
    """The decision rows' ``pyarrow.Schema`` (docs/parquet.md); descriptions in metadata."""
    _arrow()
    from labrecog.batch._parquet_out import decision_schema as schema

    return schema()


def decision_table(records: Iterable[tuple[int, dict[str, Any]]]) -> Any:
    """(line, decision or error record) pairs as a ``pyarrow.Table``: one row per item,
    one row per error record (status ``error``)."""
    _arrow()
    from labrecog.batch._parquet_out import decision_table as table

    return table(records)


def schema_json() -> dict[str, Any]:
    """The decision schema for people and programs: names, Arrow types, descriptions."""
    _arrow()
    from labrecog.batch._parquet_out import COLUMNS, FORMAT_KEY, FORMAT_VALUE

    return {
        "title": "labrecog decisions (Parquet): one row per decision item, one per error record",
        "metadata": {FORMAT_KEY.decode(): FORMAT_VALUE.decode()},
        "fields": [
            {"name": name, "type": str(kind), "nullable": nullable, "description": about}
            for name, kind, nullable, about in COLUMNS
        ],
    }


def encode_chunk(records: Iterable[tuple[int, dict[str, Any]]]) -> bytes:
    """A chunk's rows as an Arrow IPC stream: bytes that cross from worker processes and
    that :class:`DecisionWriter` ``write`` takes (``batch.formats`` "parquet")."""
    pa = _arrow()
    table = decision_table(records)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


class DecisionWriter:
    """Decision rows into a Parquet file or binary sink, chunk after chunk.

    Rows are gathered to ``row_group_rows`` and written as one row group, so memory stays
    flat in the number of cases. Close it (or use ``with``) to write the footer: until then
    the file is not Parquet, which is why the CLI writes it through ``atomic_output``.
    """

    def __init__(self, sink: str | BinaryIO, *, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        pa = _arrow()
        self._pa = pa
        self._schema = decision_schema()
        self._writer = pa.parquet.ParquetWriter(sink, self._schema, compression="zstd")
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._limit = row_group_rows
        self.rows = 0

    def write(self, payload: bytes) -> int:
        """An :func:`encode_chunk` payload (file-like: what ``sink.write`` takes)."""
        with self._pa.ipc.open_stream(payload) as reader:
            self.write_table(reader.read_all())
        return len(payload)

    def write_records(self, records: Iterable[tuple[int, dict[str, Any]]]) -> None:
        self.write_table(decision_table(records))

    def write_table(self, table: Any) -> None:
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= self._limit:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = self._pa.concat_tables(self._pending)
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def abort(self) -> None:
        """Stop without the pending rows, releasing the sink (the caller drops the file):
        a writer left open would write its footer into a closed file when collected."""
        self._pending, self._pending_rows = [], 0
        with contextlib.suppress(Exception):
            self._writer.close()

    def __enter__(self) -> DecisionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_decisions(
    sink: str | BinaryIO,
    chunks: Iterable[Iterable[tuple[int, dict[str, Any]]] | Any],
    *,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> int:
    """Write chunks (each a ``pyarrow.Table`` of decision rows, or (line, record) pairs) to
    ``sink``; the number of rows written. Not atomic by itself: give it a temporary name."""
    pa = _arrow()
    with DecisionWriter(sink, row_group_rows=row_group_rows) as writer:
        for chunk in chunks:
            if isinstance(chunk, pa.Table):
                writer.write_table(chunk)
            else:
                writer.write_records(chunk)
    return writer.rows


def decision_records(path: str) -> Iterator[tuple[int | None, Any]]:
    """The records of a decisions file again (what ``labrecog report`` reads): decisions
    and error records as in the JSONL output, ``to_order`` derived; a row that is not a
    decision row is yielded as it is, for the caller to count as unreadable."""
    handle = _open(path)  # first: without pyarrow, ParquetUnavailable
    from labrecog.batch._parquet_out import records_of

    def rows() -> Iterator[dict[str, Any]]:
        with contextlib.closing(handle):
            try:
                for batch in handle.iter_batches(batch_size=_BATCH_ROWS, use_threads=False):
                    yield from batch.to_pylist()
            except (OSError, ValueError) as exc:
                raise ParquetReadError(f"{path}: {exc}") from exc

    return records_of(rows())
