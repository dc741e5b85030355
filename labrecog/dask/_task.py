"""What a Dask worker does with one partition: evaluate its lines, write its part file.

The Engine is compiled once per worker process from the rule set the client loaded (the
result of one task every partition depends on, fetched once per worker and recomputed
from the graph if its holder dies; its digest checked), never from a folder the
worker can see. A part is written under a temporary name and renamed when complete, then
its stats are written beside it (``.NAME.done``): a part counts as done only once its
stats exist, so a worker killed anywhere in between leaves a part that is simply made
again, with the same bytes, by whichever worker Dask gives it to next.
"""

from __future__ import annotations

import gc
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson

from labrecog.batch.formats import csv_header, encoder
from labrecog.batch.records import CaseLimits, evaluate_line
from labrecog.batch.summary import Summary
from labrecog.compile import compile_rules
from labrecog.dask._blocks import Part, numbered_part_lines
from labrecog.engine import Engine
from labrecog.load import LoadedRuleset
from labrecog.words import Lang

__all__ = [
    "PartOptions",
    "PartStats",
    "engine_for",
    "part_file",
    "run_part",
    "summary_from",
    "summary_json",
    "write_stats",
]

OutFormat = Literal["jsonl", "csv", "parquet"]
SUFFIX: dict[str, str] = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}
_CHUNK = 256
#: A hook for fault-injection tests: called as hook(stage, part) at "start" and "written"
#: (the temporary file complete, not yet renamed). None in every real run.
Hook = Callable[[str, Part], None]


@dataclass(frozen=True, slots=True)
class PartOptions:
    out_dir: str
    fmt: OutFormat = "jsonl"
    lang: Lang | None = None
    limits: CaseLimits = field(default_factory=CaseLimits)
    max_line_bytes: int = 8 * 1024 * 1024
    hook: Hook | None = None


@dataclass(slots=True)
class PartStats:
    """What the client needs from a part for the manifest; small, sent back by value."""

    name: str
    source: int
    block: int
    lines: int
    records: int
    errors: int
    summary: Summary
    sha256: str
    size: int
    file: str
    compile_seconds: float | None = None  # set by the task that compiled its worker's Engine
    by_source: dict[int, int] = field(default_factory=dict)  # joined buckets: records by input
    # The piece of the input (Part.start, Part.end): --resume keeps a part only if the plan
    # still cuts the same piece under its name. None: stats that do not say (never kept).
    piece: tuple[int, int] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "source": self.source,
            "block": self.block,
            "lines": self.lines,
            "records": self.records,
            "errors": self.errors,
            "sha256": self.sha256,
            "bytes": self.size,
            "summary": summary_json(self.summary),
            "by_source": {str(k): v for k, v in sorted(self.by_source.items())},
            "range": list(self.piece) if self.piece is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartStats:
        return cls(
            name=data["name"],
            source=data["source"],
            block=data["block"],
            lines=data["lines"],
            records=data["records"],
            errors=data["errors"],
            summary=summary_from(data["summary"]),
            sha256=data["sha256"],
            size=data["bytes"],
            file=data["file"],
            by_source={int(k): v for k, v in data.get("by_source", {}).items()},
            piece=_piece(data.get("range")),
        )


def _piece(found: Any) -> tuple[int, int] | None:
    if isinstance(found, list) and len(found) == 2 and all(type(x) is int for x in found):
        return found[0], found[1]
    return None


def summary_json(summary: Summary) -> dict[str, Any]:
    """The whole summary, losslessly (``Summary.as_dict`` keeps the top reasons only)."""
    return {
        "cases": summary.cases,
        "errors": summary.errors,
        "items": summary.items,
        "status": dict(sorted(summary.status.items())),
        "reasons": dict(sorted(summary.reasons.items())),
        "saving": str(summary.saving),
        "currency": summary.currency,
    }


def summary_from(data: dict[str, Any]) -> Summary:
    out = Summary(
        cases=data["cases"],
        errors=data["errors"],
        items=data["items"],
        saving=Decimal(data["saving"]),
        currency=data["currency"],
    )
    out.status.update(data["status"])
    out.reasons.update(data["reasons"])
    return out


# --- the Engine, once per worker process ----------------------------------------------

_engines: dict[tuple[str, Lang | None], Engine] = {}


