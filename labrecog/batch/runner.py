"""Evaluating a stream of lines on one or several processes, output in input order.

Lines travel in chunks. With ``jobs > 1`` a bounded window of chunks is in flight (so
memory stays flat however long the input), each worker holds its own compiled Engine,
and chunks are written back in the order they were read. Every line yields exactly one
record: the worker never drops a line, and the runner checks the count.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from labrecog.batch.formats import Format, encoder
from labrecog.batch.records import evaluate_line
from labrecog.batch.summary import Summary
from labrecog.engine import Engine
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


_worker_engine: Engine | None = None
_worker_format: Format = "jsonl"
_worker_source: tuple[Source, bool] = ("jsonl", False)


def _init_worker(
    rules: str, lang: Lang | None, fmt: Format, source: tuple[Source, bool] = ("jsonl", False)
) -> None:
    global _worker_engine, _worker_format, _worker_source
    _worker_engine = Engine.from_path(rules, lang=lang)
    _worker_format = fmt
    _worker_source = source


def _work(batch: list[tuple[int, bytes]]) -> Chunk:
    assert _worker_engine is not None
    return _evaluate(_worker_engine, _worker_format, batch, _worker_source)


def _evaluate(
    engine: Engine,
    fmt: Format,
    batch: list[tuple[int, bytes]],
    source: tuple[Source, bool] = ("jsonl", False),
) -> Chunk:
    if source[0] == "fhir":
        return _evaluate_bundles(engine, fmt, batch, strict=source[1])
    summary = Summary()
    records: list[tuple[int, dict[str, Any]]] = []
    for line_no, raw in batch:
        record = evaluate_line(engine, line_no, raw)
        summary.add(record)
        records.append((line_no, record))
    return Chunk(encoder(fmt)(records), len(batch), summary)


def _evaluate_bundles(
    engine: Engine, fmt: Format, batch: list[tuple[int, bytes]], *, strict: bool
) -> Chunk:
    """FHIR Bundles in: summarised as decisions, written as FHIR or as labrecog records."""
    from labrecog.batch.fhir_lines import evaluate_bundle_line

    summary = Summary()
    records: list[tuple[int, dict[str, Any]]] = []
    for line_no, raw in batch:
        record, out = evaluate_bundle_line(
            engine, line_no, raw, fhir_out=fmt == "fhir", strict=strict
        )
        summary.add(record)
        records.append((line_no, out))
    return Chunk(encoder(fmt)(records), len(batch), summary)


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
) -> Iterator[Chunk]:
    """Evaluated chunks in input order; ``engine`` serves jobs=1, ``rules`` the workers.

    ``source="fhir"``: each line is a FHIR Bundle (``strict_fhir`` validates it with
    fhir.resources first).
    """
    if fmt == "fhir" and source != "fhir":
        raise ValueError("FHIR output answers FHIR input: give source='fhir'")
    how = (source, strict_fhir)
    if jobs <= 1:
        for batch in _chunks(lines):
            yield _evaluate(engine, fmt, batch, how)
        return
    window = jobs * 4
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_init_worker, initargs=(rules, lang, fmt, how)
    ) as pool:
        pending: collections.deque[Future[Chunk]] = collections.deque()
        try:
            for batch in _chunks(lines):
                pending.append(pool.submit(_work, batch))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
