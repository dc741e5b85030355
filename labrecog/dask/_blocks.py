"""Cutting input files into partitions that workers read on their own.

A plain JSONL file is cut into byte ranges; a line belongs to the range its first byte lies
in, so every line is read by exactly one partition however the cuts fall (a long line
crossing a cut is read whole by the partition it starts in). Line numbers must match
``labrecog evaluate`` on the whole file, so each range's lines are counted first (a cheap
task per range) and a partition numbers its lines from the sum of the counts before it.
A gzip file cannot be entered in the middle: it is one partition. A Parquet file is one
partition per row group, numbered by its rows.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from labrecog.batch.lines import DEFAULT_MAX_LINE_BYTES, capped_lines

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "Part",
    "by_source",
    "count_starts",
    "line_offsets",
    "numbered_part_lines",
    "part_lines",
    "plan_parts",
    "prefix",
]

#: 32 MiB: about 1,300 cases of the default bench workload, 6,500 of the generated batches;
#: small enough to spread a file over many workers, large enough that a task is not
#: dominated by the scheduler's few milliseconds per task.
DEFAULT_BLOCK_BYTES = 32 * 2**20

_READ = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"

Kind = Literal["jsonl", "gzip", "parquet"]


@dataclass(frozen=True, slots=True)
class Part:
    """One partition: which input (by its index among the inputs), which piece of it."""

    source: int
    block: int
    path: str
    kind: Kind
    start: int = 0  # jsonl: the byte range [start, end); parquet: the row group in start
    end: int = 0

    @property
    def name(self) -> str:
        """The part file's stem: the same for the same piece in every run (recomputed
        partitions rewrite the same file, and a resumed run finds it)."""
        return f"part-{self.source:05d}-{self.block:05d}"


def input_kind(path: str) -> Kind:
    """By the file's first bytes, never its name."""
    with open(path, "rb") as raw:
        head = raw.read(4)
    if head[:2] == _GZIP_MAGIC:
        return "gzip"
    if head == b"PAR1":
        return "parquet"
    return "jsonl"


def plan_parts(paths: list[str], block_bytes: int = DEFAULT_BLOCK_BYTES) -> list[Part]:
    """Every input's partitions, in input order."""
    parts: list[Part] = []
    for source, path in enumerate(paths):
        kind = input_kind(path)
        if kind == "gzip":
            parts.append(Part(source, 0, path, kind))
        elif kind == "parquet":
            from labrecog.batch.parquet import row_groups

            groups = row_groups(path) or [(1, 0)]
            parts.extend(Part(source, i, path, kind, i, i) for i in range(len(groups)))
        else:
            last = source == len(paths) - 1
            ranges = _ranges(os.path.getsize(path), block_bytes, taper=last)
            parts.extend(
                Part(source, i, path, kind, start, end) for i, (start, end) in enumerate(ranges)
            )
    return parts


#: The last ``2 * block`` bytes of the run's last file, as fractions of a block: the run
#: ends on pieces of an eighth of a block, so no worker idles for a whole block while
#: another finishes the last one (parts run in input order).
_TAPER = (0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.125, 0.125)


def _ranges(size: int, block: int, *, taper: bool) -> list[tuple[int, int]]:
    """Byte ranges of ``block`` bytes covering ``size``; tapered at the end if asked."""
    tail = 2 * block if taper and size > 4 * block else 0
    body = size - tail
    ranges = [(start, min(start + block, body)) for start in range(0, body, block)]
    start = body
    for share in _TAPER if tail else ():
        end = min(start + max(int(block * share), 1), size)
        ranges.append((start, end))
        start = end
    if tail and start < size:
        ranges[-1] = (ranges[-1][0], size)
    return ranges or [(0, 0)]


def by_source(parts: list[Part]) -> list[list[Part]]:
    """The parts of each input, in input order (a file's parts number their lines together)."""
    grouped: dict[int, list[Part]] = {}
    for part in parts:
        grouped.setdefault(part.source, []).append(part)
    return list(grouped.values())


def count_starts(part: Part) -> int:
    """How many lines start in the part: what :func:`part_lines` yields for it (a gzip or
    Parquet part is alone in its file and numbers from 1, so 0 is returned for it)."""
    if part.kind != "jsonl":
        return 0
    size = os.path.getsize(part.path)
    if part.start >= size:
        return 0
    # A line starts at 0 and after every newline that is not the file's last byte.
    count = 1 if part.start == 0 else 0
    lo, hi = max(part.start - 1, 0), min(part.end - 1, size - 1)
    with open(part.path, "rb") as raw:
        raw.seek(lo)
        left = hi - lo
        while left > 0:
            data = raw.read(min(_READ, left))
            if not data:
                break
            count += data.count(b"\n")
            left -= len(data)
    return count


def prefix(*counts: int) -> list[int]:
    """Lines before each block of a file: the running sum of the blocks' line counts."""
    out, total = [], 0
    for n in counts:
        out.append(total)
        total += n
    return out


def line_offsets(counts: dict[int, list[int]]) -> dict[int, list[int]]:
    """Per input, the lines before each of its blocks and, last, its total: block ``k``
    numbers from ``offsets[k] + 1`` and holds ``offsets[k + 1] - offsets[k]`` lines."""
    return {source: prefix(*own, 0) for source, own in counts.items()}


def part_lines(
    part: Part, first_line: int, max_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """The part's lines, numbered as ``labrecog evaluate`` numbers them in the whole file."""
    if part.kind == "parquet":
        from labrecog.batch.parquet import parquet_lines

        yield from parquet_lines(part.path, [part.start])
        return
    if part.kind == "gzip":
        with gzip.open(part.path, "rb") as unzipped:
            yield from capped_lines(unzipped, max_bytes)  # type: ignore[arg-type]
        return
    with open(part.path, "rb") as raw:
        if part.start > 0:
            raw.seek(part.start - 1)
            if raw.read(1) != b"\n":  # mid-line: that line is the previous part's
                _skip_line(raw)
        if raw.tell() >= part.end:
            return
        for numbered in capped_lines(raw, max_bytes, first_line):
            yield numbered
            if raw.tell() >= part.end:
                return


def numbered_part_lines(
    part: Part, offsets: list[int], max_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """The part's lines numbered from ``offsets`` (:func:`prefix` of its file's counts, the
    total last). A plain JSONL part must read exactly the lines its counting task found
    there: another number (the file changed since, a bug) would number the file's next
    parts wrongly, so the part fails before its file is renamed into place."""
    if part.kind != "jsonl":
        yield from part_lines(part, 1, max_bytes)
        return
    first, expected = offsets[part.block] + 1, offsets[part.block + 1] - offsets[part.block]
    read = 0
    for numbered in part_lines(part, first, max_bytes):
        read += 1
        yield numbered
    if read != expected:
        raise RuntimeError(f"{part.name} read {read} lines where {expected} start in its block")


def _skip_line(raw: object) -> None:
    """Past the next newline, in bounded reads (the line may be longer than memory)."""
    read = raw.readline  # type: ignore[attr-defined]
    while True:
        chunk = read(_READ)
        if not chunk or chunk.endswith(b"\n"):
            return