def engine_for(rules: LoadedRuleset, lang: Lang | None) -> tuple[Engine, float | None]:
    """This process's Engine for ``rules``, and the seconds compiling it took if this call
    compiled it (None when it was ready)."""
    key = (rules.digest, lang)
    found = _engines.get(key)
    if found is not None:
        return found, None
    began = time.perf_counter()
    engine = Engine(compile_rules(rules), lang=lang)
    if engine.rules.digest != rules.digest:  # the compiler keeps it; never run other rules
        raise RuntimeError(f"compiled rule set digest {engine.rules.digest} != {rules.digest}")
    _engines[key] = engine
    if len(_engines) == 1:
        # A Dask worker holds ~125,000 long-lived objects (Dask, distributed, pandas, the
        # rule set): every full collection during evaluation walked them all, ~10 % of a
        # partition's time. Frozen once, they are never scanned (nor freed: they live as
        # long as the worker anyway).
        gc.freeze()
    return engine, time.perf_counter() - began


# --- one partition ---------------------------------------------------------------------


def part_file(part: Part, fmt: OutFormat) -> str:
    """The part's file name: the same for the same piece in every run."""
    return part.name + SUFFIX[fmt]


def run_part(
    part: Part,
    offsets: dict[int, list[int]],
    rules: LoadedRuleset,
    options: PartOptions,
) -> PartStats:
    """Evaluate ``part`` and write its part file. A plain JSONL part numbers its lines from
    ``offsets[part.source][part.block] + 1`` (:func:`line_offsets`) and must read exactly
    the lines its counting task found: another number would number the next parts wrongly,
    so the part fails instead of counting as done."""
    hook = options.hook
    if hook is not None:
        hook("start", part)
    engine, compiled = engine_for(rules, options.lang)
    lines = numbered_part_lines(part, offsets.get(part.source, []), options.max_line_bytes)
    target = Path(options.out_dir) / part_file(part, options.fmt)
    summary = Summary()  # one record per line read: summary.cases counts both

    def records() -> Iterator[tuple[int, dict[str, Any]]]:
        for line_no, raw in lines:
            record = evaluate_line(engine, line_no, raw, options.limits)
            summary.add(record)
            yield line_no, record

    digest, size = _write_atomic(target, options.fmt, records(), part, hook)
    stats = PartStats(
        name=part.name,
        source=part.source,
        block=part.block,
        lines=summary.cases,
        records=summary.cases,
        errors=summary.errors,
        summary=summary,
        sha256=digest,
        size=size,
        file=target.name,
        compile_seconds=compiled,
        piece=(part.start, part.end),
    )
    write_stats(options.out_dir, stats)
    return stats


def write_stats(out_dir: str, stats: PartStats) -> None:
    """``.NAME.done``, after the part itself: the part counts as done from here on."""
    done = Path(out_dir) / f".{stats.name}.done"
    _replace_bytes(done, orjson.dumps(stats.as_json(), option=orjson.OPT_INDENT_2))


def _write_atomic(
    target: Path,
    fmt: OutFormat,
    records: Iterator[tuple[int, dict[str, Any]]],
    part: Part,
    hook: Hook | None,
) -> tuple[str, int]:
    """Write the part under a temporary name, rename it into place; (sha256, bytes).

    Not synced to disk (nor is ``atomic_output``): the digest, checked by ``--resume``,
    finds a part a crash of the machine left short, and that part is made again."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as raw:
            if fmt == "parquet":
                _write_parquet(raw, records)
                found = None
            else:
                sink = _Digesting(raw)
                _write_text(sink, fmt, records)
                found = sink.hash.hexdigest(), sink.size
        if hook is not None:
            hook("written", part)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return found or _sha256(target)


class _Digesting:
    """A sink that hashes what it writes: a text part's digest without reading it back."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.raw.write(data)


def _chunks(records: Iterator[tuple[int, Any]]) -> Iterator[Iterator[tuple[int, Any]]]:
    """Records a chunk at a time, as the one-process runner encodes them, each made and
    encoded one after the other: a chunk's records never all live at once (holding 256
    decisions' dicts cost the one-process runner a fifth of deciding them)."""
    for first in records:  # the next chunk's first record; islice takes the rest of it
        yield chain((first,), islice(records, _CHUNK - 1))


def _write_text(sink: _Digesting, fmt: OutFormat, records: Iterator[tuple[int, Any]]) -> None:
    encode = encoder("csv" if fmt == "csv" else "jsonl")
    if fmt == "csv":
        sink.write(csv_header())
    for chunk in _chunks(records):
        sink.write(encode(chunk))


def _write_parquet(sink: BinaryIO, records: Iterator[tuple[int, Any]]) -> None:
    """Row groups and compression as ``-o decisions.parquet`` writes them."""
    from labrecog.batch.parquet import DecisionWriter

    with DecisionWriter(sink) as writer:
        for chunk in _chunks(records):
            writer.write_records(chunk)


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as raw:
        while chunk := raw.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _replace_bytes(target: Path, data: bytes) -> None:
    tmp = target.with_name(f"{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as sink:
            sink.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
