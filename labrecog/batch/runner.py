"""Evaluating a stream of lines on one or several processes, output in input order.

Lines travel in chunks. With ``jobs > 1`` a bounded window of chunks is in flight (so
memory stays flat however long the input), each worker holds its own compiled Engine,
and chunks are written back in the order they were read. Every line yields exactly one
record: the worker never drops a line, and the runner checks the count.

Workers are disposable and must never outlive or outguess the parent:

- they compile the rule set the parent loaded (its validated sources, pickled, checked
  against the parent's digest), never the folder's later state;
- they die with the parent: ``PR_SET_PDEATHSIG`` (SIGKILL) on Linux, with a check of the
  parent right after it (the parent may have died before the call), and everywhere a
  daemon thread that exits the worker once the parent is gone;
- a chunk whose worker died is evaluated again, alone, in a fresh worker; if that worker
  dies too, its lines become ``internal_error`` records (``Summary.lost`` counts them), so
  nothing is lost and nothing is written twice;
- a worker hands its chunk's encoded records over in a spool file and sends back only
  the file's name with the counts (under a kilobyte, one atomic write to the result
  pipe). A worker killed while sending hundreds of kilobytes through that pipe left
  ``ProcessPoolExecutor``'s reader waiting for the rest of the message for ever, never
  seeing the worker gone: ``--jobs`` hung (about one kill in six, tested).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from labrecog._errors import RulesetError, RulesetProblem
from labrecog.batch._scratch import make_scratch, remove_scratch
from labrecog.batch.formats import Format, encoder
from labrecog.batch.records import CaseLimits, evaluate_line, internal_error_record
from labrecog.batch.summary import Summary
from labrecog.compile import compile_rules
from labrecog.engine import Engine
from labrecog.load import LoadedRuleset, load_ruleset
from labrecog.words import Lang

__all__ = ["Chunk", "Source", "run_lines"]

CHUNK_LINES = 256

#: What each input line holds: a labrecog case (JSONL) or a FHIR Bundle (NDJSON).
Source = Literal["jsonl", "fhir"]


@dataclass(slots=True)
class Chunk:
    payload: bytes  # the encoded records, ready to write
    lines: int
    summary: Summary
    spooled: str | None = None  # from a worker: the file holding the payload instead


_worker_engine: Engine | None = None
_worker_format: Format = "jsonl"
_worker_source: tuple[Source, bool] = ("jsonl", False)
_worker_limits: CaseLimits = CaseLimits()
_worker_spool: str | None = None


_PR_SET_PDEATHSIG = 1
_WATCH_SECONDS = 0.5
_LOST = "the worker process evaluating this line stopped twice; line not decided"


def _init_worker(
    rules: LoadedRuleset,
    lang: Lang | None,
    fmt: Format,
    source: tuple[Source, bool] = ("jsonl", False),
    parent: int = 0,
    limits: CaseLimits | None = None,
    spool: str | None = None,
) -> None:
    """Compile the parent's rule set (not the folder's state now) and die with the parent."""
    global _worker_engine, _worker_format, _worker_source, _worker_limits, _worker_spool
    if parent:
        _die_with(parent)
    engine = Engine(compile_rules(rules), lang=lang)
    if engine.rules.digest != rules.digest:  # the compiler keeps it; never run other rules
        os._exit(1)
    _worker_engine = engine
    _worker_format = fmt
    _worker_source = source
    _worker_limits = limits or CaseLimits()
    _worker_spool = spool


def _die_with(parent: int) -> None:
    """Exit when ``parent`` dies: a kernel signal where there is one, a watcher everywhere.

    The watcher also covers start methods where the worker's parent is not ``parent``
    (forkserver) and the window before the signal was armed.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watcher below still ends the worker
    first = os.getppid()
    if not _alive(parent):  # died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == first and _alive(parent):
            time.sleep(_WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="labrecog-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _work(batch: list[tuple[int, bytes]]) -> Chunk:
    assert _worker_engine is not None
    chunk = _evaluate(_worker_engine, _worker_format, batch, _worker_source, _worker_limits)
    if _worker_spool is None:
        return chunk
    path = os.path.join(_worker_spool, f"{os.getpid()}-{batch[0][0]}")
    try:
        with open(path, "xb") as out:
            out.write(chunk.payload)
    except OSError:  # no room for the spool: through the pipe, as before it
        with contextlib.suppress(OSError):
            os.unlink(path)
        return chunk
    return Chunk(b"", chunk.lines, chunk.summary, path)


def _unspool(chunk: Chunk) -> Chunk:
    """The chunk with its payload, read back from the worker's spool file (then removed)."""
    if chunk.spooled is None:
        return chunk
    with open(chunk.spooled, "rb") as spooled:
        payload = spooled.read()
    os.unlink(chunk.spooled)
    return Chunk(payload, chunk.lines, chunk.summary)


def _evaluate(
    engine: Engine,
    fmt: Format,
    batch: list[tuple[int, bytes]],
    source: tuple[Source, bool] = ("jsonl", False),
    limits: CaseLimits | None = None,
) -> Chunk:
    if source[0] == "fhir":
        return _evaluate_bundles(engine, fmt, batch, strict=source[1])
    summary = Summary()

    def records() -> Iterator[tuple[int, dict[str, Any]]]:
        # One record at a time, encoded before the next is made: a chunk's records never
        # all live at once (holding 256 decisions' dicts cost a fifth of deciding them).
        for line_no, raw in batch:
            record = evaluate_line(engine, line_no, raw, limits)
            summary.add(record)
            yield line_no, record

    return Chunk(encoder(fmt)(records()), len(batch), summary)


def _evaluate_bundles(
    engine: Engine, fmt: Format, batch: list[tuple[int, bytes]], *, strict: bool
) -> Chunk:
    """FHIR Bundles in: summarised as decisions, written as FHIR or as labrecog records."""
    from labrecog.batch.fhir_lines import evaluate_bundle_line

    summary = Summary()

    def records() -> Iterator[tuple[int, dict[str, Any]]]:
        for line_no, raw in batch:  # one at a time, as _evaluate
            record, out = evaluate_bundle_line(
                engine, line_no, raw, fhir_out=fmt == "fhir", strict=strict
            )
            summary.add(record)
            yield line_no, out

    return Chunk(encoder(fmt)(records()), len(batch), summary)


def _chunks(lines: Iterable[tuple[int, bytes]]) -> Iterator[list[tuple[int, bytes]]]:
    it = iter(lines)
    while batch := list(islice(it, CHUNK_LINES)):
        yield batch


def run_lines(
    lines: Iterable[tuple[int, bytes]],
    *,
    engine: Engine,
    rules: str,
    lang: Lang | None,
    fmt: Format,
    jobs: int,
    source: Source = "jsonl",
    strict_fhir: bool = False,
    loaded: LoadedRuleset | None = None,
    limits: CaseLimits | None = None,
) -> Iterator[Chunk]:
    """Evaluated chunks in input order; ``engine`` serves jobs=1, the workers get ``loaded``.

    ``loaded`` is the rule set ``engine`` was compiled from; without it the folder
    ``rules`` is read once, here, before any worker starts, and refused unless its digest
    is ``engine``'s. ``source="fhir"``: each line is a FHIR Bundle (``strict_fhir``
    validates it with fhir.resources first).
    """
    if fmt == "fhir" and source != "fhir":
        raise ValueError("FHIR output answers FHIR input: give source='fhir'")
    how = (source, strict_fhir)
    if jobs <= 1:
        for batch in _chunks(lines):
            yield _evaluate(engine, fmt, batch, how, limits)
        return
    snapshot = loaded if loaded is not None else _snapshot(engine, rules)
    spool = make_scratch(None)  # gone at the end, on SIGTERM, or swept after kill -9
    try:
        initargs = (snapshot, lang, fmt, how, os.getpid(), limits, str(spool))
        yield from _pooled(_chunks(lines), jobs, initargs)
    finally:
        remove_scratch(spool)


def _snapshot(engine: Engine, rules: str) -> LoadedRuleset:
    """The rule set ``engine`` was compiled from, read once; refused if it changed since."""
    loaded = load_ruleset(rules)
    if loaded.digest != engine.rules.digest:
        message = (
            f"changed on disk after it was loaded ({engine.rules.digest} then "
            f"{loaded.digest}); run again"
        )
        raise RulesetError([RulesetProblem(rules, 0, 0, message)])
    return loaded


_Pending = collections.deque[tuple[list[tuple[int, bytes]], "Future[Chunk]"]]


def _pooled(
    chunks: Iterable[list[tuple[int, bytes]]], jobs: int, initargs: tuple[Any, ...]
) -> Iterator[Chunk]:
    """A bounded window of chunks in flight; a broken pool is replaced, its chunks retried."""
    window = jobs * 4
    pool = _pool(jobs, initargs)
    pending: _Pending = collections.deque()
    try:
        for batch in chunks:
            pending.append((batch, _submit(pool, batch)))
            if len(pending) >= window:
                chunk = _result(pending[0][1])
                if chunk is None:
                    pool.shutdown(wait=True)  # every future of the broken pool settled
                    yield from _recover(pending, initargs)
                    pool = _pool(jobs, initargs)
                else:
                    pending.popleft()
                    yield chunk
        while pending:
            chunk = _result(pending[0][1])
            if chunk is None:
                pool.shutdown(wait=True)
                yield from _recover(pending, initargs)
            else:
                pending.popleft()
                yield chunk
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _pool(jobs: int, initargs: tuple[Any, ...]) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=initargs)


