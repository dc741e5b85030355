"""Joined mode on Dask: orders and results in separate datasets, joined by patient.

Each results partition is read and every line checked once where it lies (as
``ResultIndex`` does in one process); its error records are written there, in their own
part file (``results-…``, each with ``"source": "results"``). The checked results and the
orders then go through a Dask shuffle on the patient id into the same number of buckets,
so a patient's orders and results meet in one bucket and no worker ever holds more than
its bucket of the results. A bucket is joined as ``joined_lines`` joins a file, its orders
in input order, evaluated and written as ``joined-KKKKK``. Every order line yields exactly
one record; the manifest counts them per input.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labrecog.batch.join import ResultIndex, check_result_line, joined_lines, order_of
from labrecog.batch.records import evaluate_line
from labrecog.batch.summary import Summary
from labrecog.dask._blocks import Part, numbered_part_lines
from labrecog.dask._task import (
    SUFFIX,
    PartOptions,
    PartStats,
    _write_atomic,
    engine_for,
    write_stats,
)
from labrecog.load import LoadedRuleset

__all__ = ["join_bucket", "order_rows", "result_rows"]

COLUMNS = ["patient", "source", "line", "body", "valid"]


def _frame(rows: list[tuple[str, int, int, bytes, bool]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=COLUMNS).astype(
        {"patient": object, "source": "int64", "line": "int64", "body": object, "valid": bool}
    )


def meta() -> Any:
    return _frame([])


def _lines(part: Part, offsets: list[int], options: PartOptions, results: bool) -> Any:
    if part.kind == "parquet" and results:
        from labrecog.batch.parquet import parquet_result_lines

        return parquet_result_lines(part.path, [part.start])
    return numbered_part_lines(part, offsets, options.max_line_bytes)


def result_rows(
    part: Part, offsets: list[int], rules: LoadedRuleset, options: PartOptions, source: int
) -> tuple[PartStats, Any]:
    """The partition's results, checked: rows to shuffle, and its error records written."""
    engine, compiled = engine_for(rules, options.lang)
    context = {"timezone": engine.rules.timezone}
    rows: list[tuple[str, int, int, bytes, bool]] = []
    summary = Summary()
    counted = [0]

    def errors() -> Iterator[tuple[int, dict[str, Any]]]:
        for line_no, raw in _lines(part, offsets, options, results=True):
            counted[0] += 1
            patient, body, record = check_result_line(line_no, raw, context, engine.lang)
            if patient is not None and body is not None:
                rows.append((patient, source, line_no, body, record is None))
            if record is not None:
                summary.add(record)
                yield line_no, record

    name = "results-" + part.name.removeprefix("part-")
    target = Path(options.out_dir) / (name + SUFFIX[options.fmt])
    digest, size = _write_atomic(target, options.fmt, errors(), part, options.hook)
    stats = PartStats(name=name, source=part.source, block=part.block, lines=counted[0],
                      records=summary.errors, errors=summary.errors, summary=summary,
                      sha256=digest, size=size, file=target.name,
                      compile_seconds=compiled)  # fmt: skip
    write_stats(options.out_dir, stats)
    return stats, _frame(rows)


def order_rows(
    part: Part, offsets: list[int], options: PartOptions, source: int
) -> tuple[int, Any]:
    """The partition's order lines by patient id ("" when the line names none: it passes
    through the join unchanged and its evaluation says what is wrong with it), and how
    many lines were read."""
    rows: list[tuple[str, int, int, bytes, bool]] = []
    for line_no, raw in _lines(part, offsets, options, results=False):
        rows.append((_patient(raw), source, line_no, raw, True))  # OverLongLine kept
    return len(rows), _frame(rows)


def _patient(raw: bytes) -> str:
    parsed = order_of(raw)  # the id the join will look the results up by
    return parsed[1] if parsed is not None else ""


def join_bucket(
    orders: Any, results: Any, bucket: int, rules: LoadedRuleset, options: PartOptions
) -> PartStats:
    """One bucket's orders with its results, in input order, evaluated into one part."""
    engine, compiled = engine_for(rules, options.lang)
    results = results.sort_values(["source", "line"], kind="stable")
    rows = zip(results["patient"], results["line"], results["body"], results["valid"], strict=True)
    orders = orders.sort_values(["source", "line"], kind="stable")
    summary = Summary()
    per_source: dict[int, int] = {}

    def records(index: ResultIndex) -> Iterator[tuple[int, dict[str, Any]]]:
        numbered = zip(orders["line"].tolist(), orders["body"].tolist(), strict=True)
        sources = orders["source"].tolist()
        for source, (line_no, raw) in zip(sources, joined_lines(numbered, index), strict=True):
            record = evaluate_line(engine, line_no, raw, options.limits)
            summary.add(record)
            per_source[source] = per_source.get(source, 0) + 1
            yield line_no, record

    part = Part(0, bucket, "", "jsonl")
    name = f"joined-{bucket:05d}"
    target = Path(options.out_dir) / (name + SUFFIX[options.fmt])
    with ResultIndex.from_rows(rows) as index:
        digest, size = _write_atomic(target, options.fmt, records(index), part, options.hook)
    lines = len(orders)
    stats = PartStats(name=name, source=-1, block=bucket, lines=lines, records=lines,
                      errors=summary.errors, summary=summary, sha256=digest, size=size,
                      file=target.name, compile_seconds=compiled,
                      by_source=per_source)  # fmt: skip
    write_stats(options.out_dir, stats)
    return stats
