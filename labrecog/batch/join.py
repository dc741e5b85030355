"""Joined mode: orders and prior results in separate files, joined by patient id.

A results feed is usually one file of many millions of rows, and orders arrive apart from
it. ``ResultIndex`` reads the results once, validates every line once (so a bad line is
reported once, not once per order of that patient) and keeps the valid ones by patient,
in a dict or, for large inputs, in an SQLite file so memory stays flat. ``joined_lines``
then turns each order line into a complete case line. It runs in the main process; worker
processes only ever see complete case bytes, exactly as in self-contained mode, so the
evaluator and its error records are the same in both modes.

The contract, with ``invalid="refuse"`` (the default): an order decides exactly as the
self-contained case made by appending its patient's results lines to ``prior_results``
would. A results line that is invalid but names its patient is attached too, so that
patient's orders become error records just as the self-contained case would (docs/design.md,
principle 1: an error never turns into a waiver). ``invalid="skip"`` leaves invalid results out
and decides with the valid ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import tzinfo
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

import orjson
from pydantic import ValidationError

from labrecog._errors import InputError
from labrecog.batch._parquet_row import UnreadableRow
from labrecog.batch._scratch import make_scratch, remove_scratch
from labrecog.batch.io import numbered_lines, open_input
from labrecog.batch.records import input_message, parse_json_line, results_error_record
from labrecog.engine import input_error
from labrecog.load import loads_strict
from labrecog.model import PriorResult
from labrecog.words import Lang, input_text

__all__ = [
    "MEMORY_LIMIT",
    "ErrorSink",
    "IndexKind",
    "InvalidResults",
    "ResultIndex",
    "check_result_line",
    "joined_lines",
    "order_of",
    "results_error_record",
]

IndexKind = Literal["auto", "memory", "sqlite"]
InvalidResults = Literal["refuse", "skip"]
ErrorSink = Callable[[dict[str, Any]], None]

MEMORY_LIMIT: Final = 256 * 2**20
"""``auto`` keeps results in memory below this many bytes on disk (about 1.2x in RAM)."""

_BATCH_ROWS: Final = 10_000
_GZIP_MAGIC: Final = b"\x1f\x8b"


class _MemoryStore:
    """Plain dicts: fastest; costs about 1.2 times the results file in RAM."""

    kind: Final = "memory"

    def __init__(self) -> None:
        self._valid: dict[str, list[bytes]] = {}
        self._invalid: dict[str, list[bytes]] = {}

    def add(self, patient_id: str, line_no: int, body: bytes, valid: bool) -> None:
        # Lines arrive in file order, so appending keeps each patient's list in line order.
        (self._valid if valid else self._invalid).setdefault(patient_id, []).append(body)

    def finish(self) -> None:
        pass

    def get(self, patient_id: str, include_invalid: bool) -> list[bytes]:
        found = self._valid.get(patient_id, [])
        if include_invalid and patient_id in self._invalid:
            return found + self._invalid[patient_id]
        return list(found)

    def close(self) -> None:
        self._valid.clear()
        self._invalid.clear()


class _SqliteStore:
    """A temporary SQLite file: memory stays bounded whatever the number of results."""

    kind: Final = "sqlite"

    def __init__(self, tmp_dir: str | Path | None) -> None:
        # Named with the pid, removed on close, exit and SIGTERM; swept once stale (_scratch).
        self.directory = make_scratch(tmp_dir)
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int, int, bytes]] = []
        try:
            # check_same_thread=False: look-ups are serialised by self._lock instead, and the
            # finaliser may close the connection from whichever thread collects the index.
            self._db = sqlite3.connect(
                self.directory / "results.sqlite", isolation_level=None, check_same_thread=False
            )
            # A scratch file rebuilt on every run: durability would only cost time.
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("PRAGMA cache_size=-32768")  # 32 MiB, whatever the file size
            self._db.execute(
                "CREATE TABLE results ("
                "patient_id TEXT NOT NULL, invalid INTEGER NOT NULL, "
                "line INTEGER NOT NULL, body BLOB NOT NULL)"
            )
            self._db.execute("BEGIN")
        except BaseException:
            self.close()
            raise

    def add(self, patient_id: str, line_no: int, body: bytes, valid: bool) -> None:
        self._pending.append((patient_id, 0 if valid else 1, line_no, body))
        if len(self._pending) >= _BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO results VALUES (?, ?, ?, ?)", self._pending)
        self._pending.clear()

    def finish(self) -> None:
        self._flush()
        self._db.execute("COMMIT")
        # Built after loading: one sort instead of millions of random B-tree inserts. The
        # index covers the ORDER BY, so a look-up never sorts.
        self._db.execute("CREATE INDEX results_patient ON results (patient_id, invalid, line)")

    def get(self, patient_id: str, include_invalid: bool) -> list[bytes]:
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT body FROM results WHERE patient_id = ? AND invalid <= ? "
                    "ORDER BY invalid, line",
                    (patient_id, 1 if include_invalid else 0),
                ).fetchall()
        except sqlite3.Error as exc:
            raise OSError(f"cannot read the results index: {exc}") from exc
        return [row[0] for row in rows]

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            # Closing twice, or while another thread is mid-statement, must not raise here.
            with contextlib.suppress(sqlite3.Error):
                db.close()
        # A forked child inherits this object; the directory belongs to the parent.
        remove_scratch(self.directory)


_Store = _MemoryStore | _SqliteStore


class ResultIndex:
    """Prior results by patient id, each results line validated once, at indexing time.

    Build with ``from_path`` (files, gzip, ``-``) or ``build`` (numbered lines). Invalid
    results lines are handed to ``on_error`` as error records while the index is built, so
    they are all known before the first order is joined. Close it (or use ``with``) to drop
    the SQLite file; a forgotten index is cleaned up when garbage-collected or at exit.

    Thread safety: once built, ``results`` may be called from several threads (the memory
    store is read-only, SQLite look-ups are serialised by a lock). Do not use an index in a
    forked child: joining belongs in the main process, workers get complete case bytes.
    """

    def __init__(self, store: _Store, rows: int, errors: int) -> None:
        self._store = store
        self._rows = rows
        self._errors = errors
        self._finalizer = weakref.finalize(self, store.close)

    @classmethod
    def build(
        cls,
        lines: Iterable[tuple[int, bytes]],
        *,
        timezone: tzinfo | None,
        on_error: ErrorSink,
        index: Literal["memory", "sqlite"] = "memory",
        tmp_dir: str | Path | None = None,
        lang: Lang = "en",
    ) -> ResultIndex:
        """Index numbered results lines; ``timezone`` must be the rule set's (naive times).

        A failing store (disk full, unwritable temporary directory) raises OSError, like any
        other I/O failure of a batch run.
        """
        try:
            store: _Store = _SqliteStore(tmp_dir) if index == "sqlite" else _MemoryStore()
        except sqlite3.Error as exc:
            raise OSError(f"cannot create the results index: {exc}") from exc
        context = {"timezone": timezone}
        rows = errors = 0
        try:
            for line_no, raw in lines:
                patient_id, body, record = check_result_line(line_no, raw, context, lang)
                if record is not None:
                    errors += 1
                    on_error(record)
                if patient_id is not None and body is not None:
                    store.add(patient_id, line_no, body, record is None)
                    if record is None:
                        rows += 1
            store.finish()
        except sqlite3.Error as exc:
            store.close()
            raise OSError(f"cannot index the results: {exc}") from exc
        except BaseException:
            store.close()
            raise
        return cls(store, rows, errors)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, int, bytes, bool]]) -> ResultIndex:
        """An in-memory index of results lines already checked by :func:`check_result_line`
        elsewhere (a Dask worker: labrecog/dask/_joined.py), as (patient id, line number,
        JSON text, valid), in the order the lines were read."""
        store = _MemoryStore()
        rows_valid = 0
        for patient_id, line_no, body, valid in rows:
            store.add(patient_id, line_no, body, valid)
            rows_valid += valid
        return cls(store, rows_valid, 0)

    @classmethod
    def from_path(
        cls,
        path: str,
        *,
        timezone: tzinfo | None,
        on_error: ErrorSink,
        index: IndexKind = "auto",
        memory_limit: int = MEMORY_LIMIT,
        tmp_dir: str | Path | None = None,
        lang: Lang = "en",
    ) -> ResultIndex:
        """Index a results file (``-`` is stdin; gzip and Parquet by magic bytes)."""
        from labrecog.batch.parquet import is_parquet, parquet_result_lines  # no pyarrow yet

        if is_parquet(path):  # compressed columns: about 8x their size as JSON in memory
            kind = _choose(path, memory_limit // 8) if index == "auto" else index
            rows = parquet_result_lines(path)
            return cls.build(rows, timezone=timezone, on_error=on_error, index=kind,
                             tmp_dir=tmp_dir, lang=lang)  # fmt: skip
        kind = _choose(path, memory_limit) if index == "auto" else index
        with open_input(path) as stream:
            return cls.build(
                numbered_lines(stream),
                timezone=timezone,
                on_error=on_error,
                index=kind,
                tmp_dir=tmp_dir,
                lang=lang,
            )

    @property
    def kind(self) -> Literal["memory", "sqlite"]:
        return self._store.kind

    @property
    def rows(self) -> int:
        """Valid results indexed."""
        return self._rows

    @property
    def errors(self) -> int:
        """Error records handed to ``on_error`` (invalid results lines)."""
        return self._errors

    @property
    def directory(self) -> Path | None:
        """The temporary directory of an SQLite index (deleted on close), else None."""
        return self._store.directory if isinstance(self._store, _SqliteStore) else None

    def results(self, patient_id: str, *, include_invalid: bool = False) -> list[bytes]:
        """The patient's results as JSON object texts: valid ones in line order, then,
        with ``include_invalid``, the invalid ones that named this patient, in line order."""
        if not self._finalizer.alive:
            raise ValueError("ResultIndex is closed")
        return self._store.get(patient_id, include_invalid)

    def close(self) -> None:
        """Release the store and delete the temporary directory; idempotent."""
        self._finalizer()

    def __enter__(self) -> ResultIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _choose(path: str, memory_limit: int) -> Literal["memory", "sqlite"]:
    """Memory only for a plain file known to be small: stdin and gzip have no usable size."""
    if path == "-":
        return "sqlite"
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_size >= memory_limit:
        return "sqlite"
    with open(path, "rb") as raw:
        return "sqlite" if raw.read(2) == _GZIP_MAGIC else "memory"


def check_result_line(
    line_no: int, raw: bytes, context: dict[str, Any], lang: Lang = "en"
) -> tuple[str | None, bytes | None, dict[str, Any] | None]:
    """(patient id, JSON text, error record or None). Never raises for a bad line.

    An invalid result that is still a JSON object naming its patient keeps both, so that
    ``invalid="refuse"`` can attach it and let the evaluator refuse that patient's orders.
    """
    if isinstance(raw, UnreadableRow):  # a Parquet row JSON cannot hold (batch.parquet)
        error = raw.error()
        message = input_message(error, lang)
        record = results_error_record(line_no, error.code, message, error.path)
        return (raw.patient_id, raw.body, record) if raw.patient_id else (None, None, record)
    text = raw.strip()
    try:
        obj = parse_json_line(text)
    except InputError as exc:
        message = input_message(exc, lang)
        return None, None, results_error_record(line_no, exc.code, message, exc.path)
    if not isinstance(obj, dict):
        message = input_text("a prior result must be a JSON object", lang)
        return None, None, results_error_record(line_no, "invalid_input", message, "")
    try:
        result = PriorResult.model_validate(obj, context=context)
    except ValidationError as exc:
        error = input_error(exc, obj)
        record = results_error_record(line_no, error.code, input_message(error, lang), error.path)
    except Exception as exc:  # one bad line must not stop the batch
        message = f"{type(exc).__name__}: {exc}"
        record = results_error_record(line_no, "internal_error", message, "")
    else:
        # The line as read, not re-encoded: the evaluator parses it with the same parser, and
        # each orjson.dumps result would hold about 4 KiB of RSS (orjson 3.13) while stored.
        return result.patient_id, text, None
    named = obj.get("patient_id")
    if not isinstance(named, str):
        return None, None, record
    return named, text, record


def joined_lines(
    orders: Iterable[tuple[int, bytes]],
    index: ResultIndex,
    *,
    invalid: InvalidResults = "refuse",
) -> Iterator[tuple[int, bytes]]:
    """Each order line as a complete case line: one out per line in, same numbers, in order.

    The patient's results are appended to the order's own ``prior_results`` (if any) in
    results-file line order. A line that is not a JSON object with a string ``patient.id``
    (or whose ``prior_results`` is not a list) passes through unchanged, so the evaluator
    turns it into the same error record as in self-contained mode. Run this in the main
    process; it is a generator over ``index`` and is not meant to be shared between threads.
    """
    include_invalid = invalid == "refuse"
    for line_no, raw in orders:
        yield line_no, _join(raw, index, include_invalid)


def order_of(raw: bytes) -> tuple[dict[str, Any], str] | None:
    """The order line's object and its patient's id; None when the line is not a JSON
    object with a string ``patient.id``: it passes through the join unchanged, and
    evaluating it reports what is wrong with it."""
    try:
        order = loads_strict(raw)
    except (orjson.JSONDecodeError, InputError):
        return None
    if not isinstance(order, dict):
        return None
    patient = order.get("patient")
    patient_id = patient.get("id") if isinstance(patient, dict) else None
    return (order, patient_id) if isinstance(patient_id, str) else None


def _join(raw: bytes, index: ResultIndex, include_invalid: bool) -> bytes:
    parsed = order_of(raw)
    if parsed is None:
        return raw
    order, patient_id = parsed
    found = index.results(patient_id, include_invalid=include_invalid)
    if not found:
        return raw
    joined = b",".join(found)
    if "prior_results" not in order:
        # Splice into the bytes as written: no re-encoding of the order at all.
        text = raw.strip()
        return text[:-1] + b',"prior_results":[' + joined + b"]}"
    own = order.pop("prior_results")
    if not isinstance(own, list):
        return raw
    if own:
        joined = _dumps(own)[1:-1] + b"," + joined
    return _dumps(order)[:-1] + b',"prior_results":[' + joined + b"]}"


def _dumps(value: Any) -> bytes:
    """orjson, or the stdlib where orjson's depth limit (254) is below the parser's (1024)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