def _submit(pool: ProcessPoolExecutor, batch: list[tuple[int, bytes]]) -> Future[Chunk]:
    try:
        return pool.submit(_work, batch)
    except BrokenProcessPool as exc:  # broke since the last submit: retried like the rest
        failed: Future[Chunk] = Future()
        failed.set_exception(exc)
        return failed


def _result(future: Future[Chunk]) -> Chunk | None:
    """The chunk, or None when its worker died (any other error is a bug and raises)."""
    try:
        return _unspool(future.result())
    except BrokenProcessPool:
        return None


def _recover(pending: _Pending, initargs: tuple[Any, ...]) -> Iterator[Chunk]:
    """Drain a broken pool's chunks in order: finished ones kept, the others retried once."""
    while pending:
        batch, future = pending.popleft()
        done = future.done() and not future.cancelled() and future.exception() is None
        yield _unspool(future.result()) if done else _retry(batch, initargs)


def _retry(batch: list[tuple[int, bytes]], initargs: tuple[Any, ...]) -> Chunk:
    """One chunk alone in a fresh worker; if it dies too, its lines become error records."""
    with ProcessPoolExecutor(1, initializer=_init_worker, initargs=initargs) as pool:
        chunk = _result(_submit(pool, batch))
    return chunk if chunk is not None else _lost(batch, initargs[2])


def _lost(batch: list[tuple[int, bytes]], fmt: Format) -> Chunk:
    summary = Summary()
    records: list[tuple[int, dict[str, Any]]] = []
    for line_no, _ in batch:
        record = internal_error_record(line_no, BrokenProcessPool(_LOST))
        summary.add(record)
        summary.lost += 1
        records.append((line_no, _as_fhir(record, line_no) if fmt == "fhir" else record))
    return Chunk(encoder(fmt)(records), len(batch), summary)


def _as_fhir(record: dict[str, Any], line_no: int) -> dict[str, Any]:
    """FHIR output answers every line with a resource: the error as an OperationOutcome."""
    from labrecog.fhir import operation_outcome

    return operation_outcome(record, line_no)
